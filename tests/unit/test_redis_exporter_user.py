"""The Redis exporter's own ACL user without a secrets backend: created once through the admin
connection, persisted next to ``admin``, its password generated on the host and never in a
command line or output; the admin script keeps it when it rewrites the include file."""

from __future__ import annotations

import os
import stat
import subprocess
from pathlib import Path

from hardening.facts.redis import EXPORTER_ACL
from hardening.operations import monitoring
from hardening.operations.redis import admin_acl_script, exporter_acl_script
from tests.unit.test_monitoring_operations import FakeHost, commands, text

DONE = {
    "host_password": True,
    "exporter_current": True,
    "exporter_login": True,
    "synced": True,
    "mode": "600",
    "user": "exporter",
}


def run(state: dict) -> tuple[list[str], list[str]]:
    fake = FakeHost(ServiceArgs=[], RedisExporterAuth=state)
    return [text(c) for c in commands(monitoring.redis_exporter_auth, fake)], fake.noops


def test_fresh_host_gets_the_user_then_the_env_file() -> None:
    fresh = {**DONE, "exporter_current": False, "exporter_login": False, "synced": False}
    (create, copy), _ = run({**fresh, "user": "admin", "mode": "644"})
    assert "ACL SETUSER exporter reset on >%s " + EXPORTER_ACL in create
    assert "AUTH exporter %s" in create and "--user admin" in create
    assert copy.startswith("e=$(sed -n 's/^user exporter on >")
    assert copy.index("chmod 0600") < copy.index("printf") and "REDIS_USER=exporter" in copy
    assert copy.endswith("systemctl restart prometheus-redis-exporter")


def test_done_is_a_noop_and_a_lost_runtime_user_is_recreated_without_restart() -> None:
    assert run(DONE) == (
        [],
        [
            "the exporter ACL user logs in (/etc/redis/hardening-auth.conf)",
            "/etc/default/prometheus-redis-exporter (0600) holds the exporter user's current password",
        ],
    )
    (create,), _ = run({**DONE, "exporter_login": False})  # e.g. ACL DELUSER at runtime
    assert "ACL SETUSER exporter" in create and "restart" not in create
    commands_, noops = run({**DONE, "host_password": False})
    assert commands_ == [] and "no admin password" in noops[0]


def _stub_cli(tmp_path: Path) -> dict[str, str]:
    """PATH with a redis-cli that logs its argv and answers OK to every line."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    cli = bin_dir / "redis-cli"
    cli.write_text(f'#!/bin/sh\necho "$@" >> {tmp_path}/argv\nwhile read -r l; do echo OK; done\n')
    cli.chmod(0o755)
    for name in ("chown",):  # no redis user here
        (bin_dir / name).write_text("#!/bin/sh\nexit 0\n")
        (bin_dir / name).chmod(0o755)
    return {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}"}


def test_script_persists_a_host_password_once_and_the_admin_script_keeps_it(
    tmp_path: Path,
) -> None:
    conf = tmp_path / "auth.conf"
    conf.write_text("user default off resetpass\nuser admin on >adminpw ~* &* +@all\n")
    env = _stub_cli(tmp_path)
    script = exporter_acl_script(str(tmp_path / "redis.conf"), str(conf))
    done = subprocess.run(["sh", "-c", script], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    lines = conf.read_text().splitlines()
    assert lines[:2] == ["user default off resetpass", "user admin on >adminpw ~* &* +@all"]
    prefix, _, rest = lines[2].partition(" >")
    password, _, rules = rest.partition(" ")
    assert prefix == "user exporter on" and rules == EXPORTER_ACL and len(password) == 40
    assert stat.S_IMODE(conf.stat().st_mode) == 0o640
    for output in (done.stdout, done.stderr, (tmp_path / "argv").read_text()):
        assert password not in output and "adminpw" not in output
    again = subprocess.run(["sh", "-c", script], env=env, capture_output=True, text=True)
    assert again.returncode == 0 and conf.read_text().splitlines()[2:] == [lines[2]]

    rewrite = admin_acl_script(str(tmp_path / "redis.conf"), str(conf), runtime=False)
    assert "{" + "_NEW_PASSWORD}" not in rewrite + script and "/dev/urandom" in rewrite
    (tmp_path / "redis.conf").write_text("port 6379\n")
    done = subprocess.run(["sh", "-c", rewrite], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert lines[2] in conf.read_text().splitlines()  # the exporter user survives
