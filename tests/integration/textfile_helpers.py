"""Reading what the node exporter's textfile collector exposes on a testbed host, and whether
the host's Prometheus (Debian's default configuration scrapes the local node exporter) has
series for it."""

from __future__ import annotations

import json
import time
from urllib.parse import quote

from tests.integration.harden_helpers import audit_json, evidence, statuses


def node_samples(bed, host: str, prefix: str) -> dict[str, float]:  # noqa: ANN001 - the bed
    """``{series: value}`` of the host's node exporter whose names start with ``prefix``."""
    text = bed.run(host, "curl -fsS http://127.0.0.1:9100/metrics")
    samples = {}
    for line in text.splitlines():
        if line.startswith(prefix):
            series, value = line.rsplit(" ", 1)
            samples[series] = float(value)
    return samples


def wait_for_series(bed, host: str, name: str, timeout: float = 90) -> list[dict]:  # noqa: ANN001
    """The host's Prometheus' series of ``name`` once it has scraped them (else ``[]``)."""
    url = f"http://127.0.0.1:9090/api/v1/series?match[]={quote(name)}"
    deadline = time.monotonic() + timeout
    while True:
        found = json.loads(bed.run(host, f"curl -fsS '{url}'"))["data"]
        if found or time.monotonic() > deadline:
            return found
        time.sleep(3)


def alert_passes_with_data(bed, tmp_path, item: str, alert: str) -> None:  # noqa: ANN001
    """Deploy monitoring (Prometheus on tb1 scrapes every host's node exporter), audit tb1
    and require ``item`` to pass with its rule ``alert`` reading data that is expected."""
    done = bed.pyinfra("deploys/monitoring.py")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    _, report = audit_json(bed, tmp_path, "--limit", "tb1")
    found = evidence(report, "tb1", item)
    assert statuses(report)[("tb1", item)] == "pass", found
    assert alert in found and "data not expected" not in found, found
