#!/usr/bin/env bash
# `make test`: every test, in the order that fails fastest. Needs .venv (make venv) and Terraform.
#
#   1. formatting (Rust and Terraform); the GitHub workflows (actionlint, zizmor, SHA pinning,
#      offline) and the release script's unit tests
#   2. cargo test: unit and table tests, moto lifecycle tests, the simulator suites
#      (writes docs/reliability.md), the JSON Schema check
#   3. the Lambda artifact: cargo lambda build --release (zig), and the handler under
#      `cargo lambda watch` answering `cargo lambda invoke` against moto
#   4. Terraform: fmt, offline validate, terraform test, checkov; then both roots applied to
#      moto, the scheduler cycling what they built, least privilege compared, deploys and
#      rollbacks in both phases (e2e-release.sh), destroy
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."

export AWS_EC2_METADATA_DISABLED=true CARGO_TERM_COLOR=never
step() { printf '\n==== %s\n' "$*"; }
t0=$(date +%s)

step "rustfmt"
cargo fmt --all -- --check

step "workflows (actionlint, zizmor, pinning) and release.py unit tests"
.ci/lib/lint-workflows.sh
.venv/bin/python .ci/lib/test_release.py

step "cargo test (unit, tables, moto lifecycle, simulator suites)"
cargo test --no-fail-fast

step "cargo lambda build --release"
if [[ "${SKIP_LAMBDA_BUILD:-0}" == 1 ]]; then
  echo "SKIP_LAMBDA_BUILD=1: skipped (CI never sets it)"
else
  cargo lambda build --release --output-format zip
  python3 -c 'import sys, zipfile; n = zipfile.ZipFile(sys.argv[1]).namelist(); assert n == ["bootstrap"], n; print("bootstrap.zip holds", n)' \
    target/lambda/runtime-scheduler/bootstrap.zip
fi

step "cargo lambda watch + invoke on the same handler"
.ci/lib/lambda-local.sh

step "terraform: fmt, validate, terraform test, checkov"
.ci/lib/terraform-checks.sh

step "terraform on moto: apply both roots, cycle the tier, least privilege, destroy"
SCHEDULER_BIN=target/debug/runtime-scheduler .ci/lib/terraform-e2e.sh

echo
echo "make test: everything passed in $(($(date +%s) - t0)) s"
