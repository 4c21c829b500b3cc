"""Storage facts: is a directory on an encrypted block device?

Installed as ``hardening.facts.storage``.
"""

from __future__ import annotations

import shlex

from pyinfra.api import FactBase, StringCommand


class DirectoryEncryption(FactBase):
    """
    The filesystem holding ``path`` and whether a dm-crypt/LUKS device is beneath it.

    .. code:: python

        {"path": "/var/lib/postgresql/15/main", "exists": True, "source": "/dev/mapper/pgdata",
         "fstype": "ext4", "block_device": True, "crypt": True,
         "chain": ["pgdata crypt", "vdb disk"]}

    ``block_device`` is False for overlay, tmpfs and other virtual filesystems (a
    container's root), where block-level encryption cannot be observed from inside.
    """

    @staticmethod
    def default() -> dict:
        return {
            "path": "",
            "exists": False,
            "source": "",
            "fstype": "",
            "block_device": False,
            "crypt": False,
            "chain": [],
        }

    def command(self, path: str) -> StringCommand:
        return StringCommand(
            f"p={shlex.quote(path)};",
            'echo "#path:$p";',
            "if [ ! -e \"$p\" ]; then echo '#absent'; exit 0; fi;",
            'echo "#mount:$(findmnt -no SOURCE,FSTYPE -T "$p" 2>/dev/null | head -n1)";',
            'src=$(findmnt -no SOURCE -T "$p" 2>/dev/null | head -n1);',
            'if [ -b "$src" ]; then lsblk -s -n -o NAME,TYPE "$src" 2>/dev/null'
            " | sed 's/^[^[:alnum:]]*/#dev:/'; fi",
        )

    def process(self, output: list[str]) -> dict:
        fact = self.default()
        for line in output:
            if line.startswith("#path:"):
                fact["path"] = line[len("#path:") :]
            elif line.startswith("#mount:"):
                fact["exists"] = True
                parts = line[len("#mount:") :].split()
                fact["source"], fact["fstype"] = (parts + ["", ""])[:2]
            elif line.startswith("#dev:"):
                fact["block_device"] = True
                fact["chain"].append(" ".join(line[len("#dev:") :].split()))
        fact["crypt"] = any(entry.endswith(" crypt") for entry in fact["chain"])
        return fact
