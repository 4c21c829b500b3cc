"""Loading pyinfra inventories the way the ``pyinfra`` CLI does, with clear errors.

The audit uses the same inventory files, connectors and ``--limit`` patterns as
``pyinfra`` itself, so ``hardening audit inventories/prod.py --limit db_primary``
selects exactly the hosts that ``pyinfra inventories/prod.py ... --limit db_primary``
would.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Sequence
from fnmatch import fnmatch
from typing import Any

from hardening.errors import HardeningError, InventoryDataError
from hardening.settings import validate_host_data


def load_inventory(inventory: str, state: Any = None) -> Any:
    """Build a ``pyinfra.api.Inventory`` from an inventory file or host list.

    ``state`` is the pyinfra ``State`` the inventory file runs under (pyinfra
    executes inventory files in a state context); a fresh one when omitted.
    Raises ``HardeningError`` with one readable line for a missing file, a file
    that does not execute, or a file that defines no hosts.
    """
    from pyinfra.api import State
    from pyinfra.api.exceptions import PyinfraError
    from pyinfra.context import ctx_state
    from pyinfra_cli.exceptions import CliError, UnexpectedExternalError
    from pyinfra_cli.inventory import make_inventory

    looks_like_path = inventory.endswith(".py") or os.sep in inventory
    if looks_like_path and not os.path.exists(inventory):
        raise HardeningError(
            f"inventory file not found: {inventory} "
            "(give a pyinfra inventory .py file, e.g. inventories/prod.py)"
        )
    cwd = os.getcwd()
    if cwd not in sys.path:
        sys.path.append(cwd)
    ctx_state.set(state or State(check_for_changes=False))
    try:
        loaded = make_inventory(inventory, cwd=cwd)
    except SystemExit as exit_:
        raise HardeningError(
            f"inventory {inventory} stopped while loading (exit {exit_.code})"
        ) from None
    except UnexpectedExternalError as error:
        cause = error.exception
        if isinstance(cause, SyntaxError):
            raise HardeningError(
                f"inventory {inventory} is not valid Python: line {cause.lineno}: {cause.msg}"
            ) from None
        raise HardeningError(
            f"inventory {inventory} failed while loading: {type(cause).__name__}: {cause}"
        ) from None
    except (PyinfraError, CliError) as error:
        raise HardeningError(f"inventory {inventory} could not be loaded: {error}") from None
    except SyntaxError as error:
        raise HardeningError(
            f"inventory {inventory} is not valid Python: line {error.lineno}: {error.msg}"
        ) from None
    except Exception as error:  # an inventory file is user code: report, do not crash
        raise HardeningError(
            f"inventory {inventory} failed while loading: {type(error).__name__}: {error}"
        ) from None
    if len(loaded) == 0:
        raise HardeningError(f"inventory {inventory} defines no hosts")
    problems = []
    for host in loaded:
        problems += [f"{host.name}: {problem}" for problem in validate_host_data(host.data.dict())]
    if problems:
        raise InventoryDataError(
            f"inventory {inventory} has malformed data: " + "; ".join(problems)
        )
    return loaded


def select_hosts(inventory: Any, limit: Sequence[str] | None) -> list[Any]:
    """Hosts matching ``--limit`` patterns (group names or host globs), like pyinfra.

    Raises ``HardeningError`` when a pattern matches nothing, naming the known
    groups and hosts so the user can correct it.
    """
    if not limit:
        return list(inventory)
    from pyinfra.api.exceptions import NoGroupError

    selected: list[Any] = []
    for pattern in _split_patterns(limit):
        try:
            hosts = inventory.get_group(pattern)
        except NoGroupError:
            hosts = [host for host in inventory if fnmatch(host.name, pattern)]
        if not hosts:
            known_groups = ", ".join(sorted(inventory.groups)) or "none"
            known_hosts = ", ".join(host.name for host in inventory)
            raise HardeningError(
                f"--limit {pattern!r} matches no host (groups: {known_groups}; "
                f"hosts: {known_hosts})"
            )
        selected += [host for host in hosts if host not in selected]
    return [host for host in inventory if host in selected]


def _split_patterns(limit: Iterable[str]) -> list[str]:
    return [part for value in limit for part in value.split(",") if part]


def host_groups(host: Any) -> tuple[str, ...]:
    """The inventory groups of a host, without pyinfra's implicit ``all``."""
    return tuple(dict.fromkeys(group for group in host.groups if group != "all"))
