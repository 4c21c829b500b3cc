"""Reading the machine's Debian mirror from apt sources (hardening.testbed.mirror)."""

from __future__ import annotations

from pathlib import Path

import pytest

from hardening.testbed import TestbedError
from hardening.testbed.mirror import (
    AptSource,
    find_mirror,
    host_sources_list,
    machine_sources,
    mirror_endpoint,
    parse_deb822,
    parse_one_line,
)

DEB822 = """\
Types: deb
# a comment inside the stanza
URIs: http://mirror.example/debian
Suites: bookworm bookworm-updates
Components: main contrib
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb deb-src
URIs: http://mirror.example/debian-security
Suites: bookworm-security
Components: main

Types: deb-src
URIs: http://src.example/debian
Suites: bookworm
Components: main

Types: deb
Enabled: no
URIs: http://disabled.example/debian
Suites: bookworm
Components: main

Types: deb
URIs: https://other.example/apt
Suites: nodistro
Components: main
"""

ONE_LINE = """\
# deb http://commented.example/debian bookworm main
deb [arch=amd64 signed-by=/usr/share/keyrings/x.gpg] http://mirror.example/debian bookworm main
deb-src http://mirror.example/debian bookworm main
deb http://third.example/debian bookworm-backports main  # trailing comment
"""


def test_parse_deb822_keeps_enabled_binary_sources() -> None:
    assert parse_deb822(DEB822) == [
        AptSource("http://mirror.example/debian", ("bookworm", "bookworm-updates"),
                  ("main", "contrib")),
        AptSource("http://mirror.example/debian-security", ("bookworm-security",), ("main",)),
        AptSource("https://other.example/apt", ("nodistro",), ("main",)),
    ]  # fmt: skip


def test_parse_one_line_skips_options_comments_and_deb_src() -> None:
    assert parse_one_line(ONE_LINE) == [
        AptSource("http://mirror.example/debian", ("bookworm",), ("main",)),
        AptSource("http://third.example/debian", ("bookworm-backports",), ("main",)),
    ]


def test_find_mirror_takes_the_source_with_bookworm() -> None:
    sources = parse_deb822(DEB822)
    assert find_mirror(sources) == "http://mirror.example/debian"
    with pytest.raises(TestbedError, match="no apt source for Debian bookworm"):
        find_mirror(sources[1:])


def test_host_sources_list_keeps_the_mirror_host_and_bookworm_suites() -> None:
    sources = parse_deb822(DEB822) + parse_one_line(ONE_LINE)
    text = host_sources_list(sources, "http://mirror.example/debian")
    lines = [line for line in text.splitlines() if not line.startswith("#")]
    assert lines == [
        "deb http://mirror.example/debian bookworm main contrib",
        "deb http://mirror.example/debian bookworm-updates main contrib",
        "deb http://mirror.example/debian-security bookworm-security main",
        "deb http://mirror.example/debian bookworm main",
    ]


@pytest.mark.parametrize(
    ("uri", "endpoint"),
    [
        ("http://mirror.example/debian", ("mirror.example", 80)),
        ("https://mirror.example/debian", ("mirror.example", 443)),
        ("http://mirror.example:8080/debian", ("mirror.example", 8080)),
    ],
)
def test_mirror_endpoint(uri: str, endpoint: tuple[str, int]) -> None:
    assert mirror_endpoint(uri) == endpoint


def test_machine_sources_reads_list_and_sources_files(tmp_path: Path) -> None:
    apt = tmp_path / "etc/apt"
    (apt / "sources.list.d").mkdir(parents=True)
    (apt / "sources.list").write_text(ONE_LINE)
    (apt / "sources.list.d/debian.sources").write_text(DEB822)
    (apt / "sources.list.d/old.list.disabled").write_text("deb http://x.example/ bookworm main\n")
    sources = machine_sources(tmp_path)
    assert [s.host for s in sources] == [
        "mirror.example",
        "third.example",
        "mirror.example",
        "mirror.example",
        "other.example",
    ]
