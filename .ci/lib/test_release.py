#!/usr/bin/env python3
"""Unit tests of release.py: ECS and ECR on moto (in process), the scheduler played by a small
fake that follows the deploy contract, the rollout waiter on scripted DescribeServices answers.

The end-to-end run against the real scheduler binary and Terraform's resources is
.ci/lib/e2e-release.sh; these cover the branches a moto cycle cannot reach (busy leases, failed
rollouts, circuit-breaker rollbacks, timeouts, Lambda's error envelope).

  .venv/bin/python .ci/lib/test_release.py
"""

from __future__ import annotations

import argparse
import io
import json
import os
import sys
import tempfile
import unittest
from typing import Any

os.environ.update(AWS_ACCESS_KEY_ID="test", AWS_SECRET_ACCESS_KEY="test", AWS_DEFAULT_REGION="us-east-1", AWS_REGION="us-east-1")
for k in ("AWS_ENDPOINT_URL", "AWS_PROFILE", "GITHUB_STEP_SUMMARY", "GITHUB_OUTPUT"):
    os.environ.pop(k, None)

import boto3  # noqa: E402
from moto import mock_aws  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import release  # noqa: E402
from release import Release, ReleaseError  # noqa: E402

CLUSTER = "acme-shop-demo"
REPO = "123456789012.dkr.ecr.us-east-1.amazonaws.com/acme-shop-demo/backend"


class FakeScheduler:
    """The scheduler's status and deploy actions as the contract describes them, on moto's ECS."""

    def __init__(self, ecs: Any, phase: str = "running") -> None:
        self.ecs, self.phase, self.calls = ecs, phase, []
        self.recorded: dict[str, str] = {}  # next-start revisions of services that do not exist
        self.busy = 0
        self.fail: dict[str, Any] | None = None

    def __call__(self, payload: dict[str, Any]) -> dict[str, Any]:
        self.calls.append(payload)
        if self.busy:
            self.busy -= 1
            return {"action": payload["action"], "outcome": "busy"}
        if payload["action"] == "status":
            return {"action": "status", "outcome": "reported", "phase": self.phase, "services": self.services(),
                    "next_transition": {"at": "2030-01-07T13:00:00Z", "at_local": "2030-01-07 08:00 EST", "desired": "running"}}
        if self.fail:
            return {"action": "deploy", "outcome": "failed", "phase": self.phase, "error": self.fail}
        name, arn = payload["service"], payload["task_definition"]
        svc = self.service(name)
        before = svc["taskDefinition"] if svc else self.recorded.get(name)
        if before == arn:
            outcome = "no-op"
        elif svc:
            self.ecs.update_service(cluster=CLUSTER, service=name, taskDefinition=arn)
            outcome = "applied"
        else:
            self.recorded[name] = arn
            outcome = "applied"
        mode = "rolling" if self.phase == "running" else "parked"
        if outcome == "no-op":  # the contract's repeat; a build may leave the deploy block out
            return {"action": "deploy", "outcome": outcome, "phase": self.phase}
        return {"action": "deploy", "outcome": outcome, "phase": self.phase,
                "deploy": {"service": f"{CLUSTER}/{name}", "from": before, "to": arn, "mode": mode,
                           "next_start": None if mode == "rolling" else "2030-01-07T13:00:00Z"}}

    def service(self, name: str) -> dict[str, Any] | None:
        found = [s for s in self.ecs.describe_services(cluster=CLUSTER, services=[name])["services"] if s.get("status") != "INACTIVE"]
        return found[0] if found else None

    def services(self) -> list[dict[str, Any]]:
        out = []
        for name in ("backend", "frontend"):
            svc = self.service(name)
            latest = self.ecs.describe_task_definition(taskDefinition=f"{CLUSTER}-{name}")["taskDefinition"]["taskDefinitionArn"]
            cur = svc["taskDefinition"] if svc else None
            out.append({"service": f"{CLUSTER}/{name}", "task_definition": cur,
                        "desired_count": svc["desiredCount"] if svc else 0, "running_count": svc["runningCount"] if svc else 0,
                        "next_start_task_definition": cur or self.recorded.get(name) or latest})
        return out


def container(name: str, image: str) -> dict[str, Any]:
    return {"name": name, "image": image, "essential": True, "environment": [{"name": "MODE", "value": "tf"}],
            "portMappings": [{"containerPort": 8000, "protocol": "tcp"}]}


class ReleaseTest(unittest.TestCase):
    def setUp(self) -> None:
        self.mock = mock_aws()
        self.mock.start()
        self.addCleanup(self.mock.stop)
        self.ecs = boto3.client("ecs")
        self.ecs.create_cluster(clusterName=CLUSTER)
        tags = [{"key": "Project", "value": "acme-shop"}, {"key": "Environment", "value": "demo"}, {"key": "ManagedBy", "value": "terraform"}]
        for name in ("backend", "frontend"):
            self.register(name, f"{REPO.replace('backend', name)}:v1", tags=tags)
        self.ecs.create_service(cluster=CLUSTER, serviceName="backend", taskDefinition=f"{CLUSTER}-backend:1", desiredCount=2,
                                loadBalancers=[{"targetGroupArn": "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/tg/1",
                                                "containerName": "backend", "containerPort": 8000}])
        self.scheduler = FakeScheduler(self.ecs)
        self.slept: list[float] = []
        self.rel = Release(self.scheduler, self.ecs, "demo", "octocat", sleep=self.slept.append)
        self.summary = tempfile.NamedTemporaryFile("w+", suffix=".md", delete=False)
        self.addCleanup(os.unlink, self.summary.name)
        os.environ["GITHUB_STEP_SUMMARY"] = self.summary.name
        self.addCleanup(os.environ.pop, "GITHUB_STEP_SUMMARY", None)

    def summary_text(self) -> str:
        with open(self.summary.name, encoding="utf-8") as f:
            return f.read()

    def register(self, name: str, image: str, extra: list[dict[str, Any]] | None = None, tags: list[dict[str, str]] | None = None) -> str:
        kw: dict[str, Any] = {"tags": tags} if tags else {}
        return self.ecs.register_task_definition(
            family=f"{CLUSTER}-{name}", networkMode="awsvpc", requiresCompatibilities=["FARGATE"], cpu="256", memory="512",
            taskRoleArn=f"arn:aws:iam::123456789012:role/{CLUSTER}-ecs-{name}-task",
            containerDefinitions=[container(name, image)] + (extra or []), **kw)["taskDefinition"]["taskDefinitionArn"]

    def td_of(self, name: str) -> str:
        """What ECS says, never what the script said."""
        return self.ecs.describe_services(cluster=CLUSTER, services=[name])["services"][0]["taskDefinition"]

    def args(self, **kw: Any) -> argparse.Namespace:
        base = {"service": "backend", "image": None, "task_definition": None, "revision": None, "container": None,
                "reason": None, "wait_timeout": 0, "tag": None, "context": ".", "dockerfile": "Dockerfile"}
        base.update(kw)
        return argparse.Namespace(**base)

    def run_quiet(self, fn: Any, *a: Any) -> Any:
        out = io.StringIO()
        old, sys.stdout = sys.stdout, out
        try:
            return fn(*a)
        finally:
            sys.stdout = old

    # --- deploy ---------------------------------------------------------------------------

    def test_deploy_while_running_registers_from_the_latest_active_revision_and_points_the_service_at_it(self) -> None:
        # Terraform registered revision 2 (a new environment variable) after the service took 1.
        tf2 = self.register("backend", f"{REPO}:v1", tags=[{"key": "Project", "value": "acme-shop"}, {"key": "Environment", "value": "demo"},
                                                          {"key": "ManagedBy", "value": "terraform"}])
        self.run_quiet(release.cmd_deploy, self.rel, self.args(image=f"{REPO}:v2"))
        new = self.td_of("backend")
        self.assertTrue(new.endswith(f"{CLUSTER}-backend:3"), new)
        d = self.ecs.describe_task_definition(taskDefinition=new, include=["TAGS"])
        self.assertEqual(d["taskDefinition"]["containerDefinitions"][0]["image"], f"{REPO}:v2")
        self.assertEqual(d["taskDefinition"]["taskRoleArn"], f"arn:aws:iam::123456789012:role/{CLUSTER}-ecs-backend-task")
        tags = {t["key"]: t["value"] for t in d["tags"]}
        self.assertEqual(tags, {"Project": "acme-shop", "Environment": "demo", "ManagedBy": "release", "DeployedBy": "octocat"})
        deploy = self.scheduler.calls[-1]
        self.assertEqual(deploy, {"action": "deploy", "dry_run": False, "reason": "deploy by octocat", "trigger": "manual",
                                  "environment": "demo", "service": "backend", "task_definition": new})
        self.assertNotEqual(new, tf2)
        self.assertIn("Deployed backend in demo", self.summary_text())

    def test_deploy_of_an_image_already_in_the_base_revision_registers_nothing(self) -> None:
        self.run_quiet(release.cmd_deploy, self.rel, self.args(image=f"{REPO}:v1"))
        arns = self.ecs.list_task_definitions(familyPrefix=f"{CLUSTER}-backend")["taskDefinitionArns"]
        self.assertEqual(len(arns), 1)
        self.assertEqual(self.scheduler.calls[-1]["task_definition"], arns[0])

    def test_deploy_while_asleep_parks_the_revision_and_says_until_when(self) -> None:
        self.scheduler.phase = "stopped"
        self.ecs.update_service(cluster=CLUSTER, service="backend", desiredCount=0)
        self.run_quiet(release.cmd_deploy, self.rel, self.args(image=f"{REPO}:v2"))
        self.assertTrue(self.td_of("backend").endswith(":2"))
        self.assertEqual(self.ecs.describe_services(cluster=CLUSTER, services=["backend"])["services"][0]["desiredCount"], 0)
        text = self.summary_text()
        self.assertIn("Parked until the next start", text)
        self.assertIn("2030-01-07T13:00:00Z (2030-01-07 08:00 EST)", text)

    def test_deploy_to_a_service_that_does_not_exist_yet_is_recorded_for_the_next_start(self) -> None:
        self.scheduler.phase = "stopped"
        self.run_quiet(release.cmd_deploy, self.rel, self.args(service="frontend", image=f"{REPO.replace('backend', 'frontend')}:v2"))
        self.assertTrue(self.scheduler.recorded["frontend"].endswith(f"{CLUSTER}-frontend:2"))

    def test_an_existing_revision_must_be_active_and_of_the_services_family(self) -> None:
        with self.assertRaisesRegex(ReleaseError, "belongs to acme-shop-demo-frontend"):
            self.run_quiet(release.cmd_deploy, self.rel, self.args(task_definition=f"{CLUSTER}-frontend:1"))
        two = self.register("backend", f"{REPO}:v2")
        self.ecs.deregister_task_definition(taskDefinition=two)
        with self.assertRaisesRegex(ReleaseError, "INACTIVE"):
            self.run_quiet(release.cmd_deploy, self.rel, self.args(task_definition="2"))

    def test_the_image_goes_to_the_load_balanced_container_or_the_named_one(self) -> None:
        self.register("backend", f"{REPO}:v1", extra=[container("sidecar", "public.ecr.aws/x/sidecar:1")])
        self.run_quiet(release.cmd_deploy, self.rel, self.args(image=f"{REPO}:v2"))
        images = {c["name"]: c["image"] for c in self.ecs.describe_task_definition(taskDefinition=self.td_of("backend"))["taskDefinition"]["containerDefinitions"]}
        self.assertEqual(images, {"backend": f"{REPO}:v2", "sidecar": "public.ecr.aws/x/sidecar:1"})
        with self.assertRaisesRegex(ReleaseError, "no container 'nope'"):
            self.run_quiet(release.cmd_deploy, self.rel, self.args(image=f"{REPO}:v3", container="nope"))

    def test_a_repeated_deploy_is_a_no_op_in_the_phase_it_finds(self) -> None:
        self.run_quiet(release.cmd_deploy, self.rel, self.args(task_definition="1"))
        self.assertIn("| Scheduler outcome | no-op |", self.summary_text())

    def test_aws_errors_end_the_command_with_their_code(self) -> None:
        os.environ.update(SCHEDULER_INVOKE="local:/nonexistent", STATE_BUCKET="bucket-x")
        self.addCleanup(os.environ.pop, "SCHEDULER_INVOKE", None)
        self.addCleanup(os.environ.pop, "STATE_BUCKET", None)
        err = io.StringIO()
        old, sys.stderr = sys.stderr, err
        try:
            rc = release.main(["push-image", "--service", "backend", "--tag", "x", "--invoke", "lambda:fn"])
        finally:
            sys.stderr = old
        self.assertEqual(rc, 1)
        self.assertRegex(err.getvalue(), r"release push-image: .*(ResourceNotFoundException|Function not found)")

    def test_a_failed_deploy_reports_the_step_and_the_aws_code(self) -> None:
        self.scheduler.fail = {"step": "deploy backend", "code": "AccessDeniedException", "message": "not allowed"}
        with self.assertRaisesRegex(ReleaseError, r"at step deploy backend \[AccessDeniedException\]: not allowed"):
            self.run_quiet(release.cmd_deploy, self.rel, self.args(image=f"{REPO}:v2"))

    def test_a_busy_scheduler_is_waited_for_and_then_given_up_on(self) -> None:
        self.scheduler.busy = 2
        with redirect_stderr():
            self.run_quiet(release.cmd_deploy, self.rel, self.args(image=f"{REPO}:v2"))
        self.assertEqual(self.slept[:2], [5, 10])
        self.scheduler.busy = 100
        with redirect_stderr(), self.assertRaisesRegex(ReleaseError, "stayed busy"):
            self.run_quiet(release.cmd_deploy, self.rel, self.args(image=f"{REPO}:v3"))

    def test_deploy_needs_exactly_one_of_image_and_task_definition(self) -> None:
        with self.assertRaisesRegex(ReleaseError, "exactly one"):
            release.cmd_deploy(self.rel, self.args())

    # --- rollback -------------------------------------------------------------------------

    def test_rollback_goes_to_the_active_revision_before_the_one_in_effect(self) -> None:
        two, three = self.register("backend", f"{REPO}:v2"), self.register("backend", f"{REPO}:v3")
        self.register("backend", f"{REPO}:v4")
        self.ecs.register_task_definition(family=f"{CLUSTER}-backend2", containerDefinitions=[container("x", "x:1")], cpu="256", memory="512")
        self.ecs.update_service(cluster=CLUSTER, service="backend", taskDefinition=three)
        self.ecs.deregister_task_definition(taskDefinition=two)
        os.environ["GITHUB_ACTOR"] = "octocat"
        self.run_quiet(release.cmd_rollback, self.rel, self.args(reason="500s after v3"))
        self.assertTrue(self.td_of("backend").endswith(f"{CLUSTER}-backend:1"))
        self.assertEqual(self.scheduler.calls[-1]["reason"], "rollback by octocat: 500s after v3")
        text = self.summary_text()
        self.assertIn("Rolled back backend in demo", text)
        self.assertIn("| Why | 500s after v3 |", text)
        with self.assertRaisesRegex(ReleaseError, "no ACTIVE revision of acme-shop-demo-backend before revision 1"):
            self.run_quiet(release.cmd_rollback, self.rel, self.args())

    def test_rollback_takes_the_nearest_earlier_revision_whatever_the_listing_order(self) -> None:
        for v in ("v2", "v3"):
            self.register("backend", f"{REPO}:{v}")
        self.ecs.update_service(cluster=CLUSTER, service="backend", taskDefinition=f"{CLUSTER}-backend:3")
        self.run_quiet(release.cmd_rollback, self.rel, self.args(reason="x"))
        self.assertTrue(self.td_of("backend").endswith(f"{CLUSTER}-backend:2"))

    def test_rollback_while_asleep_is_parked(self) -> None:
        two = self.register("backend", f"{REPO}:v2")
        self.ecs.update_service(cluster=CLUSTER, service="backend", taskDefinition=two, desiredCount=0)
        self.scheduler.phase = "stopped"
        self.run_quiet(release.cmd_rollback, self.rel, self.args(revision="1", reason="bad"))
        self.assertTrue(self.td_of("backend").endswith(":1"))
        self.assertIn("Parked until the next start", self.summary_text())

    # --- status and transports ------------------------------------------------------------

    def test_status_fails_the_job_on_a_failed_phase(self) -> None:
        self.assertEqual(self.run_quiet(release.cmd_status, self.rel, self.args()), 0)
        self.scheduler.phase = "failed"
        with self.assertRaisesRegex(ReleaseError, "phase 'failed'"):
            self.run_quiet(release.cmd_status, self.rel, self.args())

    def test_lambda_transport_unwraps_a_failed_run_and_rejects_other_errors(self) -> None:
        class Lam:
            def __init__(self, body: bytes, error: str | None) -> None:
                self.body, self.error = body, error

            def invoke(self, **kw: Any) -> dict[str, Any]:
                out: dict[str, Any] = {"StatusCode": 200, "Payload": io.BytesIO(self.body)}
                if self.error:
                    out["FunctionError"] = self.error
                return out

        failed = json.dumps({"outcome": "failed", "error": {"message": "x"}})
        got = release.lambda_invoker("fn", Lam(json.dumps({"errorMessage": failed, "errorType": "x"}).encode(), "Unhandled"))({})
        self.assertEqual(got["outcome"], "failed")
        with self.assertRaisesRegex(ReleaseError, "Task timed out"):
            release.lambda_invoker("fn", Lam(b'{"errorMessage": "Task timed out after 900 s"}', "Unhandled"))({})
        self.assertEqual(release.lambda_invoker("fn", Lam(b'{"outcome": "applied"}', None))({})["outcome"], "applied")

    def test_local_transport_reads_the_response_whatever_the_exit_code(self) -> None:
        class Proc:
            def __init__(self, rc: int, out: str, err: str) -> None:
                self.returncode, self.stdout, self.stderr = rc, out, err

        os.environ["STATE_BUCKET"] = "bucket-x"
        self.addCleanup(os.environ.pop, "STATE_BUCKET", None)
        seen: dict[str, Any] = {}

        def run(argv: list[str], **kw: Any) -> Proc:
            seen.update(argv=argv, env=kw["env"], input=kw["input"])
            return Proc(1, '{"outcome": "failed"}', "boom")

        self.assertEqual(release.local_invoker("/bin/rs", "demo", run)({"action": "status"})["outcome"], "failed")
        self.assertEqual(seen["argv"], ["/bin/rs", "invoke", "-"])
        self.assertEqual(json.loads(seen["input"]), {"action": "status"})
        with self.assertRaisesRegex(ReleaseError, "exited 2: invalid payload"):
            release.local_invoker("/bin/rs", "demo", lambda *a, **k: Proc(2, "", "invalid payload"))({})

    def test_push_image_never_rebuilds_an_existing_tag(self) -> None:
        ecr = boto3.client("ecr")
        ecr.create_repository(repositoryName="acme-shop-demo/backend", imageTagMutability="IMMUTABLE")
        calls: list[list[str]] = []

        class Ok:
            returncode = 0

        def run(argv: list[str], **kw: Any) -> Ok:
            calls.append(argv)
            return Ok()

        self.run_quiet(release.cmd_push_image, self.rel, self.args(tag="abc123"), ecr, run)
        self.assertEqual([c[:2] for c in calls], [["docker", "login"], ["docker", "build"], ["docker", "push"]])
        self.assertEqual(calls[2][2], f"{REPO}:abc123")
        ecr.put_image(repositoryName="acme-shop-demo/backend", imageTag="abc123", imageManifest=json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.docker.distribution.manifest.v2+json", "config": {}, "layers": []}))
        calls.clear()
        self.run_quiet(release.cmd_push_image, self.rel, self.args(tag="abc123"), ecr, run)
        self.assertEqual(calls, [])
        with self.assertRaisesRegex(ReleaseError, "not a valid image tag"):
            release.cmd_push_image(self.rel, self.args(tag="bad tag"), ecr, run)


class WaitRolloutTest(unittest.TestCase):
    TARGET = "arn:aws:ecs:us-east-1:123456789012:task-definition/f:2"

    def rel(self, answers: list[dict[str, Any]]) -> Release:
        class Ecs:
            def describe_services(self, **kw: Any) -> dict[str, Any]:
                return {"services": [answers.pop(0) if len(answers) > 1 else answers[0]]}

        now = [0.0]

        def sleep(s: float) -> None:
            now[0] += s

        return Release(lambda p: {}, Ecs(), "demo", "x", sleep=sleep, clock=lambda: now[0])

    def svc(self, td: str, *deps: dict[str, Any]) -> dict[str, Any]:
        return {"taskDefinition": td, "deployments": list(deps)}

    def dep(self, td: str, state: str | None, status: str = "PRIMARY", running: int = 2, **kw: Any) -> dict[str, Any]:
        d = {"id": "ecs-svc/1", "taskDefinition": td, "status": status, "runningCount": running, "desiredCount": 2, **kw}
        if state:
            d["rolloutState"] = state
        return d

    def test_waits_until_the_deployment_completes(self) -> None:
        old = "arn:aws:ecs:us-east-1:123456789012:task-definition/f:1"
        answers = [self.svc(self.TARGET, self.dep(self.TARGET, "IN_PROGRESS", running=0), self.dep(old, "COMPLETED", "ACTIVE")),
                   self.svc(self.TARGET, self.dep(self.TARGET, "COMPLETED"))]
        with redirect_stderr():
            self.assertIn("COMPLETED: 2/2", self.rel(answers).wait_rollout("c", "s", self.TARGET, 600))

    def test_a_tripped_circuit_breaker_fails_with_its_reason(self) -> None:
        answers = [self.svc(self.TARGET, self.dep(self.TARGET, "FAILED", "ACTIVE", rolloutStateReason="ECS deployment circuit breaker: tasks failed to start."))]
        with self.assertRaisesRegex(ReleaseError, "FAILED: ECS deployment circuit breaker"):
            self.rel(answers).wait_rollout("c", "s", self.TARGET, 600)

    def test_a_service_rolled_back_to_another_revision_fails(self) -> None:
        old = "arn:aws:ecs:us-east-1:123456789012:task-definition/f:1"
        with self.assertRaisesRegex(ReleaseError, "no longer points at"):
            self.rel([self.svc(old, self.dep(old, "COMPLETED"))]).wait_rollout("c", "s", self.TARGET, 600)

    def test_gives_up_after_the_timeout(self) -> None:
        with redirect_stderr(), self.assertRaisesRegex(ReleaseError, "did not complete within 60 s"):
            self.rel([self.svc(self.TARGET, self.dep(self.TARGET, "IN_PROGRESS", running=1))]).wait_rollout("c", "s", self.TARGET, 60)

    def test_without_a_circuit_breaker_one_fully_running_deployment_is_stable(self) -> None:
        self.assertIn("stable", self.rel([self.svc(self.TARGET, self.dep(self.TARGET, None))]).wait_rollout("c", "s", self.TARGET, 60))


class redirect_stderr:
    def __enter__(self) -> None:
        self.old, sys.stderr = sys.stderr, io.StringIO()

    def __exit__(self, *exc: Any) -> None:
        sys.stderr = self.old


if __name__ == "__main__":
    unittest.main(verbosity=1)
