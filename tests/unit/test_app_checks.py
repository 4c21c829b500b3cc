"""APP, FE and PERF checks on canned ``AppProbe`` facts."""

from __future__ import annotations

import copy
from typing import Any

from hardening.checks import HostContext, registry
from hardening.facts.app import AppProbe
from hardening.facts.envfile import EnvFileSummary
from hardening.results import Status

CHECKS = registry()
NAMES = (
    "app.environment", "app.database", "app.websocket", "app.offline_mode", "app.file_upload",
    "app.error_handling", "app.session_cookies", "app.concurrency", "frontend.bundle_built",
    "frontend.api_endpoints", "frontend.websocket", "frontend.service_worker",
    "frontend.bundle_size", "frontend.image_optimisation", "perf.load_test",
    "perf.response_time_sla",
)  # fmt: skip

HEALTHY = AppProbe.__doc__.split(".. code:: python")[1].split("Without")[0]
PROBE = eval(HEALTHY.strip())  # the docstring's example is the healthy shape
ENV = {
    "JWT_SECRET": {"length": 48, "alnum": True, "alnum_count": 48, "placeholder": False},
    "API_BASE_URL": {"length": 20, "alnum": False, "alnum_count": 15, "placeholder": False,
                     "url": {"scheme": "https", "host": "app.example.net", "port": None,
                             "path": "/api", "query": ""}},
    "DATABASE_URL": {"length": 61, "alnum": False, "alnum_count": 50, "placeholder": False,
                     "url": {"scheme": "postgresql", "host": "127.0.0.1", "port": 6432,
                             "path": "/postgres", "query": ""}},
}  # fmt: skip


def context(probe: dict, env: dict | None = None, **data: Any) -> HostContext:
    facts = {AppProbe: probe, EnvFileSummary: ENV if env is None else env}
    data.setdefault("app_public_url", "https://app.example.net")
    return HostContext("tb1", ("web",), data, lambda cls, **kw: facts[cls])


def test_every_item_passes_on_the_healthy_probe() -> None:
    for name in NAMES:
        outcome = CHECKS[name](context(PROBE))
        assert outcome.status == Status.PASS, (name, outcome.evidence)


def test_every_item_fails_when_the_app_is_not_deployed() -> None:
    absent = {"deployed": False, "service": {"active": False, "user": "", "env_files": []},
              "healthz": {"status": 0, "body": {}}, "bundle": {"exists": False, "files": []}}  # fmt: skip
    for name in NAMES:
        outcome = CHECKS[name](context(absent))
        assert outcome.status == Status.FAIL, name
        assert "application not deployed" in outcome.evidence or "environment" in outcome.evidence


def test_broken_variants_fail_with_the_observation() -> None:
    broken = copy.deepcopy(PROBE)
    broken["bundle"]["files"][0]["urls"].append("https://staging.example.net/api")
    broken["login"]["cookies"]["session"]["flags"].remove("secure")
    broken["error_route"]["traceback"] = True
    broken["load"]["p95_ms"] = 900.0
    broken["healthz"]["body"]["db"] = "error"
    expected = {
        "frontend.api_endpoints": "staging.example.net",
        "app.session_cookies": "missing secure",
        "app.error_handling": "stack trace",
        "perf.response_time_sla": "p95 900.0",
        "app.database": "db=error",
    }
    for name, text in expected.items():
        outcome = CHECKS[name](context(broken))
        assert outcome.status == Status.FAIL and text in outcome.evidence, (name, outcome.evidence)


def test_environment_rules_never_print_values() -> None:
    env = copy.deepcopy(ENV)
    env["JWT_SECRET"].update(placeholder=True, alnum_count=8)
    env["API_BASE_URL"]["url"]["host"] = "staging.example.net"
    del env["DATABASE_URL"]
    outcome = CHECKS["app.environment"](context(PROBE, env, app_env_file="/etc/app/env"))
    assert outcome.status == Status.FAIL
    for text in ("JWT_SECRET is a placeholder", "not a production host", "DATABASE_URL is not set"):
        assert text in outcome.evidence
