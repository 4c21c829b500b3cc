"""Redis ACL users from the secrets backend: default off, admin, app without dangerous
commands, exporter with introspection only; the exporter's environment file compared by hash."""

from __future__ import annotations

import hashlib

from hardening.facts.prometheus import RedisExporterAuth
from hardening.rotation import redis_acl_conf, redis_password_hash


def test_acl_conf_limits_app_and_exporter() -> None:
    conf = redis_acl_conf("admin-pw", ["old-pw", "new-pw"], exporter_password="exp-pw")
    lines = conf.splitlines()
    assert lines[1] == "user default off resetpass resetkeys resetchannels -@all"
    assert lines[2] == f"user admin on {redis_password_hash('admin-pw')} ~* &* +@all"
    app = lines[3]
    assert app.startswith("user app on ") and app.endswith("+@all -@dangerous")
    assert redis_password_hash("old-pw") in app and redis_password_hash("new-pw") in app
    exporter = lines[4]
    assert exporter.startswith(f"user exporter on {redis_password_hash('exp-pw')} ")
    assert "-@all" in exporter and "+info" in exporter and "~" not in exporter
    assert "pw" not in conf.replace("#", "")  # hashes only, never a password


def test_acl_conf_without_exporter_password_has_no_exporter_user() -> None:
    assert "exporter" not in redis_acl_conf("a", ["b"])


def test_exporter_auth_fact_reads_user_hash_and_mode() -> None:
    digest = hashlib.sha256(b"exp-pw").hexdigest()
    parsed = RedisExporterAuth().process([f"pwsha:{digest}", "user:exporter", "mode:600"])
    assert parsed == {
        "host_password": False,
        "exporter_current": False,
        "exporter_login": False,
        "synced": False,
        "mode": "600",
        "user": "exporter",
        "password_sha256": digest,
    }
    assert RedisExporterAuth().process(["user:", "mode:644"])["password_sha256"] == ""
