"""The Debian mirror of this machine, read from its apt sources at runtime.

No mirror is hard-coded: the testbed uses whatever mirror the control node itself uses, both for
debootstrap and, through a per-host TCP forward on the host's gateway, for apt inside the hosts.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from .errors import TestbedError
from .procs import run

SUITE = "bookworm"


@dataclass(frozen=True)
class AptSource:
    """One ``deb`` source: a URI with its suites and components."""

    uri: str
    suites: tuple[str, ...]
    components: tuple[str, ...]

    @property
    def host(self) -> str:
        return urlsplit(self.uri).hostname or ""


def parse_one_line(text: str) -> list[AptSource]:
    """Parse ``sources.list`` one-line format (``deb [options] URI suite component...``)."""
    sources = []
    for raw in text.splitlines():
        words = raw.split("#", 1)[0].split()
        if not words or words[0] != "deb":
            continue
        words = words[1:]
        if words and words[0].startswith("["):
            while words and not words[0].endswith("]"):
                words.pop(0)
            words = words[1:]
        if len(words) >= 2:
            sources.append(AptSource(words[0], (words[1],), tuple(words[2:])))
    return sources


def parse_deb822(text: str) -> list[AptSource]:
    """Parse deb822 ``*.sources`` stanzas (``Types:``, ``URIs:``, ``Suites:``, ``Components:``)."""
    sources = []
    for stanza in _stanzas(text):
        if "deb" not in stanza.get("types", "").split():
            continue
        if stanza.get("enabled", "yes").lower() == "no":
            continue
        suites = tuple(stanza.get("suites", "").split())
        components = tuple(stanza.get("components", "").split())
        for uri in stanza.get("uris", "").split():
            sources.append(AptSource(uri, suites, components))
    return sources


def _stanzas(text: str) -> list[dict[str, str]]:
    """Split deb822 text into stanzas of lower-cased field -> value (continuations joined)."""
    stanzas: list[dict[str, str]] = []
    current: dict[str, str] = {}
    key = ""
    for line in text.splitlines() + [""]:
        if line.startswith("#"):
            continue
        if not line.strip():
            if current:
                stanzas.append(current)
            current, key = {}, ""
        elif line[0] in " \t" and key:
            current[key] += " " + line.strip()
        elif ":" in line:
            key, value = line.split(":", 1)
            key = key.strip().lower()
            current[key] = value.strip()
    return stanzas


def machine_sources(root: Path = Path("/")) -> list[AptSource]:
    """All enabled ``deb`` sources of the machine whose root is ``root``."""
    apt = root / "etc/apt"
    sources = []
    one_line_files = [apt / "sources.list", *sorted((apt / "sources.list.d").glob("*.list"))]
    for path in one_line_files:
        if path.is_file():
            sources += parse_one_line(path.read_text())
    for path in sorted((apt / "sources.list.d").glob("*.sources")):
        sources += parse_deb822(path.read_text())
    return sources


def find_mirror(sources: list[AptSource], suite: str = SUITE) -> str:
    """URI of the first source that carries ``suite`` (the mirror debootstrap uses)."""
    for source in sources:
        if suite in source.suites:
            return source.uri
    raise TestbedError(
        f"no apt source for Debian {suite} found in /etc/apt/sources.list or "
        "/etc/apt/sources.list.d/*.sources: add one (the testbed uses the machine's mirror)"
    )


def host_sources_list(sources: list[AptSource], mirror: str, suite: str = SUITE) -> str:
    """``sources.list`` for the test hosts: the machine's ``suite*`` sources on the mirror's host.

    Only sources served by the mirror's host are kept, because that host is the one forwarded
    to the hosts' gateway; one suite per line.
    """
    mirror_host = urlsplit(mirror).hostname
    lines = []
    for source in sources:
        if source.host != mirror_host:
            continue
        for s in source.suites:
            if s == suite or s.startswith(suite + "-") or s.startswith(suite + "/"):
                components = " ".join(source.components or ("main",))
                line = f"deb {source.uri} {s} {components}"
                if line not in lines:
                    lines.append(line)
    return "# Written by hardening.testbed: the control node's Debian mirror.\n" + "".join(
        line + "\n" for line in lines
    )


def mirror_endpoint(mirror: str) -> tuple[str, int]:
    """(host name, TCP port) of the mirror, for the per-host forward."""
    parts = urlsplit(mirror)
    if not parts.hostname:
        raise TestbedError(f"cannot read a host name from the mirror URI {mirror!r}")
    return parts.hostname, parts.port or (443 if parts.scheme == "https" else 80)


def apt_overrides() -> str:
    """apt settings of this machine the hosts need too (e.g. snapshot mirrors: no Valid-Until).

    Returns the content of an apt.conf.d file (possibly empty).
    """
    if not shutil.which("apt-config"):
        return ""
    lines = []
    for key in ("Acquire::Check-Valid-Until", "Acquire::Check-Date"):
        dump = run(["apt-config", "dump", key], check=False).stdout
        if f'{key} "false";' in dump.splitlines():
            lines.append(f'{key} "false";\n')
    return "".join(lines)
