"""Bad input gets one clear line and exit 2, never a traceback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def hardening(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "hardening", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )


def assert_one_line_error(done: subprocess.CompletedProcess, *fragments: str) -> None:
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    errors = [line for line in done.stderr.splitlines() if line.startswith("hardening: error:")]
    assert len(errors) == 1, done.stderr
    for fragment in fragments:
        assert fragment in errors[0], errors[0]


def write(tmp_path: Path, text: str) -> str:
    path = tmp_path / "inventory.py"
    path.write_text(text)
    return str(path)


def test_missing_inventory_file(tmp_path: Path) -> None:
    done = hardening("audit", str(tmp_path / "nope.py"))
    assert_one_line_error(done, "inventory file not found")


def test_inventory_with_syntax_error(tmp_path: Path) -> None:
    done = hardening("audit", write(tmp_path, "web = [('a', {)]\n"))
    assert_one_line_error(done, "is not valid Python: line 1")


def test_inventory_raising(tmp_path: Path) -> None:
    done = hardening("audit", write(tmp_path, "raise RuntimeError('no hosts today')\n"))
    assert_one_line_error(done, "no hosts today")


def test_malformed_inventory_data(tmp_path: Path) -> None:
    done = hardening(
        "audit", write(tmp_path, "web = [('h1', {'firewall_allowed_ports': ['http']})]\n")
    )
    assert_one_line_error(done, "malformed data", "h1: firewall_allowed_ports")


def test_unknown_limit(tmp_path: Path) -> None:
    done = hardening("audit", write(tmp_path, "web = ['h1']\n"), "--limit", "db_primary")
    assert_one_line_error(done, "--limit 'db_primary' matches no host", "groups: ")


def test_unreachable_host(tmp_path: Path) -> None:
    inventory = write(tmp_path, "web = [('down1', {'ssh_hostname': '127.0.0.1', 'ssh_port': 1})]\n")
    done = hardening("audit", inventory, "--format", "json", "--output", str(tmp_path / "r.json"))
    assert_one_line_error(done, "down1", "cannot connect to 127.0.0.1")


@pytest.mark.parametrize("args", [["--help"], ["audit", "--help"], ["testbed", "--help"]])
def test_help_explains(args: list[str]) -> None:
    done = hardening(*args)
    assert done.returncode == 0, done.stderr
    assert "usage" in done.stdout.lower()


def test_missing_ssh_key(tmp_path: Path) -> None:
    inventory = write(
        tmp_path,
        "web = [('h1', {'ssh_hostname': '127.0.0.1', 'ssh_key': '/nonexistent/key'})]\n",
    )
    done = hardening("audit", inventory, "-q")
    assert_one_line_error(done, "h1", "No such private key file: /nonexistent/key")
