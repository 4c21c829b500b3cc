"""Cloud items (INF-02 auto-scaling, INF-03 CDN) and reserved capacity (INF-08).

The cloud side is deployment-wide: it is read from AWS on the control node with boto3
(Describe/List/Get only, cached per audit run in ``hardening.cloud``), and every host of
the deployment reports the same result. Self-hosted inventories (no ``cloud.provider``
``aws``) get ``not applicable`` with the reason for INF-02 and INF-03; INF-08 judges the
host's own CPUs, memory and disk everywhere and, on AWS, the Auto Scaling group as well.
"""

from __future__ import annotations

from hardening import cloud
from hardening.checks import HostContext, check
from hardening.facts.capacity import HostCapacity
from hardening.results import Outcome
from hardening.settings import setting

APPLY_FIX = "run `hardening cloud apply INVENTORY` (AWS credentials from the environment)"


def _self_hosted(feature: str, detail: str) -> Outcome:
    return Outcome.not_applicable(
        f"no cloud provider configured: {feature} is a cloud feature; {detail}"
    )


@check("cloud.autoscaling")
def autoscaling_policy(ctx: HostContext) -> Outcome:
    """INF-02: the Auto Scaling group tracks average CPU at the inventory's target."""
    config = cloud.config_from(ctx.data)
    if config is None:
        return _self_hosted(
            "auto-scaling",
            "this self-hosted deployment scales by adding hosts to the inventory",
        )
    if not config.autoscaling_group:
        return Outcome.failed(
            "cloud.provider is aws but no cloud.autoscaling_group is named",
            fix="set cloud.autoscaling_group in the inventory, then " + APPLY_FIX,
        )
    state = cloud.autoscaling_status(config)
    if not state["exists"]:
        return Outcome.failed(
            f"Auto Scaling group {config.autoscaling_group} not found ({config.where})",
            fix="create the group or fix cloud.autoscaling_group",
        )
    sizes = f"min {state['min']} / desired {state['desired']} / max {state['max']}"
    matching = [n for n, t in state["cpu_targets"].items() if t == config.cpu_target]
    if matching:
        return Outcome.passed(
            f"ASG {config.autoscaling_group}: target tracking {cloud.CPU_METRIC} at "
            f"{config.cpu_target:g} % ({matching[0]}); {sizes}"
        )
    observed = ", ".join(f"{n} at {t:g} %" for n, t in state["cpu_targets"].items()) or "none"
    return Outcome.failed(
        f"ASG {config.autoscaling_group}: CPU target-tracking policies: {observed} "
        f"(expected {config.cpu_target:g} %); {sizes}",
        fix=APPLY_FIX,
    )


@check("cloud.cdn")
def static_cdn(ctx: HostContext) -> Outcome:
    """INF-03: a CloudFront distribution serves the static origin, enabled, HTTPS only, caching."""
    config = cloud.config_from(ctx.data)
    if config is None:
        alternative = setting(ctx.data, "self_hosted_cdn")
        detail = (
            f"self-hosted alternative declared in inventory: {alternative}"
            if alternative
            else "no self-hosted alternative declared (self_hosted_cdn)"
        )
        return _self_hosted("a CDN", detail)
    origin = config.cloudfront.get("origin_domain")
    if not origin:
        return Outcome.failed(
            "cloud.provider is aws but cloud.cloudfront.origin_domain is not set",
            fix="set cloud.cloudfront = {'origin_domain': ...}, then " + APPLY_FIX,
        )
    state = cloud.cdn_status(config)
    if not state["exists"]:
        return Outcome.failed(f"no CloudFront distribution for origin {origin}", fix=APPLY_FIX)
    evidence = (
        f"CloudFront {state['id']} for {origin}: "
        f"{'enabled' if state['enabled'] else 'disabled'}, viewer protocol "
        f"{'/'.join(state['viewer_protocol_policies'])}, "
        f"{'caching' if state['caches'] else 'not caching'} (default TTL {state['default_ttl']} s)"
        f", origin protocol {state['origin_protocol']}"
    )
    if state["enabled"] and state["https_only"] and state["caches"]:
        return Outcome.passed(evidence)
    return Outcome.failed(evidence, fix=APPLY_FIX)


def _host_shortfalls(ctx: HostContext, capacity: dict) -> tuple[str, list[str]]:
    minimums = {
        "cpus": setting(ctx.data, "capacity_min_cpus"),
        "memory_mb": setting(ctx.data, "capacity_min_memory_mb"),
        "disk_free_gb": setting(ctx.data, "capacity_min_disk_free_gb"),
    }
    units = {"cpus": "CPUs", "memory_mb": "MB memory", "disk_free_gb": "GB free on /"}
    parts, short = [], []
    for key, minimum in minimums.items():
        text = f"{capacity[key]:g} {units[key]} (min {minimum})"
        parts.append(text)
        if capacity[key] < minimum:
            short.append(text)
    limits = f", limited by {', '.join(capacity['limited_by'])}" if capacity["limited_by"] else ""
    return "host: " + ", ".join(parts) + limits, short


def _aws_shortfalls(config: cloud.CloudConfig) -> tuple[str, list[str]]:
    state = cloud.autoscaling_status(config)
    group = config.autoscaling_group
    if not state["exists"]:
        return f"AWS: ASG {group} not found", [f"ASG {group} not found"]
    short = []
    if state["desired"] < config.min_desired_capacity:
        short.append(f"desired {state['desired']} < {config.min_desired_capacity}")
    if state["max"] < config.min_max_capacity:
        short.append(f"max {state['max']} < {config.min_max_capacity}")
    if state["in_service"] < state["desired"]:
        short.append(f"{state['in_service']} in service < desired {state['desired']}")
    limit = state["max_instances_limit"]
    if limit is not None and state["max"] > limit:
        short.append(f"max {state['max']} > account max-instances {limit}")
    evidence = (
        f"AWS ASG {group}: desired {state['desired']} (min {config.min_desired_capacity}), "
        f"max {state['max']} (min {config.min_max_capacity}), {state['in_service']} in service, "
        f"account max-instances {limit if limit is not None else 'unknown'}"
    )
    return evidence, short


@check("host.capacity")
def compute_capacity(ctx: HostContext) -> Outcome:
    """INF-08: the host has the inventory's minimum CPUs, memory and free disk; on AWS the
    Auto Scaling group's desired/max capacity and the account's instance limit suffice."""
    capacity = ctx.fact(HostCapacity)
    if not capacity:
        return Outcome.failed("CPU, memory and disk could not be read on the host")
    evidence, short = _host_shortfalls(ctx, capacity)
    config = cloud.config_from(ctx.data)
    if config is not None and config.autoscaling_group:
        aws_evidence, aws_short = _aws_shortfalls(config)
        evidence, short = f"{evidence}; {aws_evidence}", short + aws_short
    else:
        evidence += "; self-hosted: host resources only (no cloud.autoscaling_group)"
    if short:
        return Outcome.failed(
            f"{evidence}; short: {'; '.join(short)}",
            fix="resize the host/group or adjust capacity_min_* / cloud.min_*_capacity",
        )
    return Outcome.passed(evidence)
