"""Replay remote-write bodies captured from stock clients (Prometheus 2.42
agent, prometheus-remote-write npm) byte for byte with their recorded
headers, then read every series and sample back exactly.

Wire dir: TRIAD_WIRE_DIR, default ../shared/wire relative to the repository.
"""

import glob
import json
import os

import prw
from triad import REPO, Skip, Triad

WIRE_DIR = os.environ.get("TRIAD_WIRE_DIR", os.path.join(REPO, "..", "shared", "wire"))

# The captures carry the timestamps of the day they were recorded (possibly
# "in the future" or far in the past of the machine clock): accept anything.
GRACE_ARGS = ["--late-write-grace", "1000000h", "--ingest.creation-grace", "1000000h",
              "--retention.metrics", "1000000h", "--retention.logs", "1000000h",
              "--retention.traces", "1000000h"]

T = None
CAPTURES = []  # (name, meta, body, decoded request, tenant)


def _captures():
    files = sorted(glob.glob(os.path.join(WIRE_DIR, "metrics", "*.bin")))
    if not files:
        raise Skip("NOTICE: no captures in %s/metrics (set TRIAD_WIRE_DIR)" % WIRE_DIR)
    out = []
    for path in files:
        with open(os.path.splitext(path)[0] + ".json") as f:
            meta = json.load(f)
        with open(path, "rb") as f:
            body = f.read()
        assert len(body) == meta.get("body_len", len(body)), path
        hdr = {k.lower(): v for k, v in meta["headers"]}
        enc = hdr.get("content-encoding", "").lower()
        try:
            raw = prw.snappy_decompress(body)
        except prw.SnappyError:
            assert enc in ("", "identity"), "%s: declared %r but not snappy" % (path, enc)
            raw = body
        req = prw.decode_write_v1(raw)
        tenant = hdr.get("x-scope-orgid", "anonymous")
        out.append((os.path.basename(path), meta, body, req, tenant))
    return out


def setup_module():
    global T, CAPTURES
    CAPTURES = _captures()
    T = Triad(GRACE_ARGS).start()


def _expected():
    """{tenant: {sorted labels: {ts: bits}}} of everything the captures hold.
    Labels with empty values are dropped (Prometheus semantics)."""
    exp = {}
    for _name, _meta, _body, req, tenant in CAPTURES:
        for labels, samples in req["series"]:
            key = prw.sorted_labels((n, v) for n, v in labels if v != "")
            d = exp.setdefault(tenant, {}).setdefault(key, {})
            for ts, bits in samples:
                d[ts] = bits
    return exp


def test_replay_exact_headers():
    for name, meta, body, _req, _tenant in CAPTURES:
        path = meta["path"] + ("?" + meta["query"] if meta.get("query") else "")
        headers = list(meta["headers"])
        if meta.get("framing") == "chunked":
            headers = [(k, v) for k, v in headers if k.lower() != "content-length"]
        r = T.request(meta["method"], path, body, headers)
        assert 200 <= r.status < 300, "%s -> %d %s" % (name, r.status, r.text[:300])
        assert r.body == b"", "%s: success body should be empty, got %r" % (name, r.body[:200])


def test_read_back_exact():
    exp = _expected()
    assert exp, "captures hold no series"
    total = 0
    for tenant, series in exp.items():
        all_ts = [ts for d in series.values() for ts in d]
        lo, hi = min(all_ts), max(all_ts)
        got = T.read([(prw.RE, "__name__", ".+")], lo, hi, tenant=tenant)
        for key, samples in series.items():
            assert key in got, "tenant %s: series %r not read back (%d series returned)" % (
                tenant, key, len(got))
            want = sorted(samples.items())
            have = got[key]
            assert have == want, "tenant %s series %r:\n want %r\n have %r" % (
                tenant, key, want[:5], have[:5])
            total += len(want)
        # nothing invented: no series outside what was written for this tenant
        extra = set(got) - set(series)
        assert not extra, "tenant %s: unexpected series %r" % (tenant, sorted(extra)[:3])
    assert total > 0


def test_read_back_per_metric_name():
    # EQ matchers on __name__ exercise the label index instead of a scan
    exp = _expected()
    for tenant, series in exp.items():
        names = sorted({dict(k)["__name__"] for k in series})
        queries = []
        for n in names[:20]:
            ts = [t for k, d in series.items() if dict(k)["__name__"] == n for t in d]
            queries.append((min(ts), max(ts), [(prw.EQ, "__name__", n)]))
        results = T.read_many(queries, tenant=tenant)
        for (_s, _e, m), got in zip(queries, results):
            want = {k: sorted(d.items()) for k, d in series.items() if dict(k)["__name__"] == m[0][2]}
            assert got == want, "tenant %s %s: got %d series, want %d" % (
                tenant, m[0][2], len(got), len(want))


def test_series_api_lists_everything():
    exp = _expected()
    for tenant, series in exp.items():
        all_ts = [ts for d in series.values() for ts in d]
        params = {"match[]": '{__name__=~".+"}',
                  "start": "%.3f" % (min(all_ts) / 1000.0),
                  "end": "%.3f" % (max(all_ts) / 1000.0)}
        r = T.get_json("/api/v1/series", params, tenant=tenant)
        assert r["status"] == "success", r
        got = {prw.sorted_labels(d.items()) for d in r["data"]}
        missing = set(series) - got
        assert not missing, "tenant %s: /api/v1/series misses %d series, e.g. %r" % (
            tenant, len(missing), sorted(missing)[0])
        assert got == set(series), "tenant %s: /api/v1/series has extra series %r" % (
            tenant, sorted(got - set(series))[:3])


def test_metadata_from_captures():
    fams = {}
    for _name, _meta, _body, req, tenant in CAPTURES:
        for md in req["metadata"]:
            fams[(tenant, md["family"])] = md
    if not fams:
        raise Skip("captures carry no metadata")
    types = {v: k for k, v in prw.METRIC_TYPES.items()}
    checked = 0
    for (tenant, fam), md in sorted(fams.items())[:40]:
        r = T.get_json("/api/v1/metadata", {"metric": fam}, tenant=tenant)
        assert r["status"] == "success"
        entries = r["data"].get(fam)
        assert entries, "metadata for %s missing: %r" % (fam, r)
        want = {"type": types[md["type"]], "help": md["help"], "unit": md["unit"]}
        assert want in entries, "metadata %s: want %r in %r" % (fam, want, entries)
        checked += 1
    assert checked


def teardown_module():
    if T is not None and T.running():
        rc = T.stop()
        assert rc == 0, "SIGTERM exit code %r; stderr tail:\n%s" % (
            rc, T.stderr_tail(60))

