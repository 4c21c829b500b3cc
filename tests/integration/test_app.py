"""The reference application end to end on a real host: APP/FE/PERF items fail on a fresh
host, deploys/app.py makes them pass, a rerun changes nothing, secrets never leak, and
broken variants (staging URL in the bundle, placeholder JWT secret) fail."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.integration.harden_helpers import evidence, pyinfra_changes, statuses

ITEMS = (
    "APP-01", "APP-02", "APP-03", "APP-04", "APP-05", "APP-06", "APP-07", "APP-08",
    "FE-01", "FE-02", "FE-03", "FE-04", "PERF-01", "PERF-05", "PERF-06", "PERF-07",
)  # fmt: skip
ENV = "/etc/hardening-demo-app/env"
STATIC = "/srv/hardening-demo-app/static"

#: The testbed inventory plus this module's app data (pyinfra reads group data from here).
INVENTORY = """
from hardening.testbed import load_inventory
_groups = load_inventory()
_data = {"app_env_file": "{env}"}
web = [(name, {**data, **_data}) for name, data in _groups["web"]]
db_primary = _groups["db_primary"]
db_replica = _groups["db_replica"]
cache = _groups["cache"]
monitoring = _groups["monitoring"]
""".replace("{env}", ENV)

POOLING = "from hardening.deploys.postgres import connection_pooling\nconnection_pooling()\n"


@pytest.fixture(scope="module")
def bed(module_bed, tmp_path_factory):
    root = tmp_path_factory.mktemp("app")
    module_bed.inventory = str(root / "inventory.py")
    Path(module_bed.inventory).write_text(INVENTORY)
    (root / "pooling.py").write_text(POOLING)
    module_bed.pooling = str(root / "pooling.py")
    return module_bed


def _audit(bed, tmp_path: Path) -> dict:
    import json

    out = tmp_path / "report.json"
    done = bed.hardening(
        "audit", bed.inventory, "--limit", "tb1", "--format", "json", "-o", str(out)
    )
    assert out.exists(), done.stderr[-3000:]
    return json.loads(out.read_text())


def test_fresh_host_fails_every_app_item(bed, tmp_path: Path) -> None:
    report = _audit(bed, tmp_path)
    found = statuses(report)
    for item in ITEMS:
        assert found[("tb1", item)] == "fail", (item, evidence(report, "tb1", item))
    assert "application not deployed" in evidence(report, "tb1", "APP-03")
    assert found[("tb1", "SEC-02")] == "fail"


def test_deploy_makes_them_pass_and_a_rerun_changes_nothing(bed, tmp_path: Path) -> None:
    pooling = bed.pyinfra(bed.pooling, "--limit", "tb1")
    assert pooling.returncode == 0, pooling.stdout[-3000:] + pooling.stderr[-3000:]
    first = bed.pyinfra("deploys/app.py")
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    assert pyinfra_changes(first) > 0
    report = _audit(bed, tmp_path)
    found = statuses(report)
    failing = {
        i: evidence(report, "tb1", i) for i in ITEMS + ("SEC-02",) if found[("tb1", i)] != "pass"
    }
    assert not failing, failing
    assert bed.run("tb1", f"stat -c %a:%U {ENV}").strip() == "600:hardening-demo-app"
    second = bed.pyinfra("deploys/app.py")
    assert second.returncode == 0, second.stdout[-3000:]
    assert pyinfra_changes(second) == 0, second.stdout[-3000:] + second.stderr[-3000:]
    secret = bed.run("tb1", f"sed -n 's/^JWT_SECRET=//p' {ENV}").strip()
    dsn = bed.run("tb1", f"sed -n 's/^DATABASE_URL=//p' {ENV}").strip()
    password = dsn.split(":")[2].split("@")[0]
    assert len(secret) == 48 and secret.isalnum() and len(password) == 32
    outputs = [first, second, bed.pyinfra("deploys/app.py", "-vvv", "--diff")]
    outputs.append(bed.hardening("audit", bed.inventory, "--limit", "tb1", "-v"))
    for done in outputs:
        for value in (secret, password):
            assert value not in done.stdout and value not in done.stderr
    assert secret not in bed.run("tb1", "journalctl --no-pager -o cat; ps auxww")


def test_broken_variants_fail(bed, tmp_path: Path) -> None:
    script = bed.run("tb1", f"ls {STATIC} | grep '^app\\..*\\.js$'").strip()
    bed.run("tb1", f"echo 'fetch(\"https://staging.example.net/api\")' >> {STATIC}/{script}")
    bed.run("tb1", f"sed -i 's/^JWT_SECRET=.*/JWT_SECRET=changeme/' {ENV}")
    report = _audit(bed, tmp_path)
    found = statuses(report)
    assert found[("tb1", "FE-02")] == "fail"
    assert "staging.example.net" in evidence(report, "tb1", "FE-02")
    assert found[("tb1", "SEC-02")] == "fail"
    assert "placeholder" in evidence(report, "tb1", "SEC-02")
    repaired = bed.pyinfra("deploys/app.py")
    assert repaired.returncode == 0 and pyinfra_changes(repaired) > 0
    found = statuses(_audit(bed, tmp_path))
    assert found[("tb1", "FE-02")] == "pass" and found[("tb1", "SEC-02")] == "pass"
