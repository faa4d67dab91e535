#!/usr/bin/env bash
# Deploy and rollback on the local AWS, in both phases of the tier, through exactly the make
# targets the GitHub workflows run (make deploy / make rollback -> .ci/lib/release.py -> the
# scheduler binary's `deploy` action). Every result is checked by describing ECS
# (.ci/lib/release_check.py), never by trusting what the script or the scheduler printed.
#
# Sourced by terraform-e2e.sh and called once, after its start/stop cycle (the tier is asleep,
# the services exist at 0) and before destroy; it leaves the tier asleep again. It uses that
# script's WORK, BUCKET, ENVIRONMENT, CLUSTER, SCHEDULER_BIN, SIMULATE, PY, TIMINGS and its
# log, die, timed, invoke and check functions.
#
#   asleep    1 deploy backend v2          parked: service at 0 points at the new revision, no NAT/ALB
#             2 rollback backend           parked: back to the previous ACTIVE revision
#             3 deploy backend v3          parked again (the revision the next start must run)
#             4 frontend deleted, deploy   recorded for the next start; nothing created
#   terraform 5 re-apply with a changed task definition input: Terraform registers newer revisions
#   start     6 start                      backend runs v3 with its recorded count, frontend is
#                                          created with its recorded revision: neither takes
#                                          Terraform's newer one
#   running   7 deploy backend v4          rolling: the new revision is based on Terraform's (its
#                                          input kept), the service points at it, count untouched
#             8 rollback backend to v3     rolling, to a named revision
#             9 rollback frontend          rolling, to the previous ACTIVE revision
#   stop     10 stop                       asleep again, as terraform-e2e.sh left it
#
# One start and one stop: each costs what a scheduler start or stop costs on moto.
#
# moto never starts tasks and does not move a service's deployments on UpdateService, so the
# rollout wait is off here (WAIT_TIMEOUT=0); .ci/lib/test_release.py tests the waiter.

e2e_release_unsupported() { # prints why the binary cannot run this section, if it cannot
  local err
  err="$(printf '%s' '{"action":"deploy","service":"backend","task_definition":"probe:1","reason":"probe","trigger":"manual","dry_run":true}' |
    AWS_REGION="${AWS_REGION:-us-east-1}" STATE_BUCKET="$BUCKET" ENVIRONMENT="$ENVIRONMENT" "$SCHEDULER_BIN" invoke - 2>&1 >/dev/null)" || true
  if grep -q "'action' is 'deploy'; expected one of" <<<"$err" || grep -q "unknown field 'service'" <<<"$err"; then
    printf '%s\n' "$err" | head -n 3
  fi
}

e2e_release() {
  log "release: deploy and rollback in both phases (make deploy / make rollback)"
  if [[ "$SIMULATE" == 1 ]]; then
    echo "SKIPPED: E2E_SIMULATE_SCHEDULER=1 has no scheduler binary, and deploy is the scheduler's action"
    return 0
  fi
  local why
  why="$(e2e_release_unsupported)"
  if [[ -n "$why" ]]; then
    echo "SKIPPED: $SCHEDULER_BIN has no 'deploy' action yet (the scheduler build predates it):"
    printf '  %s\n' "$why"
    return 0
  fi
  local start_ns=$SECONDS
  timed "release: asleep" e2e_release_asleep
  timed "release: terraform re-apply" e2e_release_reapply
  timed "release: start" e2e_release_start
  timed "release: running" e2e_release_running
  timed "release: stop" e2e_release_stop
  echo "release: every check passed ($((SECONDS - start_ns)) s added to the end-to-end run)"
}

rel_make() { # rel_make TARGET VAR=value...: the make target the workflows run, on the local scheduler
  local target="$1"
  shift
  env SCHEDULER_INVOKE="local:$SCHEDULER_BIN" STATE_BUCKET="$BUCKET" ENVIRONMENT="$ENVIRONMENT" \
    SPEC_KEY="$ENVIRONMENT/spec.json" RUST_LOG="${RUST_LOG:-warn}" ENV="$ENVIRONMENT" WAIT_TIMEOUT=0 \
    GITHUB_ACTOR=e2e GITHUB_STEP_SUMMARY="$WORK/release-summary.md" "$@" \
    make -s --no-print-directory "$target" >>"$WORK/release.log" 2>&1 ||
    { tail -n 30 "$WORK/release.log" >&2; die "make $target $* failed (see $WORK/release.log)"; }
}

rel_expect() { "$PY" .ci/lib/release_check.py expect "$1" --cluster "$CLUSTER" "${@:2}" || die "release: $1 is not as expected"; }
rel_rev() { "$PY" .ci/lib/release_check.py revision "$1" --cluster "$CLUSTER"; }

e2e_release_asleep() {
  BACKEND_REPO="$("$PY" .ci/lib/release_check.py image-repo backend --cluster "$CLUSTER")"
  FRONTEND_REPO="$("$PY" .ci/lib/release_check.py image-repo frontend --cluster "$CLUSTER")"
  B0="$(rel_rev backend)"
  echo "asleep: backend at revision $B0"

  rel_make deploy SERVICE=backend IMAGE="$BACKEND_REPO:v2" REASON="e2e: parked deploy"
  B2="$("$PY" .ci/lib/release_check.py latest "$PROJECT-$ENVIRONMENT-backend")"
  rel_expect backend --revision "$B2" --desired 0 --image "$BACKEND_REPO:v2"
  grep -q "Parked until the next start" "$WORK/release-summary.md" || die "release: the summary does not say the deploy is parked"
  check stopped >/dev/null || die "release: a parked deploy woke part of the tier"

  rel_make rollback SERVICE=backend REASON="e2e: parked rollback"
  rel_expect backend --revision "$B0" --desired 0

  rel_make deploy SERVICE=backend IMAGE="$BACKEND_REPO:v3" REASON="e2e: the revision the next start runs"
  B3="$(rel_rev backend)"
  rel_expect backend --revision "$B3" --desired 0 --image "$BACKEND_REPO:v3"

  # A service that does not exist while the tier sleeps: the deploy is recorded, nothing created.
  "$PY" .ci/lib/release_check.py delete frontend --cluster "$CLUSTER"
  rel_make deploy SERVICE=frontend IMAGE="$FRONTEND_REPO:v2" REASON="e2e: recorded for a service that does not exist"
  F2="$("$PY" .ci/lib/release_check.py latest "$PROJECT-$ENVIRONMENT-frontend")"
  rel_expect frontend --absent
  check stopped >/dev/null || die "release: a deploy to a missing service woke the tier"
}

# Terraform registers a new revision of each family for a reason of its own (an environment
# variable); a targeted apply keeps this step short and touches only the task definitions.
e2e_release_reapply() {
  cat >>"$WORK/terraform-runtime.tfvars" <<'EOF'

# e2e-release.sh: a task definition input changes, so Terraform registers new revisions.
services = {
  backend = {
    cpu = 512, memory = 1024, container_port = 8000, health_check_path = "/health"
    path_patterns = ["/api/*"], rule_priority = 10, secrets = ["DATABASE_URL"]
    auto_scaling = { min_capacity = 1, max_capacity = 4 }
    environment  = { RELEASE_E2E = "terraform-reapply" }
  }
  frontend = {
    cpu = 256, memory = 512, container_port = 3000, health_check_path = "/"
    health_check_grace_period_seconds = 30
    environment = { RELEASE_E2E = "terraform-reapply" }
  }
}
EOF
  terraform -chdir="$WORK/terraform-runtime" apply -input=false -no-color -auto-approve \
    -var-file="$WORK/terraform-runtime.tfvars" -target=aws_ecs_task_definition.service >"$WORK/release-reapply.log" 2>&1 ||
    { tail -n 20 "$WORK/release-reapply.log" >&2; die "release: terraform re-apply failed"; }
  TB="$("$PY" .ci/lib/release_check.py latest "$PROJECT-$ENVIRONMENT-backend")"
  TF="$("$PY" .ci/lib/release_check.py latest "$PROJECT-$ENVIRONMENT-frontend")"
  ((TB > B3 && TF > F2)) || die "release: Terraform registered no new revisions (backend $TB, frontend $TF)"
  echo "terraform registered backend:$TB frontend:$TF; deployed are backend:$B3 and, for the next start, frontend:$F2"
}

e2e_release_start() {
  invoke r1 start
  check running >/dev/null || die "release: the tier did not start"
  rel_expect backend --revision "$B3" --desired 1 --image "$BACKEND_REPO:v3"
  rel_expect frontend --revision "$F2" --desired 1 --image "$FRONTEND_REPO:v2"
}

e2e_release_running() {
  # The base is the family's latest ACTIVE revision, Terraform's: its input ships with the image.
  rel_make deploy SERVICE=backend IMAGE="$BACKEND_REPO:v4" REASON="e2e: rolling deploy after a Terraform change"
  rel_expect backend --revision "$((TB + 1))" --desired 1 --image "$BACKEND_REPO:v4" --env-var RELEASE_E2E=terraform-reapply
  rel_make rollback SERVICE=backend REVISION="$B3" REASON="e2e: rolling rollback to a named revision"
  rel_expect backend --revision "$B3" --desired 1 --image "$BACKEND_REPO:v3"
  rel_make rollback SERVICE=frontend REASON="e2e: rolling rollback to the previous revision"
  rel_expect frontend --revision "$((F2 - 1))" --desired 1
  check running >/dev/null || die "release: the tier is no longer running after deploys"
}

e2e_release_stop() {
  invoke r2 stop
  check stopped >/dev/null || die "release: the tier did not stop at the end"
}
