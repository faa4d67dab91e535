#!/usr/bin/env python3
"""Ship a service revision through the runtime scheduler, whether the tier runs or sleeps.

The one implementation of deploy and rollback: `make deploy` / `make rollback` call it, the
GitHub workflows call those make targets, and the moto end-to-end run (.ci/lib/e2e-release.sh)
calls the same targets. Nothing here changes an ECS service itself: the scheduler's `deploy`
action does that under its lease, with a history record, in the phase it knows the tier is in.

  release.py deploy    --service S (--image REF | --task-definition TD) [--container C]
  release.py rollback  --service S [--revision N|family:N|ARN]
  release.py status                      phase, services, next transition; exit 1 on `failed`
  release.py push-image --service S --tag T [--context DIR] [--dockerfile F]
                                         docker build + push to the service's ECR repository
                                         (skipped when the immutable tag already exists)

Every option also reads an environment variable (the make targets export them, so workflows
pass untrusted text through `env:`, never through a command line):
  ENV SERVICE IMAGE TASK_DEFINITION REVISION CONTAINER REASON WAIT_TIMEOUT TAG CONTEXT DOCKERFILE
  SCHEDULER_INVOKE   lambda:<function name>   boto3 lambda.invoke, RequestResponse
                     local:<path to binary>   `<binary> invoke -` with the payload on stdin (needs
                                              STATE_BUCKET; ENVIRONMENT defaults to ENV)
  GITHUB_ACTOR, GITHUB_STEP_SUMMARY, GITHUB_OUTPUT, GITHUB_SERVER_URL, GITHUB_REPOSITORY, GITHUB_RUN_ID

Exit status 0 when the revision is deployed (rolled out, or parked until the next start), 1 with
one clear message otherwise, 2 on bad usage.
"""

from __future__ import annotations

import argparse
import base64
import copy
import json
import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass, field
from typing import Any, Callable

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

Payload = dict[str, Any]
Invoker = Callable[[Payload], Payload]

# A deploy during a scheduled start or stop finds the scheduler's lease taken ("busy"); the
# start takes minutes on AWS, so the deploy waits for it instead of failing.
BUSY_RETRIES = 12
BUSY_BACKOFF_SECONDS = (5, 10, 20, 30, 30, 30, 30, 30, 30, 30, 30, 30)
REASON_MAX = 512
POLL_SECONDS = 15
# Tags on the revisions this script registers: the base revision's (Project, Environment, ...;
# the deploy role's policy requires Project and Environment on RegisterTaskDefinition), with
# ManagedBy saying who registered it.
MANAGED_BY = "release"


class ReleaseError(Exception):
    """A failure with a message meant for the person who ran the deploy."""


# --- talking to the scheduler -----------------------------------------------------------------


def lambda_invoker(function: str, client: Any = None) -> Invoker:
    """Synchronous invoke. A scheduler run that ends `failed` fails the invocation (the function
    returns an error so EventBridge retries it); its errorMessage is then the response JSON."""
    lam = client or boto3.client("lambda", config=Config(read_timeout=905, retries={"max_attempts": 2}))

    def invoke(payload: Payload) -> Payload:
        resp = lam.invoke(FunctionName=function, InvocationType="RequestResponse", Payload=json.dumps(payload).encode())
        body = resp["Payload"].read()
        if resp.get("FunctionError"):
            try:
                message = json.loads(body).get("errorMessage", "")
            except (ValueError, AttributeError):
                message = body.decode(errors="replace")
            try:
                inner = json.loads(message)
            except ValueError:
                inner = None
            if isinstance(inner, dict) and "outcome" in inner:
                return inner
            raise ReleaseError(f"the scheduler function {function} failed ({resp['FunctionError']}): {message}")
        try:
            return json.loads(body)
        except ValueError as e:
            raise ReleaseError(f"the scheduler function {function} answered something that is not JSON: {body[:300]!r}") from e

    return invoke


def local_invoker(binary: str, env: str | None, run: Callable[..., Any] = subprocess.run) -> Invoker:
    """The same handler as the Lambda function, run once on this machine (local AWS, tests)."""
    child_env = dict(os.environ)
    if env and not child_env.get("ENVIRONMENT"):
        child_env["ENVIRONMENT"] = env
    if not child_env.get("STATE_BUCKET"):
        raise ReleaseError("SCHEDULER_INVOKE=local:... needs STATE_BUCKET (the scheduler's state bucket)")

    def invoke(payload: Payload) -> Payload:
        proc = run([binary, "invoke", "-"], input=json.dumps(payload), capture_output=True, text=True,
                   env=child_env, timeout=960, check=False)
        try:
            return json.loads(proc.stdout)
        except ValueError:
            raise ReleaseError(f"{binary} invoke exited {proc.returncode}: {proc.stderr.strip() or proc.stdout.strip()}") from None

    return invoke


def make_invoker(spec: str | None, env: str | None) -> Invoker:
    if not spec:
        raise ReleaseError("set SCHEDULER_INVOKE to lambda:<function name> or local:<path to runtime-scheduler>")
    kind, _, target = spec.partition(":")
    if kind == "lambda" and target:
        return lambda_invoker(target)
    if kind == "local" and target:
        return local_invoker(target, env)
    raise ReleaseError(f"SCHEDULER_INVOKE={spec!r}: expected lambda:<function name> or local:<path>")


def call(invoke: Invoker, payload: Payload, sleep: Callable[[float], None] = time.sleep) -> Payload:
    """Invoke, waiting out a held lease; `busy` means nothing was changed, so a retry is safe."""
    for attempt in range(BUSY_RETRIES + 1):
        response = invoke(payload)
        if response.get("outcome") != "busy":
            return response
        if attempt < BUSY_RETRIES:
            delay = BUSY_BACKOFF_SECONDS[min(attempt, len(BUSY_BACKOFF_SECONDS) - 1)]
            print(f"  the scheduler is busy (another run holds its lease); retrying in {delay} s", file=sys.stderr)
            sleep(delay)
    raise ReleaseError(f"the scheduler stayed busy for {sum(BUSY_BACKOFF_SECONDS)} s; try again when its current run has finished")


def failure_text(response: Payload) -> str:
    err = response.get("error") or {}
    where = f" at step {err['step']}" if err.get("step") else ""
    code = f" [{err['code']}]" if err.get("code") else ""
    return f"outcome {response.get('outcome')!r}{where}{code}: {err.get('message') or 'no error message'}"


# --- ECS ----------------------------------------------------------------------------------------


def family_and_revision(arn: str) -> tuple[str, int]:
    """`arn:...:task-definition/<family>:<revision>` or `<family>:<revision>`."""
    tail = arn.rsplit("/", 1)[-1]
    fam, _, rev = tail.rpartition(":")
    if not fam or not rev.isdigit():
        raise ReleaseError(f"{arn!r} is not a task definition revision (family:revision or its ARN)")
    return fam, int(rev)


@dataclass
class ServiceView:
    """One service of the spec as the scheduler and ECS see it right now."""

    name: str
    cluster: str
    family: str
    current: str | None  # what the ECS service points at; None when no service exists
    next_start: str | None  # what the next start runs (the scheduler's answer)
    lb_container: str | None
    desired: int | None
    running: int | None
    status: Payload = field(repr=False, default_factory=dict)

    @property
    def effective(self) -> str | None:
        """The revision in effect: the service's, or the one recorded for the next start."""
        return self.current or self.next_start

    @property
    def phase(self) -> str:
        return str(self.status.get("phase", "unknown"))


class Release:
    def __init__(self, invoke: Invoker, ecs: Any, env: str | None, actor: str,
                 sleep: Callable[[float], None] = time.sleep, clock: Callable[[], float] = time.monotonic) -> None:
        self.invoke, self.ecs, self.env, self.actor = invoke, ecs, env, actor
        self.sleep, self.clock = sleep, clock

    def _payload(self, action: str, reason: str, **extra: Any) -> Payload:
        p: Payload = {"action": action, "dry_run": False, "reason": reason[:REASON_MAX], "trigger": "manual", **extra}
        if self.env:
            p["environment"] = self.env
        return p

    def status(self) -> Payload:
        response = call(self.invoke, self._payload("status", f"release status by {self.actor}"), self.sleep)
        if response.get("outcome") == "failed":
            raise ReleaseError(f"status failed: {failure_text(response)}")
        return response

    def view(self, name: str) -> ServiceView:
        status = self.status()
        entries = status.get("services")
        if entries is None:
            raise ReleaseError("the scheduler's status has no 'services': it predates the deploy action; deploy a newer build first")
        match = [e for e in entries if str(e.get("service", "")).rsplit("/", 1)[-1] == name]
        if not match:
            known = ", ".join(sorted(str(e.get("service", "")).rsplit("/", 1)[-1] for e in entries)) or "none"
            raise ReleaseError(f"service {name!r} is not in the runtime spec (services: {known})")
        entry = match[0]
        cluster = str(entry["service"]).rsplit("/", 1)[0]
        found = [s for s in self.ecs.describe_services(cluster=cluster, services=[name])["services"]
                 if s.get("status") != "INACTIVE"]
        svc = found[0] if found else None
        current = svc["taskDefinition"] if svc else None
        reference = current or entry.get("next_start_task_definition") or entry.get("task_definition")
        if not reference:
            raise ReleaseError(f"neither ECS nor the scheduler knows a task definition for {name}")
        family = self.ecs.describe_task_definition(taskDefinition=reference)["taskDefinition"]["family"]
        lbs = (svc or {}).get("loadBalancers") or []
        return ServiceView(
            name=name, cluster=cluster, family=family, current=current,
            next_start=entry.get("next_start_task_definition"),
            lb_container=lbs[0].get("containerName") if lbs else None,
            desired=svc["desiredCount"] if svc else None, running=svc["runningCount"] if svc else None,
            status=status,
        )

    # --- revisions --------------------------------------------------------------------------

    def register_image(self, view: ServiceView, image: str, container: str | None) -> tuple[str, bool]:
        """A new revision of the family's latest ACTIVE one with `image` in one container.

        The base is the latest ACTIVE revision, not the service's: a revision Terraform registered
        since (an environment variable, a role, a size) is kept, and the image is the only change.
        Returns the ARN and whether it was registered now (False: the base already has the image)."""
        described = self.ecs.describe_task_definition(taskDefinition=view.family, include=["TAGS"])
        base, tags = described["taskDefinition"], described.get("tags") or []
        names = [c["name"] for c in base["containerDefinitions"]]
        target = container or view.lb_container or (names[0] if len(names) == 1 else None)
        if target is None:
            raise ReleaseError(f"{view.family} has containers {names}: say which one gets the image (CONTAINER=...)")
        if target not in names:
            raise ReleaseError(f"{view.family} has no container {target!r} (containers: {names})")
        if next(c for c in base["containerDefinitions"] if c["name"] == target)["image"] == image:
            return base["taskDefinitionArn"], False
        allowed = set(self.ecs.meta.service_model.operation_model("RegisterTaskDefinition").input_shape.members)
        request = {k: copy.deepcopy(v) for k, v in base.items() if k in allowed and k not in ("tags",)}
        for c in request["containerDefinitions"]:
            if c["name"] == target:
                c["image"] = image
        new_tags = [t for t in tags if t["key"] not in ("ManagedBy", "DeployedBy")]
        new_tags += [{"key": "ManagedBy", "value": MANAGED_BY}, {"key": "DeployedBy", "value": tag_value(self.actor)}]
        registered = self.ecs.register_task_definition(**request, tags=new_tags)["taskDefinition"]
        return registered["taskDefinitionArn"], True

    def resolve(self, view: ServiceView, ref: str) -> str:
        """An existing ACTIVE revision of the service's family, as an ARN."""
        if ref.isdigit():
            ref = f"{view.family}:{ref}"
        td = self.ecs.describe_task_definition(taskDefinition=ref)["taskDefinition"]
        if td["family"] != view.family:
            raise ReleaseError(f"{td['taskDefinitionArn']} belongs to {td['family']}, not to {view.name}'s family {view.family}")
        if td.get("status") != "ACTIVE":
            raise ReleaseError(f"{td['taskDefinitionArn']} is {td.get('status')}: only ACTIVE revisions are deployed")
        return td["taskDefinitionArn"]

    def previous(self, view: ServiceView) -> str:
        """The ACTIVE revision of the family just before the one in effect."""
        if not view.effective:
            raise ReleaseError(f"{view.name} has no revision in effect to roll back from")
        _, current = family_and_revision(view.effective)
        # Not the first match of a DESC listing: familyPrefix also matches longer family names,
        # and the order is the API's promise, not one every implementation keeps.
        earlier = [(rev, arn)
                   for page in self.ecs.get_paginator("list_task_definitions").paginate(familyPrefix=view.family, status="ACTIVE")
                   for arn in page["taskDefinitionArns"]
                   for fam, rev in [family_and_revision(arn)] if fam == view.family and rev < current]
        if earlier:
            return max(earlier)[1]
        raise ReleaseError(f"no ACTIVE revision of {view.family} before revision {current}: name one with REVISION=...")

    # --- the deploy itself ------------------------------------------------------------------

    def ship(self, view: ServiceView, arn: str, reason: str, wait_timeout: int) -> Payload:
        response = call(self.invoke, self._payload("deploy", reason, service=view.name, task_definition=arn), self.sleep)
        if response.get("outcome") not in ("applied", "no-op"):
            raise ReleaseError(f"the scheduler did not deploy {arn} to {view.name}: {failure_text(response)}")
        deploy = response.get("deploy") or {}
        mode = deploy.get("mode")
        if mode is None and response.get("outcome") == "no-op":
            # Already deployed: the phase says whether it runs now or at the next start.
            mode = "rolling" if response.get("phase") == "running" else "parked"
        result = {"service": view.name, "cluster": view.cluster, "outcome": response.get("outcome"), "mode": mode,
                  "from": deploy.get("from"), "to": deploy.get("to") or arn, "next_start": deploy.get("next_start"),
                  "phase": response.get("phase"), "warnings": response.get("warnings") or [], "rollout": None}
        if mode == "rolling":
            if wait_timeout <= 0:
                result["rollout"] = "not waited for (WAIT_TIMEOUT=0)"
            else:
                result["rollout"] = self.wait_rollout(view.cluster, view.name, result["to"], wait_timeout)
        elif mode != "parked":
            raise ReleaseError(f"the scheduler answered deploy mode {mode!r}; expected 'rolling' or 'parked'")
        return result

    def wait_rollout(self, cluster: str, name: str, target: str, timeout: int) -> str:
        """Until ECS reports the deployment of `target` COMPLETED; fail on FAILED (circuit breaker
        or deployment alarm, after which ECS rolls back) or when something else replaced it."""
        deadline = self.clock() + timeout
        last = ""
        while True:
            svc = self.ecs.describe_services(cluster=cluster, services=[name])["services"][0]
            deployments = svc.get("deployments") or []
            mine = next((d for d in deployments if d.get("taskDefinition") == target), None)
            if mine is None and svc.get("taskDefinition") != target:
                raise ReleaseError(f"{name} no longer points at {target} but at {svc.get('taskDefinition')}: "
                                   "ECS rolled it back or a newer deploy replaced it")
            if mine is not None:
                state = mine.get("rolloutState")
                if state == "FAILED":
                    raise ReleaseError(f"the deployment of {target} to {name} FAILED: {mine.get('rolloutStateReason', 'no reason given')} "
                                       "(with the circuit breaker's rollback on, ECS returns the service to the previous revision)")
                if state == "COMPLETED" and mine.get("status") == "PRIMARY":
                    return f"COMPLETED: {mine.get('runningCount')}/{mine.get('desiredCount')} tasks of {target}"
                # Without a circuit breaker ECS reports no rolloutState: stable means one deployment, all running.
                if state is None and mine.get("status") == "PRIMARY" and len(deployments) == 1 \
                        and mine.get("runningCount") == mine.get("desiredCount"):
                    return f"stable: {mine.get('runningCount')}/{mine.get('desiredCount')} tasks of {target}"
                progress = f"{state or 'no rollout state'}: {mine.get('runningCount')}/{mine.get('desiredCount')} running, {len(deployments)} deployments"
            else:
                progress = "waiting for ECS to start the deployment"
            if self.clock() >= deadline:
                raise ReleaseError(f"the deployment of {target} to {name} did not complete within {timeout} s ({progress}); "
                                   "ECS keeps rolling it, or rolls it back if the circuit breaker trips")
            if progress != last:
                print(f"  {name}: {progress}", file=sys.stderr)
                last = progress
            self.sleep(POLL_SECONDS)


def tag_value(text: str) -> str:
    """ECS tag values: letters, digits, spaces and + - = . _ : / @, at most 256."""
    return re.sub(r"[^\w .:/=+@-]", "_", text)[:256] or "unknown"


# --- reporting ------------------------------------------------------------------------------------


def run_url() -> str | None:
    server, repo, run = (os.environ.get(k) for k in ("GITHUB_SERVER_URL", "GITHUB_REPOSITORY", "GITHUB_RUN_ID"))
    return f"{server}/{repo}/actions/runs/{run}" if server and repo and run else None


def next_start_text(result: Payload, status: Payload) -> str:
    at = result.get("next_start")
    nxt = status.get("next_transition") or {}
    local = nxt.get("at_local") if nxt.get("desired") in ("running", "start") else None
    if at and local:
        return f"{at} ({local})"
    if at:
        return str(at)
    return "not scheduled: the next manual start (`make infra-runtime-up`, or invoke start)"


def report(title: str, result: Payload, view: ServiceView, extra: list[tuple[str, str]]) -> str:
    rows: list[tuple[str, str]] = [("Service", f"`{result['cluster']}/{result['service']}`"), ("Tier", view.phase)]
    rows += extra
    rows += [("From", f"`{result.get('from') or '(none)'}`"), ("To", f"`{result['to']}`"),
             ("Scheduler outcome", str(result.get("outcome")))]
    if result["mode"] == "rolling":
        rows.append(("Rollout", str(result.get("rollout"))))
    lines = [f"### {title}", ""]
    if result["mode"] == "parked":
        lines += [f"> **Parked until the next start.** The tier is asleep; the service stays at 0 tasks and "
                  f"runs this revision when the tier next starts: **{next_start_text(result, view.status)}**.", ""]
    lines += ["| | |", "|---|---|"] + [f"| {k} | {v} |" for k, v in rows]
    for w in result.get("warnings") or []:
        lines.append(f"\n> warning: {w}")
    url = run_url()
    if url:
        lines.append(f"\n[This run]({url}) · the scheduler's history (`<env>/history/` in its state bucket) keeps the reason.")
    return "\n".join(lines) + "\n"


def publish(markdown: str) -> None:
    print(markdown)
    path = os.environ.get("GITHUB_STEP_SUMMARY")
    if path:
        with open(path, "a", encoding="utf-8") as f:
            f.write(markdown + "\n")


def set_output(name: str, value: str) -> None:
    path = os.environ.get("GITHUB_OUTPUT")
    if path:
        with open(path, "a", encoding="utf-8") as f:
            f.write(f"{name}={value}\n")


# --- commands -------------------------------------------------------------------------------------


def cmd_deploy(rel: Release, a: argparse.Namespace) -> int:
    if bool(a.image) == bool(a.task_definition):
        raise ReleaseError("give exactly one of IMAGE (registers a new revision) or TASK_DEFINITION (an existing one)")
    view = rel.view(a.service)
    if a.image:
        arn, registered = rel.register_image(view, a.image, a.container)
        what = ("Image", f"`{a.image}` ({'registered' if registered else 'already in'} `{arn.rsplit('/', 1)[-1]}`)")
    else:
        arn = rel.resolve(view, a.task_definition)
        what = ("Task definition", f"`{arn.rsplit('/', 1)[-1]}`")
    reason = a.reason or f"deploy by {rel.actor}"
    result = rel.ship(view, arn, reason, a.wait_timeout)
    verb = "Parked" if result["mode"] == "parked" else "Deployed"
    publish(report(f"{verb} {a.service} in {rel.env or 'the environment'}", result, view,
                   [what, ("By", rel.actor), ("Reason", reason)]))
    set_output("task_definition", result["to"])
    return 0


def cmd_rollback(rel: Release, a: argparse.Namespace) -> int:
    view = rel.view(a.service)
    arn = rel.resolve(view, a.revision) if a.revision else rel.previous(view)
    why = a.reason or "no reason given"
    reason = f"rollback by {rel.actor}: {why}"
    result = rel.ship(view, arn, reason, a.wait_timeout)
    publish(report(f"Rolled back {a.service} in {rel.env or 'the environment'}", result, view,
                   [("Rolled back by", rel.actor), ("Why", why), ("Target", "named" if a.revision else "the previous ACTIVE revision")]))
    set_output("task_definition", result["to"])
    return 0


def cmd_status(rel: Release, a: argparse.Namespace) -> int:
    s = rel.status()
    nxt = s.get("next_transition") or {}
    lines = ["### Runtime tier", "", "| | |", "|---|---|", f"| Phase | {s.get('phase')} |",
             f"| Next transition | {nxt.get('desired', '-')} at {nxt.get('at_local') or nxt.get('at') or '-'} |", ""]
    services = s.get("services") or []
    if services:
        lines += ["| Service | Task definition | Next start runs | Desired | Running |", "|---|---|---|---|---|"]
        for e in services:
            short = lambda v: f"`{str(v).rsplit('/', 1)[-1]}`" if v else "-"  # noqa: E731
            lines.append(f"| `{e.get('service')}` | {short(e.get('task_definition'))} | {short(e.get('next_start_task_definition'))} "
                         f"| {e.get('desired_count', '-')} | {e.get('running_count', '-')} |")
    publish("\n".join(lines) + "\n")
    if s.get("phase") == "failed":
        last = (s.get("last_transition") or {}).get("error") or s.get("error") or {}
        raise ReleaseError(f"the tier is in phase 'failed' ({last.get('message', 'see the scheduler log and history')})")
    return 0


def cmd_push_image(rel: Release, a: argparse.Namespace, ecr: Any = None,
                   run: Callable[..., Any] = subprocess.run) -> int:
    """docker build and push to the service's repository, tagged TAG (immutable: an existing tag
    is never rebuilt, so a re-run of the same commit deploys the image that was tested)."""
    if not a.tag or not re.fullmatch(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}", a.tag):
        raise ReleaseError(f"TAG={a.tag!r} is not a valid image tag (use the commit SHA)")
    view = rel.view(a.service)
    base = rel.ecs.describe_task_definition(taskDefinition=view.family)["taskDefinition"]
    names = [c["name"] for c in base["containerDefinitions"]]
    target = a.container or view.lb_container or (names[0] if len(names) == 1 else None)
    image = next((c["image"] for c in base["containerDefinitions"] if c["name"] == target), None)
    if not image or ".dkr.ecr." not in image:
        raise ReleaseError(f"cannot tell {a.service}'s ECR repository from its task definition (container {target}: {image})")
    repo_uri = image.split("@", 1)[0]
    if ":" in repo_uri.rsplit("/", 1)[-1]:
        repo_uri = repo_uri.rsplit(":", 1)[0]
    registry, repo_name = repo_uri.split("/", 1)
    ecr = ecr or boto3.client("ecr")
    ref = f"{repo_uri}:{a.tag}"
    try:
        ecr.describe_images(repositoryName=repo_name, imageIds=[{"imageTag": a.tag}])
        print(f"{ref} exists already (tags are immutable): not rebuilt")
    except ecr.exceptions.ImageNotFoundException:
        token = ecr.get_authorization_token()["authorizationData"][0]["authorizationToken"]
        password = base64.b64decode(token).decode().split(":", 1)[1]
        for argv, stdin in ((["docker", "login", "--username", "AWS", "--password-stdin", registry], password),
                            (["docker", "build", "--file", a.dockerfile, "--tag", ref, a.context], None),
                            (["docker", "push", ref], None)):
            if run(argv, input=stdin, text=True, check=False).returncode != 0:
                raise ReleaseError(f"{' '.join(argv[:2])} failed")
    set_output("image", ref)
    print(ref)
    return 0


def main(argv: list[str] | None = None) -> int:
    env = os.environ.get
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("command", choices=["deploy", "rollback", "status", "push-image"])
    p.add_argument("--env", default=env("ENV"))
    p.add_argument("--service", default=env("SERVICE"))
    p.add_argument("--image", default=env("IMAGE"))
    p.add_argument("--task-definition", default=env("TASK_DEFINITION"))
    p.add_argument("--revision", default=env("REVISION"))
    p.add_argument("--container", default=env("CONTAINER"))
    p.add_argument("--reason", default=env("REASON"))
    p.add_argument("--wait-timeout", type=int, default=int(env("WAIT_TIMEOUT") or 900))
    p.add_argument("--tag", default=env("TAG"))
    p.add_argument("--context", default=env("CONTEXT") or ".")
    p.add_argument("--dockerfile", default=env("DOCKERFILE") or "Dockerfile")
    p.add_argument("--invoke", default=env("SCHEDULER_INVOKE"))
    p.add_argument("--actor", default=env("GITHUB_ACTOR") or env("USER") or "unknown")
    a = p.parse_args(argv)
    for k in ("image", "task_definition", "revision", "container", "reason", "tag"):
        if getattr(a, k) == "":
            setattr(a, k, None)
    if a.command != "status" and not a.service:
        p.error("SERVICE is required")
    try:
        rel = Release(make_invoker(a.invoke, a.env), boto3.client("ecs"), a.env, a.actor)
        return {"deploy": cmd_deploy, "rollback": cmd_rollback, "status": cmd_status,
                "push-image": cmd_push_image}[a.command](rel, a)
    except (ReleaseError, ClientError, BotoCoreError) as e:
        if isinstance(e, ClientError):
            err = e.response.get("Error", {})
            e = ReleaseError(f"{e.operation_name} failed: {err.get('Code')}: {err.get('Message')}")
        print(f"release {a.command}: {e}", file=sys.stderr)
        path = os.environ.get("GITHUB_STEP_SUMMARY")
        if path:
            with open(path, "a", encoding="utf-8") as f:
                f.write(f"### {a.command} {a.service or ''} failed\n\n{e}\n")
        return 1


if __name__ == "__main__":
    sys.exit(main())
