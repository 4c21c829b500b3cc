"""``inventory.json`` of a running bed and its pyinfra form.

Format (written by `up`, in the state dir)::

    {
      "hosts": [
        {
          "name": "tb1",
          "address": "10.77.1.2",
          "ssh_key": "/root/.cache/hardening/testbed/id_ed25519",
          "ssh_user": "root",
          "groups": ["web", "db_primary", "cache", "monitoring"],
          "data": {"testbed_gateway": "10.77.1.1", "testbed_netns": "hbtb1",
                   "testbed_profile": "services", "testbed_container": "lxc"}
        }
      ],
      "ssh_known_hosts_file": "/run/hardening-testbed/known_hosts"
    }

``testbed_gateway`` is the control node's address as seen from the host (services of the
control node such as OpenBao or moto listen there).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from .addressing import GROUPS, HostSpec
from .config import BedConfig
from .errors import TestbedError

NOT_UP = "no testbed is up: run `hardening testbed up` first"

PyinfraHost = tuple[str, dict[str, Any]]


def inventory_document(
    specs: list[HostSpec], ssh_key: Path, known_hosts: Path, profile: str
) -> dict[str, Any]:
    """The ``inventory.json`` document of a bed."""
    return {
        "hosts": [
            {
                "name": spec.name,
                "address": spec.address,
                "ssh_key": str(ssh_key),
                "ssh_user": "root",
                "groups": list(spec.groups),
                "data": {
                    "testbed_gateway": spec.gateway,
                    "testbed_netns": spec.netns,
                    "testbed_profile": profile,
                    "testbed_container": "lxc",
                },
            }
            for spec in specs
        ],
        "ssh_known_hosts_file": str(known_hosts),
    }


def write_json(path: Path, document: dict[str, Any]) -> None:
    """Write JSON atomically (readers never see a half-written file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    tmp.write_text(json.dumps(document, indent=2) + "\n")
    os.replace(tmp, path)


def pyinfra_groups(document: dict[str, Any]) -> dict[str, list[PyinfraHost]]:
    """pyinfra inventory groups ``{group: [(name, data), ...]}`` of an inventory document.

    Every group in `GROUPS` is present (possibly empty). Host data carries the pyinfra SSH
    connector settings (strict host key checking against the bed's known_hosts file) plus the
    host's ``data``.
    """
    groups: dict[str, list[PyinfraHost]] = {group: [] for group in GROUPS}
    for host in document["hosts"]:
        data = {
            "ssh_hostname": host["address"],
            "ssh_user": host["ssh_user"],
            "ssh_key": host["ssh_key"],
            "ssh_known_hosts_file": document["ssh_known_hosts_file"],
            "ssh_strict_host_key_checking": "yes",
            "ssh_allow_agent": False,
            "ssh_look_for_keys": False,
            **host["data"],
        }
        for group in host["groups"]:
            groups.setdefault(group, []).append((host["name"], dict(data)))
    return groups


def load_inventory(path: Path | None = None) -> dict[str, list[PyinfraHost]]:
    """pyinfra inventory groups of the running bed; `TestbedError` if no bed is up.

    ``path`` defaults to ``inventory.json`` in the state dir of `BedConfig.from_env`.
    """
    path = path or BedConfig.from_env().inventory_file
    try:
        document = json.loads(path.read_text())
    except FileNotFoundError:
        raise TestbedError(NOT_UP) from None
    except (OSError, ValueError) as exc:
        raise TestbedError(f"cannot read {path} ({exc}): run `hardening testbed down`") from exc
    return pyinfra_groups(document)
