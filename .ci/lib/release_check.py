#!/usr/bin/env python3
"""What ECS says about a service, for .ci/lib/e2e-release.sh (never what release.py or the
scheduler said about themselves).

  release_check.py expect SERVICE --cluster C [--revision N | --absent] [--desired N]
                                  [--image IMAGE] [--env-var NAME=VALUE]
  release_check.py revision SERVICE --cluster C       the revision number the service points at
  release_check.py latest FAMILY                      the family's latest ACTIVE revision number
  release_check.py image-repo SERVICE --cluster C     the ECR repository URI of its container image
  release_check.py delete SERVICE --cluster C         delete the service (it must be at 0)

Endpoint and credentials from the standard AWS_* variables. Exit 0 when every check passes.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

import boto3

ecs = boto3.client("ecs")


def service(cluster: str, name: str) -> dict[str, Any] | None:
    found = [s for s in ecs.describe_services(cluster=cluster, services=[name])["services"] if s.get("status") != "INACTIVE"]
    return found[0] if found else None


def revision(arn: str) -> int:
    return int(arn.rsplit(":", 1)[1])


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("command", choices=["expect", "revision", "latest", "image-repo", "delete"])
    p.add_argument("name")
    p.add_argument("--cluster")
    p.add_argument("--revision", type=int)
    p.add_argument("--absent", action="store_true")
    p.add_argument("--desired", type=int)
    p.add_argument("--image")
    p.add_argument("--env-var")
    a = p.parse_args()
    if a.command == "latest":
        print(revision(ecs.describe_task_definition(taskDefinition=a.name)["taskDefinition"]["taskDefinitionArn"]))
        return 0
    svc = service(a.cluster, a.name)
    if a.command == "delete":
        ecs.delete_service(cluster=a.cluster, service=a.name, force=False)
        return 0
    if a.command == "revision":
        print(revision(svc["taskDefinition"]) if svc else "none")
        return 0
    if a.command == "image-repo":
        image = ecs.describe_task_definition(taskDefinition=svc["taskDefinition"])["taskDefinition"]["containerDefinitions"][0]["image"]
        print(image.rsplit(":", 1)[0])
        return 0
    failures: list[str] = []
    if a.absent:
        if svc is not None:
            failures.append(f"service {a.name} exists (at {svc['taskDefinition']}); expected none")
    elif svc is None:
        failures.append(f"service {a.name} does not exist")
    else:
        td = ecs.describe_task_definition(taskDefinition=svc["taskDefinition"])["taskDefinition"]
        got = f"{td['family']}:{td['revision']}"
        if a.revision is not None and td["revision"] != a.revision:
            failures.append(f"{a.name} points at {got}; expected revision {a.revision}")
        if a.desired is not None and svc["desiredCount"] != a.desired:
            failures.append(f"{a.name} desired count {svc['desiredCount']}; expected {a.desired}")
        main_container = next((c for c in td["containerDefinitions"] if c["name"] == a.name), td["containerDefinitions"][0])
        if a.image and main_container["image"] != a.image:
            failures.append(f"{got} runs {main_container['image']}; expected {a.image}")
        if a.env_var:
            k, _, v = a.env_var.partition("=")
            env = {e["name"]: e["value"] for e in main_container.get("environment", [])}
            if env.get(k) != v:
                failures.append(f"{got} has {k}={env.get(k)!r}; expected {v!r} (Terraform's input)")
        if not failures:
            print(f"  ok: {a.cluster}/{a.name} -> {got}, desired {svc['desiredCount']}, image {main_container['image']}")
    for f in failures:
        print(f"  FAIL {f}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
