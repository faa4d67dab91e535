#!/usr/bin/env python3
"""Checks of the operations side (monitoring, notifications, secrets, security, recovery) on the
(local) AWS. Used by .ci/lib/e2e-ops.sh; like tier_check.py it trusts nothing Terraform or the
scheduler says about itself and describes what exists with boto3.

  ops_check.py applied --outputs DIR --env E [--replication-region R]
                                             after the first apply, in one process: selftest,
                                             monitoring, notify, secrets, security (DIR holds
                                             terraform-base.json and terraform-runtime.json, the
                                             roots' `terraform output -json`)
  ops_check.py after-start --outputs DIR --env E [--simulated]
                                             access-logs, and monitoring forbidding the ids of the
                                             ALB and NAT gateways that exist now
  ops_check.py selftest                      the fixed-id detector flags what it must, and only that
  ops_check.py monitoring --prefix P --topic ARN --expect-alarms JSON [--forbid ID ...]
                                             the dashboard and every alarm of P: no fixed ALB or NAT
                                             id (nor the ids that exist right now), every alarm
                                             notifies the topic on ALARM and OK, the expected set
  ops_check.py notify --topic ARN --alarm NAME
                                             an SQS queue subscribed to the topic receives the
                                             alarm's notification (see the docstring of notify)
  ops_check.py secrets --families JSON --parameters JSON --execution-role NAME
                                             no task definition carries a secret value in plain text
  ops_check.py security --prefix P --bucket B --env E [--replication-region R]
                                             GuardDuty, ECR replication, access-log bucket, event rules
  ops_check.py access-logs --bucket B --env E
                                             the current ALB has access logs on, to the spec's bucket
  ops_check.py snapshot --bucket B --env E   JSON of everything a scheduler action could change
  ops_check.py same SNAPSHOT_A SNAPSHOT_B    the two snapshots are identical
  ops_check.py state-version --bucket B --env E --phase PHASE
                                             version id of the newest <env>/state.json with that phase
  ops_check.py restore --bucket B --key K --version-id V
                                             copy an earlier version over the current object
  ops_check.py undelete --bucket B --key K   remove the delete marker: the previous version is back
  ops_check.py converged --bucket B --env E --response FILE
                                             state.json and the world agree with the response's phase

Endpoint and credentials come from the standard AWS_* variables (AWS_ENDPOINT_URL for moto).
Exit status 0 when every check passes; 1 with one line per failure otherwise.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
import uuid
from typing import Any, Iterable

from botocore.exceptions import ClientError

sys.path.insert(0, __file__.rsplit("/", 1)[0])
import tier_check  # noqa: E402  (same directory; shares the clients and the observations)
from tier_check import Report, client  # noqa: E402

# --- fixed ids ------------------------------------------------------------------------------

# An ALB's metric dimension value or ARN suffix (app/<name>/<16 hex>), a NAT gateway id.
FIXED_ID_PATTERNS = {
    "ALB id": re.compile(r"(?<![A-Za-z0-9])app/[A-Za-z0-9-]{1,32}/[0-9a-f]{16}"),
    "NAT gateway id": re.compile(r"(?<![A-Za-z0-9-])nat-[0-9a-f]{8,17}(?![0-9a-f])"),
}
# Dimensions whose value is an id of something the scheduler recreates.
RECREATED_DIMENSIONS = {"AWS/ApplicationELB": "LoadBalancer", "AWS/NATGateway": "NatGatewayId"}


def fixed_ids_in_text(text: str, forbid: Iterable[str] = ()) -> list[str]:
    found = [f"{kind} {m.group(0)}" for kind, rx in FIXED_ID_PATTERNS.items() for m in rx.finditer(text)]
    found += [f"current id {i}" for i in forbid if i and i in text]
    return found


def dashboard_problems(body: dict[str, Any], forbid: Iterable[str] = ()) -> list[str]:
    """Every widget of a dashboard body that names a recreated resource by id."""
    problems = []
    for n, widget in enumerate(body.get("widgets", [])):
        props = widget.get("properties", {})
        where = f"widget {n} ({props.get('title', widget.get('type'))})"
        problems += [f"{where}: {p}" for p in fixed_ids_in_text(json.dumps(widget), forbid)]
        for metric in props.get("metrics", []):
            # A plain metric: [namespace, name, dim1, value1, ..., {options}]; "." repeats the previous.
            plain = [m for m in metric if isinstance(m, str)]
            if len(plain) >= 2 and plain[0] in RECREATED_DIMENSIONS:
                dims = dict(zip(plain[2::2], plain[3::2]))
                if RECREATED_DIMENSIONS[plain[0]] in dims:
                    problems.append(f"{where}: {plain[0]} {plain[1]} pinned to {RECREATED_DIMENSIONS[plain[0]]}={dims[RECREATED_DIMENSIONS[plain[0]]]}")
    return problems


def alarm_problems(alarm: dict[str, Any], forbid: Iterable[str] = ()) -> list[str]:
    """An alarm that watches a recreated resource by id."""
    name = alarm["AlarmName"]
    definition = {k: alarm.get(k) for k in ("Namespace", "MetricName", "Dimensions", "Metrics")}
    problems = [f"alarm {name}: {p}" for p in fixed_ids_in_text(json.dumps(definition, default=str), forbid)]
    stats = [(alarm.get("Namespace"), alarm.get("Dimensions") or [])]
    stats += [(m["MetricStat"]["Metric"].get("Namespace"), m["MetricStat"]["Metric"].get("Dimensions") or [])
              for m in alarm.get("Metrics") or [] if "MetricStat" in m]
    for namespace, dims in stats:
        pinned = RECREATED_DIMENSIONS.get(namespace or "")
        if pinned and any(d["Name"] == pinned for d in dims):
            problems.append(f"alarm {name}: {namespace} metric pinned to a {pinned}")
    return problems


def selftest() -> int:
    r = Report("fixed-id detector self-test")
    bad_widget = {"widgets": [{"type": "metric", "properties": {"title": "pinned", "metrics": [
        ["AWS/ApplicationELB", "RequestCount", "LoadBalancer", "app/acme-shop-demo/50dc6c495c0c9188"]]}}]}
    r.check(len(dashboard_problems(bad_widget)) == 2, "a widget pinned to an ALB dimension is flagged (id and dimension)")
    r.check(bool(dashboard_problems({"widgets": [{"properties": {"metrics": [["AWS/NATGateway", "BytesOutToDestination", "NatGatewayId", "x"]]}}]})),
            "a widget pinned to a NatGatewayId dimension is flagged even without a real-looking id")
    r.check(bool(dashboard_problems({"widgets": [{"properties": {"metrics": [[{"expression": "SEARCH('{AWS/NATGateway,NatGatewayId} NatGatewayId=\"nat-0a1b2c3d4e5f60718\"', 'Sum', 300)"}]]}}]})),
            "a NAT id inside an expression is flagged")
    r.check(bool(dashboard_problems({"widgets": [{"properties": {"metrics": [["AWS/ECS", "CPUUtilization", "ServiceName", "web"]]}}]}, forbid=["web"])),
            "an id that exists right now is flagged wherever it appears")
    good = {"widgets": [{"properties": {"metrics": [
        [{"expression": "SELECT SUM(RequestCount) FROM SCHEMA(\"AWS/ApplicationELB\", LoadBalancer, TargetGroup) WHERE TargetGroup = 'targetgroup/acme-shop-demo-backend/298b9eb167687e14'"}],
        ["AWS/ECS", "CPUUtilization", "ClusterName", "acme-shop-demo", "ServiceName", "backend"],
        [{"expression": "SEARCH('{AWS/NATGateway,NatGatewayId} MetricName=\"ErrorPortAllocation\"', 'Sum', 300)"}]]}}]}
    r.check(dashboard_problems(good) == [], f"target-group, ECS and SEARCH widgets pass (got {dashboard_problems(good)})")
    pinned_alarm = {"AlarmName": "a", "Namespace": "AWS/ApplicationELB", "MetricName": "HTTPCode_ELB_5XX_Count",
                    "Dimensions": [{"Name": "LoadBalancer", "Value": "app/acme-shop-demo/50dc6c495c0c9188"}]}
    r.check(len(alarm_problems(pinned_alarm)) == 2, "an alarm on a fixed LoadBalancer dimension is flagged")
    math_alarm = {"AlarmName": "b", "Metrics": [{"Id": "m", "MetricStat": {"Metric": {"Namespace": "AWS/NATGateway", "MetricName": "ErrorPortAllocation",
                                                                                    "Dimensions": [{"Name": "NatGatewayId", "Value": "nat-0123456789abcdef0"}]}}}]}
    r.check(len(alarm_problems(math_alarm)) == 2, "a metric-math alarm on a fixed NatGatewayId is flagged")
    mi_alarm = {"AlarmName": "c", "Metrics": [{"Id": "q", "Expression": "SELECT SUM(ErrorPortAllocation) FROM SCHEMA(\"AWS/NATGateway\", NatGatewayId) WHERE tag.Environment = 'demo'"}]}
    r.check(alarm_problems(mi_alarm) == [], "a Metrics Insights alarm selecting by tag passes")
    return r.finish()


def monitoring(prefix: str, topic: str, expected: list[str], forbid: list[str], signals: list[str] = ()) -> int:
    """`signals`: alarms that are signals to the scheduler, not pages (the idle alarm): they
    notify nobody and count missing data (a sleeping tier) as idle."""
    r = Report("monitoring")
    cw = client("cloudwatch")
    try:
        body = json.loads(cw.get_dashboard(DashboardName=prefix)["DashboardBody"])
    except ClientError as e:
        r.check(False, f"dashboard {prefix}: {e.response['Error']['Code']}")
        body = {"widgets": []}
    widgets = body.get("widgets", [])
    r.check(len(widgets) >= 10, f"dashboard {prefix} has its widgets (got {len(widgets)})")
    for p in dashboard_problems(body, forbid):
        r.check(False, p)
    r.passes += 1
    every = [a for page in cw.get_paginator("describe_alarms").paginate(AlarmNamePrefix=prefix) for a in page["MetricAlarms"]]
    for a in (a for a in every if a["AlarmName"] in signals):
        for p in alarm_problems(a, forbid):
            r.check(False, p)
        r.check(not a.get("AlarmActions") and not a.get("OKActions"),
                f"signal alarm {a['AlarmName']} pages nobody (EventBridge carries its state changes)")
        r.check(a.get("TreatMissingData") == "breaching", f"signal alarm {a['AlarmName']} counts a sleeping tier as idle")
    alarms = [a for a in every if a["AlarmName"] not in signals]
    names = sorted(a["AlarmName"] for a in alarms)
    r.check(names == sorted(expected), f"the alarms are exactly Terraform's (missing {sorted(set(expected) - set(names))}, extra {sorted(set(names) - set(expected))})")
    for a in alarms:
        for p in alarm_problems(a, forbid):
            r.check(False, p)
        r.check(a.get("AlarmActions") == [topic] and a.get("OKActions") == [topic],
                f"alarm {a['AlarmName']} notifies the alert topic on ALARM and OK (got {a.get('AlarmActions')}, {a.get('OKActions')})")
        r.check(a.get("TreatMissingData") in ("notBreaching", "breaching"), f"alarm {a['AlarmName']} says how missing data counts")
    silent = [a["AlarmName"] for a in alarms if a.get("TreatMissingData") == "breaching"]
    r.check(silent == [f"{prefix}-scheduler-silent"] or silent == [],
            f"only the scheduler-silent alarm treats missing data as breaching: a sleeping tier must not alarm (got {silent})")
    return r.finish()


# --- notifications --------------------------------------------------------------------------


def notify(topic: str, alarm: str) -> int:
    """Proves the path alarm -> topic -> subscriber as far as the local AWS allows.

    What this proves: the alarm exists and accepts SetAlarmState; the topic delivers to an SQS
    subscriber a message in the exact shape CloudWatch publishes for an alarm state change.
    moto 5.2 does not run alarm actions on SetAlarmState (checked below: nothing arrives from
    it), so the message is published to the topic by this script instead. Not proved here:
    that CloudWatch may publish to this KMS-encrypted topic (the key and topic policies grant
    cloudwatch.amazonaws.com; moto enforces neither)."""
    r = Report("notification path")
    sqs, sns, cw = client("sqs"), client("sns"), client("cloudwatch")
    queue = f"ops-e2e-notify-{uuid.uuid4().hex[:8]}"
    url = sqs.create_queue(QueueName=queue)["QueueUrl"]
    qarn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sqs.set_queue_attributes(QueueUrl=url, Attributes={"Policy": json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"Service": "sns.amazonaws.com"}, "Action": "sqs:SendMessage", "Resource": qarn,
        "Condition": {"ArnEquals": {"aws:SourceArn": topic}}}]})})
    sub = sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=qarn, ReturnSubscriptionArn=True)["SubscriptionArn"]

    def receive(wait: float) -> list[dict[str, Any]]:
        got, deadline = [], time.time() + wait
        while time.time() < deadline:
            for m in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1).get("Messages", []):
                got.append(json.loads(m["Body"]))
                sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
            if got:
                break
        return got

    try:
        before = cw.describe_alarms(AlarmNames=[alarm])["MetricAlarms"][0]
        reason = "terraform-e2e: notification path test"
        cw.set_alarm_state(AlarmName=alarm, StateValue="ALARM", StateReason=reason)
        after = cw.describe_alarms(AlarmNames=[alarm])["MetricAlarms"][0]
        r.check(after["StateValue"] == "ALARM", f"{alarm} is in ALARM after SetAlarmState (got {after['StateValue']})")
        from_alarm = receive(1)
        if from_alarm:
            print(f"  the local AWS ran the alarm action itself ({len(from_alarm)} message(s))")
        else:
            print("  the local AWS did not run the alarm action on SetAlarmState (known moto gap); publishing the same message to the topic")
            message = {
                "AlarmName": alarm, "AlarmDescription": after.get("AlarmDescription"), "AWSAccountId": topic.split(":")[4],
                "NewStateValue": "ALARM", "NewStateReason": reason, "OldStateValue": before["StateValue"],
                "StateChangeTime": time.strftime("%Y-%m-%dT%H:%M:%S.000+0000", time.gmtime()),
                "Region": topic.split(":")[3], "AlarmArn": after["AlarmArn"],
            }
            sns.publish(TopicArn=topic, Subject=f'ALARM: "{alarm}" in {message["Region"]}', Message=json.dumps(message))
            from_alarm = receive(10)
        r.check(len(from_alarm) == 1, f"exactly one notification arrives on the subscribed queue (got {len(from_alarm)})")
        if from_alarm:
            envelope = from_alarm[0]
            body = json.loads(envelope.get("Message", "{}"))
            r.check(envelope.get("TopicArn") == topic, f"it comes from the alert topic (got {envelope.get('TopicArn')})")
            r.check(body.get("AlarmName") == alarm and body.get("NewStateValue") == "ALARM", f"it names the alarm and its new state (got {body})")
        cw.set_alarm_state(AlarmName=alarm, StateValue="OK", StateReason="terraform-e2e: back to OK")
    finally:
        sns.unsubscribe(SubscriptionArn=sub)
        sqs.delete_queue(QueueUrl=url)
    return r.finish()


# --- secrets --------------------------------------------------------------------------------


def secrets(families: dict[str, str], parameters: list[str], execution_role: str) -> int:
    """No task definition carries a secret in plain text. A sentinel is written into every
    secret parameter first, so "plain text" is checked against a real value, not a placeholder."""
    r = Report("secrets")
    ecs, ssm, iam = client("ecs"), client("ssm"), client("iam")
    sentinels = {}
    for name in parameters:
        p = ssm.describe_parameters(ParameterFilters=[{"Key": "Name", "Values": [name]}])["Parameters"]
        r.check(len(p) == 1 and p[0]["Type"] == "SecureString", f"{name} is a SecureString (got {p and p[0]['Type']})")
        r.check(len(p) == 1 and bool(p[0].get("KeyId")), f"{name} is encrypted with a KMS key")
        sentinels[name] = f"e2e-secret-{uuid.uuid4().hex}"
        ssm.put_parameter(Name=name, Value=sentinels[name], Type="SecureString", Overwrite=True)
    arns = {ssm.get_parameter(Name=n)["Parameter"]["ARN"]: n for n in parameters}
    referenced = set()
    for service, family in families.items():
        td = ecs.describe_task_definition(taskDefinition=family)["taskDefinition"]
        text = json.dumps(td, default=str)
        for name, value in sentinels.items():
            r.check(value not in text, f"{family}: the value of {name} does not appear in the task definition")
        for c in td["containerDefinitions"]:
            secret_names = {s["name"] for s in c.get("secrets", [])}
            env = {e["name"]: e["value"] for e in c.get("environment", [])}
            r.check(not (secret_names & set(env)), f"{family}/{c['name']}: no name is both a secret and a plain variable ({sorted(secret_names & set(env))})")
            for s in c.get("secrets", []):
                referenced.add(s["valueFrom"])
                r.check(s["valueFrom"] in arns, f"{family}/{c['name']}: {s['name']} comes from one of this environment's SSM parameters (got {s['valueFrom']})")
    r.check(referenced == set(arns), f"every secret parameter is used by a task definition (unused {sorted(set(arns) - referenced)})")
    # The execution role may read exactly these parameters.
    policy = iam.get_role_policy(RoleName=execution_role, PolicyName="pull-log-secrets")["PolicyDocument"]
    if isinstance(policy, str):
        policy = json.loads(policy)
    granted = [s for s in policy["Statement"] if "ssm:GetParameters" in (s["Action"] if isinstance(s["Action"], list) else [s["Action"]])]
    resources = sorted({x for s in granted for x in (s["Resource"] if isinstance(s["Resource"], list) else [s["Resource"]])})
    r.check(resources == sorted(arns), f"the task execution role reads exactly the secret parameters (got {resources})")
    return r.finish()


# --- security, backup, logs -------------------------------------------------------------------


def security(prefix: str, bucket: str, env: str, replication_region: str | None) -> int:
    r = Report("security")
    gd = client("guardduty")
    detectors = gd.list_detectors()["DetectorIds"]
    if r.check(len(detectors) == 1, f"one GuardDuty detector (got {len(detectors)})"):
        d = gd.get_detector(DetectorId=detectors[0])
        r.check(d["Status"] == "ENABLED", "the detector is enabled")
        feats = {f["Name"]: f for f in d.get("Features", [])}
        rm = feats.get("RUNTIME_MONITORING", {})
        extra = {a["Name"]: a["Status"] for a in rm.get("AdditionalConfiguration", [])}
        r.check(rm.get("Status") == "ENABLED" and extra.get("ECS_FARGATE_AGENT_MANAGEMENT") == "ENABLED",
                f"Runtime Monitoring with GuardDuty managing the Fargate agent (got {rm})")
    if replication_region:
        rules = client("ecr").describe_registry()["replicationConfiguration"]["rules"]
        ok = any(any(d["region"] == replication_region for d in rule["destinations"])
                 and any(f["filter"] == f"{prefix}/" and f["filterType"] == "PREFIX_MATCH" for f in rule.get("repositoryFilters", []))
                 for rule in rules)
        r.check(ok, f"ECR replicates {prefix}/* to {replication_region} (got {rules})")
    spec = tier_check.load_spec(bucket, env)
    logs = spec["load_balancer"]["attributes"].get("access_logs")
    if r.check(bool(logs) and bool(logs.get("bucket")), f"the spec sets ALB access logs (got {logs})"):
        s3 = client("s3")
        enc = s3.get_bucket_encryption(Bucket=logs["bucket"])["ServerSideEncryptionConfiguration"]["Rules"][0]
        r.check(enc["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256", "the access-log bucket uses SSE-S3 (ELB cannot use KMS)")
        rules = s3.get_bucket_lifecycle_configuration(Bucket=logs["bucket"])["Rules"]
        r.check(any(x["Status"] == "Enabled" and x.get("Expiration", {}).get("Days") for x in rules), "access logs expire")
        pab = s3.get_public_access_block(Bucket=logs["bucket"])["PublicAccessBlockConfiguration"]
        r.check(all(pab.values()), "the access-log bucket blocks public access")
        policy = json.loads(s3.get_bucket_policy(Bucket=logs["bucket"])["Policy"])
        delivers = [st for st in policy["Statement"] if st["Effect"] == "Allow" and "s3:PutObject" in str(st["Action"])]
        r.check(len(delivers) == 2 and all(f"/{logs['prefix']}/AWSLogs/" in str(st["Resource"]) for st in delivers),
                "ELB may put objects under <prefix>/AWSLogs/<account>/ only")
    events = client("events")
    topic = [t["TopicArn"] for t in client("sns").list_topics()["Topics"] if t["TopicArn"].endswith(f":{prefix}-runtime-scheduler-alerts")]
    for rule in (f"{prefix}-ecr-scan-findings", f"{prefix}-guardduty-findings"):
        targets = events.list_targets_by_rule(Rule=rule)["Targets"]
        r.check(len(targets) == 1 and targets[0]["Arn"] in topic and "InputTransformer" in targets[0],
                f"rule {rule} sends a readable message to the alert topic")
    pattern = json.loads(events.describe_rule(Name=f"{prefix}-ecr-scan-findings")["EventPattern"])
    r.check(pattern["detail"]["repository-name"] == [{"prefix": f"{prefix}/"}] and "$or" in pattern["detail"],
            "the ECR rule matches this environment's repositories with HIGH or CRITICAL findings")
    return r.finish()


def access_logs(bucket: str, env: str) -> int:
    r = Report("ALB access logs")
    spec = tier_check.load_spec(bucket, env)
    want = spec["load_balancer"]["attributes"].get("access_logs")
    alb = tier_check.find_alb(spec["load_balancer"]["name"])
    if r.check(alb is not None, "the ALB exists") and want:
        attrs = {a["Key"]: a["Value"] for a in client("elbv2").describe_load_balancer_attributes(LoadBalancerArn=alb["LoadBalancerArn"])["Attributes"]}
        r.check(attrs.get("access_logs.s3.enabled") == "true" and attrs.get("access_logs.s3.bucket") == want["bucket"]
                and attrs.get("access_logs.s3.prefix") == want["prefix"],
                f"the scheduler set access logs on the new ALB (got {({k: v for k, v in attrs.items() if k.startswith('access_logs')})})")
    return r.finish()


# --- recovery -------------------------------------------------------------------------------


def snapshot(bucket: str, env: str) -> dict[str, Any]:
    """Everything a scheduler action could change, with volatile fields left out."""
    try:
        spec = tier_check.load_spec(bucket, env)
    except ClientError:
        spec = None
    ec2, elbv2, s3 = client("ec2"), client("elbv2"), client("s3")
    out: dict[str, Any] = {}
    out["nat_gateways"] = sorted((n["NatGatewayId"], n["State"]) for n in ec2.describe_nat_gateways()["NatGateways"])
    out["addresses"] = sorted((a["AllocationId"], a.get("AssociationId")) for a in ec2.describe_addresses()["Addresses"])
    out["routes"] = sorted((rt["RouteTableId"], r.get("DestinationCidrBlock"), r.get("NatGatewayId"), r.get("GatewayId"))
                           for rt in ec2.describe_route_tables()["RouteTables"] for r in rt.get("Routes", []))
    lbs = elbv2.describe_load_balancers()["LoadBalancers"]
    out["load_balancers"] = sorted(lb["LoadBalancerArn"] for lb in lbs)
    out["listeners"] = sorted(l["ListenerArn"] for lb in lbs for l in elbv2.describe_listeners(LoadBalancerArn=lb["LoadBalancerArn"])["Listeners"])
    r53 = client("route53")
    out["records"] = sorted((z["Id"], rr["Name"], rr["Type"], json.dumps(rr.get("AliasTarget") or rr.get("ResourceRecords"), sort_keys=True))
                            for z in r53.list_hosted_zones()["HostedZones"]
                            for rr in r53.list_resource_record_sets(HostedZoneId=z["Id"])["ResourceRecordSets"])
    ecs = client("ecs")
    out["services"] = sorted((s["serviceArn"], s["status"], s["desiredCount"]) for c in ecs.list_clusters()["clusterArns"]
                             for arns in [ecs.list_services(cluster=c)["serviceArns"]] if arns
                             for s in ecs.describe_services(cluster=c, services=arns)["services"])
    out["cluster_tags"] = sorted((c, t["key"], t["value"]) for c in ecs.list_clusters()["clusterArns"]
                                 for t in ecs.list_tags_for_resource(resourceArn=c).get("tags", []))
    versions = s3.list_object_versions(Bucket=bucket, Prefix=f"{env}/")
    out["objects"] = sorted((v["Key"], v["VersionId"], v["IsLatest"]) for v in versions.get("Versions", []) + versions.get("DeleteMarkers", []))
    out["spec_present"] = spec is not None
    return out


def same(a_file: str, b_file: str) -> int:
    a, b = json.load(open(a_file)), json.load(open(b_file))
    r = Report("nothing changed")
    for key in sorted(set(a) | set(b)):
        r.check(a.get(key) == b.get(key), f"{key}: before {a.get(key)} after {b.get(key)}")
    return r.finish()


def state_version(bucket: str, env: str, phase: str) -> int:
    s3 = client("s3")
    key = f"{env}/state.json"
    versions = sorted((v for v in s3.list_object_versions(Bucket=bucket, Prefix=key).get("Versions", []) if v["Key"] == key),
                      key=lambda v: v["LastModified"], reverse=True)
    for v in versions[1:]:  # never the current one
        doc = json.loads(s3.get_object(Bucket=bucket, Key=key, VersionId=v["VersionId"])["Body"].read())
        if str(doc.get("phase", "")).lower() == phase:
            print(v["VersionId"])
            return 0
    print(f"no earlier version of {key} with phase {phase} among {len(versions)}", file=sys.stderr)
    return 1


def undelete(bucket: str, key: str) -> int:
    """Remove the newest delete marker of a versioned key: the version before it is current again."""
    s3 = client("s3")
    markers = [m for m in s3.list_object_versions(Bucket=bucket, Prefix=key).get("DeleteMarkers", []) if m["Key"] == key and m["IsLatest"]]
    if not markers:
        print(f"s3://{bucket}/{key} is not deleted", file=sys.stderr)
        return 1
    s3.delete_object(Bucket=bucket, Key=key, VersionId=markers[0]["VersionId"])
    print(f"undeleted s3://{bucket}/{key} (removed delete marker {markers[0]['VersionId']})")
    return 0


def restore(bucket: str, key: str, version_id: str) -> int:
    s3 = client("s3")
    s3.copy_object(Bucket=bucket, Key=key, CopySource={"Bucket": bucket, "Key": key, "VersionId": version_id})
    print(f"restored s3://{bucket}/{key} from version {version_id}")
    return 0


def converged(bucket: str, env: str, response_file: str) -> int:
    resp = json.load(open(response_file))
    phase = str(resp.get("phase", "")).lower()
    r = Report("converged")
    doc = json.loads(client("s3").get_object(Bucket=bucket, Key=f"{env}/state.json")["Body"].read())
    r.check(str(doc.get("phase", "")).lower() == phase, f"state.json says {doc.get('phase')}, the response {phase}")
    r.check(phase in ("running", "stopped"), f"reconcile ended in a settled phase (got {phase})")
    if r.finish():
        return 1
    spec = tier_check.load_spec(bucket, env)
    return tier_check.check_running(spec, env) if phase == "running" else tier_check.check_stopped(spec, env)


def outputs(directory: str) -> tuple[dict[str, Any], dict[str, Any]]:
    def load(root: str) -> dict[str, Any]:
        return {k: v["value"] for k, v in json.load(open(f"{directory}/{root}.json")).items()}
    return load("terraform-base"), load("terraform-runtime")


def current_ids() -> list[str]:
    """The ALB (app/<name>/<id>) and NAT gateways that exist right now."""
    ids = [lb["LoadBalancerArn"].split(":loadbalancer/", 1)[1] for lb in client("elbv2").describe_load_balancers()["LoadBalancers"]]
    ids += [n["NatGatewayId"] for n in client("ec2").describe_nat_gateways()["NatGateways"] if n["State"] in ("pending", "available")]
    return ids


def signal_alarms(runtime: dict[str, Any]) -> list[str]:
    """The idle alarm, when Terraform made one: a signal to the scheduler, not a page."""
    return [runtime["idle_alarm_name"]] if runtime.get("idle_alarm_name") else []


def applied(directory: str, env: str, replication_region: str | None) -> int:
    base, runtime = outputs(directory)
    prefix = base["name_prefix"]
    failed = 0
    failed |= selftest()
    failed |= monitoring(prefix, runtime["alert_topic_arn"], runtime["alarm_names"], [], signal_alarms(runtime))
    failed |= notify(runtime["alert_topic_arn"], f"{prefix}-scheduler-failed")
    failed |= secrets(runtime["task_definition_families"], runtime["secret_parameter_names"], base["ecs_task_execution_role_name"])
    failed |= security(prefix, base["state_bucket_name"], env, replication_region)
    return failed


def after_start(directory: str, env: str, simulated: bool) -> int:
    base, runtime = outputs(directory)
    failed = 0
    if not simulated:  # the stand-in does not set ALB attributes
        failed |= access_logs(base["state_bucket_name"], env)
    failed |= monitoring(base["name_prefix"], runtime["alert_topic_arn"], runtime["alarm_names"], current_ids(), signal_alarms(runtime))
    return failed


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("command", choices=["applied", "after-start", "selftest", "monitoring", "notify", "secrets", "security", "access-logs",
                                       "snapshot", "same", "state-version", "restore", "undelete", "converged"])
    p.add_argument("args", nargs="*")
    for opt in ("--prefix", "--topic", "--alarm", "--bucket", "--env", "--families", "--parameters", "--execution-role",
                "--expect-alarms", "--replication-region", "--phase", "--key", "--version-id", "--response", "--outputs"):
        p.add_argument(opt)
    p.add_argument("--simulated", action="store_true")
    p.add_argument("--forbid", action="append", default=[])
    a = p.parse_args()
    if a.command == "applied":
        return applied(a.outputs, a.env, a.replication_region)
    if a.command == "after-start":
        return after_start(a.outputs, a.env, a.simulated)
    if a.command == "selftest":
        return selftest()
    if a.command == "monitoring":
        return monitoring(a.prefix, a.topic, json.loads(a.expect_alarms), a.forbid)
    if a.command == "notify":
        return notify(a.topic, a.alarm)
    if a.command == "secrets":
        return secrets(json.loads(a.families), json.loads(a.parameters), a.execution_role)
    if a.command == "security":
        return security(a.prefix, a.bucket, a.env, a.replication_region)
    if a.command == "access-logs":
        return access_logs(a.bucket, a.env)
    if a.command == "snapshot":
        json.dump(snapshot(a.bucket, a.env), sys.stdout, indent=1, default=str)
        return 0
    if a.command == "same":
        return same(*a.args)
    if a.command == "state-version":
        return state_version(a.bucket, a.env, a.phase)
    if a.command == "restore":
        return restore(a.bucket, a.key, a.version_id)
    if a.command == "undelete":
        return undelete(a.bucket, a.key)
    if a.command == "converged":
        return converged(a.bucket, a.env, a.response)
    return 2


if __name__ == "__main__":
    sys.exit(main())
