"""Web tier policy shared by the nginx operations and the web checks (plain functions,
no host access): the CORS allowlist rules and how many requests the rate-limit probe sends."""

from __future__ import annotations

from typing import Any

from hardening.settings import setting


def cors_problem(origins: list[str], credentials: bool) -> str | None:
    """Why the CORS allowlist ``origins`` (with ``credentials``) is refused, else None.

    **Example:**

    >>> cors_problem(["*"], credentials=True)[:40]
    "web_cors_origins contains '*' with web_c"
    """
    if credentials and "*" in origins:
        return (
            "web_cors_origins contains '*' with web_cors_allow_credentials: any web site could "
            "read API answers with the user's cookies; list the allowed origins instead"
        )
    bad = [o for o in origins if o != "*" and ("://" not in o or o.endswith("/") or '"' in o)]
    if bad:
        return f"web_cors_origins: {', '.join(bad)}: use scheme://host[:port], no path"
    return None


def flood_size(data: Any) -> int:
    """Requests the rate-limit probe sends at once: burst + one second's rate + 10,
    so that a working ``limit_req`` must answer some of them with 429."""
    return (
        int(setting(data, "web_rate_limit_burst"))
        + int(setting(data, "web_rate_limit_per_second"))
        + 10
    )


def web_base_url(data: Any, address: str = "127.0.0.1") -> str:
    """The web tier's base URL at ``address``: https when ``web_tls`` is on (the host trusts
    the internal CA, whose certificates name 127.0.0.1), else http.

    **Example:**

    >>> web_base_url({"web_tls": True})
    'https://127.0.0.1'
    """
    return f"{'https' if setting(data, 'web_tls') else 'http'}://{address}"
