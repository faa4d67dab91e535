#!/usr/bin/env bash
# The Lambda way of running the handler, locally: `cargo lambda watch` serves the function,
# `cargo lambda invoke` sends it the sample payloads of events/, against a private moto with an
# environment whose spec has no resources (so every answer is about the handler, not the tier).
# Checks that status, a dry run and a bad payload come back as documented, and that the wake
# front answers an API Gateway event with its page.
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$REPO"
PY="$REPO/.venv/bin/python"
[[ -x "$PY" && -x .venv/bin/moto_server && -x .venv/bin/cargo-lambda ]] || { echo "run 'make venv' first" >&2; exit 1; }
export PATH="$REPO/.venv/bin:$PATH"

free_port() { "$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
MOTO_PORT="$(free_port)"
WATCH_PORT="$(free_port)"
WORK="$(mktemp -d)"
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

.venv/bin/moto_server -H 127.0.0.1 -p "$MOTO_PORT" >"$WORK/moto.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 1 100); do curl -sf -o /dev/null "http://127.0.0.1:$MOTO_PORT/moto-api/" && break; sleep 0.1; done

export AWS_ENDPOINT_URL="http://127.0.0.1:$MOTO_PORT" AWS_REGION=us-east-1 AWS_ACCESS_KEY_ID=test \
  AWS_SECRET_ACCESS_KEY=test AWS_EC2_METADATA_DISABLED=true
"$PY" - <<'PYEOF'
import boto3, json
s3 = boto3.client("s3")
s3.create_bucket(Bucket="lambda-local-state")
s3.put_object(Bucket="lambda-local-state", Key="local/spec.json",
              Body=json.dumps({"version": 1, "environment": "local"}).encode())
boto3.client("ssm", region_name="us-east-1").put_parameter(Name="/local/wake-front/token-key", Type="SecureString",
                                  Value="0123456789abcdef0123456789abcdef")
PYEOF

# One environment for both functions (the scheduler ignores the front's variables).
cat >"$WORK/env" <<ENV
STATE_BUCKET=lambda-local-state
ENVIRONMENT=local
AWS_REGION=us-east-1
AWS_ENDPOINT_URL=$AWS_ENDPOINT_URL
AWS_ACCESS_KEY_ID=test
AWS_SECRET_ACCESS_KEY=test
AWS_EC2_METADATA_DISABLED=true
SCHEDULER_FUNCTION=local-runtime-scheduler
TOKEN_KEY_PARAMETER=/local/wake-front/token-key
WAKE_CONFIG='{"title":"Local","default_hours":2,"max_hours":8}'
ENV
cargo lambda watch -A 127.0.0.1 -P "$WATCH_PORT" --env-file "$WORK/env" >"$WORK/watch.log" 2>&1 &
WATCH_PID=$!
PIDS+=("$WATCH_PID")

invoke() { cargo lambda invoke -A 127.0.0.1 -P "$WATCH_PORT" runtime-scheduler "$@" 2>&1; }
# The first invoke waits for the build; retry until the emulator answers.
for i in $(seq 1 120); do
  if out="$(invoke --data-file events/status.json)" && grep -q '"outcome"' <<<"$out"; then break; fi
  if [[ $i == 120 ]] || ! kill -0 "$WATCH_PID" 2>/dev/null; then
    echo "cargo lambda watch never answered:"; tail -30 "$WORK/watch.log"; exit 1
  fi
  sleep 2
done
echo "status:        $(grep -o '"outcome": *"[a-z-]*"' <<<"$out")"
grep -q '"outcome": *"reported"' <<<"$out" || { echo "$out"; exit 1; }

out="$(invoke --data-file events/stop-dry-run.json)"
echo "stop dry run:  $(grep -o '"outcome": *"[a-z-]*"' <<<"$out")"
grep -q '"outcome": *"dry-run"' <<<"$out" || { echo "$out"; exit 1; }

out="$(invoke --data-ascii '{"action":"restart"}' || true)"
echo "bad payload:   $(grep -o "'action' is 'restart'[^\"]*" <<<"$out" | head -1)"
grep -q "'action' is 'restart'" <<<"$out" || { echo "$out"; exit 1; }

# The wake front, with an API Gateway HTTP API event: the page, asleep, as a 503.
out="$(cargo lambda invoke -A 127.0.0.1 -P "$WATCH_PORT" wake-front --data-file tests/fixtures/wake-front/get-page.json 2>&1)"
echo "wake page:     $(grep -o '"statusCode": *[0-9]*' <<<"$out")"
grep -q '"statusCode": *503' <<<"$out" && grep -q 'Asleep' <<<"$out" || { echo "$out"; exit 1; }
echo "cargo lambda watch/invoke: ok"
