"""Cloud items against a real moto server: apply is idempotent, checks fail then pass."""

from __future__ import annotations

import os
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from hardening import cloud
from hardening.audit import evaluate_host
from hardening.catalog import get_item
from hardening.checks import HostContext, registry
from hardening.cloud import CloudError
from hardening.cloud_apply import apply
from hardening.facts.capacity import HostCapacity
from hardening.results import Status

CHECKS = registry()
BIG_HOST = {
    "cpus": 4.0,
    "memory_mb": 8000,
    "disk_total_gb": 40.0,
    "disk_free_gb": 30.0,
    "limited_by": [],
}


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def moto_url() -> Iterator[str]:
    port = _free_port()
    server = subprocess.Popen(
        ["moto_server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    saved = {k: os.environ.get(k) for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")}
    os.environ.update(AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing")
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                urllib.request.urlopen(f"{url}/moto-api/", timeout=1)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        yield url
    finally:
        server.kill()
        server.wait()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@pytest.fixture
def aws(moto_url: str) -> dict[str, Any]:
    """A fresh account with a VPC, a load balancer and an Auto Scaling group of 2 instances."""
    urllib.request.urlopen(urllib.request.Request(f"{moto_url}/moto-api/reset", method="POST"))
    cloud.clear_cache()
    kwargs = {"region_name": "us-east-1", "endpoint_url": moto_url}
    ec2 = boto3.client("ec2", **kwargs)
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnets = [
        ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.0.{n}.0/24", AvailabilityZone=f"us-east-1{z}")[
            "Subnet"
        ]["SubnetId"]
        for n, z in ((1, "a"), (2, "b"))
    ]
    elb = boto3.client("elbv2", **kwargs)
    lb = elb.create_load_balancer(Name="web", Subnets=subnets)["LoadBalancers"][0]
    scaling = boto3.client("autoscaling", **kwargs)
    scaling.create_launch_configuration(
        LaunchConfigurationName="web", ImageId="ami-12c6146b", InstanceType="t3.micro"
    )
    scaling.create_auto_scaling_group(
        AutoScalingGroupName="web",
        LaunchConfigurationName="web",
        MinSize=1,
        MaxSize=4,
        DesiredCapacity=2,
        VPCZoneIdentifier=subnets[0],
    )
    setting = {
        "provider": "aws",
        "region": "us-east-1",
        "endpoint_url": moto_url,
        "autoscaling_group": "web",
        "cpu_target": 60,
        "min_desired_capacity": 2,
        "min_max_capacity": 4,
        "cloudfront": {"origin_domain": "static.example.net", "origin_path": "/static"},
        "waf": {"name": "edge", "load_balancer_arn": lb["LoadBalancerArn"]},
    }
    return {"setting": setting, "kwargs": kwargs, "lb": lb["LoadBalancerArn"]}


def context(data: dict[str, Any], capacity: dict | None = None) -> HostContext:
    facts = {HostCapacity: BIG_HOST if capacity is None else capacity}
    return HostContext("h1", ("web",), data, lambda fact_class, **_: facts[fact_class])


def outcomes(data: dict[str, Any], capacity: dict | None = None) -> dict[str, Any]:
    ctx = context(data, capacity)
    items = [get_item(i) for i in ("INF-02", "INF-03", "INF-08")]
    return {r.item_id: r for r in evaluate_host(ctx, items, CHECKS)}


def test_self_hosted_cloud_items_not_applicable_with_reason() -> None:
    results = outcomes({"self_hosted_cdn": "nginx proxy_cache for /static on web hosts"})
    assert results["INF-02"].status is Status.NOT_APPLICABLE
    assert "no cloud provider configured: auto-scaling is a cloud feature" in (
        results["INF-02"].evidence
    )
    assert results["INF-03"].status is Status.NOT_APPLICABLE
    assert "nginx proxy_cache" in results["INF-03"].evidence
    assert results["INF-08"].status is Status.PASS
    assert "self-hosted: host resources only" in results["INF-08"].evidence
    bare = outcomes({"cloud": {"provider": "self-hosted"}})
    assert "no self-hosted alternative declared" in bare["INF-03"].evidence


def test_host_capacity_from_facts() -> None:
    parsed = HostCapacity().process(
        [
            "nproc:8",
            "cpu_max:150000 100000",
            "mem_kb:16384000",
            "mem_max:1073741824",
            "disk_kb:20971520 1048576",
        ]
    )
    assert parsed == {
        "cpus": 1.5,
        "memory_mb": 1024,
        "disk_total_gb": 20.0,
        "disk_free_gb": 1.0,
        "limited_by": ["cgroup cpu.max", "cgroup memory.max"],
    }
    assert (
        HostCapacity().process(["nproc:2", "cpu_max:max", "mem_kb:4096000", "mem_max:max"])[
            "limited_by"
        ]
        == []
    )
    result = outcomes({}, parsed)["INF-08"]
    assert result.status is Status.FAIL
    assert "1.5 CPUs (min 2)" in result.evidence and "limited by cgroup cpu.max" in result.evidence
    assert (
        outcomes(
            {"capacity_min_cpus": 1, "capacity_min_memory_mb": 512, "capacity_min_disk_free_gb": 1},
            parsed,
        )["INF-08"].status
        is Status.PASS
    )


def test_checks_fail_before_apply_pass_after_and_apply_is_idempotent(aws: dict) -> None:
    data = {"cloud": aws["setting"]}
    before = outcomes(data)
    assert before["INF-02"].status is Status.FAIL, before["INF-02"].evidence
    assert "CPU target-tracking policies: none" in before["INF-02"].evidence
    assert before["INF-03"].status is Status.FAIL
    assert "no CloudFront distribution for origin static.example.net" in before["INF-03"].evidence
    assert before["INF-08"].status is Status.PASS, before["INF-08"].evidence
    assert "AWS ASG web: desired 2 (min 2), max 4 (min 4), 2 in service" in (
        before["INF-08"].evidence
    )
    config = cloud.config_from(data)
    assert config is not None
    assert cloud.waf_status(config)["associated"] is False
    assert cloud.shield_status(config) == {"tier": "standard", "protections": [], "mitigations": []}

    first = apply(config)
    assert [c.changed for c in first] == [True, True, True], first
    after = outcomes(data)
    assert after["INF-02"].status is Status.PASS, after["INF-02"].evidence
    assert "ASGAverageCPUUtilization at 60 %" in after["INF-02"].evidence
    assert after["INF-03"].status is Status.PASS, after["INF-03"].evidence
    assert "redirect-to-https" in after["INF-03"].evidence
    waf = cloud.waf_status(config)
    assert waf["associated"] and waf["web_acl"] == "edge" and waf["missing_rule_groups"] == []
    shield = cloud.shield_status(config)
    assert shield["tier"] == "standard"
    assert shield["mitigations"][0].startswith("WAFv2 web ACL edge on the load balancer (3 AWS")
    assert shield["mitigations"][1].startswith("CloudFront distribution ")

    second = apply(config)
    assert [c.changed for c in second] == [False, False, False], second


def test_apply_repairs_drift_and_dry_run_changes_nothing(aws: dict) -> None:
    config = cloud.config_from({"cloud": aws["setting"]})
    assert config is not None
    apply(config)
    front = boto3.client("cloudfront", **aws["kwargs"])
    identifier, etag, distribution = cloud.find_distribution(config)
    distribution["DefaultCacheBehavior"]["ViewerProtocolPolicy"] = "allow-all"
    distribution["Enabled"] = False
    front.update_distribution(Id=identifier, IfMatch=etag, DistributionConfig=distribution)
    drifted = cloud.config_from({"cloud": {**aws["setting"], "cpu_target": 45}})
    assert drifted is not None
    cloud.clear_cache()
    assert outcomes({"cloud": aws["setting"]})["INF-03"].status is Status.FAIL

    dry = apply(drifted, dry=True)
    assert [c.changed for c in dry] == [True, True, False], dry
    assert cloud.cdn_status(drifted)["enabled"] is False  # dry run wrote nothing

    fixed = apply(drifted)
    assert "target 45 %" in str(fixed[0]) and "updated" in str(fixed[0])
    assert "was disabled" in str(fixed[1]) and "viewer protocol allow-all" in str(fixed[1])
    assert [c.changed for c in apply(drifted)] == [False, False, False]
    assert outcomes({"cloud": {**aws["setting"], "cpu_target": 45}})["INF-03"].status is (
        Status.PASS
    )


def test_shield_advanced_subscription_is_reported(aws: dict) -> None:
    boto3.client("shield", **aws["kwargs"]).create_subscription()
    config = cloud.config_from({"cloud": aws["setting"]})
    assert config is not None
    assert cloud.shield_status(config)["tier"] == "advanced"


def test_cloud_errors_are_one_line_and_leave_nothing_valid(aws: dict) -> None:
    closed = {**aws["setting"], "endpoint_url": f"http://127.0.0.1:{_free_port()}"}
    result = outcomes({"cloud": closed})["INF-02"]
    assert result.status is Status.FAIL
    assert result.evidence.startswith("could not observe: cannot reach AWS autoscaling at http")
    assert "\n" not in result.evidence

    missing_lb = aws["lb"].replace("/web/", "/nope/")
    config = cloud.config_from(
        {"cloud": {**aws["setting"], "waf": {"load_balancer_arn": missing_lb}}}
    )
    assert config is not None
    with pytest.raises(CloudError, match="not found .*nothing was changed"):
        apply(config)
    wafv2 = boto3.client("wafv2", **aws["kwargs"])
    assert wafv2.list_web_acls(Scope="REGIONAL")["WebACLs"] == []

    config = cloud.config_from({"cloud": {**aws["setting"], "autoscaling_group": "gone"}})
    assert config is not None
    with pytest.raises(CloudError, match="Auto Scaling group 'gone' not found"):
        apply(config)
    scaling = boto3.client("autoscaling", **aws["kwargs"])
    assert scaling.describe_policies()["ScalingPolicies"] == []

    with pytest.raises(CloudError, match="cpu_target must be a percentage"):
        cloud.config_from({"cloud": {"provider": "aws", "cpu_target": 0}})


def test_observations_are_cached_per_configuration(aws: dict, monkeypatch) -> None:
    config = cloud.config_from({"cloud": aws["setting"]})
    assert config is not None
    calls: list[str] = []
    real_call = cloud.call

    def counting(config: Any, client: Any, method: str, **kwargs: Any) -> dict:
        calls.append(method)
        return real_call(config, client, method, **kwargs)

    monkeypatch.setattr(cloud, "call", counting)
    for _ in range(50):  # fifty hosts of one deployment
        outcomes({"cloud": aws["setting"]})
    assert calls.count("describe_auto_scaling_groups") == 1
    assert calls.count("list_distributions") == 1


#: The ``hardening`` CLI wiring (gevent patched first, as ``hardening.cli.main`` does).
CLI = """
from gevent import monkey; monkey.patch_all()
import argparse, sys
from hardening.cloud_cli import add_commands
parser = argparse.ArgumentParser(prog="hardening")
handlers = add_commands(parser.add_subparsers(dest="command"))
args = parser.parse_args(sys.argv[1:])
sys.exit(handlers[args.command](args))
"""


def test_cli_apply_and_status(aws: dict, tmp_path) -> None:
    inventory = tmp_path / "inventory.py"
    inventory.write_text(f"web = [('h1', {{'cloud': {aws['setting']!r}}}), ('h2', {{}})]\n")

    def run(*argv: str) -> str:
        done = subprocess.run(
            ["python3", "-c", CLI, "cloud", *argv], capture_output=True, text=True, timeout=120
        )
        assert done.returncode == 0, done.stderr[-2000:]
        return done.stdout

    assert "cloud: changed 3 resource(s)" in run("apply", str(inventory))
    assert "cloud: changed 0 resource(s)" in run("apply", str(inventory))
    status = run("status", str(inventory))
    assert "shield: tier=standard" in status and "associated=True" in status
    plain = tmp_path / "self_hosted.py"
    plain.write_text("web = ['h1']\n")
    assert "self-hosted): nothing to do" in run("status", str(plain))
