"""Cloud items through boto3: read-only observation of the AWS side of a deployment.

The inventory setting ``cloud`` decides whether a deployment is on AWS (``provider:
"aws"``), self-hosted (empty, or ``provider: "self-hosted"``) or both (AWS edge and
auto-scaling in front of hosts that are hardened as usual)::

    cloud = {
        "provider": "aws",
        "region": "eu-west-1",
        "endpoint_url": "",                       # only for tests (moto) or VPC endpoints
        "autoscaling_group": "web",               # INF-02, INF-08
        "cpu_target": 60,                         # target-tracking average CPU, percent
        "min_desired_capacity": 2,                # INF-08: desired >= this
        "min_max_capacity": 4,                    # INF-08: max size >= this
        "cloudfront": {"origin_domain": "static.example.net", "origin_path": "/static"},
        "waf": {"name": "hardening-edge", "load_balancer_arn": "arn:aws:elasticloadbalancing:..."},
        "rds_instances": ["app-db"],              # SEC-09: RDS instances holding the database
    }

Credentials come from boto3's standard chain (environment, profile, instance role),
never from inventory. Everything in this module is read-only (Describe/List/Get calls);
``hardening.cloud_apply`` changes things and is never imported by checks.

Results are cached per process, keyed by the ``cloud`` setting, so an audit of 100 hosts
sharing one deployment makes each API call once. API errors are cached too and raised as
``CloudError`` (one line: what failed and what to do).

Other components call these, e.g. the DDoS check (SEC-07) and the WAF check (INF-04)::

    from hardening import cloud

    config = cloud.config_from(ctx.data)      # None: no AWS in this inventory
    if config:
        shield = cloud.shield_status(config)  # {"tier": "advanced"|"standard", ...}
        waf = cloud.waf_status(config)        # {"associated": True, "missing_rule_groups": []}
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from hardening.errors import HardeningError

#: AWS managed rule groups the edge web ACL must contain (vendor AWS).
MANAGED_RULE_GROUPS: tuple[str, ...] = (
    "AWSManagedRulesCommonRuleSet",
    "AWSManagedRulesKnownBadInputsRuleSet",
    "AWSManagedRulesSQLiRuleSet",
)
#: Name of the target-tracking policy hardening manages on the Auto Scaling group.
POLICY_NAME = "hardening-cpu-target-tracking"
CPU_METRIC = "ASGAverageCPUUtilization"
#: Viewer protocol policies that keep viewers on HTTPS.
HTTPS_ONLY_POLICIES = ("redirect-to-https", "https-only")
DEFAULT_CPU_TARGET = 60.0
DEFAULT_WAF_NAME = "hardening-edge"
DEFAULT_TTL = 86400


class CloudError(HardeningError):
    """A cloud API call failed or the ``cloud`` setting is unusable (one readable line)."""


@dataclass(frozen=True)
class CloudConfig:
    """The ``cloud`` inventory setting of an AWS deployment, with defaults filled in.

    + region / endpoint_url: where boto3 talks to (endpoint_url for moto or VPC endpoints)
    + autoscaling_group: name of the Auto Scaling group of the application tier
    + cpu_target: average CPU (percent) the target-tracking policy holds
    + min_desired_capacity / min_max_capacity: INF-08 minimums for the group
    + cloudfront: ``{"origin_domain", "origin_path", "default_ttl"}`` of the static assets
    + waf: ``{"name", "load_balancer_arn"}`` of the regional web ACL
    + rds_instances: identifiers of the RDS DB instances that hold the deployment's
      database (SEC-09 reads their ``StorageEncrypted``)
    """

    region: str = "us-east-1"
    endpoint_url: str = ""
    autoscaling_group: str = ""
    cpu_target: float = DEFAULT_CPU_TARGET
    min_desired_capacity: int = 0
    min_max_capacity: int = 0
    cloudfront: Mapping[str, Any] = field(default_factory=dict)
    waf: Mapping[str, Any] = field(default_factory=dict)
    rds_instances: tuple[str, ...] = ()

    @property
    def key(self) -> str:
        """Cache key: the whole configuration as canonical JSON."""
        return json.dumps(
            {name: getattr(self, name) for name in self.__dataclass_fields__},
            sort_keys=True,
            default=dict,
        )

    @property
    def where(self) -> str:
        return self.endpoint_url or f"region {self.region}"

    @property
    def caller_reference(self) -> str:
        """CallerReference of the static-assets distribution (stable: makes creation idempotent)."""
        origin = self.cloudfront.get("origin_domain", "")
        return f"hardening-static-{origin}{self.cloudfront.get('origin_path', '')}"

    @property
    def waf_name(self) -> str:
        return str(self.waf.get("name") or DEFAULT_WAF_NAME)


def config_problems(value: Any) -> list[str]:
    """Problems of a ``cloud`` setting value; empty when it is usable (or self-hosted)."""
    if not isinstance(value, Mapping):
        return [f"cloud must be a mapping like {{'provider': 'aws', ...}}, got {value!r}"]
    provider = value.get("provider", "")
    if provider in ("", "self-hosted", None):
        return []
    if provider != "aws":
        return [f"cloud.provider must be 'aws' or 'self-hosted', got {provider!r}"]
    problems = []
    for key in ("region", "endpoint_url", "autoscaling_group"):
        if not isinstance(value.get(key, ""), str):
            problems.append(f"cloud.{key} must be a string")
    target = value.get("cpu_target", DEFAULT_CPU_TARGET)
    if isinstance(target, bool) or not isinstance(target, int | float) or not 0 < target <= 100:
        problems.append(f"cloud.cpu_target must be a percentage in (0, 100], got {target!r}")
    for key in ("min_desired_capacity", "min_max_capacity"):
        number = value.get(key, 0)
        if isinstance(number, bool) or not isinstance(number, int) or number < 0:
            problems.append(f"cloud.{key} must be a whole number >= 0, got {number!r}")
    for key, needed in (("cloudfront", "origin_domain"), ("waf", "load_balancer_arn")):
        section = value.get(key, {})
        if not isinstance(section, Mapping):
            problems.append(f"cloud.{key} must be a mapping")
        elif section and not isinstance(section.get(needed), str):
            problems.append(f"cloud.{key}.{needed} is required (a string)")
    instances = value.get("rds_instances", [])
    if not isinstance(instances, list | tuple) or not all(
        isinstance(name, str) and name for name in instances
    ):
        problems.append(
            f"cloud.rds_instances must be a list of DB instance identifiers, got {instances!r}"
        )
    return problems


def config_from(data: Mapping[str, Any]) -> CloudConfig | None:
    """The deployment's ``CloudConfig`` from host data, ``None`` when it is self-hosted."""
    value = data.get("cloud") or {}
    if not isinstance(value, Mapping) or value.get("provider") != "aws":
        return None
    problems = config_problems(value)
    if problems:
        raise CloudError("; ".join(problems))
    return CloudConfig(
        region=value.get("region") or "us-east-1",
        endpoint_url=value.get("endpoint_url") or "",
        autoscaling_group=value.get("autoscaling_group") or "",
        cpu_target=float(value.get("cpu_target", DEFAULT_CPU_TARGET)),
        min_desired_capacity=int(value.get("min_desired_capacity", 0)),
        min_max_capacity=int(value.get("min_max_capacity", 0)),
        cloudfront=dict(value.get("cloudfront") or {}),
        waf=dict(value.get("waf") or {}),
        rds_instances=tuple(value.get("rds_instances") or ()),
    )


# --- boto3 access -------------------------------------------------------------------------


def client(config: CloudConfig, service: str) -> Any:
    """A boto3 client with short timeouts and few retries (an audit must not hang)."""
    import boto3
    import botocore.config

    region = "us-east-1" if service in ("cloudfront", "shield") else config.region
    settings = botocore.config.Config(
        connect_timeout=5, read_timeout=15, retries={"max_attempts": 2, "mode": "standard"}
    )
    return boto3.session.Session().client(
        service, region_name=region, endpoint_url=config.endpoint_url or None, config=settings
    )


def call(config: CloudConfig, aws: Any, method: str, **kwargs: Any) -> dict:
    """``aws.<method>(**kwargs)``; any failure becomes a one-line ``CloudError``."""
    import botocore.exceptions as errors

    service = aws.meta.service_model.service_name
    try:
        return getattr(aws, method)(**kwargs)
    except errors.NoCredentialsError:
        raise CloudError(
            "no AWS credentials: set AWS_PROFILE or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY "
            "(never in inventory)"
        ) from None
    except errors.ClientError as error:
        detail = error.response.get("Error", {})
        code = detail.get("Code", "error")
        message = " ".join(str(detail.get("Message", "")).split())[:200]
        raise CloudError(
            f"AWS {service} {method} failed ({config.where}): {code}: {message}"
        ) from None
    except (errors.BotoCoreError, OSError) as error:
        text = " ".join(str(error).split())[:200]
        raise CloudError(
            f"cannot reach AWS {service} at {config.where}: {text} "
            "(check cloud.region / cloud.endpoint_url and the network)"
        ) from None


def is_missing(error: CloudError, *codes: str) -> bool:
    """Whether a ``CloudError`` reports one of the AWS error ``codes`` (a missing resource)."""
    return any(f": {code}:" in str(error) for code in codes)


_CACHE: dict[tuple[str, str], Any] = {}
_LOCK = threading.RLock()  # shield_status reads waf_status and cdn_status


def clear_cache() -> None:
    """Forget cached observations (after ``cloud apply``, between tests)."""
    with _LOCK:
        _CACHE.clear()


def _cached(function: Callable[[CloudConfig], dict]) -> Callable[[CloudConfig], dict]:
    """Run an observation once per configuration and process; errors are cached as well."""

    def wrapper(config: CloudConfig) -> dict:
        key = (function.__name__, config.key)
        with _LOCK:
            if key not in _CACHE:
                try:
                    _CACHE[key] = function(config)
                except CloudError as error:
                    _CACHE[key] = error
            value = _CACHE[key]
        if isinstance(value, CloudError):
            raise value
        return value

    wrapper.__name__ = function.__name__
    wrapper.__doc__ = function.__doc__
    return wrapper


# --- observations -------------------------------------------------------------------------


def _group(config: CloudConfig) -> dict | None:
    aws = client(config, "autoscaling")
    groups = call(
        config,
        aws,
        "describe_auto_scaling_groups",
        AutoScalingGroupNames=[config.autoscaling_group],
    )["AutoScalingGroups"]
    return groups[0] if groups else None


@_cached
def autoscaling_status(config: CloudConfig) -> dict:
    """The Auto Scaling group, its CPU target-tracking policies and the account's instance limit.

    .. code:: python

        {"group": "web", "exists": True, "min": 1, "desired": 2, "max": 4, "in_service": 2,
         "cpu_targets": {"hardening-cpu-target-tracking": 60.0}, "other_policies": 0,
         "max_instances_limit": 20}
    """
    status: dict[str, Any] = {"group": config.autoscaling_group, "exists": False}
    group = _group(config)
    if group is None:
        return status
    aws = client(config, "autoscaling")
    policies = call(
        config, aws, "describe_policies", AutoScalingGroupName=config.autoscaling_group
    )["ScalingPolicies"]
    cpu_targets = {
        policy["PolicyName"]: float(policy["TargetTrackingConfiguration"]["TargetValue"])
        for policy in policies
        if policy.get("PolicyType") == "TargetTrackingScaling"
        and policy.get("TargetTrackingConfiguration", {})
        .get("PredefinedMetricSpecification", {})
        .get("PredefinedMetricType")
        == CPU_METRIC
    }
    attributes = call(
        config,
        client(config, "ec2"),
        "describe_account_attributes",
        AttributeNames=["max-instances"],
    )["AccountAttributes"]
    limit = next(
        (
            int(a["AttributeValues"][0]["AttributeValue"])
            for a in attributes
            if a["AttributeValues"]
        ),
        None,
    )
    status.update(
        exists=True,
        min=group["MinSize"],
        desired=group["DesiredCapacity"],
        max=group["MaxSize"],
        in_service=sum(1 for i in group.get("Instances", []) if i["LifecycleState"] == "InService"),
        cpu_targets=cpu_targets,
        other_policies=len(policies) - len(cpu_targets),
        max_instances_limit=limit,
    )
    return status


def find_distribution(config: CloudConfig) -> tuple[str, str, dict] | None:
    """``(id, etag, DistributionConfig)`` of the static-assets distribution, if one exists.

    It is ours by CallerReference, or any distribution with an origin on the same domain.
    """
    aws = client(config, "cloudfront")
    domain = config.cloudfront.get("origin_domain", "")
    found, marker = None, ""
    summaries: list[dict] = []
    while True:
        page = call(config, aws, "list_distributions", **({"Marker": marker} if marker else {}))[
            "DistributionList"
        ]
        summaries += page.get("Items", []) or []
        marker = page.get("NextMarker", "")
        if not page.get("IsTruncated") or not marker:
            break
    for summary in summaries:
        answer = call(config, aws, "get_distribution_config", Id=summary["Id"])
        distribution = answer["DistributionConfig"]
        origins = distribution.get("Origins", {}).get("Items", []) or []
        if distribution.get("CallerReference") == config.caller_reference:
            return summary["Id"], answer["ETag"], distribution
        if found is None and any(o.get("DomainName") == domain for o in origins):
            found = (summary["Id"], answer["ETag"], distribution)
    return found


def _behaviors(distribution: dict) -> list[dict]:
    extra = distribution.get("CacheBehaviors", {}).get("Items", []) or []
    return [distribution["DefaultCacheBehavior"], *extra]


def caches(behavior: dict) -> bool:
    """A cache behavior caches when it uses a cache policy or a default TTL above zero."""
    return bool(behavior.get("CachePolicyId")) or int(behavior.get("DefaultTTL", 0) or 0) > 0


@_cached
def cdn_status(config: CloudConfig) -> dict:
    """The CloudFront distribution of the static origin: enabled, HTTPS-only, caching.

    .. code:: python

        {"origin": "static.example.net", "exists": True, "id": "E2Q...", "enabled": True,
         "viewer_protocol_policies": ["redirect-to-https"], "https_only": True,
         "caches": True, "default_ttl": 86400, "origin_protocol": "https-only"}
    """
    origin = config.cloudfront.get("origin_domain", "")
    status: dict[str, Any] = {"origin": origin, "exists": False}
    found = find_distribution(config) if origin else None
    if found is None:
        return status
    identifier, _, distribution = found
    behaviors = _behaviors(distribution)
    policies = sorted({b.get("ViewerProtocolPolicy", "") for b in behaviors})
    custom = [
        o.get("CustomOriginConfig", {}).get("OriginProtocolPolicy", "s3")
        for o in distribution["Origins"]["Items"]
        if o.get("DomainName") == origin
    ]
    status.update(
        exists=True,
        id=identifier,
        enabled=bool(distribution.get("Enabled")),
        viewer_protocol_policies=policies,
        https_only=all(p in HTTPS_ONLY_POLICIES for p in policies),
        caches=all(caches(b) for b in behaviors),
        default_ttl=int(distribution["DefaultCacheBehavior"].get("DefaultTTL", 0) or 0),
        origin_protocol=custom[0] if custom else "unknown",
    )
    return status


def find_web_acl(config: CloudConfig) -> dict | None:
    """The regional web ACL named ``waf.name`` (``Summary`` of ListWebACLs), if any."""
    aws = client(config, "wafv2")
    answer = call(config, aws, "list_web_acls", Scope="REGIONAL", Limit=100)
    return next((acl for acl in answer["WebACLs"] if acl["Name"] == config.waf_name), None)


def managed_groups(web_acl: dict) -> list[str]:
    """Names of the AWS managed rule groups a web ACL's rules use."""
    return [
        rule["Statement"]["ManagedRuleGroupStatement"]["Name"]
        for rule in web_acl.get("Rules", [])
        if rule.get("Statement", {}).get("ManagedRuleGroupStatement", {}).get("VendorName") == "AWS"
    ]


@_cached
def waf_status(config: CloudConfig) -> dict:
    """The WAFv2 web ACL in front of the load balancer (for INF-04 and SEC-07).

    .. code:: python

        {"configured": True, "load_balancer_arn": "arn:aws:elasticloadbalancing:...",
         "web_acl": "hardening-edge", "associated": True,
         "managed_rule_groups": ["AWSManagedRulesCommonRuleSet", ...],
         "missing_rule_groups": []}

    ``configured`` is False when the inventory names no load balancer (``cloud.waf``).
    ``web_acl`` is the ACL actually associated with the load balancer (any name).
    """
    arn = config.waf.get("load_balancer_arn", "")
    status: dict[str, Any] = {
        "configured": bool(arn),
        "load_balancer_arn": arn,
        "web_acl": None,
        "associated": False,
        "managed_rule_groups": [],
        "missing_rule_groups": list(MANAGED_RULE_GROUPS),
    }
    if not arn:
        return status
    aws = client(config, "wafv2")
    web_acl = call(config, aws, "get_web_acl_for_resource", ResourceArn=arn).get("WebACL")
    if web_acl:
        groups = managed_groups(web_acl)
        status.update(
            web_acl=web_acl["Name"],
            associated=True,
            managed_rule_groups=groups,
            missing_rule_groups=[g for g in MANAGED_RULE_GROUPS if g not in groups],
        )
    return status


@_cached
def shield_status(config: CloudConfig) -> dict:
    """AWS Shield tier and the edge mitigations in place (for SEC-07 DDoS protection).

    .. code:: python

        {"tier": "standard", "protections": [],
         "mitigations": ["WAFv2 web ACL hardening-edge on the load balancer (3 AWS managed
                          rule groups)", "CloudFront distribution E2Q... (edge caching)"]}

    ``tier`` is ``advanced`` when the account has a Shield Advanced subscription (then
    ``protections`` lists the protected resource ARNs), else ``standard`` (automatic,
    layer 3/4 only): the WAF and CloudFront entries in ``mitigations`` are then what
    protects layer 7.
    """
    aws = client(config, "shield")
    try:
        subscription = call(config, aws, "describe_subscription")["Subscription"]
    except CloudError as error:
        if not is_missing(error, "ResourceNotFoundException"):
            raise
        subscription = None
    protections: list[str] = []
    if subscription is not None:
        answer = call(config, aws, "list_protections")
        protections = [p["ResourceArn"] for p in answer.get("Protections", [])]
    mitigations = []
    waf = waf_status(config)
    if waf["associated"]:
        mitigations.append(
            f"WAFv2 web ACL {waf['web_acl']} on the load balancer "
            f"({len(waf['managed_rule_groups'])} AWS managed rule groups)"
        )
    cdn = cdn_status(config)
    if cdn.get("exists") and cdn.get("enabled"):
        mitigations.append(f"CloudFront distribution {cdn['id']} (edge caching)")
    return {
        "tier": "advanced" if subscription is not None else "standard",
        "protections": protections,
        "mitigations": mitigations,
    }


@_cached
def rds_status(config: CloudConfig) -> dict:
    """Storage encryption of the RDS DB instances named in ``rds_instances`` (SEC-09).

    .. code:: python

        {"instances": [
            {"id": "app-db", "exists": True, "engine": "postgres", "storage_encrypted": True,
             "kms_key_id": "arn:aws:kms:eu-west-1:123456789012:key/..."},
            {"id": "old-db", "exists": False},
        ]}

    A missing instance is ``exists: False``; any other API error (access denied, endpoint
    unreachable) raises ``CloudError``.
    """
    aws = client(config, "rds")
    instances: list[dict[str, Any]] = []
    for identifier in config.rds_instances:
        try:
            found = call(config, aws, "describe_db_instances", DBInstanceIdentifier=identifier)
        except CloudError as error:
            if not is_missing(error, "DBInstanceNotFound", "DBInstanceNotFoundFault"):
                raise
            instances.append({"id": identifier, "exists": False})
            continue
        instance = found["DBInstances"][0]
        instances.append(
            {
                "id": identifier,
                "exists": True,
                "engine": instance.get("Engine", ""),
                "storage_encrypted": bool(instance.get("StorageEncrypted")),
                "kms_key_id": instance.get("KmsKeyId", ""),
            }
        )
    return {"instances": instances}


def status(config: CloudConfig) -> dict:
    """Every observation of the deployment (what ``hardening cloud status`` prints)."""
    parts: dict[str, Any] = {}
    if config.autoscaling_group:
        parts["autoscaling"] = autoscaling_status(config)
    if config.cloudfront:
        parts["cdn"] = cdn_status(config)
    if config.waf:
        parts["waf"] = waf_status(config)
    if config.rds_instances:
        parts["rds"] = rds_status(config)
    parts["shield"] = shield_status(config)
    return parts
