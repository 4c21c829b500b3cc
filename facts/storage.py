"""Storage facts: is a directory on an encrypted block device?

Installed as ``hardening.facts.storage``.
"""

from __future__ import annotations

import shlex

from pyinfra.api import FactBase, StringCommand

#: Shell that prints ``#dm:yes`` or ``#dm:no``: does the kernel provide device-mapper?
DM_PROBE = (
    "if grep -qw device-mapper /proc/misc 2>/dev/null; then echo '#dm:yes'; else echo '#dm:no'; fi"
)


class DirectoryEncryption(FactBase):
    """
    The filesystem holding ``path`` and whether a dm-crypt/LUKS device is beneath it.

    .. code:: python

        {"path": "/var/lib/postgresql/15/main", "exists": True, "source": "/dev/mapper/pgdata",
         "fstype": "ext4", "block_device": True, "crypt": True,
         "chain": ["pgdata crypt", "vdb disk"], "device_mapper": True}

    ``device_mapper`` says whether the kernel has device-mapper (``device-mapper`` in
    ``/proc/misc``), without which no dm-crypt volume can be opened. ``block_device`` is
    False for overlay, tmpfs and other virtual filesystems (a container's root), where
    block-level encryption cannot be observed from inside.
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
            "device_mapper": False,
        }

    def command(self, path: str) -> StringCommand:
        return StringCommand(
            f"p={shlex.quote(path)};",
            'echo "#path:$p";',
            DM_PROBE + ";",
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
            elif line == "#dm:yes":
                fact["device_mapper"] = True
            elif line.startswith("#dev:"):
                fact["block_device"] = True
                fact["chain"].append(" ".join(line[len("#dev:") :].split()))
        fact["crypt"] = any(entry.endswith(" crypt") for entry in fact["chain"])
        return fact


#: LuksVolume marker lines that set a flag, and markers whose text is a value.
_FLAGS = {
    "#block": "block_device",
    "#luks": "luks",
    "#key_opens": "key_opens",
    "#dm:yes": "device_mapper",
    "#dm_module:yes": "dm_module",
    "#open:yes": "open",
    "#owner_exists": "owner_exists",
}
_TEXTS = {
    "#device": "device",
    "#mounted": "mounted",
    "#fs": "filesystem",
    "#crypttab": "crypttab",
    "#fstab": "fstab",
}


class LuksVolume(FactBase):
    """
    A block device meant to hold an encrypted (LUKS2) volume, and how far it is set up.

    .. code:: python

        {"device": "/dev/vdb", "block_device": True, "device_mapper": True,
         "dm_module": False, "signatures": {"TYPE": "crypto_LUKS", "VERSION": "2",
         "LABEL": "pgdata", "UUID": "1c4e...", "USAGE": "crypto"}, "luks": True,
         "key_file": {"mode": "600", "owner": "root", "size": 64}, "key_opens": True,
         "open": True, "filesystem": "ext4", "mounted": "/dev/mapper/pgdata ext4",
         "mount_point": {"owner": "postgres", "mode": "700", "entries": 3},
         "crypttab": "pgdata UUID=1c4e... /etc/hardening/luks/pgdata.key luks",
         "fstab": "/dev/mapper/pgdata /var/lib/postgresql ext4 defaults,noatime 0 2",
         "owner_exists": True}

    ``signatures`` is what ``blkid -p`` (low-level probe, no cache) finds on the device:
    empty means no filesystem, partition table, RAID or LUKS signature at all.
    ``device_mapper``: the kernel has device-mapper now; ``dm_module``: it can load it.
    ``key_opens`` (the key file unlocks the LUKS header, checked with
    ``--test-passphrase``) is observed only for a LUKS device; the key itself is never
    read into the output. ``key_file`` / ``mount_point`` are ``None`` when absent.
    ``owner_exists``: the user meant to own the mounted volume exists.
    """

    @staticmethod
    def default() -> dict:
        return {
            "device": "",
            "block_device": False,
            "device_mapper": False,
            "dm_module": False,
            "signatures": {},
            "luks": False,
            "key_file": None,
            "key_opens": False,
            "open": False,
            "filesystem": "",
            "mounted": "",
            "mount_point": None,
            "crypttab": "",
            "fstab": "",
            "owner_exists": False,
        }

    def command(
        self, device: str, mapping: str, mount_point: str, key_file: str, owner: str = "root"
    ) -> StringCommand:
        mapper = f"/dev/mapper/{mapping}"
        return StringCommand(
            f"d={shlex.quote(device)}; m={shlex.quote(mapping)};",
            f"k={shlex.quote(key_file)}; mp={shlex.quote(mount_point)};",
            f"dm={shlex.quote(mapper)};",
            'echo "#device:$d";',
            f"if id -u {shlex.quote(owner)} >/dev/null 2>&1; then echo '#owner_exists'; fi;",
            DM_PROBE + ";",
            "if modinfo -n dm_mod >/dev/null 2>&1; then echo '#dm_module:yes'; fi;",
            'if [ -e "$k" ]; then echo "#key:$(stat -c \'%a %U %s\' "$k")"; fi;',
            'if [ -d "$mp" ]; then',
            'echo "#mp:$(stat -c \'%U %a\' "$mp") $(ls -A "$mp" | wc -l)"; fi;',
            'echo "#mounted:$(findmnt -no SOURCE,FSTYPE --mountpoint "$mp" 2>/dev/null)";',
            'awk -v m="$m" \'$1 == m {print "#crypttab:" $0}\' /etc/crypttab 2>/dev/null;',
            'awk -v p="$mp" \'$2 == p {print "#fstab:" $0}\' /etc/fstab 2>/dev/null;',
            'if [ -b "$dm" ]; then echo "#open:yes";',
            'echo "#fs:$(blkid -p -s TYPE -o value "$dm" 2>/dev/null)"; fi;',
            "if [ ! -b \"$d\" ]; then exit 0; fi; echo '#block';",
            "blkid -p -o export \"$d\" 2>/dev/null | grep -v '^DEVNAME=' | sed 's/^/#sig:/';",
            'if cryptsetup isLuks "$d" 2>/dev/null; then echo "#luks";',
            'if [ -f "$k" ] && cryptsetup open --test-passphrase --key-file "$k" "$d"',
            ">/dev/null 2>&1; then echo '#key_opens'; fi; fi",
        )

    def process(self, output: list[str]) -> dict:
        fact = self.default()
        for line in output:
            marker, _, value = line.partition(":")
            if line in _FLAGS:
                fact[_FLAGS[line]] = True
            elif marker in _TEXTS:
                fact[_TEXTS[marker]] = " ".join(value.split())
            elif marker == "#sig":
                name, _, signature = value.partition("=")
                fact["signatures"][name] = signature
            elif marker == "#key":
                mode, owner, size = (value.split() + ["", "", "0"])[:3]
                fact["key_file"] = {"mode": mode, "owner": owner, "size": int(size)}
            elif marker == "#mp":
                owner, mode, entries = (value.split() + ["", "", "0"])[:3]
                fact["mount_point"] = {"owner": owner, "mode": mode, "entries": int(entries)}
        return fact
