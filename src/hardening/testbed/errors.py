"""The one exception type of the testbed."""

from __future__ import annotations

from hardening.errors import HardeningError


class TestbedError(HardeningError):
    """A testbed operation cannot proceed; ``str(error)`` is a one-line message for the user.

    The message says what is wrong and what to do about it. The project CLI prints it (as any
    `HardeningError`) without a traceback and exits with status 2.
    """

    __test__ = False  # not a pytest test class despite the name
