#!/usr/bin/env bash
# Applies terraform-base and terraform-runtime from a clean state against a private moto server,
# cycles the tier with the scheduler binary (start, stop, start, stop), checks every step by
# describing resources, compares the role's actions with the code's, then destroys both roots
# and checks that nothing of the project is left.
#
#   SCHEDULER_BIN=target/debug/runtime-scheduler   the binary (`invoke -`, `permissions`)
#   E2E_SIMULATE_SCHEDULER=1   no binary yet: a boto3 stand-in plays the scheduler (tests the checks)
#   E2E_KEEP=1                 keep moto running and the work directory after the run
#
# Works on copies of the roots under .tmp/e2e/, so the working tree is never touched and
# terraform-checks.sh can run at the same time.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$REPO"
# shellcheck source=terraform-local.sh
. .ci/lib/terraform-local.sh
# shellcheck source=e2e-ops.sh
. .ci/lib/e2e-ops.sh
# shellcheck source=e2e-release.sh
. .ci/lib/e2e-release.sh
# shellcheck source=e2e-wake.sh
. .ci/lib/e2e-wake.sh

PY="$REPO/.venv/bin/python"
MOTO="$REPO/.venv/bin/moto_server"
SCHEDULER_BIN="${SCHEDULER_BIN:-target/debug/runtime-scheduler}"
[[ "$SCHEDULER_BIN" = /* ]] || SCHEDULER_BIN="$REPO/$SCHEDULER_BIN"
SIMULATE="${E2E_SIMULATE_SCHEDULER:-0}"
PROJECT="$TF_LOCAL_PROJECT"
ENVIRONMENT="$TF_LOCAL_ENVIRONMENT"
ZONE="$TF_LOCAL_ZONE"
BACKEND_BUCKET="$TF_LOCAL_BACKEND_BUCKET"

log() { printf '\n== %s\n' "$*"; }
die() { printf 'terraform-e2e: %s\n' "$*" >&2; exit 1; }

[[ -x "$PY" && -x "$MOTO" ]] || die "no .venv with moto and boto3: run 'make venv' first"
if [[ "$SIMULATE" != 1 && ! -x "$SCHEDULER_BIN" ]]; then
  die "no scheduler binary at $SCHEDULER_BIN: build it (cargo build), set SCHEDULER_BIN, or set E2E_SIMULATE_SCHEDULER=1 to exercise the checks with a boto3 stand-in"
fi
tf_local_cli_config >/dev/null

# --- moto on a free loopback port ---------------------------------------------------------
PORT="$("$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
ENDPOINT="http://127.0.0.1:$PORT"
WORK="$REPO/.tmp/e2e/run-$PORT"
mkdir -p "$WORK"
TIMINGS="$WORK/timings.txt"
: >"$TIMINGS"

MOTO_PID=""
cleanup() {
  local rc=$?
  if [[ "${E2E_KEEP:-0}" == 1 ]]; then
    echo "E2E_KEEP=1: moto (pid $MOTO_PID) still serves $ENDPOINT; work directory $WORK" >&2
  else
    [[ -n "$MOTO_PID" ]] && kill "$MOTO_PID" 2>/dev/null && wait "$MOTO_PID" 2>/dev/null
    [[ $rc == 0 ]] && rm -rf "$WORK"
  fi
  [[ $rc == 0 ]] || echo "terraform-e2e: FAILED (exit $rc); logs in $WORK" >&2
}
trap cleanup EXIT
trap 'exit 143' TERM INT

log "moto on $ENDPOINT"
# ACM issues DNS-validated certificates at once instead of after 60 s.
MOTO_ACM_VALIDATION_WAIT=0 "$MOTO" -H 127.0.0.1 -p "$PORT" >"$WORK/moto.log" 2>&1 &
MOTO_PID=$!
for _ in $(seq 1 100); do
  curl -sf -o /dev/null "$ENDPOINT/moto-api/" && break
  kill -0 "$MOTO_PID" 2>/dev/null || die "moto did not start (see $WORK/moto.log)"
  sleep 0.1
done
curl -sf -X POST "$ENDPOINT/moto-api/reset" >/dev/null

export AWS_ENDPOINT_URL="$ENDPOINT" AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1
export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_EC2_METADATA_DISABLED=true
unset AWS_PROFILE AWS_SESSION_TOKEN

timed() { # timed LABEL command...
  local label="$1" start ms
  shift
  start=$(date +%s%N)
  "$@"
  ms=$((($(date +%s%N) - start) / 1000000))
  printf '%-28s %4d.%01d s\n' "$label" $((ms / 1000)) $((ms % 1000 / 100)) | tee -a "$TIMINGS" >&2
}

# --- the local world and both roots ------------------------------------------------------
log "backend bucket, hosted zone, copies of the roots"
tf_local_prepare "$WORK" "$ENDPOINT"
ops_local_tfvars "$WORK"
echo "zone $ZONE = $(cat "$WORK/zone-id")"

tf() { # tf ROOT args...
  local root="$1"
  shift
  terraform -chdir="$WORK/$root" "$@"
}

# --- apply ---------------------------------------------------------------------------------
log "terraform-base: init and apply"
timed "apply terraform-base" tf_local_apply "$WORK" terraform-base
log "terraform-runtime: init and apply"
timed "apply terraform-runtime" tf_local_apply "$WORK" terraform-runtime

no_changes() { # no_changes ROOT TFVARS LABEL: a plan right now must change nothing
  local root="$1" vars="$2" label="$3"
  tf "$root" plan -input=false -no-color -var-file="$vars" -out="$WORK/$label.tfplan" >"$WORK/$label.log"
  tf "$root" show -json "$WORK/$label.tfplan" >"$WORK/$label.json"
  "$PY" .ci/lib/tier_check.py plan-noop "$WORK/$label.json" || die "$root: plan is not empty (see $WORK/$label.log)"
}

log "a second plan of each root changes nothing"
timed "plan terraform-base" no_changes terraform-base "$WORK/terraform-base.tfvars" base-plan
no_changes terraform-runtime "$WORK/terraform-runtime.tfvars" runtime-plan

BUCKET="$(tf terraform-base output -raw state_bucket_name)"
CLUSTER="$(tf terraform-runtime output -raw cluster_name)"
check() { "$PY" .ci/lib/tier_check.py "$@" --bucket "$BUCKET" --env "$ENVIRONMENT"; }

log "the rendered spec"
check spec
timed "operations checks" ops_check_applied

log "wake on request and the idle signal"
timed "wake front and idle checks" e2e_wake_applied

log "override tags on the cluster are not drift"
"$PY" - "$CLUSTER" <<'EOF'
import sys, boto3
ecs = boto3.client("ecs")
arn = ecs.describe_clusters(clusters=[sys.argv[1]])["clusters"][0]["clusterArn"]
ecs.tag_resource(resourceArn=arn, tags=[{"key": "runtime-scheduler:override", "value": "keep-running"},
                                        {"key": "runtime-scheduler:override-until", "value": "2030-01-01T00:00:00Z"}])
EOF
no_changes terraform-runtime "$WORK/terraform-runtime.tfvars" runtime-plan-override
"$PY" - "$CLUSTER" <<'EOF'
import sys, boto3
ecs = boto3.client("ecs")
arn = ecs.describe_clusters(clusters=[sys.argv[1]])["clusters"][0]["clusterArn"]
ecs.untag_resource(resourceArn=arn, tagKeys=["runtime-scheduler:override", "runtime-scheduler:override-until"])
EOF

# --- least privilege -----------------------------------------------------------------------
log "least privilege: granted actions vs the code's"
tf terraform-runtime output -json scheduler_iam_actions >"$WORK/granted.json"
if [[ "$SIMULATE" == 1 ]]; then
  echo "(simulated scheduler: comparing the role with itself; the real comparison needs the binary)"
  cp "$WORK/granted.json" "$WORK/code.json"
else
  "$SCHEDULER_BIN" permissions >"$WORK/code.json"
fi
"$PY" .ci/lib/tier_check.py compare-actions "$WORK/granted.json" "$WORK/code.json"

# --- the cycle -----------------------------------------------------------------------------
invoke() { # invoke N ACTION: run the scheduler (or its stand-in) and print the response's gist
  local out="$WORK/invoke-$1-$2.json" payload
  payload="$(printf '{"action":"%s","reason":"terraform-e2e","trigger":"manual","environment":"%s"}' "$2" "$ENVIRONMENT")"
  if [[ "$SIMULATE" == 1 ]]; then
    check simulate "$2"
    return
  fi
  if ! printf '%s' "$payload" |
    STATE_BUCKET="$BUCKET" ENVIRONMENT="$ENVIRONMENT" SPEC_KEY="$ENVIRONMENT/spec.json" RUST_LOG="${RUST_LOG:-warn}" \
      "$SCHEDULER_BIN" invoke - >"$out" 2>"$out.log"; then
    cat "$out" "$out.log" >&2
    die "scheduler $2 failed"
  fi
  "$PY" -c 'import json,sys; r=json.load(open(sys.argv[1])); print(json.dumps({k: r.get(k) for k in ("action","outcome","phase")}), len(r.get("steps", [])), "steps")' "$out"
}

n=0
for action in start stop start stop; do
  n=$((n + 1))
  log "cycle $n: $action"
  timed "scheduler $action" invoke "$n" "$action"
  if [[ "$action" == start ]]; then check running; else check stopped; fi
  if [[ "$action" == start ]]; then ops_after_start; fi
done

timed "operations after the cycle" ops_after_cycle

e2e_release # deploy and rollback in both phases, a Terraform re-apply, start (leaves the tier asleep)

# --- destroy -------------------------------------------------------------------------------
log "destroy"
# A stop keeps the ECS services (at 0), kept Elastic IPs and the ownership TXT records, by
# design; the scheduler's own teardown removes them (the stand-in cleans up with boto3).
if [[ "$SIMULATE" == 1 ]]; then
  check cleanup
else
  timed "scheduler teardown" invoke 9 teardown
  check torn-down
fi
timed "destroy terraform-runtime" tf_local_destroy "$WORK" terraform-runtime
timed "destroy terraform-base" tf_local_destroy "$WORK" terraform-base
"$PY" .ci/lib/tier_check.py leftovers --project "$PROJECT" --ignore-bucket "$BACKEND_BUCKET"
e2e_wake_leftovers

log "timings"
cat "$TIMINGS"
echo "terraform-e2e: passed"
