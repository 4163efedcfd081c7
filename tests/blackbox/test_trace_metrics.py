"""TraceQL metrics (/api/metrics/query_range and /api/metrics/query) on a
real triad over the hand-built traces of test_trace_search: counts and
rates per service, *_over_time aggregates of durations, quantiles and
histograms, topk and value filters, the instant form, and the errors of
bad queries and parameters."""

import time

from triad import Triad
import test_trace_search as ts

T = None


def setup_module():
    global T
    T = Triad().start()
    ts.T = T
    ts._load()


def teardown_module():
    if T is not None:
        T.stop()
        T.cleanup()


def rng(q, expect=200, **kw):
    now = int(time.time())
    params = {"q": q, "start": now - 900, "end": now + 60, "step": "60s"}
    params.update(kw)
    r = T.get("/api/metrics/query_range", params=params, tenant="search")
    assert r.status == expect, (q, r.status, r.body[:300])
    return r.json() if expect == 200 else r.text


def by_label(doc, key):
    out = {}
    for s in doc["series"]:
        labels = {l["key"]: list(l["value"].values())[0] for l in s["labels"]}
        out[labels.get(key)] = sum(x["value"] for x in s["samples"])
    return out


def test_counts_and_rates():
    doc = rng('{ } | count_over_time() by (resource.service.name)')
    got = by_label(doc, "resource.service.name")
    assert got["bulk"] == 80
    assert got["frontend"] == 3
    assert got["checkout"] == 1
    assert got["db"] == 1
    assert got["split"] == 3
    doc = rng('{ resource.service.name = "bulk" } | rate()')
    assert len(doc["series"]) == 1
    total = sum(x["value"] for x in doc["series"][0]["samples"])
    assert abs(total - 80 / 60.0) < 1e-9
    for x in doc["series"][0]["samples"]:
        assert int(x["timestampMs"]) % 60000 == 0


def test_over_time_quantiles_histograms():
    doc = rng('{ resource.service.name = "frontend" } | '
              'max_over_time(duration)')
    assert max(x["value"] for x in doc["series"][0]["samples"]) == 1.5
    doc = rng('{ resource.service.name = "frontend" } | '
              'min_over_time(duration)')
    assert min(x["value"] for x in doc["series"][0]["samples"]) == 0.01
    doc = rng('{ name = "GET /slow" || name = "render" } | '
              'sum_over_time(duration)')
    assert abs(sum(x["value"] for x in doc["series"][0]["samples"]) - 1.51) \
        < 1e-9
    doc = rng('{ resource.service.name = "bulk" } | '
              'quantile_over_time(duration, .5, .9)')
    ps = sorted(l["value"]["doubleValue"] for s in doc["series"]
                for l in s["labels"] if l["key"] == "p")
    assert ps == [0.5, 0.9]
    for s in doc["series"]:
        for x in s["samples"]:
            assert 0.0005 <= x["value"] <= 0.0011  # 1 ms spans, 2^n buckets
    doc = rng('{ resource.service.name = "bulk" } | '
              'histogram_over_time(duration)')
    buckets = {l["value"]["doubleValue"]: sum(x["value"] for x in s["samples"])
               for s in doc["series"] for l in s["labels"]
               if l["key"] == "__bucket"}
    assert sum(buckets.values()) == 80
    assert list(buckets) == [0.001048576]


def test_second_stages_and_instant():
    doc = rng('{ } | count_over_time() by (resource.service.name) | topk(2)')
    got = by_label(doc, "resource.service.name")
    assert set(got) == {"filler", "filler2"}, got
    doc = rng('{ } | count_over_time() by (resource.service.name) | '
              'bottomk(1)')
    assert len(doc["series"]) == 1
    doc = rng('{ } | count_over_time() by (resource.service.name) > 50')
    assert set(by_label(doc, "resource.service.name")) == {
        "filler", "filler2", "bulk"}
    now = int(time.time())
    r = T.get("/api/metrics/query", params={
        "q": '{ } | count_over_time() by (resource.service.name)',
        "start": now - 900, "end": now + 60}, tenant="search")
    assert r.status == 200
    vals = {s["labels"][0]["value"]["stringValue"]: s["value"]
            for s in r.json()["series"]}
    assert vals["bulk"] == 80 and vals["split"] == 3
    assert rng('{ resource.service.name = "nomatch" } | rate()')[
        "series"] == []


def test_compare():
    doc = rng('{ } | compare({ status = error })')
    counts = {}
    for s in doc["series"]:
        labels = {l["key"]: list(l["value"].values())[0] if l["value"]
                  else None for l in s["labels"]}
        key = (labels["__meta_type"],) + tuple(
            (k, v) for k, v in labels.items() if k != "__meta_type")
        counts[key] = sum(x["value"] for x in s["samples"])
    assert counts[("selection", ("name", "POST /pay"))] == 1
    assert counts[("selection", ("resource.service.name", "checkout"))] == 1
    assert counts[("selection_total", ("name", None))] == 1
    assert counts[("baseline_total", ("name", None))] > 9000


def test_errors():
    rng("{ status = error }", expect=400)
    rng("{ } | rate(", expect=400)
    rng("{ } | rate()", step="abc", expect=400)
    rng("{ } | rate()", step="1ms", expect=400)  # too many steps
    r = T.get("/api/metrics/query_range", tenant="search")
    assert r.status == 400
    assert T.ready()
