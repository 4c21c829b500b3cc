"""systemd timers of this toolkit (``hardening-*.timer``).

Installed as ``hardening.facts.timers``.
"""

from __future__ import annotations

from pyinfra.api import FactBase, StringCommand

#: Properties read from each timer and from the service it triggers.
TIMER_PROPERTIES = ("UnitFileState", "ActiveState", "LastTriggerUSec", "Unit")
SERVICE_PROPERTIES = ("ActiveState", "Result", "ExecMainStatus", "ExecMainExitTimestamp")


class HardeningTimers(FactBase):
    """
    Every ``hardening-*.timer`` unit file on the host, its state and its service's last run
    (``systemctl show --timestamp=unix``). Times are Unix seconds, ``None`` when never.

    .. code:: python

        {"hardening-security-log-review": {
            "enabled": True, "active": True, "last_trigger": 1704070800.0,
            "service": "hardening-security-log-review.service", "running": False,
            "result": "success", "exit_status": 0, "last_exit": 1704070802.0}}
    """

    default = dict

    def command(self) -> StringCommand:
        timer_props = " ".join(f"-p {name}" for name in TIMER_PROPERTIES)
        service_props = " ".join(f"-p {name}" for name in SERVICE_PROPERTIES)
        return StringCommand(
            "for t in $(systemctl list-unit-files --no-legend --plain 'hardening-*.timer'",
            "2>/dev/null | awk '{print $1}'); do echo \"#timer=$t\";",
            f'systemctl show --timestamp=unix {timer_props} "$t";',
            'echo "#service";',
            f"systemctl show --timestamp=unix {service_props}",
            '"$(systemctl show -p Unit --value "$t")"; done; echo "#end"',
        )

    def process(self, output: list[str]) -> dict:
        raw: dict[str, dict[str, dict[str, str]]] = {}
        unit, part = "", "timer"
        for line in output:
            if line.startswith("#timer="):
                unit, part = line[len("#timer=") :].removesuffix(".timer"), "timer"
                raw[unit] = {"timer": {}, "service": {}}
            elif line == "#service":
                part = "service"
            elif unit and "=" in line:
                key, _, value = line.partition("=")
                raw[unit][part][key] = value
        return {
            unit: _timer_state(values["timer"], values["service"]) for unit, values in raw.items()
        }


def _timer_state(timer: dict[str, str], service: dict[str, str]) -> dict:
    status = service.get("ExecMainStatus", "")
    return {
        "enabled": timer.get("UnitFileState") == "enabled",
        "active": timer.get("ActiveState") == "active",
        "last_trigger": unix_seconds(timer.get("LastTriggerUSec", "")),
        "service": timer.get("Unit", ""),
        "running": service.get("ActiveState") in ("activating", "active", "reloading"),
        "result": service.get("Result", ""),
        "exit_status": int(status) if status.lstrip("-").isdigit() else None,
        "last_exit": unix_seconds(service.get("ExecMainExitTimestamp", "")),
    }


def unix_seconds(value: str) -> float | None:
    """``@1704070800`` (``systemctl --timestamp=unix``) -> seconds; empty / ``n/a`` -> None."""
    value = value.strip()
    return float(value[1:]) if value.startswith("@") and value[1:].isdigit() else None
