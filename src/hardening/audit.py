"""The read-only audit: connect, gather facts, run every check, build the report.

Built on pyinfra's API (same inventories, connectors and ``--limit`` as the
``pyinfra`` CLI). Nothing here imports an operation: the audit can only run
fact commands, which observe and never write.

Example::

    from hardening.audit import run_audit
    report = run_audit("inventories/testbed.py", limit=["db_primary"])
    print(report.summary_line())
"""

from __future__ import annotations

import contextlib
import functools
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from hardening.batch import gather
from hardening.catalog import CATALOG, Item
from hardening.checks import HostContext, fact_key, registry
from hardening.checks.frontend import start_browser_probe
from hardening.errors import HardeningError
from hardening.inventory import host_groups, load_inventory, select_hosts
from hardening.reports.model import HostInfo, Report
from hardening.results import Outcome, Result, Status

Progress = Callable[[str], None]


def _stderr_progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def evaluate_host(
    context: HostContext,
    items: Sequence[Item] = CATALOG,
    checks: dict[str, Callable[[HostContext], Outcome]] | None = None,
) -> list[Result]:
    """Judge every item on one host. A check shared by several items runs once,
    unless it is a ``per_item`` check (it reads ``context.item``)."""
    checks = registry() if checks is None else checks
    outcomes: dict[str, tuple[Outcome, float]] = {}
    results = []
    for item in items:
        function = checks.get(item.check)
        if function is None:
            results.append(
                Result(
                    item.id,
                    context.name,
                    Status.UNCHECKED,
                    f"no check implemented yet ({item.check})",
                )
            )
            continue
        if item.groups and not context.in_group(*item.groups):
            groups_text = ", ".join(context.groups) or "no group"
            results.append(
                Result(
                    item.id,
                    context.name,
                    Status.NOT_APPLICABLE,
                    f"applies to groups {', '.join(item.groups)}; "
                    f"{context.name} is in {groups_text}",
                    check=item.check,
                )
            )
            continue
        key = item.id if getattr(function, "per_item", False) else item.check
        if key not in outcomes:
            context.item = item
            started = time.perf_counter()
            try:
                outcome = function(context)
            except HardeningError as error:
                outcome = Outcome.failed(f"could not observe: {error}")
            except Exception as error:  # a broken check must not hide the other 149 items
                outcome = Outcome.failed(
                    f"check error: {type(error).__name__}: {error}",
                    fix="report this as a bug in hardening",
                )
            outcomes[key] = (outcome, (time.perf_counter() - started) * 1000)
            duration = outcomes[key][1]
        else:
            duration = 0.0  # the shared check's time is counted on its first item only
        outcome = outcomes[key][0]
        results.append(
            Result(
                item.id,
                context.name,
                outcome.status,
                outcome.evidence,
                outcome.fix,
                check=item.check,
                duration_ms=round(duration, 1),
            )
        )
    return results


def planned_facts(
    context: HostContext, items: Sequence[Item], checks: dict[str, Callable]
) -> list[tuple[type, dict]]:
    """Fact requests the checks will probably make on this host (for one batched gather).

    The checks run once against facts' default values while their requests are recorded;
    what a check asks for only once it sees real values is found by :func:`judge_batched`.
    """
    requested: dict[tuple, tuple[type, dict]] = {}
    rehearsal = HostContext(
        context.name, context.groups, context.data, _recorder(requested, lambda _: None)
    )
    evaluate_host(rehearsal, items, checks)
    return list(requested.values())


def _recorder(
    requested: dict[tuple, tuple[type, dict]], note: Callable[[tuple], None]
) -> Callable[..., Any]:
    """A fact getter that records each request and answers with the fact's default value."""

    def record(fact_class: type, **kwargs: Any) -> Any:
        key = fact_key(fact_class, kwargs)
        requested.setdefault(key, (fact_class, kwargs))
        note(key)
        return fact_class().default()

    return record


def judge_batched(
    context: HostContext,
    items: Sequence[Item],
    checks: dict[str, Callable[[HostContext], Outcome]],
    gather_batch: Callable[[list[tuple[type, dict]]], dict[tuple, Any]],
) -> list[Result]:
    """Judge ``items`` on a host whose planned facts are already in ``context``'s cache.

    A check that asks for a fact the rehearsal did not foresee (it depends on real values,
    e.g. which sysctls apply in a container) gets its default for now; all such facts are
    then gathered in one more batch (``gather_batch``) and only the checks that asked for
    them are judged again, with ``context.fact_getter`` (one command per fact) for anything
    still missing. One extra round trip instead of one per late fact.

    **Example:**

    .. code:: python

        context._cache.update(gather(state, host, planned_facts(context, CATALOG, checks)))
        results = judge_batched(context, CATALOG, checks, lambda r: gather(state, host, r))
    """
    late: dict[tuple, tuple[type, dict]] = {}
    asked_late: set[str] = set()
    current: list[str] = [""]

    def tracked(name: str, function: Callable) -> Callable:
        def run(ctx: HostContext) -> Outcome:
            current[0] = name
            try:
                return function(ctx)
            finally:  # uncache the stand-ins, so that each check asking for them is noted
                for key in late:
                    ctx._cache.pop(key, None)

        run.per_item = getattr(function, "per_item", False)  # type: ignore[attr-defined]
        return run

    getter = context.fact_getter
    context.fact_getter = _recorder(late, lambda _: asked_late.add(current[0]))
    try:
        results = evaluate_host(
            context, items, {name: tracked(name, fn) for name, fn in checks.items()}
        )
    finally:
        context.fact_getter = getter
    if not late:
        return results
    context._cache.update(gather_batch(list(late.values())))
    again = [item for item in items if item.check in asked_late]
    redone = {result.item_id: result for result in evaluate_host(context, again, checks)}
    return [redone.get(result.item_id, result) for result in results]


@contextlib.contextmanager
def _connectors_listed_once() -> Iterator[None]:
    """While an inventory is built, pyinfra lists its connectors from the installed packages'
    entry points once per ``@connector`` host (~25 ms each: most of the control node's time
    for a fleet of ``@fake`` or ``@docker`` hosts); list them once instead."""
    from pyinfra.api import inventory as pyinfra_inventory

    original = getattr(pyinfra_inventory, "get_all_connectors", None)
    if original is None:  # another pyinfra version: nothing to speed up
        yield
        return
    pyinfra_inventory.get_all_connectors = functools.cache(original)
    try:
        yield
    finally:
        pyinfra_inventory.get_all_connectors = original


def _init_state(state: Any, inventory: Any, hosts: list[Any], parallel: int | None) -> None:
    from pyinfra.api import Config
    from pyinfra.api.state import StateStage
    from pyinfra.context import ctx_config, ctx_inventory

    config = Config(PARALLEL=parallel or 0, CONNECT_TIMEOUT=10)
    ctx_config.set(config)
    ctx_inventory.set(inventory)
    state.init(inventory, config, initial_limit=hosts)
    state.set_stage(StateStage.Prepare)


def _connect(state: Any, hosts: list[Any]) -> dict[str, str]:
    """Connect to all hosts in parallel; return ``{host name: error}`` for failures."""
    import gevent
    from pyinfra.api.exceptions import ConnectError

    errors: dict[str, str] = {}

    def connect(host: Any) -> None:
        try:
            host.connect(show_errors=False, raise_exceptions=True)
        except ConnectError as error:
            errors[host.name] = _one_line(str(error))
        except Exception as error:  # paramiko/socket errors not wrapped by pyinfra
            errors[host.name] = _one_line(f"{type(error).__name__}: {error}")

    gevent.joinall([state.pool.spawn(connect, host) for host in hosts])
    return errors


def _one_line(text: str) -> str:
    return " ".join(text.split())


def run_audit(
    inventory_path: str,
    limit: Sequence[str] | None = None,
    parallel: int | None = None,
    items: Sequence[Item] = CATALOG,
    progress: Progress | None = _stderr_progress,
    batch: bool = True,
) -> Report:
    """Audit the selected hosts of an inventory; never changes anything on them.

    Unreachable hosts are listed in ``report.hosts`` with ``reachable=False``
    and their error; the other hosts are audited. With ``batch`` (the default) the
    facts a host's checks need are gathered in one SSH round trip.
    """
    import gevent
    from pyinfra.api.facts import get_fact

    say = progress or (lambda message: None)
    from pyinfra.api import State

    state = State(check_for_changes=False)
    with _connectors_listed_once():
        inventory = load_inventory(inventory_path, state)
    hosts = select_hosts(inventory, limit)
    _init_state(state, inventory, hosts, parallel)
    checks = registry()

    say(f"audit: connecting to {len(hosts)} host(s)")
    errors = _connect(state, hosts)
    infos = {
        host.name: HostInfo(
            host.name,
            host_groups(host),
            reachable=host.name not in errors,
            error=_connection_hint(host, errors[host.name]) if host.name in errors else "",
        )
        for host in hosts
    }
    for name, info in infos.items():
        if not info.reachable:
            say(f"{name}: unreachable: {info.error}")

    per_host: dict[str, list[Result]] = {}
    stats: dict[str, dict[str, int]] = {}

    def audit_host(host: Any) -> None:
        started = time.perf_counter()
        round_trips = 0

        def getter(fact_class: type, **kwargs: Any) -> Any:
            nonlocal round_trips
            round_trips += 1
            return get_fact(state, host, fact_class, kwargs={**kwargs, "_ignore_errors": True})

        def gather_batch(requests: list[tuple[type, dict]]) -> dict[tuple, Any]:
            nonlocal round_trips
            round_trips += 1
            return gather(state, host, requests)

        context = HostContext(host.name, host_groups(host), host.data.dict(), getter)
        if batch:
            start_browser_probe(context, early=True)  # Chromium overlaps the fact gathering
            context._cache.update(gather_batch(planned_facts(context, items, checks)))
            start_browser_probe(context)  # confirmed (or cancelled) by the AppProbe fact
            per_host[host.name] = judge_batched(context, items, checks, gather_batch)
        else:
            per_host[host.name] = evaluate_host(context, items, checks)
        failing = sum(1 for r in per_host[host.name] if r.status is Status.FAIL)
        stats[host.name] = {"facts": len(context._cache), "round_trips": round_trips}
        say(
            f"{host.name}: {len(context._cache)} facts in {round_trips} round trip(s), "
            f"{len(per_host[host.name])} items, {failing} failing, "
            f"{time.perf_counter() - started:.1f} s"
        )

    reachable = [host for host in hosts if infos[host.name].reachable]
    greenlets = [state.pool.spawn(audit_host, host) for host in reachable]
    gevent.joinall(greenlets, raise_error=True)
    for host in reachable:
        host.disconnect()

    results = [result for host in hosts for result in per_host.get(host.name, [])]
    return Report(
        hosts=list(infos.values()), results=results, inventory=inventory_path, stats=stats
    )


def _connection_hint(host: Any, error: str) -> str:
    address = host.data.get("ssh_hostname") or host.name
    return (
        f"cannot connect to {address} over SSH ({error}); check the address, that sshd "
        "runs, and the ssh_user/ssh_key in the inventory"
    )
