"""OTLP metrics ingest: requests posted as OTLP/JSON and protobuf (plain and
gzip) to /otlp/v1/metrics, /api/v1/otlp/v1/metrics, /v1/metrics on the
--otlp-http-addr port, and as gRPC MetricsService/Export calls (curl
--http2-prior-knowledge) are read back through /api/v1/query and
/api/v1/series with Prometheus 3's names and labels (unit and type
suffixes, job/instance, classic histogram buckets, summary quantiles,
target_info); delta sums and exponential histograms come back as
partial_success; bad bodies, other content types and the ingestion rate
limit get 400, 415 and 429 (with Retry-After) in the request's content
type."""

import gzip
import json
import os
import shutil
import struct
import subprocess
import tempfile
import time

from triad import Skip, Triad, free_port, http_request, wait_until

METRICS = "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export"
T = None
OTLP_PORT = None


def setup_module():
    global T, OTLP_PORT
    OTLP_PORT = free_port()
    T = Triad(extra_args=["--otlp-http-addr", "127.0.0.1:%d" % OTLP_PORT,
                          "--limits.ingestion-rate", "5000",
                          "--limits.ingestion-burst", "5000"]).start()


def teardown_module():
    if T is not None:
        T.stop()
        T.cleanup()


# ---- protobuf writer -------------------------------------------------------

def varint(v):
    out = b""
    while v >= 0x80:
        out += bytes([(v & 0x7f) | 0x80])
        v >>= 7
    return out + bytes([v])


def fld(no, payload):
    return varint(no << 3 | 2) + varint(len(payload)) + payload


def fuint(no, v):
    return varint(no << 3) + varint(v)


def ffix(no, v):
    return varint(no << 3 | 1) + struct.pack("<Q", v)


def fdbl(no, v):
    return varint(no << 3 | 1) + struct.pack("<d", v)


def kv(k, v):
    return fld(1, k.encode()) + fld(2, fld(1, v.encode()))


def resource(attrs):
    return fld(1, b"".join(fld(1, kv(k, v)) for k, v in attrs))


def pb_request(resource_attrs, metrics):
    scope = fld(1, fld(1, b"bb-scope")) + b"".join(fld(2, m) for m in metrics)
    rm = resource(resource_attrs) + fld(2, scope)
    return fld(1, rm)


def pb_sum(name, unit, points, temporality=2, monotonic=True):
    """points: [(attrs, ts_ns, int value)]"""
    data = b""
    for attrs, ts, v in points:
        dp = b"".join(fld(7, kv(k, val)) for k, val in attrs)
        dp += ffix(3, ts) + ffix(6, v & (2**64 - 1))
        data += fld(1, dp)
    data += fuint(2, temporality) + fuint(3, 1 if monotonic else 0)
    return fld(1, name.encode()) + fld(3, unit.encode()) + fld(7, data)


def pb_gauge(name, unit, points):
    data = b""
    for attrs, ts, v in points:
        dp = b"".join(fld(7, kv(k, val)) for k, val in attrs)
        dp += ffix(3, ts) + fdbl(4, v)
        data += fld(1, dp)
    return fld(1, name.encode()) + fld(3, unit.encode()) + fld(5, data)


# ---- helpers -----------------------------------------------------------------

def post(path, body, ctype, tenant, port=None, gz=False):
    h = {"Content-Type": ctype, "X-Scope-OrgID": tenant}
    if gz:
        body = gzip.compress(body)
        h["Content-Encoding"] = "gzip"
    return http_request(port or T.port, "POST", path, body, h)


def query(expr, tenant):
    return T.get_json("/api/v1/query", {"query": expr}, tenant=tenant)


def vector(expr, tenant, n=1, timeout=10):
    """The result of an instant query once it has n series."""
    out = {}

    def got():
        d = query(expr, tenant)
        out["r"] = d["data"]["result"]
        return len(out["r"]) >= n
    wait_until(got, timeout, 0.2, "%s read back" % expr)
    return out["r"]


def now_ns():
    return time.time_ns()


# ---- tests -----------------------------------------------------------------

def test_json_every_type_read_back():
    ts = now_ns()
    t0 = str(ts)
    early = str(ts - 300 * 10**9)
    req = {"resourceMetrics": [{
        "resource": {"attributes": [
            {"key": "service.name", "value": {"stringValue": "api"}},
            {"key": "service.namespace", "value": {"stringValue": "shop"}},
            {"key": "service.instance.id", "value": {"stringValue": "i-1"}},
            {"key": "host.name", "value": {"stringValue": "h1"}}]},
        "scopeMetrics": [{"scope": {"name": "lib", "version": "1"}, "metrics": [
            {"name": "cpu.utilization", "unit": "1", "gauge": {"dataPoints": [
                {"attributes": [{"key": "http.method", "value": {"stringValue": "GET"}},
                                {"key": "http_method", "value": {"stringValue": "POST"}}],
                 "timeUnixNano": t0, "asDouble": 0.25}]}},
            {"name": "http.requests", "unit": "{request}", "sum": {
                "aggregationTemporality": 2, "isMonotonic": True,
                "dataPoints": [{"timeUnixNano": t0, "asInt": "42"}]}},
            {"name": "queue.depth", "unit": "{item}", "sum": {
                "aggregationTemporality": 2, "isMonotonic": False,
                "dataPoints": [{"timeUnixNano": t0, "asInt": "-3"}]}},
            {"name": "lat", "unit": "ms", "histogram": {
                "aggregationTemporality": "AGGREGATION_TEMPORALITY_CUMULATIVE",
                "dataPoints": [{"timeUnixNano": t0, "count": "10", "sum": 12.5,
                                "bucketCounts": ["1", "2", "3", "4"],
                                "explicitBounds": [0.005, 1, 100]}]}},
            {"name": "rpc", "unit": "s", "summary": {"dataPoints": [
                {"timeUnixNano": t0, "count": "8", "sum": 4,
                 "quantileValues": [{"quantile": 0.5, "value": 0.4},
                                    {"quantile": 0.99, "value": 0.9}]}]}},
            {"name": "deltas", "sum": {
                "aggregationTemporality": 1, "isMonotonic": True,
                "dataPoints": [{"timeUnixNano": early, "asInt": "1"},
                               {"timeUnixNano": t0, "asInt": "1"}]}},
            {"name": "exph", "exponentialHistogram": {
                "aggregationTemporality": 2,
                "dataPoints": [{"timeUnixNano": t0, "count": "1"}]}},
        ]}]}]}
    r = post("/otlp/v1/metrics", json.dumps(req).encode(), "application/json", "om")
    assert r.status == 200, (r.status, r.text)
    assert r.headers["content-type"].startswith("application/json")
    ps = r.json()["partialSuccess"]
    assert ps["rejectedDataPoints"] == "3", ps
    assert 'metric "deltas": delta temporality is not supported' in ps["errorMessage"], ps
    assert 'metric "exph": exponential histograms are not supported' in ps["errorMessage"], ps

    [s] = vector("cpu_utilization_ratio", "om")
    assert s["metric"] == {"__name__": "cpu_utilization_ratio", "http_method": "GET;POST",
                           "job": "shop/api", "instance": "i-1"}, s
    assert s["value"][1] == "0.25"
    [s] = vector("http_requests_total", "om")
    assert s["value"][1] == "42"
    [s] = vector("queue_depth", "om")
    assert s["value"][1] == "-3"
    got = vector("lat_milliseconds_bucket", "om", 4)
    buckets = {x["metric"]["le"]: x["value"][1] for x in got}
    assert buckets == {"0.005": "1", "1": "3", "100": "6", "+Inf": "10"}, buckets
    assert vector("lat_milliseconds_count", "om")[0]["value"][1] == "10"
    assert vector("lat_milliseconds_sum", "om")[0]["value"][1] == "12.5"
    q = {x["metric"]["quantile"]: x["value"][1] for x in vector("rpc_seconds", "om", 2)}
    assert q == {"0.5": "0.4", "0.99": "0.9"}, q
    assert vector("rpc_seconds_count", "om")[0]["value"][1] == "8"
    # the classic histogram works with histogram_quantile
    [h] = vector("histogram_quantile(0.5, lat_milliseconds_bucket)", "om")
    assert 0 < float(h["value"][1]) <= 100, h
    [ti] = vector("target_info", "om")
    assert ti["metric"] == {"__name__": "target_info", "host_name": "h1",
                            "job": "shop/api", "instance": "i-1"}, ti
    # nothing of the rejected metrics
    d = T.get_json("/api/v1/series", {"match[]": '{job="shop/api"}'}, tenant="om")
    names = sorted({x["__name__"] for x in d["data"]})
    assert names == ["cpu_utilization_ratio", "http_requests_total",
                     "lat_milliseconds_bucket", "lat_milliseconds_count",
                     "lat_milliseconds_sum", "queue_depth", "rpc_seconds",
                     "rpc_seconds_count", "rpc_seconds_sum", "target_info"], names
    # metadata from the OTLP metric
    md = T.get_json("/api/v1/metadata", {"metric": "http_requests_total"}, tenant="om")
    assert md["data"]["http_requests_total"][0]["type"] == "counter", md


def test_protobuf_on_every_path():
    ts = now_ns()
    paths = [("/v1/metrics", OTLP_PORT, False), ("/otlp/v1/metrics", None, True),
             ("/api/v1/otlp/v1/metrics", None, False)]
    for i, (path, port, gz) in enumerate(paths):
        body = pb_request([("service.name", "pbsvc")],
                          [pb_sum("bytes.out", "By", [([("path", str(i))], ts, 100 + i)])])
        r = post(path, body, "application/x-protobuf", "om-pb", port=port, gz=gz)
        assert r.status == 200, (path, r.status, r.body)
        assert r.headers["content-type"] == "application/x-protobuf", r.headers
        assert r.body == b"", (path, r.body)   # nothing rejected
    # "bytes" is already a token of the name: no unit suffix
    got = vector('bytes_out_total{job="pbsvc"}', "om-pb", 3)
    assert sorted((x["metric"]["path"], x["value"][1]) for x in got) == \
        [("0", "100"), ("1", "101"), ("2", "102")], got
    # a resource with only service.name has no target_info
    assert query("target_info", "om-pb")["data"]["result"] == []


def test_stale_marker_ends_the_series():
    ts = now_ns()
    g = pb_gauge("temp", "Cel", [([], ts - 10**9, 21.5)])
    r = post("/otlp/v1/metrics", pb_request([("service.name", "st")], [g]),
             "application/x-protobuf", "om-stale")
    assert r.status == 200, r.text
    vector("temp_celsius", "om-stale")
    # flags = 1 (no recorded value): a stale NaN, the series is gone
    dp = ffix(3, ts) + fdbl(4, 0) + fuint(8, 1)
    stale = fld(1, b"temp") + fld(3, b"Cel") + fld(5, fld(1, dp))
    r = post("/otlp/v1/metrics", pb_request([("service.name", "st")], [stale]),
             "application/x-protobuf", "om-stale")
    assert r.status == 200, r.text
    wait_until(lambda: query("temp_celsius", "om-stale")["data"]["result"] == [],
               10, 0.2, "the stale marker")


def h2(path, body, headers):
    with tempfile.TemporaryDirectory() as d:
        hdr, out, src = (os.path.join(d, n) for n in ("h", "o", "b"))
        with open(src, "wb") as f:
            f.write(body)
        cmd = ["curl", "-s", "--http2-prior-knowledge", "-D", hdr, "-o", out,
               "--max-time", "20", "--data-binary", "@" + src]
        for h in headers:
            cmd += ["-H", h]
        cmd.append("http://127.0.0.1:%d%s" % (T.port, path))
        r = subprocess.run(cmd, capture_output=True, timeout=30)
        assert r.returncode == 0, (r.returncode, r.stderr)
        fields = {}
        with open(hdr, "rb") as f:
            for line in f.read().decode("latin-1").splitlines():
                if ":" in line and not line.startswith("HTTP/"):
                    k, v = line.split(":", 1)
                    fields[k.strip().lower()] = v.strip()
        with open(out, "rb") as f:
            return fields, f.read()


def grpc(message, tenant, gz=False):
    flag = 0
    headers = ["content-type: application/grpc", "te: trailers",
               "x-scope-orgid: " + tenant]
    if gz:
        message = gzip.compress(message)
        flag = 1
        headers.append("grpc-encoding: gzip")
    frame = bytes([flag]) + struct.pack(">I", len(message)) + message
    return h2(METRICS, frame, headers)


def test_grpc_export():
    if not shutil.which("curl"):
        raise Skip("curl not installed")
    ts = now_ns()
    body = pb_request([("service.name", "grpcsvc"), ("service.instance.id", "g:1")],
                      [pb_gauge("mem.used", "By", [([("kind", "heap")], ts, 1024.0)])])
    f, resp = grpc(body, "om-grpc")
    assert f.get("grpc-status") == "0", f
    assert resp == b"\x00\x00\x00\x00\x00", resp   # an empty response message
    [s] = vector("mem_used_bytes", "om-grpc")
    assert s["metric"] == {"__name__": "mem_used_bytes", "kind": "heap",
                           "job": "grpcsvc", "instance": "g:1"}, s
    # gzip, and a delta sum: partial_success {rejected_data_points = 1}
    body = pb_request([("service.name", "grpcsvc")],
                      [pb_sum("d", "", [([], ts, 1)], temporality=1)])
    f, resp = grpc(body, "om-grpc", gz=True)
    assert f.get("grpc-status") == "0", f
    msg = resp[5:]
    assert msg[:1] == b"\x0a", msg                    # partial_success
    assert b"\x08\x01" in msg and b"delta temporality" in msg, msg
    # garbage: INVALID_ARGUMENT
    f, _ = grpc(b"\x0a\x05garbage", "om-grpc")
    assert f.get("grpc-status") == "3", f


def test_errors():
    # a body that does not decode: 400 with a Status in the request's type
    r = post("/otlp/v1/metrics", b"{not json", "application/json", "om-err")
    assert r.status == 400, r.status
    assert r.headers["content-type"].startswith("application/json")
    assert r.json()["code"] == 3, r.text
    r = post("/otlp/v1/metrics", b"\x0a\x05garbage", "application/x-protobuf", "om-err")
    assert r.status == 400 and r.headers["content-type"] == "application/x-protobuf", r
    assert b"ExportMetricsServiceRequest" in r.body or b"metrics" in r.body, r.body
    r = post("/otlp/v1/metrics", b"x", "text/plain", "om-err")
    assert r.status == 415, r.status
    # the ingestion rate (5000 samples/s, burst 5000 here): one request
    # larger than the burst passes on a full bucket, the next one right
    # after it gets 429 + Retry-After
    ts = now_ns()
    pts = [([("i", str(i))], ts, float(i)) for i in range(6000)]
    big = pb_request([("service.name", "big")], [pb_gauge("big", "", pts)])
    r = post("/otlp/v1/metrics", big, "application/x-protobuf", "om-rate")
    assert r.status == 200, (r.status, r.body[:200])
    r = post("/otlp/v1/metrics", big, "application/x-protobuf", "om-rate")
    assert r.status == 429, (r.status, r.body[:200])
    assert r.headers.get("retry-after") == "1", r.headers
    assert b"ingestion rate limit" in r.body, r.body[:300]
    # too old: stored nothing, said so in partial_success
    old = pb_gauge("old", "", [([], 10**9, 1.0)])
    r = post("/otlp/v1/metrics", pb_request([("service.name", "o")], [old]),
             "application/x-protobuf", "om-old")
    assert r.status == 200 and b"too old" in r.body, r.body
