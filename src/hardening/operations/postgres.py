"""PostgreSQL operations: no default or password-less logins."""

from __future__ import annotations

from pyinfra import host
from pyinfra.api import StringCommand, operation

from hardening.facts.postgres import PostgresDefaultLogins, PostgresHbaRules

_AS_POSTGRES = "runuser -u postgres -- psql -XAtq"


@operation()
def no_default_logins(port: int = 5432):
    """
    Close publicly known PostgreSQL logins.

    - ``trust`` lines in ``pg_hba.conf`` become ``peer`` (local) or
      ``scram-sha-256`` (host), then the server reloads (no restart);
    - a ``postgres`` role that accepts a well-known password loses its password
      (``PASSWORD NULL``: local peer login only).

    + port: the port the login attempts are made on (127.0.0.1)

    **Example:**

    .. code:: python

        postgres.no_default_logins(name="No default PostgreSQL logins")
    """
    hba = host.get_fact(PostgresHbaRules)
    if not hba["running"]:
        host.noop("PostgreSQL is not running here")
        return
    if any(rule["method"] == "trust" for rule in hba["rules"]):
        yield StringCommand(
            f"f=$({_AS_POSTGRES} -c 'SHOW hba_file') &&",
            "sed -i -E '/^[[:space:]]*local/ s/[[:space:]]trust[[:space:]]*$/ peer/;",
            '/^[[:space:]]*host/ s/[[:space:]]trust[[:space:]]*$/ scram-sha-256/\' "$f" &&',
            f"{_AS_POSTGRES} -c 'SELECT pg_reload_conf()' >/dev/null",
        )
    else:
        host.noop("pg_hba.conf has no trust lines")
    logins = host.get_fact(PostgresDefaultLogins, port=port)
    if any(label != "postgres without password" for label in logins["accepted"]):
        yield StringCommand(f"{_AS_POSTGRES} -c 'ALTER ROLE postgres PASSWORD NULL'")
    else:
        host.noop("postgres accepts no well-known password")
