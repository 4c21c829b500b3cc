"""An S3 service on the control node for tests: ``hardening.testbed.services.S3Service``
(moto_server behind a TLS terminator, by PID) as a module-scoped fixture.

pgBackRest reaches S3 over HTTPS only; the service listens on every address, so each test
host reaches it at its gateway address. Use the fixture::

    from tests.integration.s3_fixture import s3_service  # noqa: F401  (pytest fixture)

    def test_x(s3_service):
        s3_service.port, s3_service.ca_file, s3_service.key, s3_service.secret
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator

import pytest

from hardening.testbed.services import S3Service, free_port

__all__ = ["S3Service", "free_port", "s3_service"]


@pytest.fixture(scope="module")
def s3_service(module_bed, tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Service]:
    """moto S3 over TLS reachable from the module bed's hosts at their gateway addresses."""
    if not shutil.which("moto_server") or not shutil.which("socat"):
        pytest.skip("moto_server or socat is not installed")
    service = S3Service(
        tmp_path_factory.mktemp("s3"), sorted({host.gateway for host in module_bed.hosts})
    ).start()
    try:
        yield service
    finally:
        service.stop()
