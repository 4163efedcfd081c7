"""TraceQL metrics over Tempo's tempopb.StreamingQuerier gRPC service
(MetricsQueryRange and MetricsQueryInstant) on the API port, driven by
curl (--http2-prior-knowledge) with request messages built by hand over
the traces of test_tempo_grpc: each call answers one response message then
trailers with grpc-status 0, and that message says exactly what the HTTP
API (/api/metrics/query_range, /api/metrics/query) answers for the same
query, range and step (series, labels, samples, promLabels, metrics); the
tenant comes from x-scope-orgid; a query that is not a metrics query, one
that does not parse, a missing query and a malformed message are
INVALID_ARGUMENT."""

import math
import shutil
import struct
import time

from triad import Skip, Triad
import test_grpc as tg
import test_tempo_grpc as tq

T = None
S = 10**9


def setup_module():
    global T
    if not shutil.which("curl"):
        raise Skip("curl not installed")
    T = Triad().start()
    tg.T = T
    tq.T = T
    tq._load()


def teardown_module():
    if T is not None:
        T.stop()
        T.cleanup()


def metrics_request(q=None, start=0, end=0, step=0):
    m = tq.f_str(1, q) if q else b""
    for no, v in ((2, start), (3, end), (4, step)):
        if v:
            m += tq.f_uint(no, v)
    return m


def number(bits):
    """A protobuf double as the HTTP API's JSON writes it."""
    v = struct.unpack("<d", struct.pack("<Q", bits))[0]
    if math.isnan(v):
        return "NaN"
    if math.isinf(v):
        return "Infinity" if v > 0 else "-Infinity"
    return v


def kvs(bufs):
    """OTLP KeyValues as the HTTP API's JSON writes them (a by() value
    that is absent: an empty AnyValue, {})."""
    out = []
    for b in bufs:
        fs = tq.fields(b)
        v = tq.one(fs, 2, b"")
        out.append({"key": tq.one(fs, 1, b"").decode(),
                    "value": tq.any_value(v) if v else {}})
    return out


def metrics_response(buf, instant):
    """A QueryRangeResponse / QueryInstantResponse in the shape of the
    HTTP API's JSON."""
    fs = tq.fields(buf)
    series = []
    for sb in fs.get(1, []):
        s = tq.fields(sb)
        d = {"labels": kvs(s.get(1, []))}
        if instant:
            d["value"] = number(tq.one(s, 2, 0))
        else:
            d["samples"] = []
            for xb in s.get(2, []):
                x = tq.fields(xb)
                ts = tq.one(x, 2, 0)
                ts = ts - (1 << 64) if ts >= 1 << 63 else ts
                d["samples"].append({"timestampMs": str(ts),
                                     "value": number(tq.one(x, 1, 0))})
        d["promLabels"] = tq.one(s, 3, b"").decode()
        assert 4 not in s  # no exemplars
        series.append(d)
    m = tq.fields(tq.one(fs, 2, b""))
    return {"series": series,
            "metrics": {"completedJobs": tq.one(m, 4, 0),
                        "totalJobs": tq.one(m, 5, 0)}}


def http(path, tenant="grpc", **params):
    r = T.get(path, params=params, tenant=tenant)
    assert r.status == 200, (path, params, r.status, r.body[:300])
    return r.json()


QUERIES = [
    "{ } | count_over_time() by (resource.service.name)",
    '{ resource.service.name = "bulk" } | rate()',
    "{ } | max_over_time(duration) by (name)",
    "{ } | quantile_over_time(duration, .5, .9) by (resource.service.name)",
    "{ } | histogram_over_time(duration)",
    "{ } | count_over_time() by (span.n) | topk(3)",
    "{ status = error } | count_over_time()",
    '{ resource.service.name = "nomatch" } | rate()',
]


def _range():
    now = int(time.time())
    return (now - 900) * S, (now + 60) * S


def test_query_range_equals_the_http_api():
    start, end = _range()
    for q in QUERIES:
        for step in (60 * S, 7 * S):
            want = http("/api/metrics/query_range", q=q, start=start,
                        end=end, step="%ds" % (step // S))
            got = metrics_response(tq.call("MetricsQueryRange",
                                           metrics_request(q, start, end,
                                                           step)), False)
            assert got == want, (q, step, got, want)
    got = metrics_response(tq.call("MetricsQueryRange", metrics_request(
        QUERIES[0], start, end, 60 * S)), False)
    names = {s["promLabels"] for s in got["series"]}
    assert '{resource.service.name="bulk"}' in names, names
    assert got["metrics"] == {"completedJobs": 1, "totalJobs": 1}
    # step 0: the HTTP API's default step (the range / 100)
    want = http("/api/metrics/query_range", q=QUERIES[1], start=start,
                end=end)
    got = metrics_response(tq.call("MetricsQueryRange", metrics_request(
        QUERIES[1], start, end)), False)
    assert got == want
    # start and end absent: the last hour, as the HTTP API's since=1h
    got = metrics_response(tq.call("MetricsQueryRange", metrics_request(
        QUERIES[1], step=60 * S)), False)
    assert sum(x["value"] for x in got["series"][0]["samples"]) > 0


def test_query_instant_equals_the_http_api():
    start, end = _range()
    for q in QUERIES:
        want = http("/api/metrics/query", q=q, start=start, end=end)
        got = metrics_response(tq.call("MetricsQueryInstant",
                                       metrics_request(q, start, end)), True)
        assert got == want, (q, got, want)
    got = metrics_response(tq.call("MetricsQueryInstant", metrics_request(
        "{ } | count_over_time() by (resource.service.name)", start, end)),
        True)
    by = {s["promLabels"]: s["value"] for s in got["series"]}
    assert by['{resource.service.name="bulk"}'] == 36, by


def test_tenant_from_metadata():
    start, end = _range()
    q = "{ } | count_over_time()"
    got = metrics_response(tq.call("MetricsQueryInstant", metrics_request(
        q, start, end), tenant="elsewhere"), True)
    assert [s["value"] for s in got["series"]] == [1]
    got = metrics_response(tq.call("MetricsQueryInstant", metrics_request(
        q, start, end), tenant="nobody"), True)
    assert got["series"] == []


def test_errors():
    start, end = _range()
    for m in ("MetricsQueryRange", "MetricsQueryInstant"):
        msg = tq.call(m, metrics_request("{ .a = ", start, end), code=3)
        assert "parse error" in msg, msg
        tq.call(m, metrics_request("{ }", start, end), code=3)
        msg = tq.call(m, b"", code=3)
        assert "missing query" in msg, msg
        tq.call(m, tq.f_uint(1, 7), code=3)           # query as a varint
        tq.call(m, b"\x0a\x05ab", code=3)             # truncated query
        tq.call(m, metrics_request("{ } | rate()", end, start), code=3)
        tq.call(m, metrics_request("{ } | rate()", 1 << 63, 0), code=3)
    msg = tq.call("MetricsQueryRange", metrics_request(
        "{ } | rate()", start, end, 1000), code=3)   # 1 us steps: too many
    assert T.ready()
