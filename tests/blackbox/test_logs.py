"""Logs on one node: the captured winston-loki (protobuf, JSON) and pino-loki
pushes are accepted and read back exactly; Loki's push semantics (rejected
lines listed in the 400 body with the others stored, out-of-order window,
exact duplicates dropped, too new / too old, limits, invalid UTF-8, the
legacy /api/prom/push JSON); log queries (order, limit across streams,
direction, categorize-labels, needle filters equal to a grep); the Loki
metadata endpoints; live tail over WebSocket; OTLP logs over HTTP; bad
input of every kind gets Loki's status and leaves the server and the data
intact."""

import gzip
import json
import os
import random
import re
import time
import urllib.parse

import loki
import prw
from triad import Triad, wait_until

HERE = os.path.dirname(os.path.abspath(__file__))
WIRE = os.path.join(HERE, "..", "..", "..", "shared", "wire", "logs")
T = None
# the captured pushes are from 2026-11-24; the clock stands there
CLOCK = "2026-11-24T12:00:00Z"
NOW = 1795521600 * 10**9  # CLOCK in ns
SEC = 10**9


def setup_module():
    global T
    T = Triad(["--debug.fake-clock", CLOCK]).start()


def teardown_module():
    if T:
        T.stop()
        T.cleanup()


def _wire(name):
    with open(os.path.join(WIRE, name + ".json")) as f:
        meta = json.load(f)
    with open(os.path.join(WIRE, meta["body_file"]), "rb") as f:
        body = f.read()
    headers = {k: v for k, v in meta["headers"]
               if k.lower() in ("content-type", "x-scope-orgid", "content-encoding")}
    return meta, body, headers


def _golden_expected(name, body, headers):
    """[(labels dict, ts, line, meta)] that the capture pushes."""
    out = []
    if "json" in headers.get("Content-Type", headers.get("content-type", "")):
        for s in json.loads(body)["streams"]:
            for v in s["values"]:
                out.append((s["stream"], int(v[0]), v[1], v[2] if len(v) > 2 else {}))
    else:
        for text, es in loki.decode_push(body):
            labels = {m.group(1): json.loads('"%s"' % m.group(2)) for m in
                      re.finditer(r'([A-Za-z_][A-Za-z0-9_]*)="((?:[^"\\]|\\.)*)"', text)}
            for ts, line, meta in es:
                out.append((labels, ts, line.decode(), meta))
    return out


def test_golden_pushes_read_back_exactly():
    for name in ("winston-proto_001_http_loki_api_v1_push", "winston-json_001_http_loki_api_v1_push",
                 "pino_001_http_loki_api_v1_push"):
        meta, body, headers = _wire(name)
        tenant = "golden-" + name.split("_")[0]
        headers["X-Scope-OrgID"] = tenant
        r = T.request("POST", meta["path"], body, headers)
        assert r.status == 204, "%s: %d %s" % (name, r.status, r.text)
        want = _golden_expected(name, body, headers)
        assert want, name
        ts = [w[1] for w in want]
        r = loki.query_range(T, '{job="triad-harness"}', min(ts), max(ts) + 1, limit=5000,
                             tenant=tenant, headers={"X-Loki-Response-Encoding-Flags":
                                                     "categorize-labels"})
        data = r.json()["data"]
        assert data["encodingFlags"] == ["categorize-labels"]
        got = []
        for s in data["result"]:
            for v in s["values"]:
                md = v[2].get("structuredMetadata", {}) if len(v) > 2 else {}
                got.append((s["stream"], int(v[0]), v[1], md))
        assert len(got) == len(want), "%s: %d lines back, %d pushed" % (name, len(got), len(want))
        for labels, t, line, md in want:
            match = [g for g in got if g[1] == t and g[2] == line and
                     all(g[0].get(k) == v for k, v in labels.items())]
            assert match, "%s: line %r at %d not read back" % (name, line[:80], t)
            g = match[0]
            # enrichment: service_name from the job label, detected_level
            assert g[0]["service_name"] == "triad-harness", g[0]
            for k, v in md.items():
                # metadata named like a stream label gets Loki's suffix
                name = k + "_extracted" if k in labels else k
                assert g[3].get(name) == v, (name, g[3])
            assert "detected_level" in g[3], g[3]


def test_push_semantics_rejects_listed_others_stored():
    tenant = "sem"
    base = NOW - 90 * 60 * SEC
    big = "x" * (256 * 1024 + 1)
    r = loki.push_json(T, [
        ({"app": "a"}, [(base, "line one"), (base + SEC, big), (base + 2 * SEC, "line three"),
                        (NOW + 3600 * SEC, "from the future"), (NOW - 3 * 86400 * SEC, "ancient")]),
    ], tenant=tenant, expect=400)
    body = r.text
    assert "max entry size '262144' bytes exceeded for stream '{app=\"a\", service_name=\"a\"}'" \
        in body, body
    assert "has timestamp too new" in body and "has timestamp too old" in body, body
    assert len([ln for ln in body.split("\n") if ln]) == 3, body
    got = loki.entries(loki.query_range(T, '{app="a"}', base - SEC, NOW, tenant=tenant))
    assert [e[1] for e in got] == ["line one", "line three"], got

    # exact duplicates are dropped silently; same ts other line kept
    loki.push_json(T, [({"app": "a"}, [(base, "line one"), (base, "line one bis")])], tenant=tenant)
    got = loki.entries(loki.query_range(T, '{app="a"}', base - SEC, NOW, tenant=tenant))
    assert [e[1] for e in got] == ["line one", "line one bis", "line three"], got

    # out of order: within an hour of the stream's newest accepted, beyond refused
    loki.push_json(T, [({"app": "a"}, [(base + 3600 * SEC, "newest")])], tenant=tenant)
    loki.push_json(T, [({"app": "a"}, [(base + 1800 * SEC, "late but fine")])], tenant=tenant)
    r = loki.push_json(T, [({"app": "a"}, [(base - 100 * SEC, "too far behind")])],
                       tenant=tenant, expect=400)
    assert "entry too far behind" in r.text, r.text
    got = [e[1] for e in loki.entries(loki.query_range(T, '{app="a"}', base - 200 * SEC, NOW,
                                                       tenant=tenant))]
    assert "late but fine" in got and "too far behind" not in got, got


def test_labels_and_utf8():
    tenant = "lab"
    ts = NOW - 60 * SEC
    many = {"l%d" % i: "v" for i in range(1000)}
    r = loki.push_json(T, [(many, [(ts, "x")]), ({"app": "ok"}, [(ts, "kept")])],
                       tenant=tenant, expect=400)
    assert "label names; limit 15" in r.text, r.text[:300]
    # unescaped backslashes in a protobuf label text are tolerated
    loki.push_pb(T, [('{app="win", path="C:\\Users\\x"}', [(ts, b"bad \xff\xfe utf8")])],
                 tenant=tenant)
    got = loki.entries(loki.query_range(T, '{app="win"}', ts - SEC, NOW, tenant=tenant))
    assert len(got) == 1 and got[0][1] == "bad \ufffd\ufffd utf8", got
    assert got[0][2]["path"] == "C:\\Users\\x", got
    got = loki.entries(loki.query_range(T, '{app="ok"}', ts - SEC, NOW, tenant=tenant))
    assert [e[1] for e in got] == ["kept"]


def test_bad_bodies_get_400_and_change_nothing():
    tenant = "bad"
    ts = NOW - 10 * SEC
    loki.push_json(T, [({"app": "keep"}, [(ts, "precious")])], tenant=tenant)
    h = {"X-Scope-OrgID": tenant}
    cases = [
        ({"Content-Type": "application/x-protobuf"}, b"\xff\xff\xff\xff not snappy"),
        ({"Content-Type": "application/x-protobuf"}, prw.snappy_compress(b"\x0a\xff\xff\xff")),
        ({"Content-Type": "application/json"}, b'{"streams": [{"stream": '),
        ({"Content-Type": "application/json"}, b'{"streams": [{"stream": {"a": "b"}, '
                                               b'"values": [["notanumber", "x"]]}]}'),
        ({"Content-Type": "application/json", "Content-Encoding": "gzip"}, b"not gzip"),
    ]
    for extra, body in cases:
        hh = dict(h)
        hh.update(extra)
        r = T.request("POST", "/loki/api/v1/push", body, hh)
        assert r.status == 400, (extra, body[:40], r.status, r.text)
    # gzip JSON works
    body = json.dumps({"streams": [{"stream": {"app": "gz"}, "values": [[str(ts), "zipped"]]}]})
    r = T.request("POST", "/loki/api/v1/push", gzip.compress(body.encode()),
                  {"X-Scope-OrgID": tenant, "Content-Type": "application/json",
                   "Content-Encoding": "gzip"})
    assert r.status == 204, r.text
    # a query of death: deep nesting, a huge regex
    form = dict(h)
    form["Content-Type"] = "application/x-www-form-urlencoded"
    deep = "sum(" * 2000 + 'count_over_time({app="keep"}[1m])' + ")" * 2000
    r = T.request("POST", "/loki/api/v1/query", urllib.parse.urlencode(
        {"query": deep}).encode(), form)
    assert r.status == 400, (r.status, r.text[:200])
    r = T.request("POST", "/loki/api/v1/query_range", urllib.parse.urlencode(
        {"query": '{app="keep"} |~ "' + "((a|b)*)*c" * 3000 + '"'}).encode(), form)
    assert r.status == 400, (r.status, r.text[:200])
    assert T.ready()
    got = loki.entries(loki.query_range(T, '{app=~"keep|gz"}', ts - SEC, NOW, tenant=tenant))
    assert sorted(e[1] for e in got) == ["precious", "zipped"], got


def test_legacy_prom_push():
    tenant = "legacy"
    body = {"streams": [{"labels": '{app="old"}', "entries": [
        {"ts": "2026-11-24T11:59:00.5Z", "line": "legacy one"},
        {"ts": "2026-11-24T11:59:01Z", "line": "legacy two"}]}]}
    r = T.request("POST", "/api/prom/push", json.dumps(body).encode(),
                  {"X-Scope-OrgID": tenant, "Content-Type": "application/json"})
    assert r.status == 204, r.text
    got = loki.entries(loki.query_range(T, '{app="old"}', NOW - 120 * SEC, NOW, tenant=tenant))
    assert [(e[0], e[1]) for e in got] == [(NOW - 60 * SEC + SEC // 2, "legacy one"),
                                          (NOW - 59 * SEC, "legacy two")], got


def test_log_queries_order_limit_direction():
    tenant = "order"
    base = NOW - 600 * SEC
    streams = []
    for s in range(3):
        streams.append(({"app": "o", "pod": str(s)},
                        [(base + (i * 3 + s) * SEC, "pod %d line %d" % (s, i)) for i in range(20)]))
    loki.push_json(T, streams, tenant=tenant)
    allts = sorted(base + k * SEC for k in range(60))
    r = loki.query_range(T, '{app="o"}', base, NOW, limit=7, direction="backward", tenant=tenant)
    got = sorted((e[0] for e in loki.entries(r)), reverse=True)
    assert got == allts[::-1][:7], got
    r = loki.query_range(T, '{app="o"}', base, NOW, limit=7, direction="forward", tenant=tenant)
    got = sorted(e[0] for e in loki.entries(r))
    assert got == allts[:7], got
    res = r.json()["data"]["result"]
    assert all(s["stream"]["app"] == "o" for s in res) and len(res) == 3
    # filters and a parser
    r = loki.query_range(T, '{app="o"} |= "line 1" | regexp "pod (?P<p>\\\\d)"', base, NOW,
                         limit=100, tenant=tenant)
    got = loki.entries(r)
    assert sorted(e[1] for e in got) == sorted("pod %d line %d" % (s, i) for s in range(3)
                                               for i in range(20) if "line 1" in
                                               "pod %d line %d" % (s, i))
    assert all(e[2]["p"] == e[1][4] for e in got)
    # a metric query and Grafana's health check
    r = T.request("GET", "/loki/api/v1/query?" + urllib.parse.urlencode(
        {"query": "vector(1)+vector(1)", "time": str(NOW // SEC)}))
    assert r.status == 200 and r.json()["data"]["result"][0]["value"][1] == "2", r.text
    r = T.request("GET", "/loki/api/v1/query?" + urllib.parse.urlencode(
        {"query": '{app="o"}'}), None, {"X-Scope-OrgID": tenant})
    assert r.status == 400, r.text
    r = T.request("GET", "/loki/api/v1/query?" + urllib.parse.urlencode(
        {"query": 'sum by (pod) (count_over_time({app="o"}[11m]))', "time": str(NOW // SEC)}),
        None, {"X-Scope-OrgID": tenant})
    res = r.json()["data"]["result"]
    assert sorted((x["metric"]["pod"], x["value"][1]) for x in res) == \
        [("0", "20"), ("1", "20"), ("2", "20")], res


def test_needle_equals_grep():
    tenant = "needle"
    rnd = random.Random(7)
    base = NOW - 3000 * SEC
    ids = ["%032x" % rnd.getrandbits(128) for _ in range(50)]
    lines = []
    for i in range(4000):
        tid = ids[rnd.randrange(len(ids))]
        lines.append((base + i * SEC // 2, 'level=info msg="request %d" trace_id=%s took=%dms'
                      % (i, tid, rnd.randrange(500))))
    for k in range(0, len(lines), 1000):
        loki.push_json(T, [({"app": "needle"}, lines[k:k + 1000])], tenant=tenant)
    for needle in ids[:5] + ["%032x" % 12345, "took=42ms", "request 39"]:
        want = sum(1 for _, ln in lines if needle in ln)
        q = 'sum(count_over_time({app="needle"} |= "%s" [1h]))' % needle
        r = T.request("GET", "/loki/api/v1/query?" + urllib.parse.urlencode(
            {"query": q, "time": str(NOW // SEC)}), None, {"X-Scope-OrgID": tenant})
        assert r.status == 200, r.text
        res = r.json()["data"]["result"]
        got = int(res[0]["value"][1]) if res else 0
        assert got == want, (needle, got, want)


def test_metadata_endpoints():
    tenant = "meta"
    ts = NOW - 120 * SEC
    loki.push_json(T, [({"app": "m", "env": "prod"}, [(ts, "a"), (ts + 1, "bb")]),
                       ({"app": "n", "env": "dev"}, [(ts, "ccc")])], tenant=tenant)
    h = {"X-Scope-OrgID": tenant}
    rng = {"start": str(ts - SEC), "end": str(NOW)}

    def get(path, **p):
        p.update(rng)
        r = T.request("GET", path + "?" + urllib.parse.urlencode(p), None, h)
        assert r.status == 200, (path, r.status, r.text)
        return r.json()
    assert get("/loki/api/v1/labels")["data"] == ["app", "env", "service_name"]
    assert get("/loki/api/v1/label/env/values")["data"] == ["dev", "prod"]
    assert get("/loki/api/v1/label/app/values", query='{env="dev"}')["data"] == ["n"]
    series = get("/loki/api/v1/series", **{"match[]": '{app=~".+"}'})["data"]
    assert sorted(s["app"] for s in series) == ["m", "n"], series
    st = get("/loki/api/v1/index/stats", query='{app="m"}')
    assert st["streams"] == 1 and st["entries"] == 2 and st["bytes"] == 3, st
    vol = get("/loki/api/v1/index/volume", query='{app=~".+"}', targetLabels="env")
    assert [(x["metric"], x["value"][1]) for x in vol["data"]["result"]] == \
        [({"env": "dev"}, "3"), ({"env": "prod"}, "3")] or \
        sorted(x["value"][1] for x in vol["data"]["result"]) == ["3", "3"], vol
    dl = get("/loki/api/v1/detected_labels", query='{app=~".+"}')
    assert {"label": "env", "cardinality": 2} in dl["detectedLabels"], dl
    bi = T.get_json("/loki/api/v1/status/buildinfo")
    assert bi["version"].startswith("3."), bi
    fq = T.get_json("/loki/api/v1/format_query?" + urllib.parse.urlencode(
        {"query": '{app="m"}|="x"|json'}))
    assert fq["data"] == '{app="m"} |= "x" | json', fq
    assert T.get("/loki/api/v1/drilldown-limits").status == 200
    assert T.get("/loki/api/v2alpha/tail").status == 404


def test_tail_receives_entries_pushed_after_connecting():
    tenant = "tail"
    q = urllib.parse.urlencode({"query": '{app="t"}', "start": str(NOW - 60 * SEC)})
    ws = loki.WebSocket(T.port, "/loki/api/v1/tail?" + q, {"X-Scope-OrgID": tenant})
    assert ws.status == 101, ws.head
    op, first = ws.recv()
    assert op == 1
    assert json.loads(first)["streams"] == [], first
    seen = []
    for i in range(3):
        loki.push_json(T, [({"app": "t"}, [(NOW - 5 * SEC + i, "tailed %d" % i)])],
                       tenant=tenant)
    deadline = time.time() + 15
    while len(seen) < 3 and time.time() < deadline:
        op, msg = ws.recv()
        frame = json.loads(msg)
        assert "dropped_entries" in frame
        for s in frame["streams"]:
            assert s["stream"]["app"] == "t"
            seen += [v[1] for v in s["values"]]
    ws.close()
    assert seen == ["tailed 0", "tailed 1", "tailed 2"], seen
    bad = loki.WebSocket(T.port, "/loki/api/v1/tail?" + urllib.parse.urlencode(
        {"query": "sum(rate({a=\"b\"}[1m]))"}))
    assert bad.status == 400


def test_otlp_logs_json_and_protobuf_content_types():
    tenant = "otlp"
    ts = NOW - 30 * SEC
    req = {"resourceLogs": [{"resource": {"attributes": [
        {"key": "service.name", "value": {"stringValue": "checkout"}},
        {"key": "host.name", "value": {"stringValue": "vm1"}}]},
        "scopeLogs": [{"scope": {"name": "lib"}, "logRecords": [
            {"timeUnixNano": str(ts), "severityNumber": 17, "severityText": "ERROR",
             "body": {"stringValue": "payment failed"},
             "traceId": "5b8efff798038103d269b633813fc60c", "spanId": "eee19b7ec3c1b174",
             "attributes": [{"key": "order.id", "value": {"intValue": "42"}}]}]}]}]}
    r = T.request("POST", "/otlp/v1/logs", json.dumps(req).encode(),
                  {"Content-Type": "application/json", "X-Scope-OrgID": tenant})
    assert r.status == 200, r.text
    assert r.json() == {}, r.text
    r = loki.query_range(T, '{service_name="checkout"}', ts - SEC, NOW, tenant=tenant,
                         headers={"X-Loki-Response-Encoding-Flags": "categorize-labels"})
    res = r.json()["data"]["result"]
    assert len(res) == 1 and res[0]["stream"] == {"service_name": "checkout"}, res
    v = res[0]["values"][0]
    assert v[1] == "payment failed"
    md = v[2]["structuredMetadata"]
    assert md["trace_id"] == "5b8efff798038103d269b633813fc60c", md
    assert md["span_id"] == "eee19b7ec3c1b174" and md["order_id"] == "42", md
    assert md["host_name"] == "vm1" and md["severity_text"] == "ERROR", md
    assert md["detected_level"] == "error", md
    # needle over metadata: | trace_id="..."
    r = loki.query_range(T, '{service_name="checkout"} | trace_id="5b8efff798038103d269b633813fc60c"',
                         ts - SEC, NOW, tenant=tenant)
    assert len(loki.entries(r)) == 1
    r = T.request("POST", "/otlp/v1/logs", b"\x0a\x05garbage",
                  {"Content-Type": "application/x-protobuf", "X-Scope-OrgID": tenant})
    assert r.status == 400, r.status
    r = T.request("POST", "/otlp/v1/logs", b"<xml/>", {"Content-Type": "text/xml"})
    assert r.status == 415, r.status


def test_detected_fields_and_patterns():
    tenant = "drill"
    base = NOW - 600 * SEC
    lines = []
    for i in range(120):
        if i % 2:
            lines.append((base + i * SEC, 'level=info status=%d took=%dms path=/api/%d'
                          % (200 + (i % 3), i, i % 4)))
        else:
            lines.append((base + i * SEC, json.dumps({"level": "warn", "msg": "slow request %d took too long" % i,
                                                      "req": {"id": i, "ok": i % 4 == 0}})))
    loki.push_json(T, [({"app": "drill", "fmt": "logfmt"}, lines[1::2]),
                       ({"app": "drill", "fmt": "json"}, lines[0::2])], tenant=tenant)
    h = {"X-Scope-OrgID": tenant}
    p = {"query": '{app="drill"}', "start": str(base - SEC), "end": str(NOW)}
    r = T.request("GET", "/loki/api/v1/detected_fields?" + urllib.parse.urlencode(p), None, h)
    assert r.status == 200, r.text
    fields = {f["label"]: f for f in r.json()["fields"]}
    assert fields["status"]["type"] == "int" and fields["status"]["cardinality"] == 3, fields
    assert fields["status"]["parsers"] == ["logfmt"], fields["status"]
    assert fields["took"]["type"] == "duration", fields["took"]
    assert fields["req_id"]["parsers"] == ["json"] and fields["req_id"]["jsonPath"] == \
        ["req", "id"], fields["req_id"]
    assert fields["req_ok"]["type"] == "boolean", fields["req_ok"]
    assert fields["detected_level"]["parsers"] is None, fields["detected_level"]
    r = T.request("GET", "/loki/api/v1/detected_field/status/values?" +
                  urllib.parse.urlencode(p), None, h)
    assert r.json()["values"] == ["200", "201", "202"], r.text
    p["step"] = "60s"
    r = T.request("GET", "/loki/api/v1/patterns?" + urllib.parse.urlencode(p), None, h)
    assert r.status == 200, r.text
    assert "\\u003c_\\u003e" in r.text, r.text[:300]
    data = r.json()["data"]
    assert data, r.text
    total = sum(c for pt in data for _, c in pt["samples"])
    assert total == 120, (total, [(pt["pattern"], pt["level"]) for pt in data])
    assert {pt["level"] for pt in data} == {"info", "warn"}, data
