"""Checks: judge one checklist item on one host from facts.

A check is a function registered under the name the catalog gives it::

    from hardening.checks import check
    from hardening.results import Outcome

    @check("redis.requirepass")
    def redis_requires_password(ctx):
        auth = ctx.fact(RedisAuth)
        if auth["requires_auth"]:
            return Outcome.passed("Redis refuses unauthenticated clients")
        return Outcome.failed("Redis answers PING without AUTH", fix="run deploys/redis.py")

Checks only read facts (``ctx.fact``); they never import operations, so an
audit cannot change a host by construction. A catalog item whose check is not
registered is reported as ``unchecked``.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from hardening.catalog import Item
from hardening.results import Outcome

CheckFunction = Callable[["HostContext"], Outcome]

_REGISTRY: dict[str, CheckFunction] = {}


def check(name: str, *, per_item: bool = False) -> Callable[[CheckFunction], CheckFunction]:
    """Register a check function under ``name`` (e.g. ``"firewall.only_necessary_ports"``).

    A check shared by several items runs once per host, unless ``per_item``: then it
    runs for each item and reads which one from ``ctx.item`` (e.g. attestations).
    """

    def register(function: CheckFunction) -> CheckFunction:
        if name in _REGISTRY and _REGISTRY[name] is not function:
            raise ValueError(f"check {name!r} is registered twice")
        if per_item:
            function.per_item = True  # type: ignore[attr-defined]
        _REGISTRY[name] = function
        return function

    return register


def registry() -> dict[str, CheckFunction]:
    """All registered checks, loading every module of this package once."""
    for module in pkgutil.iter_modules(__path__):
        importlib.import_module(f"{__name__}.{module.name}")
    return dict(_REGISTRY)


def fact_key(fact_class: type, kwargs: dict[str, Any]) -> tuple:
    """Cache key of a fact request: the class and its keyword arguments."""
    return (fact_class, tuple(sorted(kwargs.items())))


@dataclass
class HostContext:
    """What a check may see of a host: its name, groups, inventory data and facts.

    + name: inventory name of the host
    + groups: inventory groups the host belongs to
    + data: the host's inventory data (``host.data`` as a plain mapping)
    + fact_getter: callable ``(FactClass, **kwargs) -> value``; results are cached here,
      so a fact needed by several checks is gathered once per host and run
    + item: the catalog item being judged, set by the audit before each check runs
    """

    name: str
    groups: tuple[str, ...]
    data: dict[str, Any]
    fact_getter: Callable[..., Any]
    item: Item | None = None
    _cache: dict[tuple, Any] = field(default_factory=dict)

    def fact(self, fact_class: type, **kwargs: Any) -> Any:
        """Return the fact's value for this host, gathering it at most once."""
        key = fact_key(fact_class, kwargs)
        if key not in self._cache:
            self._cache[key] = self.fact_getter(fact_class, **kwargs)
        return self._cache[key]

    def setting(self, key: str, default: Any = None) -> Any:
        """An inventory setting for this host, ``default`` when absent."""
        value = self.data.get(key)
        return default if value is None else value

    def in_group(self, *groups: str) -> bool:
        return any(group in self.groups for group in groups)
