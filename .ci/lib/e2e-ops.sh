# Operations steps of the Terraform end-to-end run (monitoring, notifications, secrets, security,
# backup toggles, disaster recovery). Sourced by terraform-e2e.sh, which calls each function with
# one line at the right place; they use its globals and helpers (PY, WORK, BUCKET, ENVIRONMENT,
# PROJECT, SIMULATE, SCHEDULER_BIN, tf, check, no_changes, timed, log, die).
#
#   ops_local_tfvars      after tf_local_prepare: turn on what the local AWS can serve
#   ops_check_applied     after the first apply: dashboard, alarms, notification path, secrets,
#                         security services, access logs
#   ops_after_start       after each start: access logs on the new ALB; no widget or alarm names
#                         the ALB or NAT gateway that exist right now
#   ops_after_cycle       after the last stop: both plans empty, then the recovery procedures of
#                         docs/disaster-recovery.md that the local AWS can run
#
# What stays off here and why (each root's README has the same table):
#   enable_security_hub   moto 5.2 lacks UpdateSecurityHubConfiguration and the standards APIs
#   enable_backup         moto 5.2 lacks CreateBackupSelection, ListRecoveryPointsByBackupVault
#                         and the AWS-managed AWSBackupServiceRolePolicyForS3Backup/Restore
#   chatbot_slack         moto has no AWS Chatbot
#   alert_webhook_url     moto would POST every message to the URL (no network here)
# They are covered by terraform test (plan with a mocked provider) only.

OPS_REPLICATION_REGION="us-west-2"

ops_local_tfvars() { # ops_local_tfvars WORK
  {
    echo 'enable_guardduty                 = true'
    echo "enable_ecr_replication           = true"
    echo "ecr_replication_region           = \"$OPS_REPLICATION_REGION\""
    echo 'force_destroy_access_logs_bucket = true'
    echo '# Off: moto cannot serve them (see .ci/lib/e2e-ops.sh).'
    echo 'enable_security_hub              = false'
    echo 'enable_backup                    = false'
  } >>"$1/terraform-base.tfvars"
}

ops_py() { "$PY" .ci/lib/ops_check.py "$@"; }

ops_outputs() { # both roots' outputs, read once per step (terraform output takes a second each)
  tf terraform-base output -json >"$WORK/ops-outputs/terraform-base.json"
  tf terraform-runtime output -json >"$WORK/ops-outputs/terraform-runtime.json"
}

ops_check_applied() {
  log "operations: dashboard, alarms, notification path, secrets, security services"
  mkdir -p "$WORK/ops-outputs"
  ops_outputs
  ops_py applied --outputs "$WORK/ops-outputs" --env "$ENVIRONMENT" --replication-region "$OPS_REPLICATION_REGION"
}

ops_after_start() {
  local simulated=()
  if [[ "$SIMULATE" == 1 ]]; then simulated=(--simulated); fi
  ops_py after-start --outputs "$WORK/ops-outputs" --env "$ENVIRONMENT" "${simulated[@]}"
}

ops_invoke() { # ops_invoke ACTION OUT: run the binary; its exit status is the caller's to judge
  printf '{"action":"%s","dry_run":false,"reason":"terraform-e2e: recovery","trigger":"manual"}' "$1" |
    STATE_BUCKET="$BUCKET" ENVIRONMENT="$ENVIRONMENT" SPEC_KEY="$ENVIRONMENT/spec.json" RUST_LOG="${RUST_LOG:-warn}" \
      "$SCHEDULER_BIN" invoke - >"$2" 2>"$2.log"
}

# docs/disaster-recovery.md, "state document deleted or corrupted": an earlier state.json (here
# one that says "running" while the tier is stopped) is put back; reconcile must observe the
# world, converge to what the schedule, overrides and holds want, and record what it did.
ops_dr_restore_state() {
  local version out="$WORK/dr-reconcile.json"
  version="$(ops_py state-version --bucket "$BUCKET" --env "$ENVIRONMENT" --phase running)"
  ops_py restore --bucket "$BUCKET" --key "$ENVIRONMENT/state.json" --version-id "$version"
  ops_invoke reconcile "$out" || { cat "$out" "$out.log" >&2; die "reconcile after restoring state.json failed"; }
  ops_py converged --bucket "$BUCKET" --env "$ENVIRONMENT" --response "$out"
  # Back to asleep for the destroy (a hold in the restored state may have woken the tier).
  ops_invoke stop "$WORK/dr-stop.json" || { cat "$WORK/dr-stop.json.log" >&2; die "stop after recovery failed"; }
  check stopped
}

# docs/disaster-recovery.md, "spec missing": every action fails with a non-zero exit and changes
# nothing (the snapshot covers every resource kind an action could touch, the cluster's tags and
# every object version under <env>/); then the previous version is made current again.
ops_dr_missing_spec() {
  local action before="$WORK/dr-before.json" after="$WORK/dr-after.json"
  "$PY" -c 'import sys, boto3; boto3.client("s3").delete_object(Bucket=sys.argv[1], Key=sys.argv[2])' "$BUCKET" "$ENVIRONMENT/spec.json"
  ops_py snapshot --bucket "$BUCKET" --env "$ENVIRONMENT" >"$before"
  for action in start stop status reconcile; do
    if ops_invoke "$action" "$WORK/dr-nospec-$action.json"; then
      die "$action succeeded without a spec"
    fi
    grep -q "spec" "$WORK/dr-nospec-$action.json.log" || die "$action without a spec: the error does not name the spec"
    echo "$action without a spec: exit non-zero: $(head -c 160 "$WORK/dr-nospec-$action.json.log")"
  done
  ops_py snapshot --bucket "$BUCKET" --env "$ENVIRONMENT" >"$after"
  ops_py same "$before" "$after"
  ops_py undelete --bucket "$BUCKET" --key "$ENVIRONMENT/spec.json"
  check spec
}

ops_after_cycle() {
  local base_plan
  log "operations: a plan after the full cycle changes nothing; recovery procedures"
  # The two roots have separate states and locks: plan them at the same time.
  no_changes terraform-base "$WORK/terraform-base.tfvars" base-plan-after-cycle &
  base_plan=$!
  no_changes terraform-runtime "$WORK/terraform-runtime.tfvars" runtime-plan-after-cycle
  wait "$base_plan" || die "terraform-base: plan after the cycle is not empty"
  if [[ "$SIMULATE" == 1 ]]; then
    echo "(simulated scheduler: the recovery procedures need the binary; skipped)"
    return
  fi
  timed "recovery: restore state" ops_dr_restore_state
  timed "recovery: missing spec" ops_dr_missing_spec
}
