"""The checklist's alerts as data: one Prometheus alerting rule per checklist item.

Plain data shared by the operation that renders ``alert_rules.yml.j2`` and by the
checks that find each rule among the rules Prometheus has *loaded*. Every rule
carries the labels ``severity`` (the checklist section: critical, warning, info)
and ``checklist_item`` (the catalog id), so the audit maps an item to its rule.
Metric names and their sources are documented in ``docs/alerts.md``.

**Example:**

.. code:: python

    from hardening.alert_rules import ALERTS, by_item
    by_item()["MON-CRIT-03"].expr   # '(1 - node_memory_MemAvailable_bytes / ...) > 0.9'
"""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class AlertSpec:
    """One alerting rule.

    + item: catalog id of the checklist item it serves (``checklist_item`` label)
    + alert: Prometheus alert name
    + severity: ``critical``, ``warning`` or ``info`` (the checklist's section)
    + expr: PromQL expression; the threshold is the checklist's
    + duration: the rule's ``for`` (how long the condition must hold)
    + summary: one line for people
    + must_contain: fragments the loaded rule's expression must contain (whitespace
      ignored): the metric(s) and the threshold, so an edited rule fails the audit
    """

    item: str
    alert: str
    severity: str
    expr: str
    duration: str
    summary: str
    must_contain: tuple[str, ...]

    @property
    def duration_seconds(self) -> int:
        """``for`` in seconds (``"10m"`` -> 600)."""
        units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
        return int(self.duration[:-1]) * units[self.duration[-1]]


_HTTP_RATIO = (
    'sum by (job) (rate(http_requests_total{{code=~"{codes}"}}[5m]))'
    " / sum by (job) (rate(http_requests_total[5m])) > {threshold}"
)


def _p95(window: str, offset: str = "") -> str:
    """p95 of the HTTP request duration histogram over ``window`` (``offset``: e.g. ``1d``)."""
    shift = f" offset {offset}" if offset else ""
    return (
        "histogram_quantile(0.95, sum by (job, le) "
        f"(rate(http_request_duration_seconds_bucket[{window}]{shift})))"
    )


_LOGS = "sum by (instance) (rate(log_messages_total[1h]))"
_LOGS_YESTERDAY = "sum by (instance) (rate(log_messages_total[1h] offset 1d))"

ALERTS: tuple[AlertSpec, ...] = (
    AlertSpec(
        "MON-CRIT-01",
        "HttpServerErrorsAbove5Percent",
        "critical",
        _HTTP_RATIO.format(codes="5..", threshold="0.05"),
        "2m",
        "More than 5 % of HTTP requests fail with 5xx (application down)",
        ("http_requests_total", '"5.."', ">0.05"),
    ),
    AlertSpec(
        "MON-CRIT-02",
        "DatabaseConnectionFailures",
        "critical",
        'pg_up == 0 or up{job="postgres"} == 0',
        "1m",
        "The PostgreSQL exporter cannot connect to the database (or is down)",
        ("pg_up==0", 'up{job="postgres"}==0'),
    ),
    AlertSpec(
        "MON-CRIT-03",
        "MemoryUsageAbove90Percent",
        "critical",
        "(1 - node_memory_MemAvailable_bytes / node_memory_MemTotal_bytes) > 0.9",
        "5m",
        "Memory usage is above 90 %",
        ("node_memory_MemAvailable_bytes", "node_memory_MemTotal_bytes", ">0.9"),
    ),
    AlertSpec(
        "MON-CRIT-04",
        "CpuUsageAbove90PercentSustained",
        "critical",
        '(1 - avg by (instance) (rate(node_cpu_seconds_total{mode="idle"}[5m]))) > 0.9',
        "10m",
        "CPU usage has been above 90 % for 10 minutes",
        ("node_cpu_seconds_total", ">0.9"),
    ),
    AlertSpec(
        "MON-CRIT-05",
        "DiskSpaceBelow10Percent",
        "critical",
        'node_filesystem_avail_bytes{fstype!~"tmpfs|ramfs|squashfs|overlay"}'
        ' / node_filesystem_size_bytes{fstype!~"tmpfs|ramfs|squashfs|overlay"} < 0.1',
        "5m",
        "Less than 10 % of a filesystem is free",
        ("node_filesystem_avail_bytes", "node_filesystem_size_bytes", "<0.1"),
    ),
    AlertSpec(
        "MON-CRIT-06",
        "WebSocketDisconnectionsAbove10Percent",
        "critical",
        "sum by (job) (rate(websocket_disconnections_total[5m]))"
        " / sum by (job) (rate(websocket_connections_total[5m])) > 0.1",
        "5m",
        "More than 10 % of WebSocket connections end in an unexpected disconnection",
        ("websocket_disconnections_total", "websocket_connections_total", ">0.1"),
    ),
    AlertSpec(
        "MON-WARN-01",
        "ResponseTimeP95Above2Seconds",
        "warning",
        f"{_p95('5m')} > 2",
        "5m",
        "95th percentile HTTP response time is above 2 seconds",
        ("http_request_duration_seconds_bucket", "0.95", ">2"),
    ),
    AlertSpec(
        "MON-WARN-02",
        "HttpClientErrorsAbove10Percent",
        "warning",
        _HTTP_RATIO.format(codes="4..", threshold="0.1"),
        "5m",
        "More than 10 % of HTTP requests fail with 4xx",
        ("http_requests_total", '"4.."', ">0.1"),
    ),
    AlertSpec(
        "MON-WARN-03",
        "DatabaseQueryTimeAbove1Second",
        "warning",
        'max by (instance, datname) (pg_stat_activity_max_tx_duration{state="active"}) > 1',
        "1m",
        "A PostgreSQL query has been running for more than 1 second",
        ("pg_stat_activity_max_tx_duration", ">1"),
    ),
    AlertSpec(
        "MON-WARN-04",
        "RedisConnectionFailures",
        "warning",
        'redis_up == 0 or up{job="redis"} == 0'
        " or increase(redis_rejected_connections_total[5m]) > 0",
        "1m",
        "Redis is unreachable or rejects connections",
        ("redis_up==0", "redis_rejected_connections_total"),
    ),
    AlertSpec(
        "MON-WARN-05",
        "ApiRateLimitApproaching",
        "warning",
        "max by (job, instance) (1 - api_rate_limit_remaining / api_rate_limit_limit) > 0.8",
        "5m",
        "A client uses more than 80 % of its API rate limit",
        ("api_rate_limit_remaining", "api_rate_limit_limit", ">0.8"),
    ),
    AlertSpec(
        "MON-INFO-01",
        "DeploymentHappened",
        "info",
        "changes(deployment_timestamp_seconds[15m]) > 0",
        "0s",
        "A deployment finished in the last 15 minutes",
        ("deployment_timestamp_seconds", ">0"),
    ),
    AlertSpec(
        "MON-INFO-02",
        "BackupNotCompleted",
        "info",
        "backup_last_exit_code != 0 or time() - backup_last_success_timestamp_seconds > 93600",
        "0s",
        "The last backup failed or none succeeded in 26 hours",
        ("backup_last_exit_code", "backup_last_success_timestamp_seconds", ">93600"),
    ),
    AlertSpec(
        "MON-INFO-03",
        "ResponseTimeTrendUp20Percent",
        "info",
        f"{_p95('1h')} > 1.2 * {_p95('1h', '1d')}",
        "1h",
        "p95 response time is 20 % above the same hour yesterday",
        ("http_request_duration_seconds_bucket", "offset1d", ">1.2*"),
    ),
    AlertSpec(
        "MON-INFO-04",
        "LogVolumeAnomaly",
        "info",
        f"{_LOGS} > 2 * {_LOGS_YESTERDAY} or {_LOGS} < 0.5 * {_LOGS_YESTERDAY}",
        "30m",
        "Log volume is more than double or less than half of the same hour yesterday",
        ("log_messages_total", ">2*", "<0.5*"),
    ),
    AlertSpec(
        "OPS-D-01",
        "InstanceDown",
        "critical",
        "up == 0",
        "2m",
        "A scrape target (host, exporter or service) is down",
        ("up==0",),
    ),
)

#: Rule group of each severity in the rendered file.
GROUPS = ("critical", "warning", "info")


def by_item() -> dict[str, AlertSpec]:
    """``{catalog id: AlertSpec}``."""
    return {spec.item: spec for spec in ALERTS}


def normalise(expr: str) -> str:
    """An expression without whitespace, for comparing against ``must_contain``."""
    return "".join(expr.split())


#: Items whose rules read series of the reference application's ``/metrics`` (Prometheus job
#: ``app``, scraped through nginx on the web hosts).
APP_ITEMS = (
    "MON-CRIT-01",
    "MON-CRIT-06",
    "MON-WARN-01",
    "MON-WARN-02",
    "MON-WARN-05",
    "MON-INFO-03",
)
#: Label matchers, range selectors and grouping clauses: never metric names.
_NOT_SERIES = re.compile(r"\{[^}]*\}|\[[^\]]*\]|\b(?:by|without|on|ignoring)\s*\([^)]*\)")
_NAME = re.compile(r"\b([a-zA-Z_:][a-zA-Z0-9_:]*)\b(?!\s*\()")
_KEYWORDS = {"and", "or", "unless", "offset", "bool", "group_left", "group_right"}


def rule_metrics(item: str) -> set[str]:
    """Metric names the rule of ``item`` reads.

    **Example:**

    >>> sorted(rule_metrics("MON-CRIT-06"))
    ['websocket_connections_total', 'websocket_disconnections_total']
    """
    names = _NAME.findall(_NOT_SERIES.sub(" ", by_item()[item].expr))
    return set(names) - _KEYWORDS
