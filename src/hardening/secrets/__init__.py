"""Secrets backends: where generated credentials live and rotate.

``backend_from_config(setting(host.data, "secrets_backend"))`` returns the configured
``SecretsBackend`` (or ``None`` when the inventory configures none)::

    secrets_backend = {"type": "vault", "address": "https://vault:8200", "mount": "secret",
                       "path_prefix": "hardening", "token_file": "/etc/hardening/vault-token"}
    secrets_backend = {"type": "aws", "region": "eu-west-1", "path_prefix": "hardening"}

Tokens and AWS keys never come from inventory values: ``VAULT_TOKEN`` or ``token_file``;
boto3's standard chain for AWS.
"""

from __future__ import annotations

from typing import Any

from hardening.secrets.base import (
    AccessDenied,
    BackendUnreachable,
    ConcurrentChange,
    Record,
    SecretMissing,
    SecretsBackend,
    SecretsBackendError,
    generate_password,
)

__all__ = [
    "AccessDenied",
    "BackendUnreachable",
    "ConcurrentChange",
    "Record",
    "SecretMissing",
    "SecretsBackend",
    "SecretsBackendError",
    "backend_from_config",
    "config_problems",
    "generate_password",
]

_KEYS = {
    "vault": {"type", "address", "mount", "path_prefix", "token_file", "verify"},
    "aws": {"type", "region", "path_prefix", "endpoint_url"},
}


def config_problems(config: Any) -> list[str]:
    """What is wrong with a ``secrets_backend`` value (empty list: fine or not set)."""
    if not config:
        return []
    if not isinstance(config, dict):
        return [f"secrets_backend must be a mapping, got {type(config).__name__}"]
    kind = config.get("type")
    if kind not in _KEYS:
        return [f"secrets_backend.type must be 'vault' or 'aws', got {kind!r}"]
    problems = [f"secrets_backend: unknown key {key!r}" for key in set(config) - _KEYS[kind]]
    if kind == "vault" and not str(config.get("address", "")).startswith(("https://", "http://")):
        problems.append("secrets_backend.address must be an http(s):// URL")
    if "token" in config:
        problems.append("secrets_backend must not contain a token (use VAULT_TOKEN or token_file)")
    return problems


# one client per configuration and process: deploys ask for it once per host
_CACHE: dict[str, SecretsBackend] = {}


def backend_from_config(config: Any) -> SecretsBackend | None:
    """The backend a ``secrets_backend`` setting describes; ``None`` when not configured."""
    if not config:
        return None
    problems = config_problems(config)
    if problems:
        raise SecretsBackendError("; ".join(problems))
    key = repr(sorted(config.items()))
    if key not in _CACHE:
        if config["type"] == "vault":
            from hardening.secrets.vault import VaultBackend, read_token

            _CACHE[key] = VaultBackend(
                config["address"],
                token=read_token(config.get("token_file", "")),
                mount=config.get("mount", "secret"),
                path_prefix=config.get("path_prefix", "hardening"),
                verify=config.get("verify", True),
            )
        else:
            from hardening.secrets.aws import AwsBackend

            _CACHE[key] = AwsBackend(
                config.get("region", "us-east-1"),
                path_prefix=config.get("path_prefix", "hardening"),
                endpoint_url=config.get("endpoint_url", ""),
            )
    return _CACHE[key]
