#!/usr/bin/env python3
"""Cold start and memory of the shipped Lambda bootstraps, against a Lambda Runtime API stub.

For each function (the scheduler and the wake front) and each of N runs: start the release
`bootstrap` as Lambda would (AWS_LAMBDA_RUNTIME_API pointing at a local stub, the function's
environment, the local AWS for its calls), and measure

- cold init: from the process's start to its first `GET /runtime/invocation/next` (the SDK
  clients built, the configuration read; for the front, its token key read from SSM);
- the first invocation: from handing it the event to its `POST .../response`;
- peak RSS: the process's VmHWM once it has answered.

Prints a Markdown table (and writes it to --out). Nothing here asserts a duration.
"""

from __future__ import annotations

import argparse
import http.server
import json
import os
import queue
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from typing import Any

import boto3

REGION = "us-east-1"


class Stub(http.server.ThreadingHTTPServer):
    """The Runtime API: one event per `next`, the answer captured."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.events: queue.Queue[bytes] = queue.Queue()
        self.answers: queue.Queue[tuple[str, float, bytes]] = queue.Queue()
        self.first_next: float | None = None
        self.served_at: float | None = None


class Handler(http.server.BaseHTTPRequestHandler):
    server: Stub

    def log_message(self, *_: Any) -> None:
        pass

    def do_GET(self) -> None:  # noqa: N802
        if not self.path.endswith("/runtime/invocation/next"):
            self.send_error(404)
            return
        if self.server.first_next is None:
            self.server.first_next = time.monotonic()
        event = self.server.events.get()
        request_id = str(uuid.uuid4())
        self.server.served_at = time.monotonic()
        self.send_response(200)
        self.send_header("Lambda-Runtime-Aws-Request-Id", request_id)
        self.send_header("Lambda-Runtime-Deadline-Ms", str(int(time.time() * 1000) + 900_000))
        self.send_header("Lambda-Runtime-Invoked-Function-Arn", "arn:aws:lambda:us-east-1:123456789012:function:bench")
        self.send_header("Lambda-Runtime-Trace-Id", "Root=1-00000000-000000000000000000000000")
        self.send_header("Content-Length", str(len(event)))
        self.end_headers()
        self.wfile.write(event)

    def do_POST(self) -> None:  # noqa: N802
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        kind = "response" if self.path.endswith("/response") else "error"
        answered = time.monotonic()
        try:
            self.send_response(202)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"{}")
        except OSError:
            pass  # the process was measured and stopped while this answer was on its way
        self.server.answers.put((kind, answered, body))


def vm_hwm_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


def one_run(bootstrap: str, env: dict[str, str], event: bytes) -> tuple[float, float, float, str]:
    stub = Stub()
    threading.Thread(target=stub.serve_forever, daemon=True).start()
    stub.events.put(event)
    full = dict(os.environ)
    full.update(env)
    full.update({
        "AWS_LAMBDA_RUNTIME_API": f"127.0.0.1:{stub.server_address[1]}",
        "AWS_LAMBDA_FUNCTION_NAME": "bench",
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256",
        "AWS_LAMBDA_LOG_GROUP_NAME": "/aws/lambda/bench",
        "AWS_LAMBDA_LOG_STREAM_NAME": "bench",
        "AWS_LAMBDA_LOG_FORMAT": "JSON",
        "AWS_LAMBDA_LOG_LEVEL": "WARN",
    })
    started = time.monotonic()
    proc = subprocess.Popen([bootstrap], env=full, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        kind, answered, body = stub.answers.get(timeout=60)
        init = (stub.first_next or answered) - started
        first = answered - (stub.served_at or answered)
        rss = vm_hwm_kib(proc.pid) / 1024
    finally:
        proc.kill()
        proc.wait()
        stub.shutdown()
    if kind != "response":
        raise SystemExit(f"{bootstrap} answered an error: {body[:500]!r}")
    return init * 1000, first * 1000, rss, body.decode(errors="replace")


def moto(endpoint: str) -> None:
    for _ in range(100):
        try:
            urllib.request.urlopen(f"{endpoint}/moto-api/", timeout=1)
            return
        except OSError:
            time.sleep(0.1)
    raise SystemExit("moto did not start")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--scheduler", required=True, help="the scheduler's release bootstrap")
    p.add_argument("--front", required=True, help="the wake front's release bootstrap")
    p.add_argument("--moto", default=".venv/bin/moto_server")
    p.add_argument("--runs", type=int, default=10)
    p.add_argument("--out")
    a = p.parse_args()

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    endpoint = f"http://127.0.0.1:{port}"
    server = subprocess.Popen([a.moto, "-H", "127.0.0.1", "-p", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        moto(endpoint)
        aws = dict(AWS_ENDPOINT_URL=endpoint, AWS_REGION=REGION, AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench",
                   AWS_EC2_METADATA_DISABLED="true")
        os.environ.update(aws)
        s3 = boto3.client("s3", endpoint_url=endpoint, region_name=REGION)
        s3.create_bucket(Bucket="bench-state")
        spec = json.load(open("docs/runtime-spec.example.json"))
        spec["environment"] = "bench"
        s3.put_object(Bucket="bench-state", Key="bench/spec.json", Body=json.dumps(spec).encode())
        # The cluster exists in any deployed environment (terraform-runtime makes it).
        for cluster in {s["cluster"] for s in spec["services"]}:
            boto3.client("ecs", endpoint_url=endpoint, region_name=REGION).create_cluster(clusterName=cluster)
        boto3.client("ssm", endpoint_url=endpoint, region_name=REGION).put_parameter(
            Name="/bench/wake-front/token-key", Type="SecureString", Value="0123456789abcdef0123456789abcdef")
        wake = {"title": "Bench", "default_hours": 2, "max_hours": 8}
        functions = [
            ("runtime-scheduler (`status`)", a.scheduler,
             {"STATE_BUCKET": "bench-state", "ENVIRONMENT": "bench"},
             json.dumps({"action": "status"}).encode()),
            ("wake-front (the page, asleep)", a.front,
             {"STATE_BUCKET": "bench-state", "ENVIRONMENT": "bench", "SCHEDULER_FUNCTION": "bench-runtime-scheduler",
              "TOKEN_KEY_PARAMETER": "/bench/wake-front/token-key", "WAKE_CONFIG": json.dumps(wake)},
             open("tests/fixtures/wake-front/get-page.json", "rb").read()),
        ]
        rows = ["| bootstrap (release, x86_64) | runs | cold init, median (p90) | first invocation, median (p90) | peak RSS, max |",
                "|---|---:|---:|---:|---:|"]
        for name, path, env, event in functions:
            inits, firsts, rss = [], [], []
            for _ in range(a.runs):
                i, f, r, _ = one_run(path, env, event)
                inits.append(i)
                firsts.append(f)
                rss.append(r)

            def med_p90(xs: list[float]) -> str:
                xs = sorted(xs)
                return f"{statistics.median(xs):.1f} ms ({xs[min(len(xs) - 1, len(xs) * 9 // 10)]:.1f} ms)"

            size = os.path.getsize(path) / 1e6
            rows.append(f"| {name}, {size:.1f} MB | {a.runs} | {med_p90(inits)} | {med_p90(firsts)} | {max(rss):.1f} MiB |")
        table = "\n".join(rows) + "\n"
        print(table)
        if a.out:
            open(a.out, "w").write(table)
    finally:
        server.kill()
    return 0


if __name__ == "__main__":
    sys.exit(main())
