#!/usr/bin/env bash
# `make demo`: the whole product on the embedded local AWS, in about three minutes.
#   1. moto on a free loopback port
#   2. terraform-base and terraform-runtime applied to it (the same HCL users deploy)
#   3. the scheduler, as the one-shot command on the Lambda handler: plan (dry-run start),
#      start, status, stop, status — each response printed readably
# DEMO_KEEP=1 leaves moto running afterwards so you can poke at it (the endpoint is printed).
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$REPO"
# shellcheck source=terraform-local.sh
. .ci/lib/terraform-local.sh
PY="$REPO/.venv/bin/python"
[[ -x "$PY" && -x .venv/bin/moto_server ]] || { echo "demo: no .venv (run make venv)" >&2; exit 1; }

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

say "building the scheduler (cargo build)"
cargo build --quiet
BIN="$REPO/target/${CARGO_BUILD_TARGET:+$CARGO_BUILD_TARGET/}debug/runtime-scheduler"
tf_local_cli_config >/dev/null

PORT="$("$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
ENDPOINT="http://127.0.0.1:$PORT"
WORK="$REPO/.tmp/demo"
rm -rf "$WORK" && mkdir -p "$WORK"
MOTO_ACM_VALIDATION_WAIT=0 .venv/bin/moto_server -H 127.0.0.1 -p "$PORT" >"$WORK/moto.log" 2>&1 &
MOTO_PID=$!
cleanup() {
  if [[ "${DEMO_KEEP:-0}" == 1 ]]; then
    echo "DEMO_KEEP=1: moto still serves $ENDPOINT (pid $MOTO_PID); Terraform work dir $WORK"
  else
    kill "$MOTO_PID" 2>/dev/null || true
  fi
}
trap cleanup EXIT
for _ in $(seq 1 100); do curl -sf -o /dev/null "$ENDPOINT/moto-api/" && break; sleep 0.1; done

export AWS_ENDPOINT_URL="$ENDPOINT" AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1
export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_EC2_METADATA_DISABLED=true
unset AWS_PROFILE AWS_SESSION_TOKEN

say "local AWS (moto) on $ENDPOINT; applying terraform-base and terraform-runtime to it"
tf_local_prepare "$WORK" "$ENDPOINT"
t=$SECONDS
tf_local_apply "$WORK" terraform-base
echo "terraform-base applied ($((SECONDS - t)) s): VPC, subnets, private route tables without a default route, zone, certificate, ECR, state bucket"
t=$SECONDS
tf_local_apply "$WORK" terraform-runtime
echo "terraform-runtime applied ($((SECONDS - t)) s): cluster, task definitions, target groups, the function, its schedules, the runtime spec"

export STATE_BUCKET="$(tf_local_output "$WORK" terraform-base state_bucket_name)"
export ENVIRONMENT="$TF_LOCAL_ENVIRONMENT" RUST_LOG="${RUST_LOG:-warn}"

# Prints one response: outcome, phase, decision, steps with durations, what exists, warnings.
show() { "$PY" .ci/lib/show_response.py; }

run() { # run TITLE ARGS...: the command line on the Lambda handler, its response shown readably
  local title="$1"
  shift
  say "$title"
  echo "\$ runtime-scheduler $*"
  "$BIN" "$@" | show
}

run "plan: what would start do? (dry run, zero mutating calls)" start --dry-run --reason "demo: plan"
run "start: NAT and ALB branches run concurrently, then the services" start --reason "demo: wake up"
run "status" status
run "stop: record counts, scale to 0, records, ALB, routes, NAT, release what is not kept" stop --reason "demo: good night"
run "status" status

say "independent check: describing what exists now"
"$PY" .ci/lib/tier_check.py stopped --bucket "$STATE_BUCKET" --env "$ENVIRONMENT" && echo "tier is stopped: no NAT gateway, no ALB, no alias, services at 0"
echo
echo "Done. The state document and history are in s3://$STATE_BUCKET/$ENVIRONMENT/ on the local AWS."
