#!/usr/bin/env python3
"""Describe the wake-on-request front and the idle signal on the (local) AWS and compare them
with the runtime spec that terraform-runtime wrote (issue 9; .ci/lib/e2e-wake.sh runs it).

  wake_check.py applied   --bucket B --env E --project P
      the HTTP API, its $default route, integration and stage, the custom domains and API
      mappings (when the spec lists any), the wake-front function with its environment and
      invoke permission, its role's policy, the token key, the idle alarm and the EventBridge
      rule with its target and permission: all exist and match <env>/spec.json
  wake_check.py leftovers --project P
      none of the above is left after terraform destroy

Like tier_check.py it trusts nothing Terraform says about itself: it reads the spec from S3
and describes resources with boto3. Exit status 0 when every check passes.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from typing import Any

from botocore.exceptions import ClientError

from tier_check import Report, client, load_spec

# The front's role: exactly these actions (test: terraform-runtime/tests/wake.tftest.hcl).
FRONT_ACTIONS = {
    "kms:Decrypt", "lambda:InvokeFunction", "logs:CreateLogStream", "logs:PutLogEvents",
    "s3:GetObject", "ssm:GetParameter",
}
FRONT_ENV = {"ENVIRONMENT", "STATE_BUCKET", "SCHEDULER_FUNCTION", "TOKEN_KEY_PARAMETER", "WAKE_CONFIG"}


def lambda_policy(name: str) -> list[dict[str, Any]]:
    try:
        return json.loads(client("lambda").get_policy(FunctionName=name)["Policy"])["Statement"]
    except ClientError as e:
        if e.response["Error"]["Code"] == "ResourceNotFoundException":
            return []
        raise


def source_arn(statement: dict[str, Any]) -> str | None:
    return statement.get("Condition", {}).get("ArnLike", {}).get("AWS:SourceArn")


def check_applied(spec: dict[str, Any], env: str, project: str) -> int:
    r = Report("wake")
    prefix = f"{project}-{env}"
    wake = spec.get("wake")
    if not r.check(isinstance(wake, dict), "the spec has a wake block"):
        return r.finish()
    lam, apigw = client("lambda"), client("apigatewayv2")
    scheduler_name = f"{prefix}-runtime-scheduler"
    scheduler_arn = lam.get_function(FunctionName=scheduler_name)["Configuration"]["FunctionArn"]

    # --- the function -------------------------------------------------------------------
    fn_name = f"{prefix}-wake-front"
    fn = lam.get_function(FunctionName=fn_name)["Configuration"]
    r.check(fn["Runtime"] == "provided.al2023" and fn["Handler"] == "bootstrap", f"{fn_name}: provided.al2023, bootstrap")
    sched_fn = lam.get_function(FunctionName=scheduler_name)["Configuration"]
    r.check(fn.get("Architectures") == sched_fn.get("Architectures"), f"{fn_name}: the scheduler's architecture {sched_fn.get('Architectures')}")
    variables = fn.get("Environment", {}).get("Variables", {})
    r.check(set(variables) == FRONT_ENV, f"{fn_name}: environment is exactly {sorted(FRONT_ENV)} (got {sorted(variables)})")
    r.check(variables.get("ENVIRONMENT") == env, "ENVIRONMENT")
    r.check(variables.get("SCHEDULER_FUNCTION") == scheduler_name, "SCHEDULER_FUNCTION names the scheduler")
    config = json.loads(variables.get("WAKE_CONFIG", "null"))
    r.check(config == {k: v for k, v in wake.items() if k != "front"}, f"WAKE_CONFIG equals spec.wake without front (got {config})")
    bucket = variables.get("STATE_BUCKET", "")
    r.check(client("s3").head_bucket(Bucket=bucket) is not None, f"STATE_BUCKET {bucket} exists")

    # --- its role -----------------------------------------------------------------------
    role = fn["Role"].split("/")[-1]
    iam = client("iam")
    names = iam.list_role_policies(RoleName=role)["PolicyNames"]
    attached = iam.list_attached_role_policies(RoleName=role)["AttachedPolicies"]
    r.check(role != sched_fn["Role"].split("/")[-1], f"{fn_name} has its own role ({role})")
    r.check(len(names) == 1 and not attached, f"role {role}: one inline policy, nothing attached (got {names}, {attached})")
    statements = iam.get_role_policy(RoleName=role, PolicyName=names[0])["PolicyDocument"]["Statement"] if names else []
    actions = {a for s in statements for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])}
    resources = [x for s in statements for x in ([s["Resource"]] if isinstance(s["Resource"], str) else s["Resource"])]
    r.check(actions == FRONT_ACTIONS, f"role {role} grants exactly {sorted(FRONT_ACTIONS)} (got {sorted(actions)})")
    r.check("*" not in resources, f"role {role}: no statement on every resource")
    r.check(f"{spec_bucket_arn(bucket)}/{env}/state.json" in resources, "the front reads exactly the state document")
    r.check(scheduler_arn in resources, "the front may invoke the scheduler")

    # --- the token key ------------------------------------------------------------------
    ssm = client("ssm")
    pname = variables.get("TOKEN_KEY_PARAMETER", "")
    r.check(pname == f"/{project}/{env}/wake-front/token-key", f"TOKEN_KEY_PARAMETER is /{project}/{env}/wake-front/token-key (got {pname})")
    param = ssm.get_parameter(Name=pname, WithDecryption=True)["Parameter"]
    r.check(param["Type"] == "SecureString" and re.fullmatch(r"[0-9a-f]{64}", param["Value"]) is not None, f"{pname}: a SecureString of 64 hex digits")
    meta = ssm.describe_parameters(ParameterFilters=[{"Key": "Name", "Values": [pname]}])["Parameters"]
    r.check(bool(meta) and str(meta[0].get("KeyId", "")).startswith("arn:aws:kms:"), f"{pname}: encrypted with the environment's KMS key (got {meta and meta[0].get('KeyId')})")

    # --- the HTTP API -------------------------------------------------------------------
    apis = [a for a in apigw.get_apis()["Items"] if a["Name"] == fn_name]
    if r.check(len(apis) == 1, f"one HTTP API named {fn_name} (got {len(apis)})"):
        api = apis[0]
        api_id = api["ApiId"]
        r.check(api["ProtocolType"] == "HTTP", "protocol HTTP")
        routes = apigw.get_routes(ApiId=api_id)["Items"]
        r.check([x["RouteKey"] for x in routes] == ["$default"], f"one route, $default (got {[x['RouteKey'] for x in routes]})")
        integrations = apigw.get_integrations(ApiId=api_id)["Items"]
        if r.check(len(integrations) == 1, f"one integration (got {len(integrations)})"):
            integ = integrations[0]
            r.check(routes and routes[0].get("Target") == f"integrations/{integ['IntegrationId']}", "$default targets the integration")
            r.check(integ["IntegrationType"] == "AWS_PROXY" and integ.get("PayloadFormatVersion") == "2.0", "AWS_PROXY, payload 2.0")
            r.check(fn["FunctionArn"] in integ.get("IntegrationUri", ""), f"the integration invokes {fn_name}")
        stages = apigw.get_stages(ApiId=api_id)["Items"]
        if r.check([s["StageName"] for s in stages] == ["$default"], f"one stage, $default (got {[s['StageName'] for s in stages]})"):
            st = stages[0]
            drs = st.get("DefaultRouteSettings", {})
            r.check(st.get("AutoDeploy") is True, "the stage auto-deploys")
            r.check(drs.get("ThrottlingBurstLimit") == 20 and drs.get("ThrottlingRateLimit") == 10.0, f"throttled to burst 20, 10/s (got {drs})")
            dest = st.get("AccessLogSettings", {}).get("DestinationArn", "")
            groups = client("logs").describe_log_groups(logGroupNamePrefix=f"/aws/apigateway/{fn_name}")["logGroups"]
            r.check(bool(groups) and dest.rstrip(":*") == groups[0]["arn"].rstrip(":*"), f"access logs go to /aws/apigateway/{fn_name} (got {dest})")
            r.check(bool(groups) and groups[0].get("retentionInDays") is not None, "the access log group has a retention")
        allowed = [s for s in lambda_policy(fn_name) if s.get("Principal", {}).get("Service") == "apigateway.amazonaws.com"]
        r.check(len(allowed) == 1 and f":{api_id}/" in (source_arn(allowed[0]) or ""), f"only API {api_id} may invoke {fn_name} (got {[source_arn(s) for s in allowed]})")

        # --- one custom domain per name the spec points at the front ----------------------
        listeners = spec.get("load_balancer", {}).get("listeners", [])
        certificate = next((l.get("certificate_arn") for l in listeners if l.get("certificate_arn")), None)
        for front in wake.get("front", []):
            try:
                dom = apigw.get_domain_name(DomainName=front["name"])
            except ClientError:
                r.check(False, f"custom domain {front['name']} exists")
                continue
            cfg = dom["DomainNameConfigurations"][0]
            r.check(cfg.get("EndpointType") == "REGIONAL" and cfg.get("SecurityPolicy") == "TLS_1_2", f"{front['name']}: regional, TLS 1.2")
            r.check(cfg.get("CertificateArn") == certificate, f"{front['name']}: terraform-base's certificate")
            r.check(cfg.get("ApiGatewayDomainName") == front["dns_name"] and cfg.get("HostedZoneId") == front["hosted_zone_id"],
                    f"{front['name']}: the spec's dns_name and hosted_zone_id are the domain's")
            maps = apigw.get_api_mappings(DomainName=front["name"])["Items"]
            r.check([(m["ApiId"], m["Stage"]) for m in maps] == [(api_id, "$default")], f"{front['name']} maps to the $default stage")
        if not wake.get("front"):
            print("  (spec.wake.front is empty: create_wake_domains is off here, see terraform-runtime/README.md)")

    # --- the idle signal ----------------------------------------------------------------
    alarm_name = wake.get("idle_alarm_name")
    if wake.get("idle_minutes") is None:
        r.check(alarm_name is None, "no idle alarm without idle_minutes")
        return r.finish()
    r.check(alarm_name == f"{prefix}-idle", f"idle_alarm_name is {prefix}-idle (got {alarm_name})")
    alarms = client("cloudwatch").describe_alarms(AlarmNames=[alarm_name])["MetricAlarms"]
    if r.check(len(alarms) == 1, f"alarm {alarm_name} exists"):
        a = alarms[0]
        metrics = a.get("Metrics", [])
        expr = metrics[0].get("Expression", "") if len(metrics) == 1 else ""
        r.check(expr.startswith('SELECT SUM(RequestCount) FROM SCHEMA("AWS/ApplicationELB", LoadBalancer)'), f"a Metrics Insights query over the ALB's RequestCount (got {expr!r})")
        for want in (f"tag.ManagedBy = 'runtime-scheduler'", f"tag.Environment = '{env}'", f"tag.Project = '{project}'"):
            r.check(want in expr, f"the query selects {want}")
        r.check(len(metrics) == 1 and metrics[0].get("Period") == 60 and metrics[0].get("ReturnData") is True, "one query, 60 s periods")
        n = wake["idle_minutes"]
        r.check(a["EvaluationPeriods"] == n and a.get("DatapointsToAlarm") == n, f"{n} of {n} periods (got {a['EvaluationPeriods']}, {a.get('DatapointsToAlarm')})")
        r.check(a["ComparisonOperator"] == "LessThanThreshold" and a["Threshold"] == 1.0, "fewer than 1 request")
        r.check(a.get("TreatMissingData") == "breaching", "no datapoint counts as no request")
        events = client("events")
        rule = events.describe_rule(Name=alarm_name)
        pattern = json.loads(rule["EventPattern"])
        r.check(pattern == {"source": ["aws.cloudwatch"], "detail-type": ["CloudWatch Alarm State Change"], "resources": [a["AlarmArn"]]},
                f"rule {alarm_name} matches the alarm's state changes (got {pattern})")
        targets = events.list_targets_by_rule(Rule=alarm_name)["Targets"]
        r.check(len(targets) == 1 and targets[0]["Arn"] == scheduler_arn and not targets[0].get("Input") and not targets[0].get("InputTransformer"),
                f"the rule hands the event unchanged to the scheduler (got {targets})")
        allowed = [s for s in lambda_policy(scheduler_name) if s.get("Principal", {}).get("Service") == "events.amazonaws.com"]
        r.check([source_arn(s) for s in allowed] == [rule["Arn"]], f"only the rule may invoke the scheduler for events (got {[source_arn(s) for s in allowed]})")
    return r.finish()


def spec_bucket_arn(bucket: str) -> str:
    return f"arn:aws:s3:::{bucket}"


def leftovers(project: str) -> int:
    r = Report("wake leftovers")
    apis = [a["Name"] for a in client("apigatewayv2").get_apis()["Items"] if a["Name"].startswith(project)]
    r.check(not apis, f"no HTTP API of {project} left (got {apis})")
    # The end-to-end world has no custom domain of its own: any is a leftover.
    domains = [d["DomainName"] for d in client("apigatewayv2").get_domain_names()["Items"]]
    r.check(not domains, f"no custom domain left (got {domains})")
    alarms = [a["AlarmName"] for a in client("cloudwatch").describe_alarms(AlarmNamePrefix=project)["MetricAlarms"]]
    r.check(not alarms, f"no alarm of {project} left (got {alarms})")
    rules = [x["Name"] for x in client("events").list_rules(NamePrefix=project)["Rules"]]
    r.check(not rules, f"no EventBridge rule of {project} left (got {rules})")
    return r.finish()


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("command", choices=["applied", "leftovers"])
    p.add_argument("--bucket")
    p.add_argument("--env")
    p.add_argument("--project", required=True)
    a = p.parse_args()
    if a.command == "leftovers":
        return leftovers(a.project)
    return check_applied(load_spec(a.bucket, a.env), a.env, a.project)


if __name__ == "__main__":
    sys.exit(main())
