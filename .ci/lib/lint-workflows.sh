#!/usr/bin/env bash
# Lints .github/workflows, offline (inside a network namespace where the machine allows one):
#   actionlint   syntax, expressions, contexts, with shellcheck on every run: script
#   zizmor       security audits (--offline: no GitHub API calls; pedantic persona; .github/zizmor.yml
#                makes hash-pinning mandatory for every action, GitHub's own included)
#   pinning      every `uses:` of another repository is <owner>/<repo>@<40 hex> # vX.Y.Z
# Any finding fails the build.
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$REPO"
BIN="$REPO/.venv/bin"
for tool in actionlint zizmor shellcheck; do
  [[ -x "$BIN/$tool" ]] || { echo "lint-workflows: no $tool in .venv: run 'make venv'" >&2; exit 1; }
done

offline=()
if unshare -n true 2>/dev/null; then offline=(unshare -n); fi

"${offline[@]}" "$BIN/actionlint" -shellcheck "$BIN/shellcheck"
echo "actionlint: no findings"
"${offline[@]}" "$BIN/zizmor" --offline --persona=pedantic --no-progress --quiet .github/workflows

unpinned="$(grep -nE '^[[:space:]]*(-[[:space:]]+)?uses:' .github/workflows/*.yml |
  grep -vE 'uses:[[:space:]]+\./' |
  grep -vE 'uses:[[:space:]]+[A-Za-z0-9_.-]+/[A-Za-z0-9_./-]+@[0-9a-f]{40} # v[0-9]+\.[0-9]+\.[0-9]+$' || true)"
if [[ -n "$unpinned" ]]; then
  echo "lint-workflows: not pinned as <action>@<40-hex SHA> # vX.Y.Z:" >&2
  echo "$unpinned" >&2
  exit 1
fi
echo "pinning: every action pinned by commit SHA ($(grep -chE '@[0-9a-f]{40} # v' .github/workflows/*.yml | awk "{s+=\$1} END {print s}") uses)"
