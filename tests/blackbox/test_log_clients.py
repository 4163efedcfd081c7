"""Stock log clients against triad: winston-loki (protobuf and JSON),
pino-loki, the OpenTelemetry SDK's OTLP/HTTP log exporters (JSON and
protobuf) and its OTLP/gRPC log exporter (h2c on the API port, plain and
gzip, and on --otlp-grpc-addr) push through tests/clients/log_clients.js
(Node.js), and every line each one sent is read back through the Loki query
API. The clients are
npm packages at the versions of tests/clients/package.json, installed into
build/tools/node-clients (`make node-clients`); without Node.js or the npm
registry the test is skipped with a notice."""

import json
import os
import shutil
import subprocess
import time

import loki
from triad import Skip, Triad, free_port, wait_until

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", ".."))
TOOLS = os.path.join(REPO, "build", "tools", "node-clients")
SCRIPT = os.path.join(REPO, "tests", "clients", "log_clients.js")
N = 25


def _ensure_clients():
    node = shutil.which("node") or shutil.which("nodejs")
    if not node or not shutil.which("npm"):
        raise Skip("Node.js / npm not installed (apt-get install nodejs npm)")
    if not os.path.isdir(os.path.join(TOOLS, "node_modules", "@opentelemetry",
                                      "exporter-logs-otlp-grpc")):
        os.makedirs(TOOLS, exist_ok=True)
        shutil.copy(os.path.join(REPO, "tests", "clients", "package.json"), TOOLS)
        r = subprocess.run(["npm", "install", "--no-audit", "--no-fund", "--prefix", TOOLS],
                           capture_output=True, text=True, timeout=600)
        if r.returncode != 0:
            raise Skip("npm install of the log clients failed: %s" % r.stderr[-500:])
    return node


def test_stock_clients_every_line_read_back():
    node = _ensure_clients()
    grpc_port = free_port()
    t = Triad(extra_args=["--otlp-grpc-addr", "127.0.0.1:%d" % grpc_port]).start()
    try:
        run_id = "r%d" % int(time.time())
        tenant = "clients"
        env = dict(os.environ, NODE_PATH=os.path.join(TOOLS, "node_modules"))
        r = subprocess.run([node, SCRIPT, str(t.port), tenant, run_id, str(N),
                            str(grpc_port)],
                           capture_output=True, text=True, timeout=180, env=env)
        assert r.returncode == 0, r.stderr[-2000:]
        sent = {}
        for line in r.stdout.splitlines():
            o = json.loads(line)
            sent[o["client"]] = o["sent"]
        assert sorted(sent) == ["otlp-grpc", "otlp-grpc-gzip", "otlp-grpc-port", "otlp-json",
                                "otlp-proto", "pino", "winston-json", "winston-proto"], sent
        now = time.time_ns()
        queries = {c: '{job="clients", client="%s", run_id="%s"}' % (c, run_id)
                   for c in ("winston-proto", "winston-json", "pino")}
        for c in ("otlp-json", "otlp-proto", "otlp-grpc", "otlp-grpc-gzip", "otlp-grpc-port"):
            queries[c] = '{service_name="clients", k8s_namespace_name="%s"}' % c
        for client, markers in sent.items():
            def got():
                resp = loki.query_range(t, queries[client], now - 600 * 10**9, now + 60 * 10**9,
                                        limit=1000, tenant=tenant)
                lines = [e[1] for e in loki.entries(resp)]
                return all(any(m in ln for ln in lines) for m in markers) and lines
            lines = wait_until(got, 10, 0.2, "%s: every line read back" % client)
            assert len(lines) == len(markers), (client, len(lines), len(markers))
            print("    %-14s %d lines sent, %d read back" % (client, len(markers), len(lines)))
    finally:
        t.stop()
        t.cleanup()
