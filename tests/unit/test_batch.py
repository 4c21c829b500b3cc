"""Batched fact gathering: one script, sections parsed by each fact's own process()."""

from __future__ import annotations

import subprocess

from pyinfra.api import FactBase

from hardening.batch import fact_script, parse_sections, prelude
from hardening.checks import fact_key


class Lines(FactBase):
    default = list

    def command(self, count: int = 2) -> str:
        return f"seq {count}"

    def process(self, output: list[str]) -> list[int]:
        return [int(line) for line in output]


class Fails(FactBase):
    @staticmethod
    def default() -> str:
        return "default"

    def command(self) -> str:
        return "echo partial; exit 3"

    def process(self, output: list[str]) -> str:
        return "processed"


class ExitsEarly(FactBase):
    def command(self) -> str:
        return "echo early; exit 0; echo never"

    def process(self, output: list[str]) -> list[str]:
        return output


class NeedsMissingTool(FactBase):
    @staticmethod
    def default() -> dict:
        return {"available": False}

    def requires_command(self) -> str:
        return "no-such-tool-hardening"

    def command(self) -> str:
        return "no-such-tool-hardening --json"

    def process(self, output: list[str]) -> dict:
        return {"available": True}


class BrokenParser(FactBase):
    default = dict

    def command(self) -> str:
        return "echo not-json"

    def process(self, output: list[str]) -> dict:
        raise ValueError("cannot parse")


def run_batch(requests):
    marker = "@@test"
    script = fact_script(requests, marker)
    done = subprocess.run(["sh", "-c", script], capture_output=True, text=True, check=False)
    return parse_sections(requests, done.stdout.splitlines(), marker)


def test_each_section_goes_to_its_fact() -> None:
    requests = [
        (Lines, {"count": 3}),
        (Lines, {}),
        (Fails, {}),
        (ExitsEarly, {}),
        (NeedsMissingTool, {}),
        (BrokenParser, {}),
    ]
    values = run_batch(requests)
    assert values[fact_key(Lines, {"count": 3})] == [1, 2, 3]
    assert values[fact_key(Lines, {})] == [1, 2]
    assert values[fact_key(Fails, {})] == "default"  # failed command: default, like pyinfra
    assert values[fact_key(ExitsEarly, {})] == ["early"]  # `exit` ends only its own section
    assert values[fact_key(NeedsMissingTool, {})] == {"available": False}
    assert values[fact_key(BrokenParser, {})] == {}


def test_truncated_output_leaves_facts_out() -> None:
    requests = [(Lines, {}), (ExitsEarly, {})]
    marker = "@@x"
    lines = [f"{marker} 0", "1", "2", f"{marker}-end 0 0", f"{marker} 1", "early"]
    values = parse_sections(requests, lines, marker)
    assert list(values) == [fact_key(Lines, {})]


def _fake_postgres(
    root,
    conf: str | None = "port = 5432\nunix_socket_directories = '/var/run/postgresql'\n",
    clusters: int = 1,
):
    """A fake /usr/lib/postgresql + /etc/postgresql tree under ``root``; returns the bin dir."""
    for version in ("9.6", "15"):
        bin_dir = root / "usr/lib/postgresql" / version / "bin"
        bin_dir.mkdir(parents=True)
        (bin_dir / "psql").write_text("#!/bin/sh\n")
        (bin_dir / "psql").chmod(0o755)
    for index in range(clusters):
        cluster = root / "etc/postgresql/15" / f"c{index}"
        (cluster / "conf.d").mkdir(parents=True)
        if conf is not None:
            (cluster / "postgresql.conf").write_text(conf)
    return root / "usr/lib/postgresql/15/bin"


def _path_after_prelude(root) -> str:
    script = prelude(str(root)) + '\necho "$PATH"'
    env = {"PATH": "/usr/bin:/bin", "HOME": str(root)}
    done = subprocess.run(["sh", "-c", script], capture_output=True, text=True, env=env)
    return done.stdout.strip()


def test_prelude_puts_newest_postgres_client_first_on_default_cluster(tmp_path) -> None:
    bin_dir = _fake_postgres(tmp_path)
    assert _path_after_prelude(tmp_path) == f"{bin_dir}:/usr/bin:/bin"


def test_prelude_keeps_pg_wrapper_when_it_would_pick_another_target(tmp_path) -> None:
    _fake_postgres(tmp_path / "port", conf="port = 5433 # moved\n")
    _fake_postgres(tmp_path / "two", clusters=2)
    for root in (tmp_path / "port", tmp_path / "two"):
        assert _path_after_prelude(root) == "/usr/bin:/bin"
    mapped = tmp_path / "mapped"
    _fake_postgres(mapped)
    (mapped / "etc/postgresql-common").mkdir(parents=True)
    (mapped / "etc/postgresql-common/user_clusters").write_text("# comment\n* * 15 c0 *\n")
    assert _path_after_prelude(mapped) == "/usr/bin:/bin"


def test_script_starts_with_the_prelude() -> None:
    assert fact_script([(Lines, {})], "@@m").startswith(prelude())
