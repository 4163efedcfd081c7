"""OTLP traces in, Tempo's trace-by-id out, against a real triad: every
request the OpenTelemetry JS exporters sent (../shared/wire/traces: HTTP
protobuf, JSON and gzip to /v1/traces and /otlp/v1/traces, gRPC
TraceService/Export, and raw HTTP/2 bytes of gRPC calls replayed as the
client sent them) is accepted and every trace reads back through
/api/traces/<id> and /api/v2/traces/<id>, as JSON and as OTLP protobuf,
span for span; tenants are isolated; spans survive a restart; bad input
gets the status the OTLP spec asks for (corrupt protobuf, wrong id lengths,
all-zero ids, oversized attributes, 100k spans in one request, another
content type, the rate limit) and the server stays up."""

import base64
import gzip
import json
import os
import shutil
import socket
import struct
import subprocess
import tempfile
import time

from triad import Skip, Triad, wait_until

WIRE = os.path.join(os.environ.get("TRIAD_WIRE_DIR", "../shared/wire"),
                    "traces")
TRACES = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"
# the captures are days old: a late-write grace that still takes them
HISTORIC = ["--late-write-grace.traces", "36500d", "--retention.traces", "36500d"]
T = None


def setup_module():
    global T
    if not os.path.isdir(WIRE):
        raise Skip("wire captures absent: %s (set TRIAD_WIRE_DIR)" % WIRE)
    T = Triad(extra_args=HISTORIC).start()


def teardown_module():
    if T is not None:
        T.stop()
        T.cleanup()


# ---- protobuf, by hand ------------------------------------------------------

def pb_varint(v):
    out = b""
    while v >= 0x80:
        out += bytes([(v & 0x7f) | 0x80])
        v >>= 7
    return out + bytes([v])


def pb_field(num, wt, payload):
    if wt == 2:
        return pb_varint(num << 3 | 2) + pb_varint(len(payload)) + payload
    if wt == 0:
        return pb_varint(num << 3) + pb_varint(payload)
    if wt == 1:
        return pb_varint(num << 3 | 1) + struct.pack("<Q", payload)
    raise ValueError(wt)


def pb_kv(key, sval):
    return pb_field(1, 2, key.encode()) + pb_field(
        2, 2, pb_field(1, 2, sval.encode()))


def pb_span(tid, sid, name, start, end, attrs=(), parent=b""):
    s = pb_field(1, 2, tid) + pb_field(2, 2, sid)
    if parent:
        s += pb_field(4, 2, parent)
    s += pb_field(5, 2, name.encode()) + pb_field(6, 0, 2)
    s += pb_field(7, 1, start) + pb_field(8, 1, end)
    for k, v in attrs:
        s += pb_field(9, 2, pb_kv(k, v))
    return s


def pb_request(spans, service="svc"):
    res = pb_field(1, 2, pb_kv("service.name", service))
    scope = pb_field(1, 2, pb_field(1, 2, b"lib"))
    ss = scope + b"".join(pb_field(2, 2, s) for s in spans)
    rs = pb_field(1, 2, res) + pb_field(2, 2, ss)
    return pb_field(1, 2, rs)


def pb_parse(buf):
    """[(field, wiretype, value)] of one message (value: int or bytes)."""
    out, i = [], 0
    while i < len(buf):
        key, i = _varint(buf, i)
        f, wt = key >> 3, key & 7
        if wt == 0:
            v, i = _varint(buf, i)
        elif wt == 1:
            v, i = struct.unpack("<Q", buf[i:i + 8])[0], i + 8
        elif wt == 5:
            v, i = struct.unpack("<I", buf[i:i + 4])[0], i + 4
        elif wt == 2:
            n, i = _varint(buf, i)
            v, i = buf[i:i + n], i + n
        else:
            raise ValueError("wire type %d" % wt)
        out.append((f, wt, v))
    return out


def _varint(buf, i):
    v = s = 0
    while True:
        b = buf[i]
        i += 1
        v |= (b & 0x7f) << s
        s += 7
        if b < 0x80:
            return v, i


def pb_spans(trace_bytes):
    """The spans of a tempopb.Trace (OTLP TracesData): (service, span
    fields dict) pairs."""
    out = []
    for f, _, rs in pb_parse(trace_bytes):
        assert f == 1
        service = None
        for f2, _, v in pb_parse(rs):
            if f2 == 1:
                for f3, _, kv in pb_parse(v):
                    kvf = dict((a, b) for a, _, b in pb_parse(kv))
                    if kvf.get(1) == b"service.name":
                        service = dict(
                            (a, b) for a, _, b in pb_parse(kvf[2]))[1].decode()
            elif f2 == 2:
                for f3, _, sp in pb_parse(v):
                    if f3 == 2:
                        out.append((service, dict(
                            (a, b) for a, _, b in pb_parse(sp))))
    return out


# ---- helpers -------------------------------------------------------------------

def capture(name):
    with open(os.path.join(WIRE, name + ".bin"), "rb") as f:
        body = f.read()
    with open(os.path.join(WIRE, name + ".json")) as f:
        meta = json.load(f)
    return body, meta


def post_capture(t, name, path=None):
    body, meta = capture(name)
    headers = {k: v for k, v in meta["headers"]
               if k.lower() in ("content-type", "content-encoding",
                                "x-scope-orgid")}
    r = t.request("POST", path or meta["path"], body=body, headers=headers)
    assert r.status == 200, (name, r.status, r.body[:300])
    return r


def curl_h2(port, path, body, headers):
    with tempfile.TemporaryDirectory() as d:
        hdr, out, src = (os.path.join(d, x) for x in "hob")
        with open(src, "wb") as f:
            f.write(body)
        cmd = ["curl", "-s", "--http2-prior-knowledge", "-D", hdr, "-o", out,
               "--max-time", "30", "--data-binary", "@" + src]
        for h in headers:
            cmd += ["-H", h]
        cmd.append("http://127.0.0.1:%d%s" % (port, path))
        r = subprocess.run(cmd, capture_output=True, timeout=40)
        assert r.returncode == 0, (r.returncode, r.stderr)
        fields = {}
        with open(hdr, "rb") as f:
            for line in f.read().decode("latin-1").splitlines():
                if ":" in line and not line.startswith("HTTP/"):
                    k, v = line.split(":", 1)
                    fields[k.strip().lower()] = v.strip()
        with open(out, "rb") as f:
            return fields, f.read()


def grpc_export(port, message, tenant="tenant-a", gz=False):
    if gz:
        message = gzip.compress(message)
    frame = bytes([1 if gz else 0]) + struct.pack(">I", len(message)) + message
    headers = ["content-type: application/grpc", "te: trailers",
               "x-scope-orgid: " + tenant]
    if gz:
        headers.append("grpc-encoding: gzip")
    return curl_h2(port, TRACES, frame, headers)


def get_trace(t, tid, tenant="tenant-a", v2=False, pb=False, expect=200):
    headers = {"X-Scope-OrgID": tenant}
    if pb:
        headers["Accept"] = "application/protobuf"
    r = t.request("GET", "/api/%straces/%s" % ("v2/" if v2 else "", tid),
                  headers=headers)
    assert r.status == expect, (tid, r.status, r.body[:300])
    return r


def manifest():
    with open(os.path.join(WIRE, "manifest.json")) as f:
        return json.load(f)


def b64hex(s):
    return base64.b64decode(s).hex()


def json_spans(doc, v2=False):
    """(service, span) pairs of a Tempo JSON trace."""
    batches = doc["trace"]["resourceSpans"] if v2 else doc["batches"]
    out = []
    for b in batches:
        svc = None
        for kv in b["resource"].get("attributes", []):
            if kv["key"] == "service.name":
                svc = kv["value"]["stringValue"]
        for ss in b["scopeSpans"]:
            for sp in ss["spans"]:
                out.append((svc, sp))
    return out


def check_manifest_trace(t, tr):
    tid = tr["trace_id"]
    for v2 in (False, True):
        doc = get_trace(t, tid, v2=v2).json()
        spans = json_spans(doc, v2)
        assert len(spans) == tr["span_count"], (tid, len(spans))
        assert sorted(sp["name"] for _, sp in spans) == sorted(
            tr["span_names"])
        assert set(s for s, _ in spans) == set(tr["services"])
        roots = [(s, sp) for s, sp in spans if "parentSpanId" not in sp]
        assert len(roots) == 1
        assert roots[0][0] == tr["root_service"]
        assert roots[0][1]["name"] == tr["root_name"]
        assert all(b64hex(sp["traceId"]) == tid for _, sp in spans)
        errors = [sp for _, sp in spans
                  if sp["status"].get("code") == "STATUS_CODE_ERROR"]
        assert bool(errors) == tr["error"]
    r = get_trace(t, tid, pb=True)
    assert r.headers.get("content-type", "").startswith("application/protobuf")
    spans = pb_spans(r.body)
    assert len(spans) == tr["span_count"]
    assert sorted(sp[5].decode() for _, sp in spans) == sorted(
        tr["span_names"])
    assert all(sp[1].hex() == tid for _, sp in spans)
    r = get_trace(t, tid, pb=True, v2=True)
    inner = dict((f, v) for f, _, v in pb_parse(r.body))
    assert len(pb_spans(inner[1])) == tr["span_count"]


# ---- tests ----------------------------------------------------------------------

def test_http_captures_read_back():
    names = sorted(n[:-4] for n in os.listdir(WIRE)
                   if n.endswith(".bin") and "_http_" in n)
    assert len(names) >= 12, names
    for i, n in enumerate(names):
        # the API port's path and the OTLP port's path alike
        post_capture(T, n, "/otlp/v1/traces" if i % 2 else "/v1/traces")
    for tr in manifest()["traces"]:
        check_manifest_trace(T, tr)


def test_json_capture_span_for_span():
    """Every field of every span of a JSON export reads back as sent (on a
    fresh node: the other captures carry the same ids at other times)."""
    t = Triad(extra_args=HISTORIC).start()
    try:
        check_json_capture(t)
    finally:
        t.stop()
        t.cleanup()


def check_json_capture(t):
    body, meta = capture("otlp-json_002_http_v1_traces")
    post_capture(t, "otlp-json_002_http_v1_traces")
    req = json.loads(body)
    sent = {}
    for rs in req["resourceSpans"]:
        for ss in rs["scopeSpans"]:
            for sp in ss["spans"]:
                sent[sp["spanId"].lower()] = sp
    assert sent
    kinds = {1: "SPAN_KIND_INTERNAL", 2: "SPAN_KIND_SERVER",
             3: "SPAN_KIND_CLIENT", 4: "SPAN_KIND_PRODUCER",
             5: "SPAN_KIND_CONSUMER"}

    def attrs(lst):
        out = {}
        for kv in lst or []:
            v = kv["value"]
            (k, x), = v.items()
            out[kv["key"]] = (k, str(x) if k == "intValue" else x)
        return out

    tids = set(sp["traceId"].lower() for sp in sent.values())
    got = {}
    for tid in tids:
        for _, sp in json_spans(get_trace(t, tid).json()):
            got[b64hex(sp["spanId"])] = sp
    for sid, sp in sent.items():
        g = got[sid]
        assert b64hex(g["traceId"]) == sp["traceId"].lower()
        assert g["name"] == sp["name"]
        assert g.get("kind") == kinds.get(sp.get("kind"))
        assert int(g["startTimeUnixNano"]) == int(sp["startTimeUnixNano"])
        assert int(g["endTimeUnixNano"]) == int(sp["endTimeUnixNano"])
        if sp.get("parentSpanId"):
            assert b64hex(g["parentSpanId"]) == sp["parentSpanId"].lower()
        assert attrs(g.get("attributes")) == attrs(sp.get("attributes")), sid
        assert len(g.get("events", [])) == len(sp.get("events", []))
        for ge, se in zip(g.get("events", []), sp.get("events", [])):
            assert ge["name"] == se["name"]
            assert int(ge["timeUnixNano"]) == int(se["timeUnixNano"])
            assert attrs(ge.get("attributes")) == attrs(se.get("attributes"))
        assert len(g.get("links", [])) == len(sp.get("links", []))
        st = sp.get("status", {})
        code = {0: None, 1: "STATUS_CODE_OK", 2: "STATUS_CODE_ERROR"}[
            st.get("code", 0)]
        assert g["status"].get("code") == code
        assert g["status"].get("message", "") == st.get("message", "")


def test_grpc_captures_read_back():
    t = Triad(extra_args=HISTORIC).start()
    try:
        names = sorted(n[:-4] for n in os.listdir(WIRE)
                       if n.startswith("otlp-grpc") and n.endswith(".bin"))
        assert names
        for i, n in enumerate(names):
            body, meta = capture(n)
            fields, resp = grpc_export(t.port, body, gz=bool(i % 2))
            assert fields.get("grpc-status") == "0", (n, fields)
            assert resp[:1] == b"\0"
        for tr in manifest()["traces"]:
            check_manifest_trace(t, tr)
    finally:
        t.stop()
        t.cleanup()


def test_raw_http2_replay():
    """The exact bytes a gRPC exporter sent (plain and gzip) replayed on a
    fresh connection: the server answers with grpc-status 0 and stores the
    spans."""
    raw_dir = os.path.join(WIRE, "raw_http2")
    files = sorted(f for f in os.listdir(raw_dir) if f.endswith(".c2s.bin"))
    assert files
    for f in files:
        t = Triad(extra_args=HISTORIC).start()
        try:
            with open(os.path.join(raw_dir, f), "rb") as fh:
                data = fh.read()
            streams = set(sid for ft, _, _, sid in
                          h2_frames(data[24:], with_stream=True) if ft == 1)
            s = socket.create_connection(("127.0.0.1", t.port), timeout=10)
            s.sendall(data)
            got = b""
            deadline = time.time() + 30
            s.settimeout(0.5)
            # until every stream's trailers (HEADERS with END_STREAM) came
            while time.time() < deadline:
                ended = set(sid for ft, fl, _, sid in
                            h2_frames(got, with_stream=True)
                            if ft == 1 and fl & 1)
                if streams <= ended:
                    break
                try:
                    chunk = s.recv(65536)
                except socket.timeout:
                    continue
                if not chunk:
                    break
                got += chunk
            s.close()
            frames = h2_frames(got)
            # a HEADERS frame answers, no RST_STREAM, no GOAWAY with an error
            assert any(ft == 1 for ft, _, _ in frames), (f, frames)
            assert not any(ft == 3 for ft, _, _ in frames), f
            assert not any(ft == 7 and struct.unpack(">I", p[4:8])[0] != 0
                           for ft, _, p in frames), f
            tids = sent_trace_ids(data)
            assert tids
            # the tenant the client sent (the decoded listing shows its
            # headers; without one it is "anonymous")
            with open(os.path.join(raw_dir, f.replace(".bin", ".decoded.txt"))
                      ) as fh:
                orgs = [ln.split(":", 1)[1].strip() for ln in fh
                        if ln.strip().startswith("x-scope-orgid:")]
            tenant = orgs[0] if orgs else "anonymous"
            for tid in tids:
                doc = get_trace(t, tid, tenant=tenant).json()
                assert json_spans(doc), tid
        finally:
            t.stop()
            t.cleanup()


def sent_trace_ids(c2s):
    """The trace ids of the spans in the gRPC messages of a client's
    HTTP/2 bytes (after the 24-byte preface)."""
    bodies = {}
    for ft, _, payload, sid in h2_frames(c2s[24:], with_stream=True):
        if ft == 0:
            bodies[sid] = bodies.get(sid, b"") + payload
    tids = set()
    for body in bodies.values():
        flag, n = body[0], struct.unpack(">I", body[1:5])[0]
        msg = body[5:5 + n]
        if flag:
            msg = gzip.decompress(msg)
        for f, _, rs in pb_parse(msg):
            for f2, _, ss in pb_parse(rs):
                if f2 != 2:
                    continue
                for f3, _, sp in pb_parse(ss):
                    if f3 == 2:
                        tids.add(dict((a, b) for a, _, b in
                                      pb_parse(sp))[1].hex())
    return tids


def h2_frames(data, with_stream=False):
    out, i = [], 0
    while i + 9 <= len(data):
        n = int.from_bytes(data[i:i + 3], "big")
        fr = (data[i + 3], data[i + 4], data[i + 9:i + 9 + n])
        if with_stream:
            fr += (int.from_bytes(data[i + 5:i + 9], "big") & 0x7fffffff,)
        out.append(fr)
        i += 9 + n
    return out


def test_tenants_isolated_and_absent_ids():
    tid = manifest()["traces"][0]["trace_id"]
    get_trace(T, tid, tenant="someone-else", expect=404)
    get_trace(T, "0123456789abcdef0123456789abcdef", expect=404)
    get_trace(T, "zz", expect=400)
    get_trace(T, "1" * 33, expect=400)
    r = T.request("GET", "/api/traces/%s?start=abc" % tid,
                  headers={"X-Scope-OrgID": "tenant-a"})
    assert r.status == 400


def test_short_ids_and_time_range():
    tid = bytes.fromhex("0000000000000000" + "00000000000000a7")
    sid = bytes.fromhex("00000000000000b1")
    now = int(time.time() * 1e9)
    req = pb_request([pb_span(tid, sid, "short", now, now + 1000)])
    r = T.request("POST", "/v1/traces", body=req,
                  headers={"Content-Type": "application/x-protobuf",
                           "X-Scope-OrgID": "tenant-a"})
    assert r.status == 200, r.body
    # a 64-bit id in hex is left-padded, as Tempo does
    doc = get_trace(T, "a7").json()
    assert [sp["name"] for _, sp in json_spans(doc)] == ["short"]
    s = now // 10**9
    r = T.request("GET", "/api/traces/a7?start=%d&end=%d" % (s - 60, s + 60),
                  headers={"X-Scope-OrgID": "tenant-a"})
    assert r.status == 200
    r = T.request("GET", "/api/traces/a7?start=%d&end=%d" % (
        s - 10 * 86400, s - 9 * 86400), headers={"X-Scope-OrgID": "tenant-a"})
    assert r.status == 404


def test_bad_input():
    h = {"Content-Type": "application/x-protobuf", "X-Scope-OrgID": "bad"}
    # corrupt protobuf
    r = T.request("POST", "/v1/traces", body=b"\x0a\xff\xff\xff", headers=h)
    assert r.status == 400
    st = dict((f, v) for f, _, v in pb_parse(r.body))
    assert st[1] == 3 and st[2]
    # JSON errors answer in JSON
    r = T.request("POST", "/v1/traces", body=b'{"resourceSpans": 5}',
                  headers={"Content-Type": "application/json",
                           "X-Scope-OrgID": "bad"})
    assert r.status == 400 and r.json()["code"] == 3
    # a trace id of 5 bytes
    bad = pb_request([pb_span(b"12345", b"abcdefgh", "x", 1, 2)])
    r = T.request("POST", "/v1/traces", body=bad, headers=h)
    assert r.status == 400, r.status
    # all-zero ids: refused in partial_success, the others stored
    now = int(time.time() * 1e9)
    good_tid = os.urandom(16)
    req = pb_request([
        pb_span(bytes(16), b"abcdefgh", "zero-trace", now, now + 5),
        pb_span(good_tid, bytes(8), "zero-span", now, now + 5),
        pb_span(good_tid, b"ABCDEFGH", "ok", now, now + 5)])
    r = T.request("POST", "/v1/traces", body=req, headers=h)
    assert r.status == 200
    ps = dict((f, v) for f, _, v in pb_parse(
        dict((f, v) for f, _, v in pb_parse(r.body))[1]))
    assert ps[1] == 2 and b"invalid" in ps[2]
    doc = get_trace(T, good_tid.hex(), tenant="bad").json()
    assert [sp["name"] for _, sp in json_spans(doc)] == ["ok"]
    # another content type
    r = T.request("POST", "/v1/traces", body=b"x",
                  headers={"Content-Type": "text/plain"})
    assert r.status == 415
    # gRPC: corrupt message -> INVALID_ARGUMENT
    fields, _ = grpc_export(T.port, b"\x0a\xff\xff")
    assert fields.get("grpc-status") == "3", fields
    assert T.ready()


def test_huge_attribute_is_truncated():
    tid, now = os.urandom(16), int(time.time() * 1e9)
    big = "é" * 3000  # 6000 bytes
    req = pb_request([pb_span(tid, b"hugeattr", "big", now, now + 1,
                              attrs=[("payload", big)])])
    r = T.request("POST", "/v1/traces", body=req,
                  headers={"Content-Type": "application/x-protobuf",
                           "X-Scope-OrgID": "tenant-a"})
    assert r.status == 200
    (_, sp), = json_spans(get_trace(T, tid.hex()).json())
    v = sp["attributes"][0]["value"]["stringValue"]
    assert len(v.encode()) == 2048 and v == "é" * 1024
    m = T.get("/metrics").text
    assert "triad_span_attributes_truncated_total" in m


def test_100k_spans_in_one_request():
    now = int(time.time() * 1e9)
    tids = [os.urandom(16) for _ in range(1000)]
    spans = []
    for i in range(100000):
        spans.append(pb_span(tids[i % 1000], struct.pack(">Q", i + 1),
                             "op-%d" % (i % 7), now + i, now + i + 10))
    req = pb_request(spans)
    r = T.request("POST", "/otlp/v1/traces", body=req,
                  headers={"Content-Type": "application/x-protobuf",
                           "X-Scope-OrgID": "bulk"}, timeout=120)
    assert r.status == 200, r.body[:200]
    assert r.body == b""
    for tid in tids[:5] + tids[-5:]:
        spans = json_spans(get_trace(T, tid.hex(), tenant="bulk").json())
        assert len(spans) == 100
    assert T.ready()


def test_spans_survive_restart():
    t = Triad(extra_args=HISTORIC).start()
    try:
        tid, now = os.urandom(16), int(time.time() * 1e9)
        req = pb_request([pb_span(tid, b"restart1", "before", now, now + 1)])
        r = t.request("POST", "/v1/traces", body=req,
                      headers={"Content-Type": "application/x-protobuf"})
        assert r.status == 200
        t.stop()
        t.start()
        doc = get_trace(t, tid.hex(), tenant="anonymous").json()
        assert [sp["name"] for _, sp in json_spans(doc)] == ["before"]
        t.kill9()
        t.start()
        doc = get_trace(t, tid.hex(), tenant="anonymous").json()
        assert [sp["name"] for _, sp in json_spans(doc)] == ["before"]
    finally:
        t.stop()
        t.cleanup()


def test_rate_limit():
    t = Triad(extra_args=HISTORIC + ["--limits.traces-ingestion-rate", "1000",
                          "--limits.traces-ingestion-burst", "2000"]).start()
    try:
        now = int(time.time() * 1e9)
        spans = [pb_span(os.urandom(16), os.urandom(8), "x" * 50, now, now + 1)
                 for _ in range(60)]
        req = pb_request(spans)
        assert len(req) > 2000
        h = {"Content-Type": "application/x-protobuf"}
        # a request larger than the burst passes once when the bucket is
        # full; the next one finds it empty
        t.request("POST", "/v1/traces", body=req, headers=h)
        r = t.request("POST", "/v1/traces", body=req, headers=h)
        assert r.status == 429
        assert r.headers.get("retry-after") == "1"
        st = dict((f, v) for f, _, v in pb_parse(r.body))
        assert b"RATE_LIMITED" in st[2]
        fields, _ = grpc_export(t.port, req, tenant="anonymous")
        assert fields.get("grpc-status") == "14", fields  # UNAVAILABLE
    finally:
        t.stop()
        t.cleanup()


def test_tempo_echo_and_buildinfo():
    r = T.request("GET", "/api/echo")
    assert r.status == 200 and r.body == b"echo"
    info = T.get_json("/api/status/buildinfo")
    major, minor = (int(x) for x in info["version"].split(".")[:2])
    assert (major, minor) >= (2, 7)


def test_tenant_overrides():
    """A tenant's traces limits from the catalog replace the flags'."""
    r = T.request("POST", "/api/v1/admin/tenants/limits?tenant=small&"
                  "traces_max_attribute_bytes=10&"
                  "traces_max_bytes_per_trace=3000")
    assert r.status == 200, r.body
    d = r.json()["data"]
    assert d["traces_max_attribute_bytes"] == 10
    assert d["traces_max_bytes_per_trace"] == 3000
    assert d["traces_ingestion_rate_bytes"] == 15000000  # the flag's
    now = int(time.time() * 1e9)
    for tenant, want in (("small", 10), ("other", 50)):
        tid = os.urandom(16)
        req = pb_request([pb_span(tid, b"override", "o", now, now + 1,
                                  attrs=[("a", "x" * 50)])])
        r = T.request("POST", "/v1/traces", body=req,
                      headers={"Content-Type": "application/x-protobuf",
                               "X-Scope-OrgID": tenant})
        assert r.status == 200
        (_, sp), = json_spans(get_trace(T, tid.hex(), tenant=tenant).json())
        assert len(sp["attributes"][0]["value"]["stringValue"]) == want
    # 40 spans of ~100 bytes in one trace pass 3000 bytes: some refused
    tid = os.urandom(16)
    spans = [pb_span(tid, struct.pack(">Q", i + 1), "s" * 40, now, now + 1)
             for i in range(40)]
    r = T.request("POST", "/v1/traces", body=pb_request(spans),
                  headers={"Content-Type": "application/x-protobuf",
                           "X-Scope-OrgID": "small"})
    assert r.status == 200
    ps = dict((f, v) for f, _, v in pb_parse(
        dict((f, v) for f, _, v in pb_parse(r.body))[1]))
    assert ps[1] > 0 and b"TRACE_TOO_LARGE" in ps[2]
    # removing the overrides restores the flags
    r = T.request("POST", "/api/v1/admin/tenants/limits?tenant=small")
    assert r.status == 200
    assert r.json()["data"]["traces_max_attribute_bytes"] == 2048


def test_too_old_and_future_spans_refused():
    """Spans outside [window of now - grace, now + creation grace] are
    refused in partial_success; the others are stored."""
    t = Triad(extra_args=["--late-write-grace.traces", "1h",
                          "--placement-window", "1h"]).start()
    try:
        now = int(time.time() * 1e9)
        tid = os.urandom(16)
        req = pb_request([
            pb_span(tid, b"oldspan1", "old", now - 3 * 3600 * 10**9,
                    now - 3 * 3600 * 10**9 + 1),
            pb_span(tid, b"futspan1", "future", now + 3600 * 10**9,
                    now + 3600 * 10**9 + 1),
            pb_span(tid, b"okspan01", "ok", now, now + 1)])
        r = t.request("POST", "/v1/traces", body=req,
                      headers={"Content-Type": "application/x-protobuf"})
        assert r.status == 200
        ps = dict((f, v) for f, _, v in pb_parse(
            dict((f, v) for f, _, v in pb_parse(r.body))[1]))
        assert ps[1] == 2 and b"too old" in ps[2], ps
        doc = get_trace(t, tid.hex(), tenant="anonymous").json()
        assert [sp["name"] for _, sp in json_spans(doc)] == ["ok"]
        m = t.get("/metrics").text
        assert 'reason="too_old"' in m and 'reason="too_far_in_future"' in m
    finally:
        t.stop()
        t.cleanup()
