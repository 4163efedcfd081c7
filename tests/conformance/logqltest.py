#!/usr/bin/env python3
"""logqltest.py - run Loki's LogQL metric-query scripts (*.logqltest) against
triad through its push and query HTTP APIs.

The scripts (../shared/conformance/logqltest/*.logqltest; format in the
README.md beside them):

  clear                       a fresh store (here: a fresh tenant)
  load                        then indented lines
      <selector> "<line>" @ <offset> [repeat every <step> for <n>]
          [metadata k="v" ...]  ({{.i}} in the line: the entry's index)
  eval instant at <t> <logql>                       + expected lines
  eval range from <t0> to <t1> step <s> <logql>     + expected lines
      <labels> <value>            instant
      <labels> v1 v2 _ ...        range ("_": no point at that step)
      <number>                    a scalar
      expect empty | expect fail [msg: <substring>]

Loads go through POST /loki/api/v1/push (JSON, structured metadata as the
third element of a value), times from Unix epoch 0, into the tenant of the
current block; triad runs with a fake clock near epoch 0 and without
ingest-time enrichment (no service_name, no detected_level), as Loki's own
harness loads its store directly. Evals are GET /loki/api/v1/query (time=)
or /loki/api/v1/query_range (start, end, step). Values compare like
promqltest (relative 1e-6, NaN equals NaN), label sets exactly.

CLI: logqltest.py [--port PORT | --bin TRIAD] [--update-expected] [-v]
[FILE ...]. Prints per-file counts and "logqltest: N passed, M failed"; exits
1 when a file passes fewer evals than tests/conformance/expected_logqltest.json
says. Failures go to build/logqltest-failures.txt.
"""

import argparse
import json
import math
import os
import re
import sys
import time
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(REPO, "tests", "blackbox"))
sys.path.insert(0, HERE)

import promqltest  # noqa: E402  (durations, number parsing, tolerance)

EXPECTED_FILE = os.path.join(HERE, "expected_logqltest.json")
FAILURES_FILE = os.path.join(REPO, "build", "logqltest-failures.txt")
# a clock near epoch 0 (the scripts' data lives in the first hours of 1970),
# every line accepted, no enrichment
TRIAD_FLAGS = ["--debug.fake-clock", "1970-01-01T06:00:00Z",
               "--late-write-grace.logs", "1000000h",
               "--ingest.creation-grace", "1000000h",
               "--ingest.ooo-window", "1000000h",
               "--limits.discover-service-name", "",
               "--limits.discover-log-levels=false",
               "--limits.logs-ingestion-rate", "0",
               "--limits.logs-max-query-series", "0"]


class ParseError(Exception):
    pass


class Eval:
    def __init__(self, lineno, line, kind, query, t0, t1=0, step=0):
        self.lineno, self.line, self.kind, self.query = lineno, line, kind, query
        self.t0, self.t1, self.step = t0, t1, step  # ms
        self.expected = []  # (labels dict or None for a scalar, values)
        self.empty = False
        self.fail = False
        self.fail_msg = None
        self.fail_re = None
        self.ordered = False


def _strip_comment(s):
    """Drops a '#' comment that is not inside quotes."""
    q = None
    i = 0
    while i < len(s):
        c = s[i]
        if q:
            if c == "\\" and q != "`":
                i += 2
                continue
            if c == q:
                q = None
        elif c in "\"`":
            q = c
        elif c == "#":
            return s[:i]
        i += 1
    return s


def _read_quoted(s, i):
    q = s[i]
    if q == "`":
        j = s.index("`", i + 1)
        return s[i + 1:j], j + 1
    out = []
    i += 1
    while i < len(s):
        c = s[i]
        if c == "\\":
            n = s[i + 1]
            out.append({"n": "\n", "t": "\t", "r": "\r", "\\": "\\", '"': '"'}.get(n, "\\" + n))
            i += 2
            continue
        if c == q:
            return "".join(out), i + 1
        out.append(c)
        i += 1
    raise ParseError("unterminated string")


def parse_labels(s, i=0):
    """{a="b", c="d"} at s[i:]; returns (dict, next index)."""
    while s[i] == " ":
        i += 1
    if s[i] != "{":
        raise ParseError("expected '{' in %r" % s)
    i += 1
    labels = {}
    while True:
        while s[i] in " ,":
            i += 1
        if s[i] == "}":
            return labels, i + 1
        m = re.match(r"[A-Za-z_][A-Za-z0-9_]*", s[i:])
        if not m:
            raise ParseError("bad label name in %r" % s)
        name = m.group(0)
        i += len(name)
        while s[i] == " ":
            i += 1
        if s[i] != "=":
            raise ParseError("expected '=' in %r" % s)
        i += 1
        while s[i] == " ":
            i += 1
        val, i = _read_quoted(s, i)
        labels[name] = val


def _dur(s):
    return promqltest.parse_duration(s)


def parse_load_line(line):
    """-> (labels, text, offset ms, step ms, count, metadata dict)."""
    labels, i = parse_labels(line)
    rest = line[i:].strip()
    if not rest or rest[0] not in "\"`":
        raise ParseError("expected a quoted line: %r" % line)
    text, j = _read_quoted(rest, 0)
    rest = rest[j:].strip()
    m = re.match(r"@\s*(\S+)", rest)
    if not m:
        raise ParseError("expected '@ <offset>': %r" % line)
    off = _dur(m.group(1))
    rest = rest[m.end():].strip()
    step, count = 0, 1
    m = re.match(r"\[\s*repeat every\s+(\S+)\s+for\s+(\d+)\s*\]", rest)
    if m:
        step, count = _dur(m.group(1)), int(m.group(2))
        rest = rest[m.end():].strip()
    meta = {}
    if rest.startswith("[") and rest.endswith("]"):
        rest = rest[1:-1].strip()
    if rest.startswith("metadata"):
        rest = rest[len("metadata"):]
        for mm in re.finditer(r'([A-Za-z_][A-Za-z0-9_.]*)\s*=\s*("(?:[^"\\]|\\.)*"|`[^`]*`)', rest):
            meta[mm.group(1)] = _read_quoted(mm.group(2), 0)[0]
    elif rest:
        raise ParseError("unexpected %r" % rest)
    return labels, text, off, step, count, meta


def _values(s):
    out = []
    for tok in s.split():
        out.append(None if tok == "_" else promqltest.parse_number(tok))
    return out


def parse_file(path):
    cmds = []
    with open(path) as f:
        lines = f.read().split("\n")
    i = 0
    while i < len(lines):
        raw = lines[i]
        line = _strip_comment(raw).rstrip()
        i += 1
        if not line.strip():
            continue
        s = line.strip()
        if s == "clear":
            cmds.append(("clear",))
        elif s == "load":
            entries = []
            while i < len(lines) and lines[i].startswith((" ", "\t")):
                ll = _strip_comment(lines[i]).strip()
                i += 1
                if ll:
                    entries.append(parse_load_line(ll))
            cmds.append(("load", entries))
        elif s.startswith("eval "):
            m = re.match(r"eval\s+instant\s+at\s+(\S+)\s+(.*)$", s)
            if m:
                ev = Eval(i, s, "instant", m.group(2).strip(), _dur(m.group(1)))
            else:
                m = re.match(r"eval\s+range\s+from\s+(\S+)\s+to\s+(\S+)\s+step\s+(\S+)\s+(.*)$", s)
                if not m:
                    raise ParseError("%s:%d: bad eval %r" % (path, i, s))
                ev = Eval(i, s, "range", m.group(4).strip(), _dur(m.group(1)),
                          _dur(m.group(2)), _dur(m.group(3)))
            while i < len(lines) and lines[i].startswith((" ", "\t")):
                el = _strip_comment(lines[i]).strip()
                i += 1
                if not el:
                    continue
                if el.startswith("skip "):
                    continue  # "skip values-comparison on <sharded mode>"
                if el == "expect empty":
                    ev.empty = True
                elif el == "expect ordered":
                    ev.ordered = True
                elif el.startswith("expect fail"):
                    ev.fail = True
                    m2 = re.match(r"expect fail\s*(?:(msg|regex):\s*(.*))?$", el)
                    if m2 and m2.group(2):
                        if m2.group(1) == "msg":
                            ev.fail_msg = m2.group(2).strip()
                        else:
                            ev.fail_re = m2.group(2).strip()
                elif el.startswith("{"):
                    labels, j = parse_labels(el)
                    ev.expected.append((labels, _values(el[j:])))
                else:
                    ev.expected.append((None, _values(el)))
            cmds.append(("eval", ev))
        else:
            raise ParseError("%s:%d: unknown command %r" % (path, i, s))
    return cmds


class Client:
    def __init__(self, port):
        import triad
        self.triad = triad
        self.port = port

    def push(self, tenant, streams):
        body = json.dumps({"streams": streams}).encode()
        r = self.triad.http_request(self.port, "POST", "/loki/api/v1/push", body,
                                    {"Content-Type": "application/json",
                                     "X-Scope-OrgID": tenant}, timeout=60)
        return r

    def get(self, tenant, path, params):
        q = urllib.parse.urlencode(params)
        return self.triad.http_request(self.port, "GET", path + "?" + q, None,
                                       {"X-Scope-OrgID": tenant}, timeout=60)


def load_block(client, tenant, entries):
    streams = {}
    for labels, text, off, step, count, meta in entries:
        key = tuple(sorted(labels.items()))
        st = streams.setdefault(key, {"stream": labels, "values": []})
        for k in range(count):
            line = text.replace("{{.i}}", str(k))
            ts = (off + k * step) * 1000000
            v = [str(ts), line]
            if meta:
                v.append(meta)
            st["values"].append(v)
    for st in streams.values():
        st["values"].sort(key=lambda v: int(v[0]))
    r = client.push(tenant, list(streams.values()))
    return r.status in (200, 204), "%d %s" % (r.status, r.text[:300])


def _fmt_labels(d):
    return "{" + ", ".join('%s="%s"' % (k, d[k]) for k in sorted(d)) + "}"


def compare(ev, data):
    """None when data (the response's data object) matches ev, else why."""
    rtype = data.get("resultType")
    result = data.get("result")
    if ev.empty:
        if rtype == "scalar":
            return "expected empty, got a scalar"
        return None if not result else "expected empty, got %d series" % len(result)
    if len(ev.expected) == 1 and ev.expected[0][0] is None:
        want = ev.expected[0][1]
        if rtype == "scalar":
            got = float(result[1])
            return None if promqltest.almost_equal(want[0], got) else \
                "scalar: want %r got %r" % (want[0], got)
        if rtype in ("vector", "matrix") and len(result) == 1 and not result[0].get("metric"):
            vals = result[0].get("values") or [result[0].get("value")]
            got = [float(v[1]) for v in vals]
            if len(got) != len(want) or any(not promqltest.almost_equal(a, b)
                                            for a, b in zip(want, got)):
                return "scalar-like: want %r got %r" % (want, got)
            return None
        return "expected a scalar, got %s" % rtype
    got = {}
    for s in result or []:
        key = tuple(sorted(s.get("metric", {}).items()))
        if key in got:
            return "duplicate series %s" % _fmt_labels(dict(key))
        got[key] = s
    want_keys = {}
    for labels, vals in ev.expected:
        want_keys[tuple(sorted(labels.items()))] = vals
    if set(got) != set(want_keys):
        missing = [_fmt_labels(dict(k)) for k in want_keys if k not in got]
        extra = [_fmt_labels(dict(k)) for k in got if k not in want_keys]
        return "series differ: missing %s, unexpected %s" % (missing[:5], extra[:5])
    if ev.ordered:
        order = [tuple(sorted(x.get("metric", {}).items())) for x in result]
        want_order = [tuple(sorted(lb.items())) for lb, _ in ev.expected]
        if order != want_order:
            return "order differs: got %s" % [_fmt_labels(dict(k)) for k in order][:5]
    for key, vals in want_keys.items():
        s = got[key]
        if ev.kind == "instant":
            if rtype != "vector":
                return "expected a vector, got %s" % rtype
            v = float(s["value"][1])
            if len(vals) != 1 or not promqltest.almost_equal(vals[0], v):
                return "%s: want %r got %r" % (_fmt_labels(dict(key)), vals, v)
        else:
            if rtype != "matrix":
                return "expected a matrix, got %s" % rtype
            pts = {int(round(float(t) * 1000)): float(v) for t, v in s["values"]}
            for k, w in enumerate(vals):
                t = ev.t0 + k * ev.step
                if w is None:
                    if t in pts:
                        return "%s: no point expected at %dms, got %r" % (
                            _fmt_labels(dict(key)), t, pts[t])
                elif t not in pts or not promqltest.almost_equal(w, pts[t]):
                    return "%s at %dms: want %r got %r" % (_fmt_labels(dict(key)), t, w,
                                                           pts.get(t))
            extra = [t for t in pts if t < ev.t0 or (t - ev.t0) % max(ev.step, 1) != 0 or
                     (t - ev.t0) // max(ev.step, 1) >= len(vals)]
            if extra:
                return "%s: unexpected points at %r" % (_fmt_labels(dict(key)), extra[:5])
    return None


def run_eval(client, tenant, ev):
    if ev.kind == "instant":
        r = client.get(tenant, "/loki/api/v1/query",
                       {"query": ev.query, "time": "%.3f" % (ev.t0 / 1000.0)})
    else:
        r = client.get(tenant, "/loki/api/v1/query_range",
                       {"query": ev.query, "start": "%.3f" % (ev.t0 / 1000.0),
                        "end": "%.3f" % (ev.t1 / 1000.0), "step": "%g" % (ev.step / 1000.0),
                        "limit": "5000"})
    if ev.fail:
        if r.status == 200:
            return "expected a failure, got 200"
        if ev.fail_msg and ev.fail_msg not in r.text:
            return "error %r does not contain %r" % (r.text[:300], ev.fail_msg)
        if ev.fail_re and not re.search(ev.fail_re, r.text):
            return "error %r does not match /%s/" % (r.text[:300], ev.fail_re)
        return None
    if r.status != 200:
        return "HTTP %d: %s" % (r.status, r.text[:300])
    try:
        data = r.json()["data"]
    except (ValueError, KeyError) as e:
        return "bad response: %s" % e
    return compare(ev, data)


class FileResult:
    def __init__(self, name):
        self.name = name
        self.passed = self.failed = 0
        self.failures = []
        self.parse_error = None

    @property
    def evals(self):
        return self.passed + self.failed


def run_file(client, path, tenant_prefix):
    name = os.path.basename(path)
    fr = FileResult(name)
    try:
        cmds = parse_file(path)
    except ParseError as e:
        fr.parse_error = str(e)
        return fr
    block = 0
    tenant = "%s-%s-%d" % (tenant_prefix, name.split(".")[0], block)
    load_err = None
    for c in cmds:
        if c[0] == "clear":
            block += 1
            tenant = "%s-%s-%d" % (tenant_prefix, name.split(".")[0], block)
            load_err = None
        elif c[0] == "load":
            ok, msg = load_block(client, tenant, c[1])
            if not ok:
                load_err = "load failed: " + msg
        else:
            ev = c[1]
            why = load_err or run_eval(client, tenant, ev)
            if why is None:
                fr.passed += 1
            else:
                fr.failed += 1
                fr.failures.append((ev.lineno, ev.line, why))
    return fr


def test_files(directory):
    return sorted(os.path.join(directory, f) for f in os.listdir(directory)
                  if f.endswith(".logqltest"))


def run(port, files, verbose=False, failures_file=FAILURES_FILE):
    client = Client(port)
    prefix = "lqt%d" % int(time.time() * 1000)
    results = {}
    for path in files:
        t0 = time.time()
        fr = run_file(client, path, prefix)
        results[fr.name] = fr
        if fr.parse_error:
            print("  %-28s PARSE ERROR %s" % (fr.name, fr.parse_error))
        else:
            print("  %-28s %4d/%-4d passed (%.1fs)" % (fr.name, fr.passed, fr.evals,
                                                      time.time() - t0))
        if verbose:
            for lineno, line, msg in fr.failures[:20]:
                print("      line %d: %s\n        %s" % (lineno, line, msg))
    if failures_file:
        os.makedirs(os.path.dirname(failures_file), exist_ok=True)
        with open(failures_file, "w") as f:
            for fr in results.values():
                for lineno, line, msg in fr.failures:
                    f.write("%s:%d: %s\n    %s\n" % (fr.name, lineno, line, msg))
    return results


def summarize(results, expected):
    passed = sum(r.passed for r in results.values())
    failed = sum(r.failed for r in results.values())
    print("logqltest: %d passed, %d failed (of %d)" % (passed, failed, passed + failed))
    regressions = []
    for name, want in sorted(expected.items()):
        r = results.get(name)
        if r is None:
            continue
        if r.parse_error:
            regressions.append("%s: parse error %s" % (name, r.parse_error))
        elif r.passed < want:
            regressions.append("%s: %d passed, expected at least %d" % (name, r.passed, want))
        elif r.passed > want:
            print("  NOTE: %s passes %d > expected %d (raise it in %s)" % (
                name, r.passed, want, os.path.relpath(EXPECTED_FILE, REPO)))
    return regressions


def load_expected(path=EXPECTED_FILE):
    try:
        with open(path) as f:
            return json.load(f)
    except FileNotFoundError:
        return {}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("files", nargs="*")
    ap.add_argument("--dir", default=None)
    ap.add_argument("--port", type=int)
    ap.add_argument("--bin")
    ap.add_argument("--update-expected", action="store_true")
    ap.add_argument("-v", "--verbose", action="store_true")
    args = ap.parse_args(argv)
    directory = args.dir or os.path.join(promqltest.conformance_dir(), "logqltest")
    files = [f if os.path.exists(f) else os.path.join(directory, f) for f in args.files] \
        or test_files(directory)
    t = None
    port = args.port
    if port is None:
        import triad
        t = triad.Triad(TRIAD_FLAGS, binary=args.bin).start()
        port = t.port
    try:
        results = run(port, files, verbose=args.verbose)
    finally:
        if t is not None:
            t.stop()
            t.cleanup()
    if args.update_expected:
        with open(EXPECTED_FILE, "w") as f:
            json.dump({n: r.passed for n, r in sorted(results.items())}, f, indent=2)
            f.write("\n")
    regressions = summarize(results, load_expected())
    for r in regressions:
        print("REGRESSION: " + r)
    return 1 if regressions else 0


if __name__ == "__main__":
    sys.exit(main())
