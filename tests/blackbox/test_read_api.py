"""Prometheus HTTP API metadata endpoints (series, labels, label values,
metadata), remote write 2.0, tenant isolation, /metrics and buildinfo."""

import re
import urllib.parse

import prw
from triad import Triad, now_ms

T = None
NOW = 0

# name, job, instance, method, status
SERIES = [
    ("http_requests_total", "api", "a:1", "GET", "200"),
    ("http_requests_total", "api", "a:1", "GET", "500"),
    ("http_requests_total", "api", "a:1", "POST", "200"),
    ("http_requests_total", "api", "b:1", "GET", "200"),
    ("http_requests_total", "web", "w:1", "GET", "404"),
    ("process_cpu_seconds_total", "api", "a:1", None, None),
    ("process_cpu_seconds_total", "web", "w:1", None, None),
]


def labels_of(s):
    name, job, inst, method, status = s
    ls = [("__name__", name), ("job", job), ("instance", inst)]
    if method:
        ls += [("method", method), ("status", status)]
    return ls


def setup_module():
    global T, NOW
    T = Triad().start()
    NOW = now_ms()
    T.write_v1([(labels_of(s), [(NOW - 60_000 + k * 15_000, float(i * 10 + k)) for k in range(4)])
                for i, s in enumerate(SERIES)])


def rng(**extra):
    p = {"start": "%.3f" % ((NOW - 3_600_000) / 1000), "end": "%.3f" % ((NOW + 60_000) / 1000)}
    p.update(extra)
    return p


def series_set(match, tenant=None, **params):
    r = T.get_json("/api/v1/series", rng(**{"match[]": match}, **params), tenant=tenant)
    assert r["status"] == "success", r
    assert isinstance(r["data"], list)
    return {prw.sorted_labels(d.items()) for d in r["data"]}


def want(pred):
    return {prw.sorted_labels(labels_of(s)) for s in SERIES if pred(s)}


def test_series_matchers():
    assert series_set("http_requests_total") == want(lambda s: s[0] == "http_requests_total")
    # != also matches series without the label (empty value), as in Prometheus
    assert series_set('{job="api",method!="GET"}') == want(
        lambda s: s[1] == "api" and s[3] != "GET")
    assert series_set('{job="api",method=~".+",method!="GET"}') == want(
        lambda s: s[1] == "api" and s[3] is not None and s[3] != "GET")
    # ="" matches series without the label
    assert series_set('{job="web",status=""}') == want(lambda s: s[1] == "web" and s[4] is None)
    assert series_set('http_requests_total{status=~"2.."}') == want(
        lambda s: s[0] == "http_requests_total" and s[4] == "200")
    assert series_set('http_requests_total{status!~"2..|404"}') == want(
        lambda s: s[0] == "http_requests_total" and s[4] == "500")
    # regex is anchored: "a" does not match "api"
    assert series_set('{job=~"a"}') == set()
    assert series_set('{instance=~"a:.*|w:1"}') == want(lambda s: s[2] in ("a:1", "w:1"))
    # several match[] are OR-ed
    got = series_set(['{job="web"}', 'http_requests_total{instance="b:1"}'])
    assert got == want(lambda s: s[1] == "web" or s[2] == "b:1"), got
    assert series_set('{__name__="nonexistent_metric"}') == set()


def test_series_post_form():
    body = urllib.parse.urlencode(rng(**{"match[]": 'http_requests_total{job="web"}'})).encode()
    r = T.request("POST", "/api/v1/series", body,
                  {"Content-Type": "application/x-www-form-urlencoded"})
    assert r.status == 200, r
    got = {prw.sorted_labels(d.items()) for d in r.json()["data"]}
    assert got == want(lambda s: s[0] == "http_requests_total" and s[1] == "web"), got


def test_series_time_range():
    m = {"match[]": "http_requests_total"}
    day = 86_400_000
    past = T.get_json("/api/v1/series", dict(m, start=(NOW - 30 * day) / 1000, end=(NOW - 29 * day) / 1000))
    assert past["data"] == [], past
    future = T.get_json("/api/v1/series", dict(m, start=(NOW + 29 * day) / 1000, end=(NOW + 30 * day) / 1000))
    assert future["data"] == [], future
    # RFC 3339 times are accepted too
    import datetime
    iso = lambda ms: datetime.datetime.fromtimestamp(ms / 1000, datetime.timezone.utc).strftime(
        "%Y-%m-%dT%H:%M:%S.%fZ")
    r = T.get_json("/api/v1/series", dict(m, start=iso(NOW - 600_000), end=iso(NOW + 60_000)))
    assert len(r["data"]) == 5, r


def test_series_limit_warns():
    r = T.get_json("/api/v1/series", rng(**{"match[]": "http_requests_total", "limit": "2"}))
    assert r["status"] == "success"
    assert len(r["data"]) == 2, r
    assert r.get("warnings") and any("limit" in w for w in r["warnings"]), r
    r = T.get_json("/api/v1/series", rng(**{"match[]": "http_requests_total", "limit": "10"}))
    assert len(r["data"]) == 5 and not r.get("warnings"), r


def test_series_errors():
    for params, phrase in (
        ({}, r"no match\[\] parameter provided"),
        ({"match[]": "{"}, "parse error|unexpected|invalid"),
        ({"match[]": '{job=~"("}'}, "parse|regex|missing|invalid"),
        ({"match[]": "up", "start": "abc"}, 'invalid parameter \\\\?"start\\\\?"'),
        ({"match[]": "up", "limit": "-1"}, "limit"),
    ):
        r = T.get("/api/v1/series", params)
        assert r.status == 400, (params, r)
        j = r.json()
        assert j["status"] == "error" and j["errorType"] == "bad_data", j
        assert re.search(phrase, j["error"]), (params, j["error"])
    # a selector of only empty matchers selects everything: Prometheus refuses it
    r = T.get("/api/v1/series", {"match[]": '{job=""}'})
    assert r.status == 400 and r.json()["errorType"] == "bad_data", r


def test_labels():
    r = T.get_json("/api/v1/labels", rng())
    assert r["status"] == "success"
    assert r["data"] == ["__name__", "instance", "job", "method", "status"], r
    r = T.get_json("/api/v1/labels", rng(**{"match[]": "process_cpu_seconds_total"}))
    assert r["data"] == ["__name__", "instance", "job"], r


def test_label_values():
    r = T.get_json("/api/v1/label/job/values", rng())
    assert r == {"status": "success", "data": ["api", "web"]}, r
    r = T.get_json("/api/v1/label/__name__/values", rng())
    assert r["data"] == ["http_requests_total", "process_cpu_seconds_total"], r
    r = T.get_json("/api/v1/label/status/values", rng(**{"match[]": '{job="api"}'}))
    assert r["data"] == ["200", "500"], r
    r = T.get_json("/api/v1/label/nonexistent/values", rng())
    assert r["data"] == [], r
    r = T.get_json("/api/v1/label/instance/values", rng(limit="2"))
    assert r["data"] == ["a:1", "b:1"] and r.get("warnings"), r
    r = T.get("/api/v1/label/1bad/values")
    assert r.status == 400 and r.json()["errorType"] == "bad_data", r


def test_tenant_isolation():
    ts = now_ms()
    T.write_v1([([("__name__", "secret_metric"), ("owner", "a")], [(ts, 42.0)])], tenant="a")
    T.write_v1([([("__name__", "secret_metric"), ("owner", "b")], [(ts, 43.0)])], tenant="b")
    for tenant, other in (("a", "b"), ("b", "a")):
        got = series_set("secret_metric", tenant=tenant)
        assert got == {(("__name__", "secret_metric"), ("owner", tenant))}, (tenant, got)
        r = T.get_json("/api/v1/label/owner/values", rng(), tenant=tenant)
        assert r["data"] == [tenant], (tenant, r)
        r = T.get_json("/api/v1/labels", rng(), tenant=tenant)
        assert r["data"] == ["__name__", "owner"], (tenant, r)
        got = T.read([(prw.EQ, "__name__", "secret_metric")], ts - 1, ts + 1, tenant=tenant)
        want_v = 42.0 if tenant == "a" else 43.0
        assert got == {(("__name__", "secret_metric"), ("owner", tenant)): [(ts, prw.f64_bits(want_v))]}, got
    # the default tenant sees neither
    assert series_set("secret_metric") == set()
    assert T.read([(prw.EQ, "__name__", "secret_metric")], ts - 1, ts + 1) == {}
    assert "owner" not in T.get_json("/api/v1/labels", rng())["data"]


def test_remote_write_v2_with_metadata():
    ts = now_ms() - 1000
    series = [
        {"labels": [("__name__", "v2_requests_total"), ("job", "v2")],
         "samples": [(ts - 1000, 1.0), (ts, 2.5)],
         "metadata": {"type": "counter", "help": "Requests served.", "unit": "requests"}},
        {"labels": [("job", "v2"), ("__name__", "v2_temperature_celsius")],  # unsorted
         "samples": [(ts, -3.25), (ts + 1, ("bits", prw.STALE_NAN_BITS))],
         "metadata": {"type": "gauge", "help": "Temperature.", "unit": "celsius"}},
    ]
    r = T.write_v2(series, tenant="v2")
    assert r.headers.get("x-prometheus-remote-write-samples-written") == "4", r.headers
    got = T.read([(prw.EQ, "job", "v2")], ts - 5000, ts + 5000, tenant="v2")
    assert got == {
        (("__name__", "v2_requests_total"), ("job", "v2")):
            [(ts - 1000, prw.f64_bits(1.0)), (ts, prw.f64_bits(2.5))],
        (("__name__", "v2_temperature_celsius"), ("job", "v2")):
            [(ts, prw.f64_bits(-3.25)), (ts + 1, prw.STALE_NAN_BITS)],
    }, got
    md = T.get_json("/api/v1/metadata", tenant="v2")
    assert md["status"] == "success"
    assert md["data"] == {
        "v2_requests_total": [{"type": "counter", "help": "Requests served.", "unit": "requests"}],
        "v2_temperature_celsius": [{"type": "gauge", "help": "Temperature.", "unit": "celsius"}],
    }, md
    one = T.get_json("/api/v1/metadata", {"metric": "v2_requests_total"}, tenant="v2")
    assert list(one["data"]) == ["v2_requests_total"], one
    lim = T.get_json("/api/v1/metadata", {"limit": "1"}, tenant="v2")
    assert len(lim["data"]) == 1, lim
    # other tenants do not see it
    other = T.get_json("/api/v1/metadata", {"metric": "v2_requests_total"}, tenant="v1")
    assert other["data"] == {}, other


def test_remote_write_v1_metadata():
    T.write_v1([], metadata=[{"family": "v1_queue_length", "type": "gauge",
                              "help": "Items in the queue.", "unit": ""}], tenant="md1")
    md = T.get_json("/api/v1/metadata", {"metric": "v1_queue_length"}, tenant="md1")
    assert md["data"] == {"v1_queue_length": [{"type": "gauge", "help": "Items in the queue.",
                                               "unit": ""}]}, md
    assert T.get_json("/api/v1/metadata", {"metric": "nope"}, tenant="md1")["data"] == {}


def _metric_value(text, name, **labels):
    total, found = 0.0, False
    for line in text.splitlines():
        if not line.startswith(name) or line.startswith("#"):
            continue
        m = re.match(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{.*\})?\s+(\S+)', line)
        if not m or m.group(1) != name:
            continue
        lbl = dict(re.findall(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"', m.group(2) or ""))
        if all(lbl.get(k) == v for k, v in labels.items()):
            total += float(m.group(3))
            found = True
    return total if found else None


def test_self_metrics():
    r = T.get("/metrics")
    assert r.status == 200, r
    assert r.headers.get("content-type", "").startswith("text/plain"), r.headers
    text = r.text
    assert "# TYPE triad_samples_ingested_total counter" in text, text[:500]
    v = _metric_value(text, "triad_samples_ingested_total")
    assert v is not None and v >= len(SERIES) * 4, v
    n = _metric_value(text, "triad_http_requests_total", method="POST", status="204")
    assert n is not None and n >= 1, [l for l in text.splitlines() if "triad_http_requests_total" in l][:5]
    assert re.search(r'triad_http_requests_total\{[^}]*route="', text), "no route label"


def test_buildinfo():
    r = T.get_json("/api/v1/status/buildinfo")
    assert r["status"] == "success", r
    assert "features" not in r["data"], r
    for k in ("version", "revision", "branch", "buildUser", "buildDate", "goVersion"):
        assert k in r["data"], (k, r)
    assert r["data"]["version"], r


def teardown_module():
    if T is not None and T.running():
        assert T.stop() == 0
