#!/usr/bin/env bash
# `make bench`: the measurements docs/performance.md quotes, written into it (between the
# `bench` markers). Not part of `make test`: nothing here asserts a duration.
#   1. the handler against moto over the wire: wall time and AWS calls per invocation
#      (tests/suite/bench.rs, debug build)
#   2. the shipped artifacts (cargo lambda build --release, both functions) against a Lambda
#      Runtime API stub: cold init, first invocation and peak RSS (.ci/lib/runtime_bench.py)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
mkdir -p .tmp

echo "== the handler against moto (debug build)"
BENCH_OUT=.tmp/bench-moto.md cargo test --test suite -- --ignored --nocapture bench::

echo "== the release bootstraps (cargo lambda build --release)"
t=$SECONDS
cargo lambda build --release
echo "release build: $((SECONDS - t)) s"
.venv/bin/python .ci/lib/runtime_bench.py \
  --scheduler target/lambda/runtime-scheduler/bootstrap \
  --front target/lambda/wake-front/bootstrap \
  --runs "${BENCH_RUNS:-10}" --out .tmp/bench-cold.md

.venv/bin/python - <<'PY'
import datetime, pathlib
doc = pathlib.Path("docs/performance.md")
text = doc.read_text()
begin, end = "<!-- BEGIN bench -->\n", "<!-- END bench -->"
a, b = text.index(begin), text.index(end)
body = (
    f"Last run: {datetime.date.today().isoformat()}, `make bench` on this project's 2-core machine.\n\n"
    + pathlib.Path(".tmp/bench-moto.md").read_text()
    + "\n"
    + pathlib.Path(".tmp/bench-cold.md").read_text()
)
doc.write_text(text[:a] + begin + body + text[b:])
print("docs/performance.md updated")
PY
