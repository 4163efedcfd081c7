"""PromQL HTTP API (/api/v1/query, /api/v1/query_range, format_query,
query_exemplars, rules, alerts): Prometheus 2.53's JSON byte for byte,
error types and status codes."""

import json
import urllib.parse

from triad import Triad

T = None
T0 = 1_700_000_000_000  # ms; old data, accepted through the grace flags


def setup_module():
    global T
    T = Triad(["--late-write-grace", "1000000h", "--retention.metrics", "1000000h",
               "--ingest.creation-grace", "1000000h",
               "--ingest.ooo-window", "1000000h"]).start()
    series = []
    for inst, mul in (("a", 1), ("b", 2)):
        series.append(([("__name__", "up"), ("instance", inst), ("job", "prometheus")],
                       [(T0 + k * 15_000, float(k * mul)) for k in range(21)]))
    series.append(([("__name__", "ratio"), ("job", "x")],
                   [(T0 + k * 15_000, 1.5) for k in range(21)]))
    T.write_v1(series)


def teardown_module():
    if T is not None:
        T.stop()


def get(path, **params):
    return T.get(path, params)


def body(r):
    return r.body.decode()


def compact(obj):
    return json.dumps(obj, separators=(",", ":"))


def test_scalar_shape():
    r = get("/api/v1/query", query="1+1", time="1700000000.123")
    assert r.status == 200, r
    assert r.headers["content-type"].startswith("application/json")
    assert body(r) == '{"status":"success","data":{"resultType":"scalar","result":[1700000000.123,"2"]}}'
    r = get("/api/v1/query", query="0/0", time="1700000000")
    assert body(r) == '{"status":"success","data":{"resultType":"scalar","result":[1700000000,"NaN"]}}'
    r = get("/api/v1/query", query="-1/0", time="1700000000.5")
    assert body(r) == '{"status":"success","data":{"resultType":"scalar","result":[1700000000.500,"-Inf"]}}'
    r = get("/api/v1/query", query="1/3", time="1700000000.05")
    assert body(r) == ('{"status":"success","data":{"resultType":"scalar",'
                       '"result":[1700000000.050,"0.3333333333333333"]}}')


def test_grafana_health_check_post():
    # Grafana's data source test: POST form, query=1+1, time=now
    form = urllib.parse.urlencode({"query": "1+1", "time": "1700000000"}).encode()
    r = T.request("POST", "/api/v1/query", form,
                  {"Content-Type": "application/x-www-form-urlencoded"})
    assert r.status == 200, r
    assert body(r) == '{"status":"success","data":{"resultType":"scalar","result":[1700000000,"2"]}}'


def test_time_defaults_to_now():
    r = get("/api/v1/query", query="time()")
    assert r.status == 200, r
    d = r.json()["data"]
    assert d["resultType"] == "scalar"
    assert abs(d["result"][0] - float(d["result"][1])) < 1


def test_string_shape():
    r = get("/api/v1/query", query='"hello"', time="1700000000")
    assert body(r) == '{"status":"success","data":{"resultType":"string","result":[1700000000,"hello"]}}'


def test_vector_shape():
    r = get("/api/v1/query", query='up{instance="a"}', time="1700000060")
    assert r.status == 200, r
    assert body(r) == ('{"status":"success","data":{"resultType":"vector","result":['
                       '{"metric":{"__name__":"up","instance":"a","job":"prometheus"},'
                       '"value":[1700000060,"4"]}]}}')
    r = get("/api/v1/query", query="ratio", time="1700000060.5")
    assert body(r) == ('{"status":"success","data":{"resultType":"vector","result":['
                       '{"metric":{"__name__":"ratio","job":"x"},"value":[1700000060.500,"1.5"]}]}}')
    r = get("/api/v1/query", query="nothing_here", time="1700000060")
    assert body(r) == '{"status":"success","data":{"resultType":"vector","result":[]}}'


def test_vector_operations():
    r = get("/api/v1/query", query="sum by (job) (up) * 2", time="1700000060")
    assert body(r) == ('{"status":"success","data":{"resultType":"vector","result":['
                       '{"metric":{"job":"prometheus"},"value":[1700000060,"24"]}]}}')
    r = get("/api/v1/query", query='up / ignoring(instance, job) group_left ratio', time="1700000060")
    res = r.json()["data"]["result"]
    assert sorted((x["metric"]["instance"], x["value"][1]) for x in res) == \
        [("a", "2.6666666666666665"), ("b", "5.333333333333333")]


def test_matrix_shape_instant():
    r = get("/api/v1/query", query='up{instance="b"}[30s]', time="1700000030")
    assert body(r) == ('{"status":"success","data":{"resultType":"matrix","result":['
                       '{"metric":{"__name__":"up","instance":"b","job":"prometheus"},'
                       '"values":[[1700000000,"0"],[1700000015,"2"],[1700000030,"4"]]}]}}')


def test_query_range_shape():
    r = get("/api/v1/query_range", query='up', start="1700000000", end="1700000060", step="30")
    assert r.status == 200, r
    assert body(r) == ('{"status":"success","data":{"resultType":"matrix","result":['
                       '{"metric":{"__name__":"up","instance":"a","job":"prometheus"},'
                       '"values":[[1700000000,"0"],[1700000030,"2"],[1700000060,"4"]]},'
                       '{"metric":{"__name__":"up","instance":"b","job":"prometheus"},'
                       '"values":[[1700000000,"0"],[1700000030,"4"],[1700000060,"8"]]}]}}')
    # duration step, scalar expression
    r = get("/api/v1/query_range", query="1+1", start="1700000000", end="1700000060", step="1m")
    assert body(r) == ('{"status":"success","data":{"resultType":"matrix","result":['
                       '{"metric":{},"values":[[1700000000,"2"],[1700000060,"2"]]}]}}')
    # RFC 3339 times and POST form
    form = urllib.parse.urlencode({"query": "count(up)", "start": "2023-11-14T22:13:20Z",
                                   "end": "2023-11-14T22:13:50Z", "step": "15s"}).encode()
    r = T.request("POST", "/api/v1/query_range", form,
                  {"Content-Type": "application/x-www-form-urlencoded"})
    assert body(r) == ('{"status":"success","data":{"resultType":"matrix","result":['
                       '{"metric":{},"values":[[1700000000,"2"],[1700000015,"2"],[1700000030,"2"]]}]}}')
    r = get("/api/v1/query_range", query="nothing_here", start="1700000000", end="1700000060", step="30")
    assert body(r) == '{"status":"success","data":{"resultType":"matrix","result":[]}}'


def test_rate_over_range():
    r = get("/api/v1/query_range", query='rate(up{instance="a"}[1m])',
            start="1700000120", end="1700000180", step="60")
    res = r.json()["data"]["result"]
    assert len(res) == 1 and res[0]["metric"] == {"instance": "a", "job": "prometheus"}
    assert [v[1] for v in res[0]["values"]] == ["0.06666666666666667", "0.06666666666666667"]


def test_warnings_and_infos():
    # Prometheus 2.53's annotations: "warnings" then "infos" after "data",
    # each message with the (line:col) of the expression it is about
    r = get("/api/v1/query_range", query='rate(up{instance="a"}[1m])',
            start="1700000120", end="1700000180", step="60")
    assert body(r).endswith(
        ']}]},"infos":["PromQL info: metric might not be a counter, name does not '
        'end in _total/_sum/_count/_bucket: \\"up\\" (1:6)"]}'), body(r)
    r = get("/api/v1/query", query='sum(\n  increase(up[1m]))', time="1700000180")
    assert r.json()["infos"] == [
        'PromQL info: metric might not be a counter, name does not end in '
        '_total/_sum/_count/_bucket: "up" (2:12)']
    r = get("/api/v1/query", query="quantile(1.5, up)", time="1700000180")
    doc = r.json()
    assert doc["warnings"] == [
        "PromQL warning: quantile value should be between 0 and 1, got 1.5 (1:10)"]
    assert "infos" not in doc
    # histogram buckets (own tenant): a decreasing bucket is fixed, with an
    # info; a bucket without a parsable "le" is skipped, with a warning
    buckets = []
    for le, v in (("1", 5.0), ("2", 3.0), ("+Inf", 6.0), ("x", 1.0)):
        buckets.append(([("__name__", "h_bucket"), ("le", le)],
                        [(T0 + k * 15_000, v) for k in range(5)]))
    T.write_v1(buckets, tenant="annos")
    r = T.get("/api/v1/query", {"query": "histogram_quantile(0.5, h_bucket)",
                                "time": "1700000030"}, tenant="annos")
    doc = r.json()
    assert doc["status"] == "success"
    assert doc["data"]["result"] == [{"metric": {}, "value": [1700000030, "0.6"]}], doc
    assert doc["warnings"] == [
        'PromQL warning: bucket label "le" is missing or has a malformed value '
        'of "x" for metric name "h_bucket" (1:25)']
    assert doc["infos"] == [
        "PromQL info: input to histogram_quantile needed to be fixed for "
        "monotonicity (see https://prometheus.io/docs/prometheus/latest/querying/"
        "functions/#histogram_quantile) for metric name \"\" (1:25)"]
    # at most 10 of a kind, sorted, then a count of the others
    T.write_v1([([("__name__", "m%d" % i), ("i", str(i))], [(T0 + k * 15_000, float(k)) for k in range(5)])
                for i in range(12)], tenant="annos")
    r = T.get("/api/v1/query", {"query": 'rate({__name__=~"m.*"}[1m])',
                                "time": "1700000060"}, tenant="annos")
    infos = r.json()["infos"]
    names = sorted("m%d" % i for i in range(12))[:10]
    assert infos == ['PromQL info: metric might not be a counter, name does not end in '
                     '_total/_sum/_count/_bucket: "%s" (1:6)' % n for n in names] + [
                         "2 more info annotations omitted"], infos
    # no annotations: the keys are absent, not empty
    r = get("/api/v1/query", query="up", time="1700000180")
    assert "warnings" not in r.json() and "infos" not in r.json()


def test_query_limit_flags():
    # --query.max-series / --query.max-samples: 422 execution (the series
    # limit in Mimir's wording, the samples one in Prometheus')
    t = Triad(["--late-write-grace", "1000000h", "--ingest.creation-grace", "1000000h",
               "--retention.metrics", "1000000h", "--query.max-series", "2", "--query.max-samples", "100"]).start()
    try:
        t.write_v1([([("__name__", "up"), ("instance", i)],
                     [(T0 + k * 15_000, float(k)) for k in range(21)]) for i in "abc"])
        r = t.get("/api/v1/query", {"query": 'up{instance=~"a|b"}', "time": "1700000300"})
        assert r.status == 200, r
        r = t.get("/api/v1/query", {"query": "up", "time": "1700000300"})
        assert r.status == 422, r
        assert r.json() == {"status": "error", "errorType": "execution",
                            "error": "the query exceeded the maximum number of series "
                                     "(limit: 2 series, query.max-series): select fewer "
                                     "series or a shorter range"}, r.body
        r = t.get("/api/v1/query_range", {"query": 'up{instance=~"a|b"}',
                                          "start": "1700000000", "end": "1700000300",
                                          "step": "5"})
        assert r.status == 422, r
        assert r.json()["error"] == ("query processing would load too many samples "
                                     "into memory in query execution"), r.body
    finally:
        t.stop()


def err(r, status, etype, msg):
    assert r.status == status, r
    assert body(r) == compact({"status": "error", "errorType": etype, "error": msg}), body(r)


def test_errors():
    r = get("/api/v1/query", query="sum(", time="1700000000")
    assert r.status == 400 and r.json()["errorType"] == "bad_data", r
    assert r.json()["error"].startswith('invalid parameter "query": 1:5: parse error'), r
    err(get("/api/v1/query", query="1", time="abc"), 400, "bad_data",
        'invalid parameter "time": invalid time value for \'time\': cannot parse "abc" to a valid timestamp')
    err(get("/api/v1/query_range", query="1", end="1700000000", step="15"), 400, "bad_data",
        'invalid parameter "start": cannot parse "" to a valid timestamp')
    err(get("/api/v1/query_range", query="1", start="1700000060", end="1700000000", step="15"),
        400, "bad_data", 'invalid parameter "end": end timestamp must not be before start time')
    err(get("/api/v1/query_range", query="1", start="1700000000", end="1700000060", step="0"),
        400, "bad_data", 'invalid parameter "step": zero or negative query resolution step '
        'widths are not accepted. Try a positive integer')
    err(get("/api/v1/query_range", query="1", start="1700000000", end="1700000060", step="x"),
        400, "bad_data", 'invalid parameter "step": cannot parse "x" to a valid duration')
    err(get("/api/v1/query_range", query="1", start="0", end="1700000000", step="1"),
        400, "bad_data", "exceeded maximum resolution of 11,000 points per timeseries. "
        "Try decreasing the query resolution (?step=XX)")
    err(get("/api/v1/query_range", query="up[5m]", start="1700000000", end="1700000060", step="15"),
        400, "bad_data", 'invalid parameter "query": invalid expression type "range vector" '
        'for range query, must be Scalar or instant Vector')
    r = get("/api/v1/query", query="up / on(job) up", time="1700000060")
    assert r.status == 422 and r.json()["errorType"] == "execution", r
    assert "many-to-many matching not allowed: matching labels must be unique on one side" \
        in r.json()["error"]
    r = T.request("DELETE", "/api/v1/query?query=1")
    assert r.status == 405, r


def test_format_query():
    r = get("/api/v1/format_query", query="sum(rate(foo{job=\"a\"}[5m]))by(job)")
    assert body(r) == '{"status":"success","data":"sum by (job) (rate(foo{job=\\"a\\"}[5m]))"}'
    r = get("/api/v1/format_query", query="foo{")
    assert r.status == 400 and r.json()["errorType"] == "bad_data", r


def post_form(path, **params):
    form = urllib.parse.urlencode(params).encode()
    return T.request("POST", path, form,
                     {"Content-Type": "application/x-www-form-urlencoded"})


def test_nul_bytes_in_string_literals():
    # A literal may hold NUL (%00 in the form): Prometheus 2.53 answers with
    # Go's strconv.Quote (\x00) in format_query and "\u0000" in JSON.
    for q in ('"a\x00b"', "'a\x00b'", "`a\x00b`"):
        r = post_form("/api/v1/format_query", query=q)
        assert body(r) == '{"status":"success","data":"\\"a\\\\x00b\\""}', (q, r)
    r = get("/api/v1/format_query", query='"a\x00b"')
    assert body(r) == '{"status":"success","data":"\\"a\\\\x00b\\""}', r
    r = post_form("/api/v1/format_query", query='foo{job="x\x00y", a="\\x00"}')
    assert body(r) == '{"status":"success","data":"foo{a=\\"\\\\x00\\",job=\\"x\\\\x00y\\"}"}', r
    r = post_form("/api/v1/query", query='"a\x00b"', time="1700000000")
    assert body(r) == ('{"status":"success","data":{"resultType":"string",'
                       '"result":[1700000000,"a\\u0000b"]}}'), r
    # An escaped U+FFFD formats as the rune itself, as strconv.Quote does
    # (which Prometheus' lexer would then refuse: "invalid UTF-8 rune").
    r = post_form("/api/v1/format_query", query='"\\uFFFD"')
    assert r.body == '{"status":"success","data":"\\"\ufffd\\""}'.encode(), r


def test_grafana_probes():
    assert body(get("/api/v1/rules")) == '{"status":"success","data":{"groups":[]}}'
    assert body(get("/api/v1/alerts")) == '{"status":"success","data":{"alerts":[]}}'
    r = get("/api/v1/query_exemplars", query="up", start="1700000000", end="1700000060")
    assert body(r) == '{"status":"success","data":[]}'
    r = get("/api/v1/query_exemplars", query="up", start="1700000000000", end="1700000060000")
    assert body(r) == '{"status":"success","data":[]}'
