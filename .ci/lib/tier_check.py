#!/usr/bin/env python3
"""Describe what exists on the (local) AWS and compare it with the runtime spec.

Used by .ci/lib/terraform-e2e.sh after each scheduler invocation. It trusts nothing the
scheduler says about itself: it reads the spec from S3 and describes resources with boto3.

  tier_check.py spec      --bucket B --env E         the rendered spec has the demo's shape
  tier_check.py running   --bucket B --env E         NAT, routes, ALB, listeners, rule, alias, counts
  tier_check.py stopped   --bucket B --env E         none of the above left (services at 0)
  tier_check.py simulate  --bucket B --env E start|stop
                                                     a boto3 stand-in for the scheduler, to test
                                                     these checks before the binary exists
  tier_check.py cleanup   --bucket B --env E         delete what stop keeps by design (ECS services
                                                     at 0, kept Elastic IPs) so destroy can finish
  tier_check.py leftovers --project P [--ignore-bucket B]
                                                     anything tagged Project=P (or named after it)
  tier_check.py compare-actions GRANTED CODE         two JSON arrays of "service:Action"
  tier_check.py zone --name N                        create a public zone whose id starts with Z
  tier_check.py plan-noop PLAN.json                  `terraform show -json` of a plan: no change
                                                     except the listed moto infidelities

Endpoint and credentials come from the standard AWS_* variables (AWS_ENDPOINT_URL for moto).
Exit status 0 when every check passes; 1 with one line per failure otherwise.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

OWNER_KEY, OWNER_VALUE = "ManagedBy", "runtime-scheduler"
_clients: dict[str, Any] = {}


def client(name: str) -> Any:
    if name not in _clients:
        kwargs: dict[str, Any] = {"region_name": os.environ.get("AWS_REGION", "us-east-1")}
        if name == "s3":
            kwargs["config"] = Config(s3={"addressing_style": "path"})
        _clients[name] = boto3.client(name, **kwargs)
    return _clients[name]


class Report:
    def __init__(self, title: str) -> None:
        self.title = title
        self.failures: list[str] = []
        self.passes = 0

    def check(self, ok: bool, what: str) -> bool:
        if ok:
            self.passes += 1
        else:
            self.failures.append(what)
        return ok

    def finish(self) -> int:
        if self.failures:
            print(f"{self.title}: {len(self.failures)} failed, {self.passes} passed", file=sys.stderr)
            for f in self.failures:
                print(f"  FAIL {f}", file=sys.stderr)
            return 1
        print(f"{self.title}: all {self.passes} checks passed")
        return 0


def tags_of(resource: dict[str, Any]) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in resource.get("Tags", []) or []}


def owned(tags: dict[str, str], env: str) -> bool:
    # moto ignores tag filters on DescribeNatGateways, so ownership is always decided here.
    return tags.get(OWNER_KEY) == OWNER_VALUE and tags.get("Environment") == env


def load_spec(bucket: str, env: str) -> dict[str, Any]:
    body = client("s3").get_object(Bucket=bucket, Key=f"{env}/spec.json")["Body"].read()
    return json.loads(body)


def norm(name: str) -> str:
    return name.lower().rstrip(".")


# --- observations ---------------------------------------------------------------------------


def owned_nats(env: str) -> list[dict[str, Any]]:
    nats = client("ec2").describe_nat_gateways()["NatGateways"]
    return [n for n in nats if owned(tags_of(n), env)]


def route_tables(ids: list[str]) -> dict[str, dict[str, Any]]:
    rts = client("ec2").describe_route_tables(RouteTableIds=ids)["RouteTables"]
    return {rt["RouteTableId"]: rt for rt in rts}


def default_route(rt: dict[str, Any]) -> dict[str, Any] | None:
    return next((r for r in rt.get("Routes", []) if r.get("DestinationCidrBlock") == "0.0.0.0/0"), None)


def find_alb(name: str) -> dict[str, Any] | None:
    try:
        lbs = client("elbv2").describe_load_balancers(Names=[name])["LoadBalancers"]
    except ClientError as e:
        if e.response["Error"]["Code"] in ("LoadBalancerNotFound", "LoadBalancerNotFoundException"):
            return None
        raise
    return lbs[0] if lbs else None


def alias_records(zone_id: str, name: str) -> list[dict[str, Any]]:
    out = []
    paginator = client("route53").get_paginator("list_resource_record_sets")
    for page in paginator.paginate(HostedZoneId=zone_id):
        for rr in page["ResourceRecordSets"]:
            if norm(rr["Name"]) == norm(name) and rr["Type"] in ("A", "AAAA"):
                out.append(rr)
    return out


def services(cluster: str, names: list[str]) -> dict[str, dict[str, Any]]:
    if not names:
        return {}
    resp = client("ecs").describe_services(cluster=cluster, services=names, include=["TAGS"])
    return {s["serviceName"]: s for s in resp["services"] if s.get("status") != "INACTIVE"}


# --- checks ---------------------------------------------------------------------------------


def check_spec(spec: dict[str, Any], env: str) -> int:
    r = Report("spec")
    r.check(spec.get("version") == 1, "version is 1")
    r.check(spec.get("environment") == env, f"environment is {env}")
    r.check(not {"ManagedBy", "Environment"} & set(spec.get("tags", {})), "tags carry no ManagedBy/Environment")
    nats = spec.get("nat_gateways", [])
    r.check(len(nats) == 1, f"one NAT gateway (got {len(nats)})")
    lb = spec.get("load_balancer") or {}
    listeners = {l["port"]: l for l in lb.get("listeners", [])}
    r.check(set(listeners) == {80, 443}, f"listeners 80 and 443 (got {sorted(listeners)})")
    http, https = listeners.get(80, {}), listeners.get(443, {})
    r.check(http.get("default_action", {}).get("type") == "redirect"
            and http["default_action"].get("protocol") == "HTTPS"
            and http["default_action"].get("port") == "443", "HTTP:80 redirects to HTTPS:443")
    r.check(str(https.get("certificate_arn", "")).startswith("arn:aws:acm:"), "HTTPS listener has the ACM certificate")
    svcs = {s["name"]: s for s in spec.get("services", [])}
    r.check(set(svcs) == {"backend", "frontend"}, f"services backend and frontend (got {sorted(svcs)})")
    tg = {k: s.get("load_balancer", {}).get("target_group_arn") for k, s in svcs.items()}
    rules = https.get("rules", [])
    api = [x for x in rules if x.get("path_patterns") == ["/api/*"]]
    r.check(len(api) == 1 and api[0]["action"].get("target_group_arn") == tg.get("backend"), "/api/* forwards to backend")
    r.check(https.get("default_action", {}).get("target_group_arn") == tg.get("frontend"), "default action forwards to frontend")
    ports = {k: s.get("load_balancer", {}).get("container_port") for k, s in svcs.items()}
    r.check(ports == {"backend": 8000, "frontend": 3000}, f"container ports 8000/3000 (got {ports})")
    r.check(all(s.get("assign_public_ip") is False for s in svcs.values()), "no public IPs on tasks")
    records = spec.get("dns_records", [])
    r.check(len(records) == 1 and records[0].get("types") == ["A"], "one A alias record")
    sched = spec.get("schedule") or {}
    r.check(bool(sched.get("timezone")) and len(sched.get("start", "")) == 5 and len(sched.get("stop", "")) == 5
            and bool(sched.get("days")), f"schedule present ({sched})")
    return r.finish()


def check_running(spec: dict[str, Any], env: str) -> int:
    r = Report("running")
    ec2 = client("ec2")
    nats = [n for n in owned_nats(env) if n["State"] in ("pending", "available")]
    for want in spec.get("nat_gateways", []):
        mine = [n for n in nats if n["SubnetId"] == want["subnet_id"]]
        if not r.check(len(mine) == 1 and mine[0]["State"] == "available",
                       f"NAT '{want['name']}': one available owned gateway in {want['subnet_id']} (got {[(n['NatGatewayId'], n['State']) for n in mine]})"):
            continue
        nat = mine[0]
        mode = want.get("elastic_ip", {}).get("mode", "release")
        alloc = [a.get("AllocationId") for a in nat.get("NatGatewayAddresses", [])]
        if mode == "external":
            r.check(want["elastic_ip"]["allocation_id"] in alloc, f"NAT '{want['name']}' uses the external EIP")
        for rt_id, rt in route_tables(want["route_table_ids"]).items():
            route = default_route(rt)
            r.check(route is not None and route.get("NatGatewayId") == nat["NatGatewayId"],
                    f"{rt_id}: 0.0.0.0/0 -> {nat['NatGatewayId']} (got {route})")
    lb_spec = spec.get("load_balancer")
    alb = find_alb(lb_spec["name"]) if lb_spec else None
    if lb_spec and r.check(alb is not None, f"ALB {lb_spec['name']} exists"):
        elbv2 = client("elbv2")
        r.check(alb["State"]["Code"] == "active", f"ALB active (got {alb['State']})")
        lb_tags = {t["Key"]: t["Value"] for t in elbv2.describe_tags(ResourceArns=[alb["LoadBalancerArn"]])["TagDescriptions"][0]["Tags"]}
        r.check(owned(lb_tags, env), f"ALB carries the ownership tags (got {lb_tags})")
        listeners = {l["Port"]: l for l in elbv2.describe_listeners(LoadBalancerArn=alb["LoadBalancerArn"])["Listeners"]}
        r.check(sorted(listeners) == sorted(l["port"] for l in lb_spec["listeners"]), f"listeners {sorted(listeners)}")
        for want in lb_spec["listeners"]:
            got = listeners.get(want["port"])
            if not got:
                continue
            r.check(got["Protocol"] == want["protocol"], f"listener {want['port']} protocol {got['Protocol']}")
            act = got["DefaultActions"][0]
            if want["default_action"]["type"] == "redirect":
                rc = act.get("RedirectConfig", {})
                r.check(act["Type"] == "redirect" and rc.get("Protocol") == "HTTPS" and str(rc.get("Port")) == "443",
                        f"listener {want['port']} redirects to HTTPS:443 (got {act})")
            else:
                r.check(act.get("TargetGroupArn") == want["default_action"]["target_group_arn"], f"listener {want['port']} default forward")
            if want.get("certificate_arn"):
                certs = [c["CertificateArn"] for c in got.get("Certificates", [])]
                r.check(want["certificate_arn"] in certs, f"listener {want['port']} certificate")
            rules = [x for x in elbv2.describe_rules(ListenerArn=got["ListenerArn"])["Rules"] if not x.get("IsDefault")]
            for wr in want.get("rules", []):
                match = [x for x in rules if any(
                    c.get("Field") == "path-pattern" and sorted(c.get("PathPatternConfig", {}).get("Values") or c.get("Values", [])) == sorted(wr["path_patterns"])
                    for c in x["Conditions"])]
                r.check(len(match) == 1 and str(match[0]["Priority"]) == str(wr["priority"])
                        and match[0]["Actions"][0].get("TargetGroupArn") == wr["action"]["target_group_arn"],
                        f"rule {wr['path_patterns']} priority {wr['priority']} on {want['port']}")
        for rec in spec.get("dns_records", []):
            found = alias_records(rec["zone_id"], rec["name"])
            for t in rec.get("types", ["A"]):
                rr = [x for x in found if x["Type"] == t]
                target = norm(rr[0]["AliasTarget"]["DNSName"]) if rr and "AliasTarget" in rr[0] else None
                r.check(target is not None and target.removeprefix("dualstack.") == norm(alb["DNSName"]),
                        f"{t} {rec['name']} aliases the ALB {alb['DNSName']} (got {target})")
    for s in spec.get("services", []):
        got = services(s["cluster"], [s["name"]]).get(s["name"])
        if r.check(got is not None, f"service {s['name']} exists"):
            r.check(got["desiredCount"] == s["desired_count"], f"service {s['name']} desired {s['desired_count']} (got {got['desiredCount']})")
    return r.finish()


def check_stopped(spec: dict[str, Any], env: str) -> int:
    r = Report("stopped")
    live = [n for n in owned_nats(env) if n["State"] in ("pending", "available", "deleting")]
    r.check(not live, f"no owned NAT gateway left (got {[(n['NatGatewayId'], n['State']) for n in live]})")
    for want in spec.get("nat_gateways", []):
        for rt_id, rt in route_tables(want["route_table_ids"]).items():
            r.check(default_route(rt) is None, f"{rt_id} has no 0.0.0.0/0 route")
    addrs = [a for a in client("ec2").describe_addresses()["Addresses"] if owned(tags_of(a), env)]
    keep = any(n.get("elastic_ip", {}).get("mode") == "keep" for n in spec.get("nat_gateways", []))
    r.check(keep or not addrs, f"no owned Elastic IP left (got {[a['AllocationId'] for a in addrs]})")
    lb_spec = spec.get("load_balancer")
    if lb_spec:
        r.check(find_alb(lb_spec["name"]) is None, f"ALB {lb_spec['name']} deleted")
    for rec in spec.get("dns_records", []):
        r.check(not alias_records(rec["zone_id"], rec["name"]), f"no alias record {rec['name']}")
    for s in spec.get("services", []):
        got = services(s["cluster"], [s["name"]]).get(s["name"])
        r.check(got is None or got["desiredCount"] == 0, f"service {s['name']} at 0 (got {got and got['desiredCount']})")
    return r.finish()


def check_torn_down(spec: dict[str, Any], env: str) -> int:
    """After a teardown: nothing of the scheduler's is left, services and kept addresses
    included, nor the ownership TXT records; a stop's checks hold too."""
    if check_stopped(spec, env) != 0:
        return 1
    r = Report("torn down")
    addrs = [a["AllocationId"] for a in client("ec2").describe_addresses()["Addresses"] if owned(tags_of(a), env)]
    r.check(not addrs, f"no owned Elastic IP left, kept ones included (got {addrs})")
    for s in spec.get("services", []):
        got = services(s["cluster"], [s["name"]]).get(s["name"])
        r.check(got is None or got.get("status") != "ACTIVE", f"service {s['name']} deleted (got {got and got.get('status')})")
    r53 = client("route53")
    owner_value = f'"heritage=runtime-scheduler,environment={env}"'
    for rec in spec.get("dns_records", []):
        name = OWNER_RECORD_PREFIX + norm(rec["name"])
        left = [rr for page in r53.get_paginator("list_resource_record_sets").paginate(HostedZoneId=rec["zone_id"])
                for rr in page["ResourceRecordSets"]
                if rr["Type"] == "TXT" and norm(rr["Name"]) == name
                and owner_value in [v["Value"] for v in rr.get("ResourceRecords", [])]]
        r.check(not left, f"ownership TXT {name} deleted")
    return r.finish()


# --- a stand-in for the scheduler -----------------------------------------------------------


def simulate(spec: dict[str, Any], env: str, action: str) -> int:
    """What start and stop must achieve, done the simplest way, to exercise the checks."""
    ec2, elbv2, ecs, r53 = client("ec2"), client("elbv2"), client("ecs"), client("route53")
    own = [{"Key": OWNER_KEY, "Value": OWNER_VALUE}, {"Key": "Environment", "Value": env}]
    own += [{"Key": k, "Value": v} for k, v in spec.get("tags", {}).items()]
    lb_spec = spec["load_balancer"]
    if action == "start":
        for n in spec["nat_gateways"]:
            alloc = ec2.allocate_address(Domain="vpc", TagSpecifications=[{"ResourceType": "elastic-ip", "Tags": own}])
            nat = ec2.create_nat_gateway(SubnetId=n["subnet_id"], AllocationId=alloc["AllocationId"],
                                         TagSpecifications=[{"ResourceType": "natgateway", "Tags": own + [{"Key": "Name", "Value": n["name"]}]}])
            for rt in n["route_table_ids"]:
                ec2.create_route(RouteTableId=rt, DestinationCidrBlock="0.0.0.0/0", NatGatewayId=nat["NatGateway"]["NatGatewayId"])
        alb = elbv2.create_load_balancer(Name=lb_spec["name"], Subnets=lb_spec["subnet_ids"], SecurityGroups=lb_spec["security_group_ids"],
                                         Scheme="internet-facing", Type="application", Tags=own)["LoadBalancers"][0]
        for l in lb_spec["listeners"]:
            da = l["default_action"]
            action_ = ({"Type": "redirect", "RedirectConfig": {"Protocol": da["protocol"], "Port": da["port"], "StatusCode": da["status_code"]}}
                       if da["type"] == "redirect" else {"Type": "forward", "TargetGroupArn": da["target_group_arn"]})
            kw = {"Certificates": [{"CertificateArn": l["certificate_arn"]}], "SslPolicy": l["ssl_policy"]} if l["protocol"] == "HTTPS" else {}
            lst = elbv2.create_listener(LoadBalancerArn=alb["LoadBalancerArn"], Port=l["port"], Protocol=l["protocol"],
                                        DefaultActions=[action_], Tags=own, **kw)["Listeners"][0]
            for rule in l.get("rules", []):
                elbv2.create_rule(ListenerArn=lst["ListenerArn"], Priority=rule["priority"], Tags=own,
                                  Conditions=[{"Field": "path-pattern", "PathPatternConfig": {"Values": rule["path_patterns"]}}],
                                  Actions=[{"Type": "forward", "TargetGroupArn": rule["action"]["target_group_arn"]}])
        for rec in spec["dns_records"]:
            r53.change_resource_record_sets(HostedZoneId=rec["zone_id"], ChangeBatch={"Changes": [{
                "Action": "UPSERT", "ResourceRecordSet": {"Name": rec["name"], "Type": "A", "AliasTarget": {
                    "HostedZoneId": alb["CanonicalHostedZoneId"], "DNSName": alb["DNSName"], "EvaluateTargetHealth": True}}}]})
        for s in spec["services"]:
            existing = services(s["cluster"], [s["name"]]).get(s["name"])
            if existing:
                ecs.update_service(cluster=s["cluster"], service=s["name"], desiredCount=s["desired_count"])
            else:
                ecs.create_service(cluster=s["cluster"], serviceName=s["name"], taskDefinition=s["task_definition"],
                                   desiredCount=s["desired_count"], launchType="FARGATE",
                                   networkConfiguration={"awsvpcConfiguration": {"subnets": s["subnet_ids"], "securityGroups": s["security_group_ids"], "assignPublicIp": "DISABLED"}},
                                   loadBalancers=[{"targetGroupArn": s["load_balancer"]["target_group_arn"], "containerName": s["load_balancer"]["container_name"], "containerPort": s["load_balancer"]["container_port"]}],
                                   tags=[{"key": t["Key"], "value": t["Value"]} for t in own])
    elif action == "stop":
        for s in spec["services"]:
            if services(s["cluster"], [s["name"]]).get(s["name"]):
                ecs.update_service(cluster=s["cluster"], service=s["name"], desiredCount=0)
        alb = find_alb(lb_spec["name"])
        for rec in spec["dns_records"]:
            for rr in alias_records(rec["zone_id"], rec["name"]):
                r53.change_resource_record_sets(HostedZoneId=rec["zone_id"], ChangeBatch={"Changes": [{"Action": "DELETE", "ResourceRecordSet": rr}]})
        if alb:
            for l in elbv2.describe_listeners(LoadBalancerArn=alb["LoadBalancerArn"])["Listeners"]:
                elbv2.delete_listener(ListenerArn=l["ListenerArn"])
            elbv2.delete_load_balancer(LoadBalancerArn=alb["LoadBalancerArn"])
        for n in spec["nat_gateways"]:
            for rt in n["route_table_ids"]:
                try:
                    ec2.delete_route(RouteTableId=rt, DestinationCidrBlock="0.0.0.0/0")
                except ClientError:
                    pass
        for nat in owned_nats(env):
            if nat["State"] in ("pending", "available"):
                ec2.delete_nat_gateway(NatGatewayId=nat["NatGatewayId"])
        for a in client("ec2").describe_addresses()["Addresses"]:
            if owned(tags_of(a), env):
                ec2.release_address(AllocationId=a["AllocationId"])
    print(json.dumps({"action": action, "outcome": "applied", "simulated": True}))
    return 0


OWNER_RECORD_PREFIX = "_runtime-scheduler."


def cleanup(spec: dict[str, Any], env: str) -> int:
    """The stand-in's teardown (E2E_SIMULATE_SCHEDULER=1 only; the scheduler has its own):
    delete what a stop deliberately keeps."""
    ecs, ec2, r53 = client("ecs"), client("ec2"), client("route53")
    owner_value = f'"heritage=runtime-scheduler,environment={env}"'
    for rec in spec.get("dns_records", []):
        name = OWNER_RECORD_PREFIX + norm(rec["name"])
        for page in r53.get_paginator("list_resource_record_sets").paginate(HostedZoneId=rec["zone_id"]):
            for rr in page["ResourceRecordSets"]:
                values = [v["Value"] for v in rr.get("ResourceRecords", [])]
                if rr["Type"] == "TXT" and norm(rr["Name"]) == name and owner_value in values:
                    r53.change_resource_record_sets(HostedZoneId=rec["zone_id"], ChangeBatch={"Changes": [{"Action": "DELETE", "ResourceRecordSet": rr}]})
                    print(f"deleted TXT {rr['Name']}")
    for s in spec.get("services", []):
        got = services(s["cluster"], [s["name"]]).get(s["name"])
        if got and owned({t["key"]: t["value"] for t in got.get("tags", [])}, env):
            ecs.delete_service(cluster=s["cluster"], service=s["name"], force=True)
            print(f"deleted service {s['cluster']}/{s['name']}")
    for a in ec2.describe_addresses()["Addresses"]:
        if owned(tags_of(a), env) and not a.get("AssociationId"):
            ec2.release_address(AllocationId=a["AllocationId"])
            print(f"released {a['AllocationId']}")
    return 0


def leftovers(project: str, ignore_buckets: list[str]) -> int:
    """Everything named or tagged after the project; the Tagging API misses EIPs and WAF ACLs on moto."""
    r = Report("leftovers")
    ec2 = client("ec2")

    def tagged(items: list[dict[str, Any]], idkey: str, kind: str) -> None:
        for i in items:
            if tags_of(i).get("Project") == project:
                r.check(False, f"{kind} {i[idkey]} left")

    tagged(ec2.describe_vpcs()["Vpcs"], "VpcId", "VPC")
    tagged(ec2.describe_subnets()["Subnets"], "SubnetId", "subnet")
    tagged(ec2.describe_route_tables()["RouteTables"], "RouteTableId", "route table")
    tagged(ec2.describe_internet_gateways()["InternetGateways"], "InternetGatewayId", "internet gateway")
    tagged(ec2.describe_security_groups()["SecurityGroups"], "GroupId", "security group")
    tagged(ec2.describe_addresses()["Addresses"], "AllocationId", "Elastic IP")
    tagged([n for n in ec2.describe_nat_gateways()["NatGateways"] if n["State"] not in ("deleted", "deleting")], "NatGatewayId", "NAT gateway")
    elbv2 = client("elbv2")
    for lb in elbv2.describe_load_balancers()["LoadBalancers"]:
        r.check(not lb["LoadBalancerName"].startswith(project), f"load balancer {lb['LoadBalancerName']} left")
    for tg in elbv2.describe_target_groups()["TargetGroups"]:
        r.check(not tg["TargetGroupName"].startswith(project), f"target group {tg['TargetGroupName']} left")
    ecs = client("ecs")
    for arn in ecs.list_clusters()["clusterArns"]:
        c = ecs.describe_clusters(clusters=[arn])["clusters"]
        r.check(not (c and c[0]["status"] == "ACTIVE" and c[0]["clusterName"].startswith(project)), f"ECS cluster {arn} left")
    for b in client("s3").list_buckets()["Buckets"]:
        r.check(b["Name"] in ignore_buckets or not b["Name"].startswith(project), f"bucket {b['Name']} left")
    for repo in client("ecr").describe_repositories()["repositories"]:
        r.check(not repo["repositoryName"].startswith(project), f"ECR repository {repo['repositoryName']} left")
    for role in client("iam").list_roles()["Roles"]:
        r.check(not role["RoleName"].startswith(project), f"IAM role {role['RoleName']} left")
    for fn in client("lambda").list_functions()["Functions"]:
        r.check(not fn["FunctionName"].startswith(project), f"function {fn['FunctionName']} left")
    for g in client("logs").describe_log_groups()["logGroups"]:
        r.check(project not in g["logGroupName"], f"log group {g['logGroupName']} left")
    for q in client("sqs").list_queues().get("QueueUrls", []):
        r.check(project not in q, f"queue {q} left")
    for t in client("sns").list_topics()["Topics"]:
        r.check(project not in t["TopicArn"], f"topic {t['TopicArn']} left")
    for p in client("ssm").describe_parameters()["Parameters"]:
        r.check(not p["Name"].startswith(f"/{project}/"), f"parameter {p['Name']} left")
    for s in client("scheduler").list_schedules()["Schedules"]:
        r.check(not s["Name"].startswith(project), f"schedule {s['Name']} left")
    for acl in client("wafv2").list_web_acls(Scope="REGIONAL")["WebACLs"]:
        r.check(not acl["Name"].startswith(project), f"web ACL {acl['Name']} left")
    kms = client("kms")
    for k in kms.list_keys()["Keys"]:
        meta = kms.describe_key(KeyId=k["KeyId"])["KeyMetadata"]
        r.check(meta["KeyState"] == "PendingDeletion" or project not in meta.get("Description", ""), f"KMS key {k['KeyId']} not scheduled for deletion")
    for z in client("route53").list_hosted_zones()["HostedZones"]:
        for rr in client("route53").list_resource_record_sets(HostedZoneId=z["Id"])["ResourceRecordSets"]:
            r.check(rr["Type"] in ("NS", "SOA"), f"record {rr['Type']} {rr['Name']} left in {z['Name']}")
    return r.finish()


def compare_actions(granted_file: str, code_file: str) -> int:
    granted = set(json.load(open(granted_file)))
    code = set(json.load(open(code_file)))
    missing, extra = sorted(code - granted), sorted(granted - code)
    for a in missing:
        print(f"  MISSING (the code calls it, the role does not grant it): {a}", file=sys.stderr)
    for a in extra:
        print(f"  EXTRA (granted, never called): {a}", file=sys.stderr)
    if missing or extra:
        print(f"least privilege: {len(missing)} missing, {len(extra)} extra", file=sys.stderr)
        return 1
    print(f"least privilege: the role grants exactly the {len(code)} actions the code calls")
    return 0


# Attributes moto does not return, so the provider sees them as drift on every plan. Anything
# else in a plan right after apply is a real idempotency bug.
KNOWN_MOTO_DRIFT = {
    "aws_lambda_function": {"dead_letter_config", "logging_config"},  # GetFunction omits both
    # DescribeSecurityGroupRules drops the description of rules that reference a group.
    "aws_vpc_security_group_egress_rule": {"description"},
    "aws_vpc_security_group_ingress_rule": {"description"},
}


def plan_noop(plan_file: str) -> int:
    plan = json.load(open(plan_file))
    r = Report("no-op plan")
    for rc in plan.get("resource_changes", []):
        actions = rc["change"]["actions"]
        if actions in (["no-op"], ["read"]):
            continue
        before, after = rc["change"].get("before") or {}, rc["change"].get("after") or {}
        unknown = rc["change"].get("after_unknown") or {}
        changed = {k for k in set(before) | set(after) if before.get(k) != after.get(k)} | {k for k, v in unknown.items() if v is True}
        tolerated = KNOWN_MOTO_DRIFT.get(rc["type"], set())
        if actions == ["update"] and changed and changed <= tolerated:
            print(f"  tolerated (moto does not return {sorted(changed)}): {rc['address']}")
            r.passes += 1
            continue
        r.check(False, f"{rc['address']}: {actions} {sorted(changed)}")
    return r.finish()


def make_zone(name: str) -> int:
    """Real hosted zone ids start with Z (the spec validator insists); moto's are random."""
    r53 = client("route53")
    for attempt in range(400):
        zone = r53.create_hosted_zone(Name=name, CallerReference=f"e2e-{time.time()}-{attempt}")["HostedZone"]
        zid = zone["Id"].split("/")[-1]
        if zid.startswith("Z"):
            print(zid)
            return 0
        r53.delete_hosted_zone(Id=zid)
    print("could not get a zone id starting with Z", file=sys.stderr)
    return 1


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("command", choices=["spec", "running", "stopped", "torn-down", "simulate", "cleanup", "leftovers", "compare-actions", "zone", "plan-noop"])
    p.add_argument("args", nargs="*")
    p.add_argument("--bucket")
    p.add_argument("--env")
    p.add_argument("--project")
    p.add_argument("--name")
    p.add_argument("--ignore-bucket", action="append", default=[])
    a = p.parse_args()
    if a.command == "compare-actions":
        return compare_actions(*a.args)
    if a.command == "leftovers":
        return leftovers(a.project, a.ignore_bucket)
    if a.command == "zone":
        return make_zone(a.name)
    if a.command == "plan-noop":
        return plan_noop(*a.args)
    spec = load_spec(a.bucket, a.env)
    if a.command == "spec":
        return check_spec(spec, a.env)
    if a.command == "running":
        return check_running(spec, a.env)
    if a.command == "stopped":
        return check_stopped(spec, a.env)
    if a.command == "torn-down":
        return check_torn_down(spec, a.env)
    if a.command == "simulate":
        return simulate(spec, a.env, a.args[0])
    if a.command == "cleanup":
        return cleanup(spec, a.env)
    return 2


if __name__ == "__main__":
    sys.exit(main())
