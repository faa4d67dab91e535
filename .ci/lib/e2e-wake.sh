#!/usr/bin/env bash
# Wake on request and sleep when idle (issue 9) in the Terraform end-to-end run. Sourced by
# terraform-e2e.sh, which calls each function with one line; they use its PY, WORK, BUCKET,
# ENVIRONMENT, PROJECT, die and tf. Both roots are applied once: these only describe.
#
#   e2e_wake_applied     after apply: the HTTP API, route, integration, stage, domains and
#                        mappings (when the spec lists any), the wake-front function, its role
#                        and token key, the idle alarm and its EventBridge rule exist and match
#                        <env>/spec.json (.ci/lib/wake_check.py)
#   e2e_wake_leftovers   after destroy: none of them is left
#
# What the local AWS (moto 5.2) cannot serve is turned off in the local tfvars
# (terraform-local.sh) and listed in terraform-runtime/README.md: the custom domains.

e2e_wake_applied() {
  local outputs="$WORK/runtime-outputs.json"
  tf terraform-runtime output -json >"$outputs"
  "$PY" - "$outputs" <<'PYEOF' || die "terraform-runtime outputs do not show the wake front (see $outputs)"
import json, sys
out = {k: v["value"] for k, v in json.load(open(sys.argv[1])).items()}
missing = [k for k in ("wake_front_url", "wake_front_function_name", "wake_token_key_parameter_name", "idle_alarm_name") if not out.get(k)]
if missing:
    sys.exit(f"outputs without a value: {missing} (are enable_wake_on_request and idle_minutes set in the local tfvars?)")
print(f"front {out['wake_front_function_name']} at {out['wake_front_url']}; idle alarm {out['idle_alarm_name']}")
PYEOF
  PYTHONDONTWRITEBYTECODE=1 "$PY" .ci/lib/wake_check.py applied --bucket "$BUCKET" --env "$ENVIRONMENT" --project "$PROJECT"
}

e2e_wake_leftovers() {
  PYTHONDONTWRITEBYTECODE=1 "$PY" .ci/lib/wake_check.py leftovers --project "$PROJECT"
}
