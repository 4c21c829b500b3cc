"""Runbooks, compliance documents and DR objectives (DR-RUN-*, DOC-02/03/05/06/08,
DR-RTO-02, OPS-M-03, STAB-07) and the runbooks' automations (restart, diagnostics,
incident response)."""

from __future__ import annotations

import time
from functools import cache

from pyinfra import host
from pyinfra.api import DeployError, deploy

from hardening.deploys._common import DB_GROUPS, in_groups
from hardening.facts.docs import AccessControl, SshClientAddress
from hardening.facts.network import ListeningSockets
from hardening.operations import diagnostics as diagnostics_ops
from hardening.operations import firewall as firewall_ops
from hardening.operations import incident as incident_ops
from hardening.operations import runbooks as runbook_ops
from hardening.runbooks import (
    ACCESS_MATRIX,
    ARCHITECTURE,
    inventory_model,
    render_access_matrix,
    render_architecture,
    render_inventory_documents,
)
from hardening.settings import parse_port, setting


@cache
def run_label() -> str:
    """One UTC timestamp per pyinfra run, shared by every host's diagnostics/evidence."""
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())


def _app() -> dict:
    return {
        "unit": setting(host.data, "app_service"),
        "health_url": setting(host.data, "app_health_url"),
        "timeout": setting(host.data, "app_restart_timeout"),
    }


@deploy("Runbooks and compliance documents, DR drill")
def runbooks() -> None:
    """Render the documents from the inventory and this host's facts onto the host; install
    the restart script and, on db hosts, the monthly DR drill timer."""
    model = inventory_model(host.inventory)
    runbook_ops.documents(
        name="Runbooks, security policy, SLA", documents=render_inventory_documents(model)
    )
    runbook_ops.host_document(
        name="Architecture diagram (inventory and listeners)",
        relpath=ARCHITECTURE.relpath,
        generate=lambda: render_architecture(model, host.name, host.get_fact(ListeningSockets)),
    )
    runbook_ops.host_document(
        name="Access control matrix (users, sudo, SSH keys, database roles)",
        relpath=ACCESS_MATRIX.relpath,
        generate=lambda: render_access_matrix(host.name, host.get_fact(AccessControl)),
    )
    runbook_ops.install_app_restart(name="Application restart script (health-gated)")
    if in_groups(*DB_GROUPS):
        app = _app()
        runbook_ops.dr_drill(
            name="Monthly DR drill timer (restore drill + application restart)",
            app_service=app["unit"],
            health_url=app["health_url"],
            timeout=app["timeout"],
            calendar=setting(host.data, "dr_drill_calendar"),
        )


@deploy("Application restart: rolling, one web host at a time, health-gated")
def restart_app() -> None:
    """DR-RUN-02: restart the app on each web host in turn; stop at a failed health gate."""
    app = _app()
    if not in_groups("web"):
        host.noop("not a web host")
        return
    if not runbook_ops.service_present(app["unit"]):
        host.noop(f"{app['unit']} is not installed on this host")
        return
    runbook_ops.install_app_restart(name="Application restart script (health-gated)")
    runbook_ops.restart_app(name=f"Restart {app['unit']} (health gate)", _serial=True, **app)


@deploy("Performance degradation response: capture diagnostics")
def diagnostics() -> None:
    """DR-RUN-04: load, processes, PostgreSQL activity, slow queries, nginx into a dated dir."""
    diagnostics_ops.capture(name="Capture diagnostics", label=run_label())


@deploy("Security incident response: capture evidence, isolate the host")
def incident() -> None:
    """DR-RUN-05: evidence tarball first, then only SSH from the operator stays open."""
    operator = setting(host.data, "incident_operator_source") or host.get_fact(SshClientAddress)
    if not operator:
        raise DeployError(
            f"{host.name}: cannot tell the operator's address; set incident_operator_source"
        )
    incident_ops.capture_evidence(name="Capture evidence (0600 tarball)", label=run_label())
    ssh_port = parse_port(host.data.get("ssh_port") or 22)[0]
    firewall_ops.ruleset(
        name=f"Isolate host: only SSH from {operator}",
        ports=set(),
        restricted={(ssh_port, "tcp"): (operator,)},
        ssh_port=ssh_port,
        rollback_seconds=setting(host.data, "firewall_rollback_seconds"),
    )
