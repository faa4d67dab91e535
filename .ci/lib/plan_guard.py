#!/usr/bin/env python3
"""Refuse a terraform-runtime plan that the GitHub deploy role may not apply.

The deploy role cannot write IAM (a role that can change IAM policies can grant itself anything);
a plan that creates, changes or deletes an aws_iam_* resource is applied by a person with an
administrator session (`make infra-runtime-up`), then the workflow is re-run.

  plan_guard.py PLAN.json        (terraform show -json of a saved plan)
Exit 0 when the plan touches no IAM resource, 1 with the list otherwise.
"""

import json
import sys


def main(path: str) -> int:
    with open(path, encoding="utf-8") as f:
        plan = json.load(f)
    iam = [f"{rc['address']}: {'/'.join(rc['change']['actions'])}"
           for rc in plan.get("resource_changes", [])
           if rc["type"].startswith("aws_iam_") and rc["change"]["actions"] not in (["no-op"], ["read"])]
    if iam:
        print("plan_guard: this plan changes IAM, which the GitHub deploy role may not do:", file=sys.stderr)
        for line in iam:
            print(f"  {line}", file=sys.stderr)
        print("Apply it once with an administrator session (make infra-runtime-up ENV=... TF_STATE_BUCKET=...),"
              " then re-run the workflow.", file=sys.stderr)
        return 1
    changes = sum(1 for rc in plan.get("resource_changes", []) if rc["change"]["actions"] not in (["no-op"], ["read"]))
    print(f"plan_guard: {changes} change(s), none to IAM")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
