"""Make the AWS side of a deployment compliant, idempotently (``hardening cloud apply``).

Each ``ensure_*`` reads the current state first and writes only what differs, so a second
run changes nothing. Prerequisites are verified before anything is created (the Auto
Scaling group and the load balancer must exist), so a bad ARN or a missing resource
leaves nothing behind that would look valid.

**Example:**

.. code:: python

    from hardening import cloud
    from hardening.cloud_apply import apply

    config = cloud.config_from(host.data)
    for change in apply(config):
        print(change)          # "autoscaling: created ... (target 60 % average CPU)"

Shield Advanced is a paid subscription with a one-year commitment: it is reported
(``cloud.shield_status``), never bought by a tool.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from hardening.cloud import (
    CPU_METRIC,
    DEFAULT_TTL,
    HTTPS_ONLY_POLICIES,
    MANAGED_RULE_GROUPS,
    POLICY_NAME,
    CloudConfig,
    CloudError,
    _behaviors,
    _group,
    caches,
    call,
    clear_cache,
    client,
    find_distribution,
    find_web_acl,
    is_missing,
    managed_groups,
)

ORIGIN_ID = "hardening-static"
YEAR_SECONDS = 31536000


@dataclass(frozen=True)
class Change:
    """What one ``ensure_*`` did: which resource, whether it changed, and a sentence."""

    resource: str
    changed: bool
    message: str

    def __str__(self) -> str:
        return f"{self.resource}: {self.message}"


def _require_group(config: CloudConfig) -> None:
    if _group(config) is None:
        raise CloudError(
            f"Auto Scaling group {config.autoscaling_group!r} not found ({config.where}): "
            "create it (or fix cloud.autoscaling_group); nothing was changed"
        )


def ensure_autoscaling(config: CloudConfig, dry: bool = False) -> Change:
    """A target-tracking policy holding the group's average CPU at ``cpu_target`` percent."""
    name = config.autoscaling_group
    _require_group(config)
    aws = client(config, "autoscaling")
    policies = call(
        config, aws, "describe_policies", AutoScalingGroupName=name, PolicyNames=[POLICY_NAME]
    )["ScalingPolicies"]
    tracking = policies[0].get("TargetTrackingConfiguration", {}) if policies else {}
    current = tracking.get("TargetValue")
    metric = tracking.get("PredefinedMetricSpecification", {}).get("PredefinedMetricType")
    if current is not None and float(current) == config.cpu_target and metric == CPU_METRIC:
        return Change("autoscaling", False, f"{name}: CPU target {config.cpu_target:g} % already")
    verb = "updated" if policies else "created"
    if not dry:
        call(
            config,
            aws,
            "put_scaling_policy",
            AutoScalingGroupName=name,
            PolicyName=POLICY_NAME,
            PolicyType="TargetTrackingScaling",
            TargetTrackingConfiguration={
                "PredefinedMetricSpecification": {"PredefinedMetricType": CPU_METRIC},
                "TargetValue": config.cpu_target,
            },
        )
    return Change(
        "autoscaling",
        True,
        f"{name}: {verb} {POLICY_NAME} (target {config.cpu_target:g} % average CPU)",
    )


def _distribution_config(config: CloudConfig) -> dict[str, Any]:
    ttl = int(config.cloudfront.get("default_ttl", DEFAULT_TTL))
    return {
        "CallerReference": config.caller_reference,
        "Comment": "hardening: static assets (INF-03)",
        "Enabled": True,
        "Origins": {
            "Quantity": 1,
            "Items": [
                {
                    "Id": ORIGIN_ID,
                    "DomainName": config.cloudfront["origin_domain"],
                    "OriginPath": config.cloudfront.get("origin_path", ""),
                    "CustomOriginConfig": {
                        "HTTPPort": 80,
                        "HTTPSPort": 443,
                        "OriginProtocolPolicy": "https-only",
                    },
                }
            ],
        },
        "DefaultCacheBehavior": {
            "TargetOriginId": ORIGIN_ID,
            "ViewerProtocolPolicy": "redirect-to-https",
            "ForwardedValues": {"QueryString": False, "Cookies": {"Forward": "none"}},
            "MinTTL": 0,
            "DefaultTTL": ttl,
            "MaxTTL": max(ttl, YEAR_SECONDS),
            "Compress": True,
        },
    }


def _repair_distribution(config: CloudConfig, distribution: dict) -> list[str]:
    """Fix an existing distribution in place; return what was wrong (empty: nothing)."""
    wrong = []
    if not distribution.get("Enabled"):
        distribution["Enabled"] = True
        wrong.append("was disabled")
    ttl = int(config.cloudfront.get("default_ttl", DEFAULT_TTL))
    for behavior in _behaviors(distribution):
        if behavior.get("ViewerProtocolPolicy") not in HTTPS_ONLY_POLICIES:
            wrong.append(f"viewer protocol {behavior.get('ViewerProtocolPolicy')}")
            behavior["ViewerProtocolPolicy"] = "redirect-to-https"
        if not caches(behavior):
            wrong.append("no caching")
            behavior["DefaultTTL"] = ttl
            behavior["MaxTTL"] = max(ttl, int(behavior.get("MaxTTL", 0) or 0), YEAR_SECONDS)
    return wrong


def ensure_cdn(config: CloudConfig, dry: bool = False) -> Change:
    """A CloudFront distribution for the static origin: enabled, HTTPS only, caching."""
    origin = config.cloudfront["origin_domain"]
    aws = client(config, "cloudfront")
    found = find_distribution(config)
    if found is None:
        identifier = "(new)"
        if not dry:
            answer = call(
                config, aws, "create_distribution", DistributionConfig=_distribution_config(config)
            )
            identifier = answer["Distribution"]["Id"]
        return Change("cdn", True, f"created distribution {identifier} for {origin} (HTTPS only)")
    identifier, etag, distribution = found
    wrong = _repair_distribution(config, distribution)
    if not wrong:
        return Change("cdn", False, f"distribution {identifier} for {origin} already compliant")
    if not dry:
        call(
            config,
            aws,
            "update_distribution",
            Id=identifier,
            IfMatch=etag,
            DistributionConfig=distribution,
        )
    return Change(
        "cdn", True, f"updated distribution {identifier}: {', '.join(sorted(set(wrong)))}"
    )


def _visibility(metric: str) -> dict[str, Any]:
    return {"SampledRequestsEnabled": True, "CloudWatchMetricsEnabled": True, "MetricName": metric}


def _managed_rule(name: str, priority: int) -> dict[str, Any]:
    return {
        "Name": name,
        "Priority": priority,
        "Statement": {"ManagedRuleGroupStatement": {"VendorName": "AWS", "Name": name}},
        "OverrideAction": {"None": {}},
        "VisibilityConfig": _visibility(name),
    }


def _with_managed_rules(rules: list[dict]) -> list[dict]:
    """``rules`` plus the missing managed rule groups, at priorities after the existing ones."""
    present = managed_groups({"Rules": rules})
    priority = max((rule["Priority"] for rule in rules), default=-1) + 1
    added = []
    for name in MANAGED_RULE_GROUPS:
        if name not in present:
            added.append(_managed_rule(name, priority))
            priority += 1
    return [*rules, *added]


def _require_load_balancer(config: CloudConfig, arn: str) -> None:
    try:
        call(config, client(config, "elbv2"), "describe_load_balancers", LoadBalancerArns=[arn])
    except CloudError as error:
        if is_missing(error, "LoadBalancerNotFound", "ValidationError"):
            raise CloudError(
                f"load balancer {arn} not found ({config.where}): fix cloud.waf.load_balancer_arn; "
                "nothing was changed"
            ) from None
        raise


def ensure_waf(config: CloudConfig, dry: bool = False) -> Change:
    """A regional WAFv2 web ACL with the AWS managed rule groups, on the load balancer."""
    arn = config.waf["load_balancer_arn"]
    _require_load_balancer(config, arn)
    aws = client(config, "wafv2")
    done = []
    summary = find_web_acl(config)
    if summary is None:
        done.append(f"created web ACL {config.waf_name}")
        if not dry:
            summary = call(
                config,
                aws,
                "create_web_acl",
                Name=config.waf_name,
                Scope="REGIONAL",
                DefaultAction={"Allow": {}},
                Description="hardening: edge WAF (INF-04, SEC-07)",
                Rules=_with_managed_rules([]),
                VisibilityConfig=_visibility(config.waf_name),
            )["Summary"]
    else:
        answer = call(
            config, aws, "get_web_acl", Name=summary["Name"], Scope="REGIONAL", Id=summary["Id"]
        )
        acl = answer["WebACL"]
        rules = _with_managed_rules(acl.get("Rules", []))
        if len(rules) != len(acl.get("Rules", [])):
            done.append(f"added {len(rules) - len(acl.get('Rules', []))} managed rule group(s)")
            if not dry:
                call(
                    config,
                    aws,
                    "update_web_acl",
                    Name=acl["Name"],
                    Scope="REGIONAL",
                    Id=acl["Id"],
                    DefaultAction=acl["DefaultAction"],
                    Rules=rules,
                    VisibilityConfig=acl["VisibilityConfig"],
                    LockToken=answer["LockToken"],
                )
    current = call(config, aws, "get_web_acl_for_resource", ResourceArn=arn).get("WebACL") or {}
    if summary is None or current.get("ARN") != summary["ARN"]:
        done.append("associated it with the load balancer")
        if not dry:
            call(config, aws, "associate_web_acl", WebACLArn=summary["ARN"], ResourceArn=arn)
    if not done:
        return Change("waf", False, f"web ACL {config.waf_name} already on the load balancer")
    return Change("waf", True, "; ".join(done))


def apply(
    config: CloudConfig, dry: bool = False, report: Callable[[Change], None] | None = None
) -> list[Change]:
    """Everything the ``cloud`` setting asks for, in order: scaling, CDN, WAF.

    ``report`` is called with each ``Change`` as soon as it is done. The Auto Scaling group
    and the load balancer are verified to exist before anything is written; otherwise the
    first ``CloudError`` stops the run (raised to the caller). The observation cache is
    cleared afterwards, so a following audit in the same process sees the new state.
    """
    steps = []
    if config.autoscaling_group:
        steps.append(ensure_autoscaling)
    if config.cloudfront:
        steps.append(ensure_cdn)
    if config.waf:
        steps.append(ensure_waf)
    changes = []
    try:
        if config.autoscaling_group:
            _require_group(config)
        if config.waf:
            _require_load_balancer(config, config.waf["load_balancer_arn"])
        for step in steps:
            changes.append(step(config, dry))
            if report is not None:
                report(changes[-1])
    finally:
        clear_cache()
    return changes
