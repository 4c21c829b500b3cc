"""The monitoring operations' commands, generated against a fake host (no connection)."""

from __future__ import annotations

from io import StringIO

from pyinfra.api import FileUploadCommand
from pyinfra.context import ctx_host

from hardening.facts.prometheus import PostgresExporterRole
from hardening.operations import monitoring
from hardening.operations._render import sha1


class FakeHost:
    """Just what the operations use: ``get_fact`` (by class name) and ``noop``."""

    def __init__(self, **facts: object) -> None:
        self.facts = facts
        self.noops: list[str] = []

    def get_fact(self, fact_class: type, **kwargs: object) -> object:
        return self.facts.get(fact_class.__name__)

    def noop(self, text: str) -> None:
        self.noops.append(text)


def commands(operation, fake: FakeHost, **kwargs) -> list:
    with ctx_host.use(fake):
        return list(operation._inner(**kwargs))


def text(command) -> str:
    if isinstance(command, FileUploadCommand):
        return f"upload {command.dest}"
    return command.get_raw_value()


def test_current_rules_are_a_noop() -> None:
    fake = FakeHost(Sha1File=sha1(monitoring.render_rules()))
    assert commands(monitoring.alert_rules, fake) == []
    assert fake.noops == [f"alert rules {monitoring.RULES_PATH} is current"]


def test_new_rules_are_validated_before_they_replace_the_old_and_prometheus_reloads() -> None:
    done = [text(command) for command in commands(monitoring.alert_rules, FakeHost())]
    staged = "/etc/prometheus/rules/.hardening-staging/hardening.rules.yml"
    assert done[0] == "install -d -m 0700 /etc/prometheus/rules/.hardening-staging"
    assert done[1] == f"upload {staged}"
    assert done[3].startswith(f"promtool check rules {staged} || {{ rm -f {staged}")
    assert done[4] == f"mv -f {staged} {monitoring.RULES_PATH} && systemctl reload prometheus"


def test_alertmanager_webhook_token_is_uploaded_not_printed() -> None:
    url = "https://hooks.example.net/services/T0/B0/s3cr3tt0k3n"
    generated = commands(monitoring.alertmanager_config, FakeHost(), webhook_url=url)
    upload = next(c for c in generated if isinstance(c, FileUploadCommand))
    assert isinstance(upload.src, StringIO) and url in upload.src.getvalue()
    shown = [text(command) for command in generated]
    assert not any("s3cr3tt0k3n" in line for line in shown)
    assert "chown root:prometheus" in shown[2] and "chmod 0640" in shown[2]
    assert shown[3].startswith("amtool check-config")
    assert shown[4].endswith("systemctl reload prometheus-alertmanager")


ROLE_READY = {"installed": True, "running": True, "standby": False}


def test_exporter_role_is_created_once_and_never_on_a_standby() -> None:
    missing = {**ROLE_READY, "exists": False, "login": False, "monitor": False}
    (create,) = commands(monitoring.postgres_exporter_role, FakeHost(PostgresExporterRole=missing))
    assert "CREATE ROLE" in text(create) and "GRANT pg_monitor TO" in text(create)
    assert "PASSWORD" not in text(create)
    for state, why in (
        ({**ROLE_READY, "exists": True, "login": True, "monitor": True}, "is in pg_monitor"),
        ({**missing, "standby": True}, "comes from the primary"),
        (PostgresExporterRole.default(), "not running"),
    ):
        fake = FakeHost(PostgresExporterRole=state)
        assert commands(monitoring.postgres_exporter_role, fake) == []
        assert why in fake.noops[0]


def test_exporter_role_fact() -> None:
    assert PostgresExporterRole().process(["f|t|t|f"]) == {
        **ROLE_READY,
        "exists": True,
        "login": True,
        "monitor": False,
    }
    assert PostgresExporterRole().process(["#down"])["running"] is False
