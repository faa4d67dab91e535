#!/usr/bin/env bash
# `make test`: every test. Needs .venv (make venv) and Terraform.
#
# One compile of the Rust code serves everything: the tests, the Lambda artifact check and
# `cargo lambda watch` all build for the same target triple with the same profile, so the AWS
# SDK crates compile once. Work that needs no Rust runs while it compiles; work that needs only
# the binary runs beside the tests.
#
#   1. formatting (Rust); the GitHub workflows (actionlint, zizmor, SHA pinning, offline) and
#      the release script's unit tests
#   2. in the background from the start: Terraform fmt, offline validate, terraform test, checkov
#   3. cargo build of the tests and the binaries (the one compile)
#   4. in the background from then on: both Terraform roots applied to moto, the scheduler
#      cycling what they built, operations checks, deploys and rollbacks in both phases,
#      teardown, least privilege compared, destroy
#   5. cargo test: unit and table tests, moto lifecycle, call budgets, the simulator suites
#      (writes docs/reliability.md), the docs' examples, the JSON Schema
#   6. the Lambda artifacts (cargo lambda build --compiler cargo, dev profile: the same compile;
#      the shipped artifacts are `make build-lambda`, release with zig) and their zips
#   7. `cargo lambda watch` answering `cargo lambda invoke`
#   8. the background jobs' results
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."

export AWS_EC2_METADATA_DISABLED=true CARGO_TERM_COLOR=never
# The target triple cargo-lambda builds for: with it everywhere, its build reuses the tests'.
export CARGO_BUILD_TARGET="${CARGO_BUILD_TARGET:-x86_64-unknown-linux-gnu}"
BIN="target/$CARGO_BUILD_TARGET/debug/runtime-scheduler"
LOGS=.tmp/test-logs
rm -rf "$LOGS" && mkdir -p "$LOGS"

step() { printf '\n==== %s (%d s)\n' "$1" $(($(date +%s) - t0)); }
t0=$(date +%s)

# background JOB COMMAND...: runs COMMAND with its output in $LOGS/JOB.log.
declare -A JOBS=()
background() {
  local name="$1"
  shift
  ("$@" >"$LOGS/$name.log" 2>&1) &
  JOBS[$name]=$!
  echo "started in the background: $name (log: $LOGS/$name.log)"
}
# finish JOB: waits for it, prints its log, fails if it failed.
finish() {
  local name="$1" rc=0
  wait "${JOBS[$name]}" || rc=$?
  step "$name (background job, finished)"
  cat "$LOGS/$name.log"
  if [[ $rc != 0 ]]; then
    echo "make test: $name FAILED (exit $rc)"
    exit "$rc"
  fi
}
# On any failure, background jobs go too.
trap 'jobs -p | xargs -r kill 2>/dev/null || true' EXIT

step "rustfmt"
cargo fmt --all -- --check

step "workflows (actionlint, zizmor, pinning) and release.py unit tests"
.ci/lib/lint-workflows.sh
.venv/bin/python .ci/lib/test_release.py

step "terraform static checks, in the background"
background terraform-checks .ci/lib/terraform-checks.sh

step "cargo build: the tests and the binaries (the one compile of the AWS SDK crates)"
cargo test --no-run

step "terraform on moto, in the background"
background terraform-e2e env SCHEDULER_BIN="$BIN" .ci/lib/terraform-e2e.sh

step "cargo test (unit, tables, moto lifecycle, call budgets, simulator suites, docs)"
cargo test --no-fail-fast

step "the Lambda artifacts (dev profile, the same compile)"
cargo lambda build --compiler cargo --output-format zip
python3 - target/lambda/runtime-scheduler/bootstrap.zip target/lambda/wake-front/bootstrap.zip <<'EOF'
import sys, zipfile
for path in sys.argv[1:]:
    z = zipfile.ZipFile(path)
    names = z.namelist()
    assert names == ["bootstrap"], (path, names)
    mode = z.getinfo("bootstrap").external_attr >> 16
    assert mode & 0o111, f"{path}: bootstrap is not executable ({oct(mode)})"
    print(f"{path} holds {names}, executable")
print("shipped artifacts come from `make build-lambda` (release, zig)")
EOF

step "cargo lambda watch + invoke on the same handler"
.ci/lib/lambda-local.sh

finish terraform-checks
finish terraform-e2e

echo
echo "make test: everything passed in $(($(date +%s) - t0)) s"
