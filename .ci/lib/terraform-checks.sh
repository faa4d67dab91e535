#!/usr/bin/env bash
# Static checks of both Terraform roots, offline: fmt, init (no backend) + validate,
# terraform test (mock_provider), and checkov with zero failed checks.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$REPO"
# shellcheck source=terraform-local.sh
. .ci/lib/terraform-local.sh
tf_local_cli_config >/dev/null

ROOTS=(terraform-base terraform-runtime)
CHECKOV="$REPO/.venv/bin/checkov"
[[ -x "$CHECKOV" ]] || { echo "terraform-checks: no checkov in .venv: run 'make venv' first" >&2; exit 1; }

step() {
  local label="$1" start ms
  shift
  printf '== %s\n' "$label"
  start=$(date +%s%N)
  "$@"
  ms=$((($(date +%s%N) - start) / 1000000))
  printf '   %s: %d.%01d s\n' "$label" $((ms / 1000)) $((ms % 1000 / 100))
}

for root in "${ROOTS[@]}"; do
  # Overrides generated for a local AWS must never be checked (or committed) as if they were code.
  if compgen -G "$root/*_override.tf" >/dev/null; then
    echo "terraform-checks: $root has generated *_override.tf files; remove them first" >&2
    exit 1
  fi
done

step "terraform fmt -check -recursive" terraform fmt -check -recursive -diff "${ROOTS[@]}"

for root in "${ROOTS[@]}"; do
  step "$root: init (offline, no backend)" terraform -chdir="$root" init -input=false -backend=false -no-color >/dev/null
  step "$root: validate" terraform -chdir="$root" validate -no-color
  step "$root: test" terraform -chdir="$root" test -no-color
done

for root in "${ROOTS[@]}"; do
  # --skip-download: checkov would otherwise call a vendor API first. Skips are inline
  # (#checkov:skip=ID:reason) next to the resource they concern, never here.
  step "$root: checkov" "$CHECKOV" -d "$root" --framework terraform --skip-download --compact --quiet
done

for root in "${ROOTS[@]}"; do
  step "$root: README inputs/outputs up to date" "$REPO/.venv/bin/python" .ci/lib/terraform-docs.py "$root" --check
done

echo "terraform-checks: passed"
