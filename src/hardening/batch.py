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


def _text(command: Any) -> str:
    return command.get_raw_value() if isinstance(command, PyinfraCommand) else str(command)


def fact_script(requests: Sequence[tuple[type, dict]], marker: str) -> str:
    """One POSIX shell script running every fact command in its own subshell.

    Each section starts with ``<marker> <index>`` and ends with ``<marker>-end <index> <rc>``.
    """
    parts = []
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
            fact_class, kwargs = requests[int(index_text)]
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
