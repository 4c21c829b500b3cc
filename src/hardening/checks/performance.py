"""Performance probes (PERF-01, PERF-05): a bounded load test run on the host against the
application (``app_load_clients`` x ``app_load_requests``), judged against the inventory's
error-rate and response-time SLA."""

from __future__ import annotations

from hardening.checks import HostContext, check
from hardening.checks.app import FIX, NOT_DEPLOYED, deployed, load_outcome, setting
from hardening.results import Outcome


@check("perf.load_test")
def load_test(ctx: HostContext) -> Outcome:
    """PERF-01: the bounded load test completes within the error-rate threshold."""
    return load_outcome(ctx, "load test")


@check("perf.response_time_sla")
def response_time_sla(ctx: HostContext) -> Outcome:
    """PERF-05: p95 latency of the load probe within ``app_sla_p95_ms``."""
    found = deployed(ctx)
    if found is None:
        return Outcome.failed(NOT_DEPLOYED, fix=FIX)
    load = found["load"]
    target = setting(ctx, "app_sla_p95_ms")
    observed = (
        f"p50 {load['p50_ms']} ms, p95 {load['p95_ms']} ms, p99 {load['p99_ms']} ms over "
        f"{load['requests']} requests (SLA p95 <= {target} ms)"
    )
    if load["p95_ms"] > target:
        return Outcome.failed(observed, fix="profile the slow route or raise capacity")
    return Outcome.passed(observed)
