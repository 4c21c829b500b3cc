"""Batched fact gathering: one script, sections parsed by each fact's own process()."""

from __future__ import annotations

import subprocess

from pyinfra.api import FactBase

from hardening.batch import fact_script, parse_sections
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
