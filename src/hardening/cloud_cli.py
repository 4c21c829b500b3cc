"""``hardening cloud apply|status INVENTORY``: the AWS side of a deployment, from the control node.

Wire into a CLI with ``add_commands``::

    commands = parser.add_subparsers(dest="command")
    HANDLERS.update(cloud_cli.add_commands(commands))   # {"cloud": handler}
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from typing import Any

from hardening.cloud import CloudConfig, config_from, status

Handler = Callable[[argparse.Namespace], int]


def inventory_configs(inventory_path: str, limit: list[str] | None = None) -> list[CloudConfig]:
    """The distinct AWS ``cloud`` configurations of an inventory's hosts (usually one)."""
    from hardening.inventory import load_inventory, select_hosts

    inventory = load_inventory(inventory_path)
    configs: dict[str, CloudConfig] = {}
    for host in select_hosts(inventory, limit):
        config = config_from(host.data.dict())
        if config is not None:
            configs.setdefault(config.key, config)
    return list(configs.values())


def _configs_or_say(args: argparse.Namespace) -> list[CloudConfig]:
    configs = inventory_configs(args.inventory, args.limit)
    if not configs:
        print(
            f"{args.inventory}: no host declares cloud.provider 'aws' (self-hosted): nothing to do"
        )
    return configs


def cmd_apply(args: argparse.Namespace) -> int:
    from hardening.cloud_apply import apply

    changed = 0
    for config in _configs_or_say(args):
        changes = apply(config, dry=args.dry, report=lambda change: print(change, flush=True))
        changed += sum(change.changed for change in changes)
    verb = "would change" if args.dry else "changed"
    print(f"cloud: {verb} {changed} resource(s)")
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    observed = [{"where": config.where, **status(config)} for config in _configs_or_say(args)]
    if args.format == "json":
        json.dump(observed, sys.stdout, indent=2, sort_keys=True)
        print()
        return 0
    for deployment in observed:
        print(f"[{deployment.pop('where')}]")
        for part, value in deployment.items():
            print(f"{part}: " + ", ".join(f"{k}={v}" for k, v in value.items()))
    return 0


def cmd_cloud(args: argparse.Namespace) -> int:
    handlers = {"apply": cmd_apply, "status": cmd_status}
    if args.cloud_command not in handlers:
        args.cloud_parser.print_help()
        return 2
    return handlers[args.cloud_command](args)


def add_commands(subparsers: Any) -> dict[str, Handler]:
    """Add ``cloud apply`` and ``cloud status`` to a CLI; return ``{"cloud": handler}``."""
    parser = subparsers.add_parser(
        "cloud",
        help="AWS side of a deployment: auto-scaling, CloudFront, WAFv2, Shield (boto3)",
        description=(
            "Reads the inventory's `cloud` setting (provider aws) and talks to AWS from this "
            "machine with boto3's standard credentials (AWS_PROFILE or AWS_ACCESS_KEY_ID...). "
            "`apply` creates or updates the CPU target-tracking policy, the CloudFront "
            "distribution of the static assets and the WAFv2 web ACL on the load balancer, "
            "changing only what differs; `status` only reads (Describe/List/Get)."
        ),
    )
    parser.set_defaults(cloud_parser=parser)
    actions = parser.add_subparsers(dest="cloud_command", metavar="ACTION")
    for name, text in (
        ("apply", "create/update the cloud resources the inventory asks for (idempotent)"),
        ("status", "show what AWS reports, read-only"),
    ):
        action = actions.add_parser(name, help=text, description=text)
        action.add_argument("inventory", help="pyinfra inventory file (e.g. inventories/prod.py)")
        action.add_argument(
            "--limit", action="append", metavar="PATTERN", help="only these hosts' settings"
        )
        if name == "apply":
            action.add_argument("--dry", action="store_true", help="say what would change only")
        else:
            action.add_argument("--format", choices=("text", "json"), default="text")
    return {"cloud": cmd_cloud}
