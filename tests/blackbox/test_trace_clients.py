"""Stock trace clients against triad: the OpenTelemetry JS SDK
(sdk-trace-base) builds traces with known ids, names, kinds, times,
attributes of every type, events, links and statuses over three services
(three resources, several scopes), plus one trace of 1,501 spans (~630 KB
as protobuf, 1.1 MB as JSON: many HTTP/2 DATA frames, HTTP chunks and,
through the SDK's BatchSpanProcessor, several requests), and the stock
exporters send them
(tests/clients/trace_clients.js): exporter-trace-otlp-grpc (h2c on the API
port, plain and gzip, and on --otlp-grpc-addr), exporter-trace-otlp-proto
(/v1/traces through the SDK's BatchSpanProcessor, and gzip to
/otlp/v1/traces) and exporter-trace-otlp-http (OTLP/JSON to
/otlp/v1/traces, and gzip to /v1/traces). Every trace is read back through
Tempo's /api/traces/<id> and /api/v2/traces/<id>, as JSON and as OTLP
protobuf, and compared span for span with what the script says it sent.

The clients are npm packages at the versions of tests/clients/package.json,
installed into build/tools/node-clients (`make node-clients`); without
Node.js or the npm registry the test is skipped with a notice."""

import base64
import json
import os
import shutil
import struct
import subprocess

from triad import Skip, Triad, free_port, wait_until
from test_traces import pb_parse

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", ".."))
TOOLS = os.path.join(REPO, "build", "tools", "node-clients")
SCRIPT = os.path.join(REPO, "tests", "clients", "trace_clients.js")
CLIENTS = ["grpc", "grpc-gzip", "grpc-port", "proto", "proto-gzip", "json",
           "json-gzip"]
TENANT = "trace-clients"
KINDS = {"SPAN_KIND_UNSPECIFIED": 0, "SPAN_KIND_INTERNAL": 1,
         "SPAN_KIND_SERVER": 2, "SPAN_KIND_CLIENT": 3,
         "SPAN_KIND_PRODUCER": 4, "SPAN_KIND_CONSUMER": 5}
CODES = {"STATUS_CODE_UNSET": 0, "STATUS_CODE_OK": 1, "STATUS_CODE_ERROR": 2}


def _ensure_clients():
    node = shutil.which("node") or shutil.which("nodejs")
    if not node or not shutil.which("npm"):
        raise Skip("Node.js / npm not installed (apt-get install nodejs npm)")
    mods = os.path.join(TOOLS, "node_modules", "@opentelemetry")
    if not all(os.path.isdir(os.path.join(mods, p)) for p in (
            "exporter-trace-otlp-grpc", "exporter-trace-otlp-proto",
            "exporter-trace-otlp-http", "sdk-trace-base")):
        os.makedirs(TOOLS, exist_ok=True)
        shutil.copy(os.path.join(REPO, "tests", "clients", "package.json"), TOOLS)
        r = subprocess.run(["npm", "install", "--no-audit", "--no-fund", "--prefix", TOOLS],
                           capture_output=True, text=True, timeout=600)
        if r.returncode != 0:
            raise Skip("npm install of the trace clients failed: %s" % r.stderr[-500:])
    return node


# ---- Tempo JSON -> the script's span description ------------------------------

def j_value(v):
    if "stringValue" in v:
        return {"string": v["stringValue"]}
    if "boolValue" in v:
        return {"bool": v["boolValue"]}
    if "intValue" in v:
        return {"int": str(int(v["intValue"]))}
    if "doubleValue" in v:
        return {"double": float(v["doubleValue"])}
    if "arrayValue" in v:
        return {"array": [j_value(x) for x in v["arrayValue"].get("values", [])]}
    if "kvlistValue" in v:
        return {"kvlist": j_attrs(v["kvlistValue"].get("values"))}
    if "bytesValue" in v:
        return {"bytes": base64.b64decode(v["bytesValue"]).hex()}
    assert v == {}, v
    return {}


def j_attrs(kvs):
    return [[kv["key"], j_value(kv.get("value", {}))] for kv in kvs or []]


def j_hex(s):
    return base64.b64decode(s).hex() if s else ""


def j_span(sp, resource, scope):
    st = sp.get("status", {})
    return {
        "traceId": j_hex(sp["traceId"]), "spanId": j_hex(sp["spanId"]),
        "parentSpanId": j_hex(sp.get("parentSpanId")),
        "traceState": sp.get("traceState", ""), "flags": sp.get("flags", 0),
        "name": sp.get("name", ""), "kind": KINDS[sp.get("kind", "SPAN_KIND_UNSPECIFIED")],
        "start": sp.get("startTimeUnixNano", "0"), "end": sp.get("endTimeUnixNano", "0"),
        "attributes": j_attrs(sp.get("attributes")),
        "events": [{"name": e.get("name", ""), "time": e.get("timeUnixNano", "0"),
                    "attributes": j_attrs(e.get("attributes"))}
                   for e in sp.get("events", [])],
        "links": [{"traceId": j_hex(ln.get("traceId")), "spanId": j_hex(ln.get("spanId")),
                   "traceState": ln.get("traceState", ""), "flags": ln.get("flags", 0),
                   "attributes": j_attrs(ln.get("attributes"))}
                  for ln in sp.get("links", [])],
        "status": {"code": CODES[st.get("code", "STATUS_CODE_UNSET")],
                   "message": st.get("message", "")},
        "service": _service(resource), "resource": resource,
        "scope": {"name": scope.get("name", ""), "version": scope.get("version", "")},
    }


def json_trace(doc, v2):
    """[(resource attrs, [span description])] per batch."""
    out = []
    for b in (doc["trace"]["resourceSpans"] if v2 else doc["batches"]):
        res = j_attrs(b.get("resource", {}).get("attributes"))
        spans = []
        for ss in b.get("scopeSpans", []):
            spans += [j_span(sp, res, ss.get("scope", {})) for sp in ss.get("spans", [])]
        out.append((res, spans))
    return out


def _service(res):
    for k, v in res:
        if k == "service.name":
            return v.get("string")
    return None


# ---- OTLP protobuf -> the same --------------------------------------------------

def _fields(buf):
    out = {}
    for f, _, v in pb_parse(buf):
        out.setdefault(f, []).append(v)
    return out


def _one(d, f, default):
    return d[f][-1] if f in d else default


def _s64(v):
    return v - (1 << 64) if v >= 1 << 63 else v


def p_value(buf):
    d = _fields(buf)
    if 1 in d:
        return {"string": d[1][-1].decode()}
    if 2 in d:
        return {"bool": bool(d[2][-1])}
    if 3 in d:
        return {"int": str(_s64(d[3][-1]))}
    if 4 in d:
        return {"double": struct.unpack("<d", struct.pack("<Q", d[4][-1]))[0]}
    if 5 in d:
        return {"array": [p_value(x) for x in _fields(d[5][-1]).get(1, [])]}
    if 6 in d:
        return {"kvlist": p_attrs(_fields(d[6][-1]).get(1, []))}
    if 7 in d:
        return {"bytes": d[7][-1].hex()}
    assert not d, d
    return {}


def p_attrs(kvs):
    out = []
    for kv in kvs:
        d = _fields(kv)
        out.append([_one(d, 1, b"").decode(), p_value(_one(d, 2, b""))])
    return out


def p_span(buf, resource, scope):
    d = _fields(buf)
    st = _fields(_one(d, 15, b""))
    return {
        "traceId": _one(d, 1, b"").hex(), "spanId": _one(d, 2, b"").hex(),
        "parentSpanId": _one(d, 4, b"").hex(), "traceState": _one(d, 3, b"").decode(),
        "flags": _one(d, 16, 0), "name": _one(d, 5, b"").decode(), "kind": _one(d, 6, 0),
        "start": str(_one(d, 7, 0)), "end": str(_one(d, 8, 0)),
        "attributes": p_attrs(d.get(9, [])),
        "events": [{"name": _one(e, 2, b"").decode(), "time": str(_one(e, 1, 0)),
                    "attributes": p_attrs(e.get(3, []))}
                   for e in map(_fields, d.get(11, []))],
        "links": [{"traceId": _one(ln, 1, b"").hex(), "spanId": _one(ln, 2, b"").hex(),
                   "traceState": _one(ln, 3, b"").decode(), "flags": _one(ln, 6, 0),
                   "attributes": p_attrs(ln.get(4, []))}
                  for ln in map(_fields, d.get(13, []))],
        "status": {"code": _one(st, 3, 0), "message": _one(st, 2, b"").decode()},
        "service": _service(resource), "resource": resource,
        "scope": {"name": _one(scope, 1, b"").decode(),
                  "version": _one(scope, 2, b"").decode()},
    }


def pb_trace(buf):
    out = []
    for rs in _fields(buf).get(1, []):
        d = _fields(rs)
        res = p_attrs(_fields(_one(d, 1, b"")).get(1, []))
        spans = []
        for ss in d.get(2, []):
            sd = _fields(ss)
            scope = _fields(_one(sd, 1, b""))
            spans += [p_span(sp, res, scope) for sp in sd.get(2, [])]
        out.append((res, spans))
    return out


# ---- the comparison ----------------------------------------------------------------

def compare(client, tid, how, batches, sent):
    """Every span of the trace as sent, nothing else; one batch per
    resource (equal resources merged)."""
    want = {s["spanId"]: s for s in sent if s["traceId"] == tid}
    got = {}
    for _, spans in batches:
        for sp in spans:
            assert sp["spanId"] not in got, (client, how, "span twice", sp["spanId"])
            got[sp["spanId"]] = sp
    assert sorted(got) == sorted(want), (client, how, tid, sorted(got), sorted(want))
    for sid, w in want.items():
        g = got[sid]
        for field in w:
            assert g[field] == w[field], "%s %s trace %s span %s (%s) %s:\n got  %r\n sent %r" % (
                client, how, tid, sid, w["name"], field, g[field], w[field])
    services = [_service(res) for res, _ in batches]
    assert sorted(services) == sorted(set(s["service"] for s in want.values())), (
        client, how, services)


def read_back(t, client, tid, sent):
    h = {"X-Scope-OrgID": TENANT}
    for v2 in (False, True):
        path = "/api/%straces/%s" % ("v2/" if v2 else "", tid)
        r = t.request("GET", path, headers=h)
        assert r.status == 200, (client, path, r.status, r.body[:300])
        assert r.headers.get("content-type", "").startswith("application/json")
        compare(client, tid, path + " json", json_trace(r.json(), v2), sent)
        r = t.request("GET", path, headers=dict(h, Accept="application/protobuf"))
        assert r.status == 200, (client, path, r.status, r.body[:300])
        assert r.headers.get("content-type", "").startswith("application/protobuf")
        body = _one(_fields(r.body), 1, b"") if v2 else r.body
        compare(client, tid, path + " protobuf", pb_trace(body), sent)


def check_bulk(t, client, bulk):
    """The large trace: the root and every child, each once, with its
    name, parent and attributes (JSON and protobuf)."""
    root = bulk["rootSpanId"]
    n = bulk["children"]
    want = {root: ("bulk root", "", [])}
    for i in range(n):
        pad = ("%d:" % i).ljust(bulk["padBytes"], "p")
        want[root[:3] + "%013x" % (0x1001 + i)] = (
            "bulk %d" % i, root, [["bulk.i", {"int": str(i)}], ["bulk.pad", {"string": pad}]])
    assert bulk["childSpanIds"] == "%s..%s" % (root[:3] + "%013x" % 0x1001,
                                                root[:3] + "%013x" % (0x1000 + n))
    h = {"X-Scope-OrgID": TENANT}
    path = "/api/traces/" + bulk["traceId"]
    r = t.request("GET", path, headers=h, timeout=60)
    assert r.status == 200, (client, path, r.status, r.body[:300])
    j = json_trace(r.json(), False)
    r = t.request("GET", path, headers=dict(h, Accept="application/protobuf"), timeout=60)
    assert r.status == 200, (client, path, r.status, r.body[:300])
    p = pb_trace(r.body)
    for how, batches in (("json", j), ("protobuf", p)):
        got = {}
        for _, spans in batches:
            for sp in spans:
                assert sp["spanId"] not in got, (client, how, "span twice", sp["spanId"])
                got[sp["spanId"]] = (sp["name"], sp["parentSpanId"], sp["attributes"])
        assert len(got) == n + 1, (client, how, len(got), n + 1)
        bad = [(sid, got.get(sid), w) for sid, w in want.items() if got.get(sid) != w]
        assert not bad, (client, how, len(bad), bad[:2])


def run_clients(t, grpc_port=None, clients=CLIENTS):
    """Runs trace_clients.js against node t (the clients named; grpc-port
    needs grpc_port); {client: what it printed}."""
    node = _ensure_clients()
    run_id = os.urandom(4).hex()
    env = dict(os.environ, NODE_PATH=os.path.join(TOOLS, "node_modules"),
               TRACE_CLIENTS=",".join(clients))
    r = subprocess.run([node, SCRIPT, str(t.port), TENANT, run_id, str(grpc_port or 0)],
                       capture_output=True, text=True, timeout=180, env=env)
    assert r.returncode == 0, r.stderr[-2000:]
    sent = {}
    for line in r.stdout.splitlines():
        o = json.loads(line)
        sent[o["client"]] = o
    assert sorted(sent) == sorted(clients), sorted(sent)
    return sent


def check_client(t, client, o):
    """Every trace client sent, read back from node t span for span."""
    # what the script claims covers what the test is about
    spans = o["spans"]
    assert len(o["traces"]) == 2 and len(spans) == 8
    assert set(s["kind"] for s in spans) == {1, 2, 3, 4, 5}
    assert set(s["status"]["code"] for s in spans) == {0, 1, 2}
    assert len(set(s["service"] for s in spans)) == 3
    assert any(s["links"] for s in spans) and any(s["events"] for s in spans)
    assert any(s["traceState"] for s in spans)
    for tid in o["traces"]:
        read_back(t, client, tid, spans)
    check_bulk(t, client, o["bulk"])
    return "%-10s %d traces, %d spans read back span for span (JSON and protobuf, v1 and " \
        "v2); a trace of %d spans read back whole" % (client, len(o["traces"]), len(spans),
                                                      o["bulk"]["children"] + 1)


def test_stock_trace_exporters_span_for_span():
    _ensure_clients()
    grpc_port = free_port()
    t = Triad(extra_args=["--otlp-grpc-addr", "127.0.0.1:%d" % grpc_port]).start()
    try:
        sent = run_clients(t, grpc_port)
        for client in CLIENTS:
            # the ack came after the commit: readable at once on one node
            print("    " + check_client(t, client, sent[client]))
        # another tenant sees none of it
        tid = sent["grpc"]["traces"][0]
        r = t.request("GET", "/api/traces/" + tid, headers={"X-Scope-OrgID": "other"})
        assert r.status == 404, r.status
        wait_until(t.ready, 5, 0.1, "the server still ready")
    finally:
        t.stop()
        t.cleanup()
