"""Secret checks: default passwords (SEC-01) and the JWT secret's strength (SEC-02)."""

from __future__ import annotations

from hardening.checks import HostContext, check
from hardening.facts.envfile import EnvFileSummary
from hardening.facts.postgres import PostgresDefaultLogins, PostgresHbaRules
from hardening.facts.redis import RedisAuthState
from hardening.results import Outcome
from hardening.settings import default

MIN_JWT_ALNUM = 32


def _postgres_findings(ctx: HostContext) -> tuple[list[str], list[str]]:
    logins = ctx.fact(PostgresDefaultLogins)
    hba = ctx.fact(PostgresHbaRules)
    if not logins["installed"]:
        return [], ["PostgreSQL: not installed"]
    problems = [f"PostgreSQL accepts {label}" for label in logins["accepted"]]
    problems += [
        f"pg_hba line {rule['line']} trusts {rule['type']} {rule['user']}@{rule['database']}"
        + (f" from {rule['address']}" if rule["address"] else "")
        for rule in hba["rules"]
        if rule["method"] == "trust"
    ]
    if not logins["listening"] and not hba["running"]:
        return problems, ["PostgreSQL: installed, not running"]
    fine = [] if problems else ["PostgreSQL: no default or password-less login"]
    return problems, fine


def _redis_findings(ctx: HostContext) -> tuple[list[str], list[str]]:
    auth = ctx.fact(RedisAuthState)
    if not auth["installed"]:
        return [], ["Redis: not installed"]
    if not auth["reachable"]:
        return [], ["Redis: installed, not answering on 127.0.0.1"]
    problems = []
    if auth["open_without_auth"]:
        problems.append("Redis answers without AUTH")
    problems += [
        f"Redis accepts the default password {p!r}" for p in auth["accepted_default_passwords"]
    ]
    return problems, [] if problems else ["Redis: requires a non-default password"]


def _jwt_summary(ctx: HostContext) -> tuple[str, dict | None, str]:
    """(env file, the JWT variable's summary or None, variable name)."""
    path = ctx.setting("app_env_file", default("app_env_file"))
    name = ctx.setting("jwt_secret_var", default("jwt_secret_var"))
    if not path:
        return "", None, name
    summary = ctx.fact(EnvFileSummary, path=path)
    return path, (summary or {}).get(name), name


def _jwt_problems(info: dict) -> list[str]:
    problems = []
    if info["placeholder"]:
        problems.append("is a known placeholder value")
    if info["alnum_count"] < MIN_JWT_ALNUM:
        problems.append(
            f"has {info['alnum_count']} alphanumeric characters (needs {MIN_JWT_ALNUM}+)"
        )
    return problems


@check("secrets.default_passwords")
def default_passwords(ctx: HostContext) -> Outcome:
    """PostgreSQL, Redis and the JWT secret must not use default or empty credentials."""
    problems, fine = _postgres_findings(ctx)
    more_problems, more_fine = _redis_findings(ctx)
    problems += more_problems
    fine += more_fine
    path, info, name = _jwt_summary(ctx)
    if not path:
        fine.append("JWT: no app_env_file declared for this host")
    elif info is None:
        problems.append(f"JWT: {name} missing from {path}")
    elif info["placeholder"]:
        problems.append(f"JWT: {name} in {path} is a known placeholder")
    else:
        fine.append(f"JWT: {name} is not a placeholder")
    if (
        all(text.endswith("not installed") or "no app_env_file" in text for text in fine)
        and not problems
    ):
        return Outcome.not_applicable("no PostgreSQL, Redis or application secrets on this host")
    if problems:
        return Outcome.failed(
            "; ".join(problems + fine),
            fix="run deploys/secrets.py to replace default credentials with generated ones",
        )
    return Outcome.passed("; ".join(fine))


@check("secrets.jwt_secret_strength")
def jwt_secret_strength(ctx: HostContext) -> Outcome:
    """The JWT secret has at least 32 alphanumeric characters and is not a placeholder."""
    path, info, name = _jwt_summary(ctx)
    if not path:
        return Outcome.not_applicable("no application on this host (set app_env_file)")
    if info is None:
        return Outcome.failed(f"{name} is not set in {path}", fix="run deploys/secrets.py")
    problems = _jwt_problems(info)
    if problems:
        return Outcome.failed(
            f"{name} in {path} " + " and ".join(problems), fix="run deploys/secrets.py"
        )
    return Outcome.passed(
        f"{name} in {path}: {info['alnum_count']} alphanumeric characters, not a placeholder"
    )
