"""Exemplars: sent with remote-write 1.0 and 2.0 (with their samples and,
as Prometheus sends them, apart from them) and with OTLP metrics (trace_id
and span_id in hex), stored per series in the shard and served by
/api/v1/query_exemplars (GET and POST) in Prometheus' JSON: the time
range, several selectors, tenants kept apart, exemplars of unknown series
dropped, at most 64 per series (the newest), and still there after a
restart."""

import json
import time
import urllib.parse

import prw
from triad import Triad, http_request, wait_until

T = None


def setup_module():
    global T
    T = Triad().start()


def teardown_module():
    if T is not None:
        T.stop()
        T.cleanup()


def ex_v1(labels, value, ts):
    body = b"".join(prw.pb_bytes(1, prw.pb_bytes(1, n) + prw.pb_bytes(2, v))
                    for n, v in labels)
    return prw.pb_bytes(3, body + prw.pb_double(2, value) + prw.pb_varint(3, ts))


def write_v1(series, tenant):
    """series: [(labels, samples, exemplars)], exemplars [(labels, v, ts)]"""
    out = b""
    for labels, samples, exemplars in series:
        body = prw._labels_pb(labels)
        body += b"".join(prw.pb_bytes(2, prw._sample_pb(t, v)) for t, v in samples)
        body += b"".join(ex_v1(*e) for e in exemplars)
        out += prw.pb_bytes(1, body)
    r = T.write_raw(prw.snappy_compress(out), tenant=tenant)
    assert r.status == 204, (r.status, r.text)
    return r


def write_v2(labels, samples, exemplars, tenant):
    symbols, index = [""], {"": 0}

    def ref(s):
        if s not in index:
            index[s] = len(symbols)
            symbols.append(s)
        return index[s]
    refs = []
    for n, v in labels:
        refs += [ref(n), ref(v)]
    body = prw.pb_bytes(1, b"".join(prw._uvarint(r) for r in refs))
    body += b"".join(prw.pb_bytes(2, prw._sample_pb(t, v)) for t, v in samples)
    for elabels, v, t in exemplars:
        erefs = []
        for n, val in elabels:
            erefs += [ref(n), ref(val)]
        eb = prw.pb_bytes(1, b"".join(prw._uvarint(r) for r in erefs))
        body += prw.pb_bytes(4, eb + prw.pb_double(2, v) + prw.pb_varint(3, t))
    out = b"".join(prw.pb_bytes(4, s) for s in symbols) + prw.pb_bytes(5, body)
    r = T.write_raw(prw.snappy_compress(out), tenant=tenant,
                    headers={"Content-Type": prw.V2_CONTENT_TYPE,
                             "X-Prometheus-Remote-Write-Version": "2.0.0"})
    assert r.status == 204, (r.status, r.text)
    return r


def exemplars(query, start, end, tenant, method="GET"):
    params = {"query": query, "start": "%.3f" % (start / 1000), "end": "%.3f" % (end / 1000)}
    if method == "GET":
        return T.get_json("/api/v1/query_exemplars", params, tenant=tenant)
    body = urllib.parse.urlencode(params).encode()
    r = http_request(T.port, "POST", "/api/v1/query_exemplars", body,
                     {"Content-Type": "application/x-www-form-urlencoded",
                      "X-Scope-OrgID": tenant})
    assert r.status == 200, (r.status, r.text)
    return r.json()


def now_ms():
    return int(time.time() * 1000)


def test_remote_write_1_exemplars_exact_json():
    t = now_ms() - 60000
    r = write_v1([([("__name__", "rq_total"), ("job", "a")], [(t, 1.0)],
                   [([("trace_id", "abc")], 1.5, t - 877)])], "ex1")
    assert r.headers.get("x-prometheus-remote-write-exemplars-written") == "1", r.headers
    got = {}

    def ok():
        got["d"] = exemplars("rq_total", t - 3600000, t + 60000, "ex1")
        return got["d"]["data"] != []
    wait_until(ok, 10, 0.2, "the exemplar read back")
    ts = t - 877
    want = {"status": "success", "data": [{
        "seriesLabels": {"__name__": "rq_total", "job": "a"},
        "exemplars": [{"labels": {"trace_id": "abc"}, "value": "1.5",
                       "timestamp": ts / 1000}]}]}
    assert got["d"] == want, got["d"]
    # the timestamp as Prometheus writes it: seconds and three decimals
    r = T.get("/api/v1/query_exemplars", {"query": "rq_total",
                                           "start": str((t - 3600000) / 1000),
                                           "end": str((t + 60000) / 1000)}, tenant="ex1")
    frac = ts % 1000
    text = '"timestamp":%d%s' % (ts // 1000, ".%03d" % frac if frac else "")
    assert text in r.text, r.text
    # POST, and a range that excludes it
    assert exemplars("rq_total", t - 3600000, t + 60000, "ex1", "POST") == want
    assert exemplars("rq_total", t, t + 60000, "ex1")["data"] == []
    # another tenant sees nothing
    assert exemplars("rq_total", t - 3600000, t + 60000, "other")["data"] == []


def test_exemplars_apart_from_samples_and_unknown_series():
    t = now_ms() - 30000
    write_v1([([("__name__", "lat_bucket"), ("le", "0.5")], [(t, 3.0)], [])], "ex2")
    # Prometheus sends exemplars in series entries of their own
    write_v1([([("__name__", "lat_bucket"), ("le", "0.5")], [],
               [([("trace_id", "t1"), ("span_id", "s1")], 0.3, t + 1)]),
              ([("__name__", "never_written")], [],
               [([("trace_id", "t2")], 1.0, t + 1)])], "ex2")

    def ok():
        return exemplars('{__name__=~"lat_bucket|never_written"}', t - 60000,
                         t + 60000, "ex2")["data"] != []
    wait_until(ok, 10, 0.2, "the exemplar read back")
    d = exemplars('{__name__=~"lat_bucket|never_written"}', t - 60000, t + 60000, "ex2")
    assert len(d["data"]) == 1, d
    assert d["data"][0]["seriesLabels"] == {"__name__": "lat_bucket", "le": "0.5"}
    assert d["data"][0]["exemplars"][0]["labels"] == {"span_id": "s1", "trace_id": "t1"}


def test_remote_write_2_exemplars_and_several_selectors():
    t = now_ms() - 20000
    write_v2([("__name__", "v2_total"), ("job", "b")], [(t, 5.0)],
             [([("trace_id", "v2t")], 2.0, t)], "ex3")
    write_v1([([("__name__", "other_total")], [(t, 1.0)],
               [([("trace_id", "o")], 7.0, t)])], "ex3")

    def ok():
        d = exemplars("v2_total + on() other_total", t - 60000, t + 60000, "ex3")
        return len(d["data"]) == 2
    wait_until(ok, 10, 0.2, "both series' exemplars")
    d = exemplars("sum(rate(v2_total[5m])) / on() group_left other_total",
                  t - 60000, t + 60000, "ex3")
    names = [x["seriesLabels"]["__name__"] for x in d["data"]]
    assert names == ["other_total", "v2_total"], d
    assert d["data"][1]["exemplars"] == [{"labels": {"trace_id": "v2t"}, "value": "2",
                                          "timestamp": t / 1000}], d


def test_otlp_exemplars_with_trace_and_span_ids():
    t_ns = (now_ms() - 10000) * 1000000
    req = {"resourceMetrics": [{
        "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "svc"}}]},
        "scopeMetrics": [{"metrics": [
            {"name": "http.requests", "sum": {
                "aggregationTemporality": 2, "isMonotonic": True,
                "dataPoints": [{"timeUnixNano": str(t_ns), "asInt": "3", "exemplars": [{
                    "timeUnixNano": str(t_ns), "asDouble": 0.25,
                    "traceId": "0102030405060708090a0b0c0d0e0f10",
                    "spanId": "a1a2a3a4a5a6a7a8"}]}]}},
            {"name": "lat", "unit": "s", "histogram": {
                "aggregationTemporality": 2,
                "dataPoints": [{"timeUnixNano": str(t_ns), "count": "2", "sum": 1.0,
                                "bucketCounts": ["1", "1"], "explicitBounds": [0.5],
                                "exemplars": [{"timeUnixNano": str(t_ns), "asDouble": 0.7,
                                               "traceId": "ffffffffffffffffffffffffffffffff"}]}]}},
        ]}]}]}
    r = http_request(T.port, "POST", "/otlp/v1/metrics", json.dumps(req).encode(),
                     {"Content-Type": "application/json", "X-Scope-OrgID": "ex4"})
    assert r.status == 200 and r.json() == {}, (r.status, r.text)
    t = t_ns // 1000000

    def ok():
        return len(exemplars('{job="svc"}', t - 60000, t + 60000, "ex4")["data"]) == 2
    wait_until(ok, 10, 0.2, "the OTLP exemplars")
    d = exemplars('{job="svc"}', t - 60000, t + 60000, "ex4")["data"]
    by = {x["seriesLabels"]["__name__"] + x["seriesLabels"].get("le", ""): x for x in d}
    assert by["http_requests_total"]["exemplars"] == [{
        "labels": {"span_id": "a1a2a3a4a5a6a7a8",
                   "trace_id": "0102030405060708090a0b0c0d0e0f10"},
        "value": "0.25", "timestamp": t / 1000}], by
    # the histogram's exemplar is on the +Inf bucket (0.7 > 0.5)
    assert by["lat_seconds_bucket+Inf"]["exemplars"][0]["labels"] == {
        "trace_id": "ffffffffffffffffffffffffffffffff"}, by


def test_bounded_per_series_and_kept_over_a_restart():
    t = now_ms() - 200000
    write_v1([([("__name__", "many_total")], [(t + i * 1000, float(i)) for i in range(70)],
               [([("trace_id", "x%d" % i)], float(i), t + i * 1000) for i in range(70)])],
             "ex5")

    def ok():
        d = exemplars("many_total", t - 1000, t + 100000, "ex5")["data"]
        return d and len(d[0]["exemplars"]) == 64
    wait_until(ok, 10, 0.2, "64 exemplars")
    d = exemplars("many_total", t - 1000, t + 100000, "ex5")["data"][0]["exemplars"]
    assert [e["labels"]["trace_id"] for e in d] == ["x%d" % i for i in range(6, 70)], d
    # sending them again changes nothing
    write_v1([([("__name__", "many_total")], [(t + 69000, 69.0)],
               [([("trace_id", "x3")], 3.0, t + 3000)])], "ex5")
    T.stop()
    T.start()
    d2 = exemplars("many_total", t - 1000, t + 100000, "ex5")["data"][0]["exemplars"]
    assert d2 == d, d2
    # and the 400 of a bad query
    r = T.get("/api/v1/query_exemplars", {"query": "sum(", "start": "1", "end": "2"})
    assert r.status == 400 and r.json()["errorType"] == "bad_data", r.text
