"""Tempo's tempopb.StreamingQuerier gRPC service over h2c on the API port,
driven by curl (--http2-prior-knowledge) with request messages built by
hand: Search (TraceQL, limit and spans per span set, legacy tags and
durations, time ranges), SearchTags, SearchTagsV2 (with a scope),
SearchTagValues and SearchTagValuesV2 answer one response message then
trailers with grpc-status 0, and that message says exactly what the HTTP
API answers for the same query; the tenant comes from x-scope-orgid; a bad
query, a bad tag or a malformed message is INVALID_ARGUMENT (the
TraceQL metrics methods: test_tempo_grpc_metrics). A stock gRPC library
(@grpc/grpc-js, from `make node-clients`; skipped without it) reads each
answer as a server stream of one message, the same bytes curl gets."""

import shutil
import struct
import time

from triad import Skip, Triad
import test_grpc as tg
import test_traces as tt

T = None
NOW = int(time.time() * 1e9)
MS = 10**6
SVC = "/tempopb.StreamingQuerier/"


def setup_module():
    global T
    if not shutil.which("curl"):
        raise Skip("curl not installed")
    T = Triad().start()
    tg.T = T  # its h2() helper dials T.port
    _load()


def teardown_module():
    if T is not None:
        T.stop()
        T.cleanup()


# ---- the traces (as tests/blackbox/test_trace_search.py loads them) -------

def tid(i):
    return bytes.fromhex("7e" + "00" * 13) + struct.pack(">H", i)


def sid(t, j):
    return struct.pack(">HHI", 0x7e7e, t, j + 1)


def span(t, j, name, start, dur, parent=None, attrs=(), status=0):
    s = tt.pb_span(tid(t), sid(t, j), name, start, start + dur, attrs=attrs,
                   parent=sid(t, parent) if parent is not None else b"")
    if status:
        s += tt.pb_field(15, 2, tt.pb_field(3, 0, status))
    return s


def post(spans, service, tenant="grpc"):
    r = T.request("POST", "/v1/traces", body=tt.pb_request(spans, service),
                  headers={"Content-Type": "application/x-protobuf",
                           "X-Scope-OrgID": tenant})
    assert r.status == 200, r.body


def _load():
    t0 = NOW - 60 * 10**9
    post([span(1, 0, "GET /cart", t0, 100 * MS)], "frontend")
    post([span(1, 1, "POST /pay", t0 + MS, 50 * MS, 0, status=2)], "checkout")
    post([span(1, 2, "SELECT", t0 + 2 * MS, 20 * MS, 1,
               attrs=[("db.system", "postgresql")])], "db")
    post([span(2, 0, "GET /slow", t0, 1500 * MS),
          span(2, 1, "render", t0 + MS, 10 * MS, 0)], "frontend")
    for i in range(10, 22):
        post([span(i, 0, "op", t0 + i * MS, MS),
              span(i, 1, "child", t0 + i * MS, MS, 0,
                   attrs=[("n", "x%d" % i)]),
              span(i, 2, "child", t0 + i * MS, MS, 0)], "bulk")
    # a trace whose root is not stored
    post([span(40, 1, "orphan", t0, 5 * MS, 0)], "orphans")
    post([span(1, 0, "other tenant", t0, MS)], "frontend", tenant="elsewhere")


# ---- protobuf by hand ------------------------------------------------------

def f_str(no, s):
    return tg.pb_field(no, s.encode() if isinstance(s, str) else s)


def f_uint(no, v):
    return tg.pb_varint(no << 3) + tg.pb_varint(v)


def search_request(q=None, tags=None, min_ms=0, max_ms=0, limit=0, start=0,
                   end=0, spss=0):
    m = b""
    for k, v in (tags or {}).items():
        m += tg.pb_field(1, f_str(1, k) + f_str(2, v))
    for no, v in ((2, min_ms), (3, max_ms), (4, limit), (5, start), (6, end),
                  (9, spss)):
        if v:
            m += f_uint(no, v)
    if q:
        m += f_str(8, q)
    return m


def fields(buf):
    """{field: [values]} of one message."""
    out = {}
    for f, _, v in tt.pb_parse(buf):
        out.setdefault(f, []).append(v)
    return out


def one(fs, no, default=None):
    return fs[no][-1] if no in fs else default


def any_value(buf):
    """An OTLP AnyValue as Tempo's JSON writes it."""
    fs = fields(buf)
    if 1 in fs:
        return {"stringValue": one(fs, 1).decode()}
    if 2 in fs:
        return {"boolValue": bool(one(fs, 2))}
    if 3 in fs:
        v = one(fs, 3)
        return {"intValue": str(v - (1 << 64) if v >= 1 << 63 else v)}
    if 4 in fs:
        return {"doubleValue": struct.unpack("<d", struct.pack(
            "<Q", one(fs, 4)))[0]}
    raise AssertionError("AnyValue %r" % buf)


def kvs(bufs):
    out = []
    for b in bufs:
        fs = fields(b)
        out.append({"key": one(fs, 1, b"").decode(),
                    "value": any_value(one(fs, 2, b""))})
    return out


def spanset(buf):
    fs = fields(buf)
    spans = []
    for sb in fs.get(1, []):
        s = fields(sb)
        d = {"spanID": one(s, 1, b"").decode()}
        if 2 in s:
            d["name"] = one(s, 2).decode()
        d["startTimeUnixNano"] = str(one(s, 3, 0))
        d["durationNanos"] = str(one(s, 4, 0))
        if 5 in s:
            d["attributes"] = kvs(s[5])
        spans.append(d)
    d = {"spans": spans, "matched": one(fs, 2, 0)}
    if 3 in fs:
        d["attributes"] = kvs(fs[3])
    return d


def search_response(buf):
    """A SearchResponse in the shape of Tempo's JSON."""
    fs = fields(buf)
    traces = []
    for tb in fs.get(1, []):
        t = fields(tb)
        d = {"traceID": one(t, 1, b"").decode(),
             "rootServiceName": one(t, 2, b"").decode()}
        if 3 in t:
            d["rootTraceName"] = one(t, 3).decode()
        d["startTimeUnixNano"] = str(one(t, 4, 0))
        d["durationMs"] = one(t, 5, 0)
        if 6 in t:
            d["spanSet"] = spanset(one(t, 6))
        d["spanSets"] = [spanset(b) for b in t.get(7, [])]
        traces.append(d)
    m = fields(one(fs, 2, b""))
    metrics = {"inspectedBytes": str(one(m, 2, 0)),
               "completedJobs": one(m, 4, 0), "totalJobs": one(m, 5, 0)}
    return {"traces": traces, "metrics": metrics}


def call(method, message, tenant="grpc", code=0):
    """One call: the response message (exactly one, then trailers with
    grpc-status `code`), or the grpc-message when code != 0."""
    status, hdrs, body = tg.h2(SVC + method, tg_frame(message),
                               ["content-type: application/grpc",
                                "te: trailers",
                                "x-scope-orgid: " + tenant])
    assert status == 200, (method, status)
    assert hdrs.get("grpc-status") == str(code), (method, hdrs, body[:200])
    if code != 0:
        assert body == b""
        return hdrs.get("grpc-message", "")
    assert hdrs.get("content-type") == "application/grpc"
    assert len(body) >= 5 and body[0] == 0, body[:20]
    n = struct.unpack(">I", body[1:5])[0]
    assert len(body) == 5 + n, "one message, then the trailers"
    return body[5:]


def tg_frame(message):
    return bytes([0]) + struct.pack(">I", len(message)) + message


def http_search(tenant="grpc", **params):
    return T.get_json("/api/search", params=params, tenant=tenant)


def ids(doc):
    return sorted(int(t["traceID"], 16) & 0xffff for t in doc["traces"])


# ---- tests -----------------------------------------------------------------

def test_search_equals_the_http_api():
    s = (NOW - 60 * 10**9) // 10**9
    cases = [
        ('{ resource.service.name = "db" }', {}),
        ("{ status = error }", {}),
        ("{ duration > 1s }", {}),
        ('{ resource.service.name = "frontend" } >> '
         '{ resource.service.name = "db" }', {}),
        ('{ resource.service.name = "bulk" }', {"limit": 5, "spss": 2}),
        ('{ resource.service.name = "bulk" }', {}),
        ('{ .n =~ "x1.*" } | by(resource.service.name)', {}),
        ('{ name = "child" } | select(.n)', {"limit": 3}),
        ('{ name = "orphan" }', {}),
        ('{ resource.service.name = "nomatch" }', {}),
        ("{ status = error }", {"start": s - 30, "end": s + 30}),
        ("{ status = error }", {"start": s - 3 * 86400,
                                "end": s - 2 * 86400}),
    ]
    for q, p in cases:
        want = http_search(q=q, **p)
        got = search_response(call("Search", search_request(q=q, **p)))
        assert got == want, (q, p, got, want)
    doc = search_response(call("Search", search_request(
        q='{ resource.service.name = "bulk" }', limit=5, spss=2)))
    assert len(doc["traces"]) == 5
    assert all(len(t["spanSets"][0]["spans"]) == 2 for t in doc["traces"])
    assert ids(search_response(call("Search", search_request(
        q='{ name = "orphan" }')))) == [40]
    t = search_response(call("Search", search_request(
        q='{ name = "orphan" }')))["traces"][0]
    assert t["rootServiceName"] == "<root span not yet received>"


def test_legacy_tags_and_durations_equal_the_http_api():
    cases = [
        ({"service.name": "db"}, 0, 0, {"tags": "service.name=db"}),
        ({"db.system": "postgresql"}, 0, 0,
         {"tags": 'db.system="postgresql"'}),
        ({"service.name": "frontend"}, 1000, 0,
         {"tags": "service.name=frontend", "minDuration": "1s"}),
        ({"service.name": "frontend"}, 0, 200,
         {"tags": "service.name=frontend", "maxDuration": "200ms"}),
    ]
    for tags, mn, mx, params in cases:
        want = http_search(**params)
        got = search_response(call("Search", search_request(
            tags=tags, min_ms=mn, max_ms=mx)))
        assert got == want, (tags, got, want)
        assert got["traces"], tags
    assert ids(search_response(call("Search", search_request(
        tags={"service.name": "frontend"}, min_ms=1000)))) == [2]


def test_tenant_from_metadata():
    got = search_response(call("Search", search_request(
        q='{ name = "other tenant" }'), tenant="elsewhere"))
    assert ids(got) == [1]
    got = search_response(call("Search", search_request(
        q='{ name = "other tenant" }')))
    assert got["traces"] == []


def tags_response(buf):
    fs = fields(buf)
    return [b.decode() for b in fs.get(1, [])]


def tags_v2_response(buf):
    out = []
    for sb in fields(buf).get(1, []):
        s = fields(sb)
        out.append({"name": one(s, 1, b"").decode(),
                    "tags": [b.decode() for b in s.get(2, [])]})
    return out


def test_tags_equal_the_http_api():
    want = T.get_json("/api/search/tags", tenant="grpc")["tagNames"]
    got = tags_response(call("SearchTags", b""))
    assert got == want and "db.system" in got
    want = T.get_json("/api/v2/search/tags", tenant="grpc")["scopes"]
    got = tags_v2_response(call("SearchTagsV2", b""))
    assert got == want
    assert "intrinsic" in [s["name"] for s in got]
    for scope in ("resource", "span", "intrinsic"):
        want = T.get_json("/api/v2/search/tags", params={"scope": scope},
                          tenant="grpc")["scopes"]
        got = tags_v2_response(call("SearchTagsV2", f_str(1, scope)))
        assert got == want, scope
    got = tags_v2_response(call("SearchTagsV2", f_str(1, "resource") +
                                f_uint(5, 2)))
    assert len(got[0]["tags"]) <= 2
    msg = call("SearchTagsV2", f_str(1, "bogus"), code=3)
    assert "invalid scope" in msg


def test_tag_values_equal_the_http_api():
    for tag in ("service.name", "db.system", "n"):
        want = T.get_json("/api/search/tag/%s/values" % tag,
                          tenant="grpc")["tagValues"]
        got = tags_response(call("SearchTagValues", f_str(1, tag)))
        assert got == want, tag
    for tag in ("resource.service.name", "status", "name", "span.n", ".n"):
        want = T.get_json("/api/v2/search/tag/%s/values" % tag,
                          tenant="grpc")["tagValues"]
        got = []
        for vb in fields(call("SearchTagValuesV2",
                              f_str(1, tag))).get(1, []):
            v = fields(vb)
            got.append({"type": one(v, 1, b"").decode(),
                        "value": one(v, 2, b"").decode()})
        assert got == want, tag
    got = [fields(vb) for vb in fields(call(
        "SearchTagValuesV2", f_str(1, "status"))).get(1, [])]
    assert {(one(v, 1), one(v, 2)) for v in got} >= {(b"keyword", b"error")}
    got = tags_response(call("SearchTagValues", f_str(1, "service.name"),
                             tenant="elsewhere"))
    assert got == ["frontend"]
    call("SearchTagValuesV2", f_str(1, "bogus"), code=3)


def test_errors():
    msg = call("Search", search_request(q="{ .a = "), code=3)
    assert "parse error" in msg, msg
    call("Search", search_request(q="{ } | rate()"), code=3)
    call("Search", b"\x42\x01", code=3)            # Query as a bad LEN
    call("Search", f_uint(8, 1), code=3)           # Query as a varint
    call("SearchTags", b"\x0a\x05ab", code=3)      # truncated scope
    call("NoSuchMethod", b"", code=12)
    assert T.ready()


# ---- a stock gRPC client ---------------------------------------------------

NODE_CLIENT = r"""
const grpc = require('@grpc/grpc-js');
const args = process.argv.slice(1);  // node -e: no script name
const [addr, tenant, calls] = [args[0], args[1], JSON.parse(args[2])];
const client = new grpc.Client(addr, grpc.credentials.createInsecure());
const id = (x) => x;
const out = [];
function next(i) {
  if (i === calls.length) {
    console.log(JSON.stringify(out));
    client.close();
    return;
  }
  const md = new grpc.Metadata();
  md.set('x-scope-orgid', tenant);
  const msgs = [];
  const call = client.makeServerStreamRequest(
      calls[i][0], id, id, Buffer.from(calls[i][1], 'hex'), md);
  call.on('data', (m) => msgs.push(m.toString('hex')));
  call.on('error', () => {});
  call.on('status', (s) => {
    out.push({code: s.code, details: s.details, msgs: msgs});
    next(i + 1);
  });
}
next(0);
"""


def node_calls(calls, tenant="grpc"):
    """[(method, request message)] through @grpc/grpc-js (the library of
    the OpenTelemetry JS gRPC exporters): [{code, details, msgs}]."""
    import json
    import os
    import subprocess
    import test_trace_clients as tc
    node = shutil.which("node") or shutil.which("nodejs")
    mods = os.path.join(tc.TOOLS, "node_modules")
    if not node or not os.path.isdir(os.path.join(mods, "@grpc", "grpc-js")):
        raise Skip("Node.js or @grpc/grpc-js missing (make node-clients)")
    arg = json.dumps([[SVC + m, req.hex()] for m, req in calls])
    r = subprocess.run([node, "-e", NODE_CLIENT, "127.0.0.1:%d" % T.port,
                        tenant, arg], capture_output=True, timeout=60,
                       env=dict(os.environ, NODE_PATH=mods))
    assert r.returncode == 0, r.stderr[-2000:]
    return json.loads(r.stdout)


def test_stock_grpc_client_reads_one_message_streams():
    calls = [("Search", search_request(q='{ resource.service.name = "db" }')),
             ("Search", search_request(tags={"service.name": "frontend"},
                                       min_ms=1000)),
             ("SearchTags", b""),
             ("SearchTagsV2", f_str(1, "resource")),
             ("SearchTagValues", f_str(1, "service.name")),
             ("SearchTagValuesV2", f_str(1, "status"))]
    got = node_calls(calls)
    assert len(got) == len(calls)
    for (method, req), g in zip(calls, got):
        assert g["code"] == 0, (method, g)
        assert len(g["msgs"]) == 1, (method, g)
        assert bytes.fromhex(g["msgs"][0]) == call(method, req), method
    assert ids(search_response(bytes.fromhex(got[0]["msgs"][0]))) == [1]
    bad = node_calls([("Search", search_request(q="{ .a = ")),
                      ("NoSuchMethod", b"")])
    assert bad[0]["code"] == 3 and "parse error" in bad[0]["details"], bad
    assert bad[1]["code"] == 12 and bad[1]["msgs"] == [], bad
