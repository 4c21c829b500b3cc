"""Secret checks: default passwords (SEC-01), the JWT secret's strength (SEC-02), rotation age
(SEC-08) and the secrets backend holding the generated credentials (SEC-10)."""

from __future__ import annotations

import time

from hardening.checks import HostContext, check
from hardening.facts.envfile import EnvFileSummary
from hardening.facts.postgres import PostgresDefaultLogins, PostgresHbaRules
from hardening.facts.redis import RedisAclUsers, RedisAuthState, default_user_state
from hardening.facts.secrets import SecretsMarker
from hardening.facts.timers import HardeningTimers
from hardening.results import Outcome
from hardening.settings import default

MIN_JWT_ALNUM = 32
ROTATE_TIMER = "hardening-rotate"


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
    acl = ctx.fact(RedisAclUsers)
    if acl.get("installed") and default_user_state(acl) == "on":
        problems.append("ACL default user is on")
    fine = "Redis: requires a non-default password"
    if acl.get("installed") and not problems:
        fine += f"; ACL default user is off ({'live' if acl.get('live') else 'configured'})"
    return problems, [] if problems else [fine]


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


@check("secrets.backend_configured")
def backend_configured(ctx: HostContext) -> Outcome:
    """A secrets backend is configured and holds this host's generated credentials."""
    config = ctx.setting("secrets_backend", default("secrets_backend"))
    fix = "set secrets_backend in inventory, then run deploys/secrets.py"
    if not config:
        return Outcome.failed(
            "no secrets_backend in inventory: credentials live on hosts only", fix
        )
    marker = ctx.fact(SecretsMarker)
    if not marker:
        return Outcome.failed(
            f"secrets_backend is {config.get('type')}, but no credentials of this host are "
            "recorded there",
            fix="run deploys/secrets.py",
        )
    if marker.get("backend") != config.get("type"):
        return Outcome.failed(
            f"credentials are in {marker.get('location')}, inventory says {config.get('type')}",
            fix="run deploys/secrets.py",
        )
    names = ", ".join(marker.get("credentials") or {}) or "none on this host"
    return Outcome.passed(f"{marker.get('location')}; credentials: {names}")


def _rotation_timer(ctx: HostContext) -> tuple[list[str], list[str]]:
    """On the rotation_controller host: hardening-rotate.timer is enabled, active, not failing."""
    if not ctx.setting("rotation_controller", default("rotation_controller")):
        return [], []
    timer = ctx.fact(HardeningTimers).get(ROTATE_TIMER)
    if not timer:
        return [f"{ROTATE_TIMER}.timer is not installed on this rotation controller"], []
    states = {"enabled": timer["enabled"], "active": timer["active"]}
    problems = [f"{ROTATE_TIMER}.timer is not {state}" for state, ok in states.items() if not ok]
    if timer["result"] not in ("", "success"):
        problems.append(f"its last run failed ({timer['result']}, exit {timer['exit_status']})")
    last = timer["last_exit"]
    ran = "not run yet"
    if last:
        ran = "last run " + time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(last))
    return problems, [f"{ROTATE_TIMER}.timer enabled and active, {ran}"]


@check("secrets.rotation_age")
def rotation_age(ctx: HostContext) -> Outcome:
    """Every backend credential of this host was rotated within ``rotation_interval_days``;
    the ``rotation_controller`` host runs the ``hardening-rotate`` timer."""
    interval = ctx.setting("rotation_interval_days", default("rotation_interval_days"))
    if not ctx.setting("secrets_backend", default("secrets_backend")):
        return Outcome.failed(
            "no secrets_backend: database credentials are not rotated",
            fix="set secrets_backend, run deploys/secrets.py and schedule "
            "deploys/rotate_credentials.py",
        )
    problems, fine = _rotation_timer(ctx)
    credentials = ctx.fact(SecretsMarker).get("credentials") or {}
    if not credentials and not problems and not fine:
        return Outcome.not_applicable("no rotated credentials on this host")
    now = time.time()
    for name, entry in sorted(credentials.items()):
        days = (now - float(entry.get("promoted_at") or 0)) / 86400
        (problems if days > interval else fine).append(f"{name} {days:.1f} days old")
    return Outcome.judge(
        problems,
        [*fine, f"interval {interval} days"],
        fix="run deploys/rotate_credentials.py, and deploys/rotation_timer.py on the "
        "rotation_controller host (its timer runs `hardening rotate` daily)",
    )
