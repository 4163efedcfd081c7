"""Tempo's search API on a real triad with hand-built traces of known
answers: TraceQL filters and structural operators, limit and spss, the
legacy tags= / minDuration search, traces whose spans were cut into
several blocks and open fragments (read whole for structural queries),
time ranges, tenants, tag names and typed tag values (v1 and v2), queries
that match nothing, and the errors of bad queries."""

import os
import struct
import time

from triad import Triad
import test_traces as tt

T = None
NOW = int(time.time() * 1e9)
MS = 10**6


def setup_module():
    global T
    T = Triad().start()
    _load()


def teardown_module():
    if T is not None:
        T.stop()
        T.cleanup()


def tid(i):
    return bytes.fromhex("5e" + "00" * 13) + struct.pack(">H", i)


def sid(t, j):
    return struct.pack(">HHI", 0x5e5e, t, j + 1)


def span(t, j, name, start, dur, parent=None, attrs=(), status=0):
    s = tt.pb_span(tid(t), sid(t, j), name, start, start + dur, attrs=attrs,
                   parent=sid(t, parent) if parent is not None else b"")
    if status:
        s += tt.pb_field(15, 2, tt.pb_field(3, 0, status))
    return s


def post(spans, service, tenant="search"):
    r = T.request("POST", "/v1/traces", body=tt.pb_request(spans, service),
                  headers={"Content-Type": "application/x-protobuf",
                           "X-Scope-OrgID": tenant})
    assert r.status == 200, r.body


def _load():
    # trace 1: frontend GET /cart > checkout POST /pay (error) > db SELECT
    t0 = NOW - 60 * 10**9
    post([span(1, 0, "GET /cart", t0, 100 * MS)], "frontend")
    post([span(1, 1, "POST /pay", t0 + MS, 50 * MS, 0, status=2)], "checkout")
    post([span(1, 2, "SELECT", t0 + 2 * MS, 20 * MS, 1,
               attrs=[("db.system", "postgresql")])], "db")
    # trace 2: a slow frontend request (1.5 s) with one child
    post([span(2, 0, "GET /slow", t0, 1500 * MS),
          span(2, 1, "render", t0 + MS, 10 * MS, 0)], "frontend")
    # traces 10..29: 20 small traces of service "bulk" (limits)
    for i in range(10, 30):
        post([span(i, 0, "op", t0 + i * MS, MS),
              span(i, 1, "child", t0 + i * MS, MS, 0),
              span(i, 2, "child", t0 + i * MS, MS, 0),
              span(i, 3, "child", t0 + i * MS, MS, 0)], "bulk")
    # trace 3: its root now, its child after > 4096 other spans (cut into
    # blocks in between), a grandchild left in the open fragments
    post([span(3, 0, "split-root", t0, 300 * MS)], "split")
    filler = [tt.pb_span(os.urandom(16), os.urandom(8), "filler", t0, t0 + 1)
              for _ in range(5000)]
    post(filler, "filler")
    post([span(3, 1, "split-child", t0 + MS, 100 * MS, 0)], "split")
    post(filler[:4500], "filler2")
    post([span(3, 2, "split-grandchild", t0 + 2 * MS, 10 * MS, 1,
               attrs=[("deep", "yes")])], "split")
    # another tenant: the same trace ids, other names
    r = T.request("POST", "/v1/traces", body=tt.pb_request(
        [span(1, 0, "other tenant", t0, MS)], "frontend"),
        headers={"Content-Type": "application/x-protobuf",
                 "X-Scope-OrgID": "elsewhere"})
    assert r.status == 200


def search(q=None, tenant="search", expect=200, **params):
    if q is not None:
        params["q"] = q
    r = T.get("/api/search", params=params, tenant=tenant)
    assert r.status == expect, (q, params, r.status, r.body[:300])
    return r.json() if expect == 200 else r.text


def ids(doc):
    return sorted(int(t["traceID"], 16) & 0xffff for t in doc["traces"])


def test_filters_and_structure():
    assert ids(search('{ resource.service.name = "db" }')) == [1]
    assert ids(search("{ status = error }")) == [1]
    assert ids(search("{ duration > 1s }")) == [2]
    assert ids(search('{ .db.system = "postgresql" }')) == [1]
    assert ids(search('{ resource.service.name = "frontend" } >> '
                      '{ resource.service.name = "db" }')) == [1]
    assert ids(search('{ resource.service.name = "frontend" } > '
                      '{ resource.service.name = "db" }')) == []
    assert ids(search('{ name = "POST /pay" } < { }')) == [1]
    assert ids(search('{ resource.service.name = "db" } << { name = '
                      '"GET /cart" }')) == [1]
    assert ids(search('{ name = "render" } ~ { }')) == []
    doc = search('{ resource.service.name = "frontend" } >> '
                 '{ resource.service.name = "db" }')
    t = doc["traces"][0]
    assert t["rootServiceName"] == "frontend"
    assert t["rootTraceName"] == "GET /cart"
    assert t["durationMs"] == 100
    ss = t["spanSets"][0]
    assert ss["matched"] == 1
    assert ss["spans"][0]["spanID"] == sid(1, 2).hex()
    assert ss["spans"][0]["durationNanos"] == str(20 * MS)


def test_limit_and_spss():
    doc = search('{ resource.service.name = "bulk" }', limit=5, spss=2)
    assert len(doc["traces"]) == 5
    # the most recent first
    got = [int(t["traceID"], 16) & 0xffff for t in doc["traces"]]
    assert got == [29, 28, 27, 26, 25], got
    for t in doc["traces"]:
        assert t["spanSets"][0]["matched"] == 4
        assert len(t["spanSets"][0]["spans"]) == 2
    doc = search('{ resource.service.name = "bulk" }')
    assert len(doc["traces"]) == 20  # Tempo's default limit
    doc = search('{ resource.service.name = "bulk" } | count() > 3')
    assert len(doc["traces"]) == 20
    assert search('{ resource.service.name = "bulk" } | count() > 4'
                  )["traces"] == []


def test_split_trace_read_whole():
    # its spans lie in several blocks and the open fragments
    assert ids(search('{ name = "split-root" } >> { .deep = "yes" }')) == [3]
    assert ids(search('{ name = "split-root" } > { name = "split-child" }'
                      )) == [3]
    doc = search('{ resource.service.name = "split" } | count() = 3')
    assert ids(doc) == [3]
    doc = search('{ name = "split-grandchild" }')
    assert doc["traces"][0]["rootTraceName"] == "split-root"
    r = tt.get_trace(T, tid(3).hex(), tenant="search")
    assert len(tt.json_spans(r.json())) == 3


def test_legacy_tags_and_durations():
    assert ids(search(tags="service.name=db")) == [1]
    assert ids(search(tags='db.system="postgresql"')) == [1]
    assert ids(search(tags="service.name=frontend", minDuration="1s")) == [2]
    assert ids(search(tags="service.name=frontend", maxDuration="200ms")) \
        == [1]
    search(tags="novalue", expect=400)


def test_nothing_matches_and_time_range():
    assert search('{ resource.service.name = "nomatch" }')["traces"] == []
    assert search('{ .nothing = 5 && status = error }')["traces"] == []
    s = (NOW - 60 * 10**9) // 10**9
    assert ids(search("{ status = error }", start=s - 30, end=s + 30)) == [1]
    assert search("{ status = error }", start=s - 3 * 86400,
                  end=s - 2 * 86400)["traces"] == []


def test_tenants_isolated():
    doc = search('{ name = "other tenant" }', tenant="elsewhere")
    assert ids(doc) == [1]
    assert search('{ name = "other tenant" }')["traces"] == []
    assert search('{ name = "GET /cart" }', tenant="elsewhere")["traces"] == []


def test_bad_queries():
    assert "parse error" in search("{ .a = ", expect=400)
    search('{ .a =~ "(" }', expect=400)
    search("{ } | rate()", expect=400)
    search("{ }", limit="x", expect=400)
    search("{ }", start="abc", expect=400)
    assert T.ready()


def test_tags_and_values():
    r = T.get_json("/api/search/tags", tenant="search")
    assert "db.system" in r["tagNames"] and "service.name" in r["tagNames"]
    r = T.get_json("/api/v2/search/tags", tenant="search")
    scopes = {s["name"]: s["tags"] for s in r["scopes"]}
    assert "service.name" in scopes["resource"]
    assert "db.system" in scopes["span"]
    assert "deep" in scopes["span"]
    assert "duration" in scopes["intrinsic"]
    r = T.get_json("/api/v2/search/tags", params={"scope": "resource"},
                   tenant="search")
    assert [s["name"] for s in r["scopes"]] == ["resource"]
    r = T.get_json("/api/v2/search/tag/resource.service.name/values",
                   tenant="search")
    vals = [v["value"] for v in r["tagValues"]]
    for svc in ("frontend", "checkout", "db", "bulk", "split"):
        assert svc in vals
    assert all(v["type"] == "string" for v in r["tagValues"])
    r = T.get_json("/api/v2/search/tag/status/values", tenant="search")
    assert {"type": "keyword", "value": "error"} in r["tagValues"]
    r = T.get_json("/api/v2/search/tag/name/values", tenant="search")
    assert {"type": "string", "value": "SELECT"} in r["tagValues"]
    r = T.get_json("/api/search/tag/db.system/values", tenant="search")
    assert r["tagValues"] == ["postgresql"]
    r = T.get_json("/api/search/tag/service.name/values", tenant="elsewhere")
    assert r["tagValues"] == ["frontend"]
    r = T.get("/api/v2/search/tag/bogus/values", tenant="search")
    assert r.status == 400
    r = T.get("/api/v2/search/tags", params={"scope": "bogus"},
              tenant="search")
    assert r.status == 400


def test_tag_values_narrowed_by_q():
    """q= narrows tag values to the blocks holding its equalities; an
    incomplete q is completed or cut back, a hopeless one ignored."""
    t0 = NOW - 30 * 10**9
    for svc, prefix in (("svc-a", "a"), ("svc-b", "b")):
        spans = [tt.pb_span(os.urandom(16), os.urandom(8),
                            "%s-%d" % (prefix, i % 3), t0, t0 + 1)
                 for i in range(4200)]  # past a cut: a block of its own
        post(spans, svc, tenant="qfilter")

    def names(q=None):
        params = {"q": q} if q is not None else None
        r = T.get_json("/api/v2/search/tag/name/values", params=params,
                       tenant="qfilter")
        return sorted(v["value"] for v in r["tagValues"])

    every = ["a-0", "a-1", "a-2", "b-0", "b-1", "b-2"]
    assert names() == every
    assert names('{ resource.service.name = "svc-a" }') == every[:3]
    assert names('{ resource.service.name = "svc-b" && ') == every[3:]
    assert names('{ resource.service.name = "svc-b"') == every[3:]
    assert names('{ resource.service.name = ') == every
    assert names('{ resource.service.name = "nope" }') == []
