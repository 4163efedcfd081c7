"""Stock OTLP metric exporters against triad: the OpenTelemetry JS SDK's
@opentelemetry/exporter-metrics-otlp-http (JSON), -proto and -grpc (plain
and gzip, h2c on the API port) export a counter, an up-down counter, a
histogram and an observable gauge through tests/clients/metric_clients.js
(Node.js, cumulative temporality, two collections), and the series are
read back through the Prometheus API with Prometheus 3's names and labels.
The clients are npm packages at the versions of tests/clients/package.json,
installed into build/tools/node-clients (`make node-clients`); without
Node.js or the npm registry the test is skipped with a notice."""

import os
import shutil
import subprocess
import time

from triad import Skip, Triad, wait_until

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", ".."))
TOOLS = os.path.join(REPO, "build", "tools", "node-clients")
SCRIPT = os.path.join(REPO, "tests", "clients", "metric_clients.js")
CLIENTS = ["otlp-grpc", "otlp-grpc-gzip", "otlp-json", "otlp-proto"]


def _ensure_clients():
    node = shutil.which("node") or shutil.which("nodejs")
    if not node or not shutil.which("npm"):
        raise Skip("Node.js / npm not installed (apt-get install nodejs npm)")
    if not os.path.isdir(os.path.join(TOOLS, "node_modules", "@opentelemetry",
                                      "exporter-metrics-otlp-grpc")):
        os.makedirs(TOOLS, exist_ok=True)
        shutil.copy(os.path.join(REPO, "tests", "clients", "package.json"), TOOLS)
        r = subprocess.run(["npm", "install", "--no-audit", "--no-fund", "--prefix", TOOLS],
                           capture_output=True, text=True, timeout=600)
        if r.returncode != 0:
            raise Skip("npm install of the metric clients failed: %s" % r.stderr[-500:])
    return node


def test_stock_metric_exporters_read_back():
    node = _ensure_clients()
    t = Triad().start()
    try:
        tenant = "mclients"
        run_id = "r%d" % int(time.time())
        env = dict(os.environ, NODE_PATH=os.path.join(TOOLS, "node_modules"))
        r = subprocess.run([node, SCRIPT, str(t.port), tenant, run_id],
                           capture_output=True, text=True, timeout=180, env=env)
        assert r.returncode == 0, r.stderr[-2000:]

        def q(expr, n=len(CLIENTS)):
            out = {}

            def got():
                d = t.get_json("/api/v1/query", {"query": expr}, tenant=tenant)
                out["r"] = d["data"]["result"]
                return len(out["r"]) == n
            wait_until(got, 10, 0.2, expr)
            return out["r"]

        for s in q('mc_requests_total{job="mclients"}'):
            assert s["metric"]["instance"] in CLIENTS and s["metric"]["route"] == "/x", s
            assert s["value"][1] == "7", s   # 5, then 7: cumulative
        for s in q("mc_queue_depth"):
            assert s["value"][1] == "2", s
        for s in q("mc_temperature_celsius"):
            assert s["metric"]["room"] == "a" and s["value"][1] == "21.5", s
        buckets = {}
        for s in q("mc_latency_milliseconds_bucket", 3 * len(CLIENTS)):
            buckets.setdefault(s["metric"]["instance"], {})[s["metric"]["le"]] = s["value"][1]
        for c in CLIENTS:
            assert buckets[c] == {"10": "1", "100": "2", "+Inf": "3"}, buckets
        for s in q("mc_latency_milliseconds_sum"):
            assert s["value"][1] == "555", s
        for s in q("mc_latency_milliseconds_count"):
            assert s["value"][1] == "3", s
        for s in q("target_info"):
            assert s["metric"]["run_id"] == run_id and s["metric"]["job"] == "mclients", s
        md = t.get_json("/api/v1/metadata", {"metric": "mc_requests_total"}, tenant=tenant)
        assert md["data"]["mc_requests_total"][0] == {"type": "counter", "help": "requests",
                                                      "unit": "{request}"}, md
        print("    %d exporters: every series read back" % len(CLIENTS))
    finally:
        t.stop()
        t.cleanup()
