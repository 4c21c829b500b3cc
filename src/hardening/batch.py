"""Gather many pyinfra facts in one SSH round trip.

pyinfra runs each fact as its own command; an audit of 150 items needs dozens
of facts per host, and each costs a round trip. ``gather`` joins the commands
of many facts into one shell script with delimited sections, runs it once, and
parses each section with the fact's own ``process()``, so every fact stays an
ordinary pyinfra fact usable in anyone's deploy.

Example::

    values = gather(state, host, [(ListeningSockets, {}), (NftablesRuleset, {})])
    values[(ListeningSockets, ())]  # same value as host.get_fact(ListeningSockets)
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Sequence
from typing import Any

from pyinfra.api import StringCommand
from pyinfra.api.arguments import pop_global_arguments
from pyinfra.api.command import PyinfraCommand

from hardening.checks import fact_key

_NO_COMMAND = "##PYINFRA_NOCMD##"

#: Runs once before the sections. Debian's ``psql`` and ``pg_isready`` are pg_wrapper, a Perl
#: script costing ~20 ms CPU per call, and an audit makes a dozen such calls. When pg_wrapper
#: would only run the newest client binary against the default socket and port (no PG*
#: overrides, no user_clusters/.postgresqlrc mapping, at most one cluster, on port 5432 with the
#: default socket directory), that binary's directory goes first on PATH: same program, same
#: target, without Perl. Anything unusual keeps the wrapper. ``@ROOT@`` is "" on a host.
_PRELUDE = r"""
_hb_pgbin=$(ls -d @ROOT@/usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
set -- @ROOT@/etc/postgresql/*/*/postgresql.conf
if [ -z "${PGCLUSTER}${PGPORT}${PGHOST}${PGSERVICE}" ] && [ -x "$_hb_pgbin/psql" ] \
  && [ $# -le 1 ] && ! [ -e ~/.postgresqlrc ] && ! [ -e ~postgres/.postgresqlrc ] \
  && ! grep -qsv '^[[:space:]]*\(#\|$\)' @ROOT@/etc/postgresql-common/user_clusters \
  && { ! [ -e "$1" ] || [ "$(sed -n 's/#.*//;
       s/^[[:space:]]*port[[:space:]]*=\{0,1\}[[:space:]]*//p;
       s/^[[:space:]]*unix_socket_directories[[:space:]]*=\{0,1\}[[:space:]]*/s/p' "$1" \
       "${1%/*}"/conf.d/*.conf 2>/dev/null | tr -d " '\t" | sort -u | tr '\n' ' ')" \
       = "5432 s/var/run/postgresql " ]; }
then PATH="$_hb_pgbin:$PATH"; PGSYSCONFDIR=${PGSYSCONFDIR:-/etc/postgresql-common}
  export PATH PGSYSCONFDIR
fi
set --
"""


def prelude(root: str = "") -> str:
    """The script's first lines (PostgreSQL client fast path); ``root`` prefixes paths in tests."""
    return _PRELUDE.replace("@ROOT@", root).strip()


def _text(command: Any) -> str:
    return command.get_raw_value() if isinstance(command, PyinfraCommand) else str(command)


def fact_script(requests: Sequence[tuple[type, dict]], marker: str) -> str:
    """One POSIX shell script running every fact command in its own subshell.

    Each section starts with ``<marker> <index>`` and ends with ``<marker>-end <index> <rc>``.
    """
    parts = [prelude()]
    for index, (fact_class, kwargs) in enumerate(requests):
        fact = fact_class()
        command = _text(fact.command(**kwargs))
        required = fact.requires_command(**kwargs)
        if required:
            command = (
                f"if command -v {_text(required)} >/dev/null 2>&1; then ( {command} ); "
                f"else echo '{_NO_COMMAND}'; fi"
            )
        parts.append(
            f"echo '{marker} {index}'; ( {command} ) 2>/dev/null; echo \"{marker}-end {index} $?\""
        )
    return "\n".join(parts)


def parse_sections(
    requests: Sequence[tuple[type, dict]], lines: list[str], marker: str
) -> dict[tuple, Any]:
    """Split the script's output by section and run each fact's ``process()``.

    A fact whose command failed, printed nothing, or whose binary is missing gets
    its ``default()``, as with pyinfra's own fact gathering (errors ignored).
    """
    values: dict[tuple, Any] = {}
    current: int | None = None
    buffer: list[str] = []
    for line in lines:
        if line.startswith(f"{marker}-end "):
            _, index_text, status = line.split(" ", 2)
            if current is None or int(index_text) != current or current >= len(requests):
                current, buffer = None, []  # not a section of this script (replayed output)
                continue
            fact_class, kwargs = requests[current]
            fact = fact_class()
            value = fact.default()
            if status.strip() == "0" and buffer and buffer != [_NO_COMMAND]:
                try:
                    value = fact.process(buffer)
                except Exception:  # a parser failing on odd output: same as a failed fact
                    value = fact.default()
            values[fact_key(fact_class, kwargs)] = value
            current, buffer = None, []
        elif line.startswith(f"{marker} "):
            current, buffer = int(line.split(" ", 1)[1]), []
        elif current is not None:
            buffer.append(line)
    return values


def gather(state: Any, host: Any, requests: Sequence[tuple[type, dict]]) -> dict[tuple, Any]:
    """Run all ``requests`` (fact class, kwargs) on ``host`` in one command.

    Returns ``{fact_key(class, kwargs): value}``; facts missing from the output
    (a broken connection) are simply absent, so the caller can fetch them singly.
    """
    if not requests:
        return {}
    from pyinfra.api.arguments import CONNECTOR_ARGUMENT_KEYS

    # HARDENING_BATCH_MARKER fixes the marker so recorded output can be replayed
    # (bench/fleet.py drives pyinfra's @fake connector with it).
    marker = os.environ.get("HARDENING_BATCH_MARKER") or f"@@hardening-{secrets.token_hex(4)}"
    global_kwargs, _ = pop_global_arguments(state, host, {})
    connector_kwargs = {
        key: value for key, value in global_kwargs.items() if key in CONNECTOR_ARGUMENT_KEYS
    }
    _, output = host.run_shell_command(
        StringCommand(fact_script(requests, marker)),
        print_output=False,
        print_input=False,
        **connector_kwargs,
    )
    return parse_sections(requests, output.stdout_lines, marker)
