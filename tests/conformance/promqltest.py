#!/usr/bin/env python3
"""promqltest.py - run Prometheus' PromQL test scripts (*.test) against triad.

The scripts (../shared/conformance/promqltest/*.test, Prometheus v2.53.5) are
parsed as promql/promqltest/test.go does (format: README.md next to them):

  load <step>              series lines "<selector> <value sequence>"
  load_with_nhcb <step>    accepted, "with_nhcb" ignored
  clear                    drop everything (here: switch to a fresh tenant)
  eval[_fail|_ordered] instant at <dur> <expr>     + expected lines
  eval[_fail] range from <d> to <d> step <d> <expr> + expected lines
  expected_fail_message / expected_fail_regexp / "expect fail msg:|regex:"
  lines inside an eval block (later Prometheus versions) are understood.

Each load goes to triad through remote write 1.0 (float samples and float
native histograms), timestamps counted from Unix epoch 0, into the tenant of
the current block (X-Scope-OrgID unique per file and per `clear`). Each eval
is one HTTP request: /api/v1/query (time=) or /api/v1/query_range
(start/end/step). Results are compared with the reference harness' rules:
relative tolerance 1e-6 (NaN == NaN, 0 only equals ~0), exact label sets,
order only for eval_ordered, matrices must be sorted by label set, eval_fail
needs an evaluation error (errorType other than bad_data: parse errors do
not count). Native histograms are compared through the JSON form (count,
sum and the non-empty buckets with their boundaries).

A 404 from an endpoint means the endpoint does not exist (yet): it is
reported once, and every later eval that needs it is counted as failed
without a request (so a run against a server without a PromQL engine is
fast).

CLI:
  promqltest.py [--dir DIR] [--parse-only] [--port PORT | --bin TRIAD]
                [--expected FILE] [--update-expected] [-v] [FILE.test ...]

Without --port a triad is started (tests/blackbox/triad.py) with
--late-write-grace/--ingest.creation-grace/--ingest.ooo-window 1000000h.
Prints per-file counts and "promqltest: N passed, M failed"; exits 1 when a
file passes fewer evals than tests/conformance/expected_promqltest.json
says (a regression). --update-expected writes the current counts there.
Failure details go to build/promqltest-failures.txt.
"""

import argparse
import http.client
import json
import math
import os
import re
import struct
import sys
import time
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(REPO, "tests", "blackbox"))

import prw  # noqa: E402

STALE_NAN = prw.STALE_NAN
STALE_BITS = prw.STALE_NAN_BITS
EXPECTED_FILE = os.path.join(HERE, "expected_promqltest.json")
FAILURES_FILE = os.path.join(REPO, "build", "promqltest-failures.txt")
TRIAD_FLAGS = ["--late-write-grace", "1000000h", "--ingest.creation-grace", "1000000h",
               "--retention.metrics", "1000000h",
               "--ingest.ooo-window", "1000000h"]
DEFAULT_EPSILON = 1e-6
MIN_NORMAL = 2.2250738585072014e-308


def conformance_dir():
    return os.environ.get("TRIAD_CONFORMANCE_DIR",
                          os.path.join(REPO, "..", "shared", "conformance"))


class ParseError(Exception):
    pass


# ------------------------------------------------------------------ lexing --

_DUR_RE = re.compile(r"^(?:(\d+)y)?(?:(\d+)w)?(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?"
                     r"(?:(\d+)s)?(?:(\d+)ms)?$")
_DUR_MS = [365 * 86400000, 7 * 86400000, 86400000, 3600000, 60000, 1000, 1]


def parse_duration(s):
    """Prometheus model.ParseDuration -> milliseconds."""
    s = s.strip()
    if s == "0":
        return 0
    m = _DUR_RE.match(s)
    if not s or not m:
        raise ParseError("not a valid duration string: %r" % s)
    return sum(int(g) * mul for g, mul in zip(m.groups(), _DUR_MS) if g)


_NUM = r"(?:(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)"
_NUMBER_RE = re.compile(r"^[+-]?(?:%s|0[xX][0-9a-fA-F]+|[Ii][Nn][Ff](?:[Ii][Nn][Ii][Tt][Yy])?|"
                        r"[Nn][Aa][Nn])$" % _NUM)


def parse_number(s):
    """strconv.ParseInt(s, 0, 64) then ParseFloat, as test.go's parseNumber."""
    s = s.strip()
    if not _NUMBER_RE.match(s):
        raise ValueError("not a number: %r" % s)
    body = s.lstrip("+-")
    if body[:2] in ("0x", "0X"):
        v = float(int(body, 16))
        return -v if s.startswith("-") else v
    return float(s)


_SERIES_VAL = r"(?:%s|[Ii]nf|NaN|nan)" % _NUM
_ITEM_RE = re.compile(r"^(?P<a>[+-]?%s)(?:(?P<op>[+-])(?P<b>%s))?(?:x(?P<n>\d+))?$"
                      % (_SERIES_VAL, _SERIES_VAL))
OMIT = object()


def _float(s):
    return float(s)


def _read_string(s, i):
    """A quoted PromQL string at s[i]; returns (value, next index)."""
    q = s[i]
    if q not in "\"'`":
        raise ParseError("expected a quoted string at %r" % s[i:])
    j = i + 1
    out = []
    while j < len(s):
        c = s[j]
        if c == q:
            return "".join(out), j + 1
        if c == "\\" and q != "`":
            j += 1
            if j >= len(s):
                break
            e = s[j]
            simple = {"n": "\n", "t": "\t", "r": "\r", "a": "\a", "b": "\b", "f": "\f",
                      "v": "\v", "\\": "\\", "'": "'", '"': '"'}
            if e in simple:
                out.append(simple[e])
                j += 1
            elif e in "xuU":
                n = {"x": 2, "u": 4, "U": 8}[e]
                out.append(chr(int(s[j + 1:j + 1 + n], 16)))
                j += 1 + n
            elif e in "01234567":
                out.append(chr(int(s[j:j + 3], 8)))
                j += 3
            else:
                raise ParseError("unknown escape \\%s" % e)
            continue
        out.append(c)
        j += 1
    raise ParseError("unterminated string in %r" % s)


_IDENT_RE = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
_LNAME_RE = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")


def parse_selector(s):
    """`name{a="b", ...}` / `{...}` / `name` at the start of s.
    Returns (labels as a sorted tuple of pairs, rest of the line)."""
    labels = {}
    i = 0
    m = _IDENT_RE.match(s)
    if m:
        labels["__name__"] = m.group(0)
        i = m.end()
    if i < len(s) and s[i] == "{":
        i += 1
        while True:
            while i < len(s) and s[i] in " \t":
                i += 1
            if i < len(s) and s[i] == "}":
                i += 1
                break
            if i < len(s) and s[i] in "\"'`":
                name, i = _read_string(s, i)
            else:
                m = _LNAME_RE.match(s, i)
                if not m:
                    raise ParseError("bad label name at %r" % s[i:])
                name, i = m.group(0), m.end()
            while i < len(s) and s[i] in " \t":
                i += 1
            if i >= len(s) or s[i] != "=" or s[i + 1:i + 2] in ("=", "~"):
                raise ParseError("expected '=' after label %r in %r" % (name, s))
            i += 1
            while i < len(s) and s[i] in " \t":
                i += 1
            value, i = _read_string(s, i)
            if name in labels:
                raise ParseError("duplicate label %r" % name)
            labels[name] = value
            while i < len(s) and s[i] in " \t":
                i += 1
            if i < len(s) and s[i] == ",":
                i += 1
            elif i < len(s) and s[i] == "}":
                i += 1
                break
            else:
                raise ParseError("expected ',' or '}' in %r" % s)
    elif not m:
        raise ParseError("expected a series selector: %r" % s)
    if i < len(s) and s[i] not in " \t":
        raise ParseError("expected a space after the selector in %r" % s)
    return tuple(sorted(labels.items())), s[i:].strip()


# -------------------------------------------------------------- histograms --

class Hist:
    """A float native histogram (exponential buckets)."""

    def __init__(self, schema=0, count=0.0, sum=0.0, zt=0.0, zc=0.0, pos=None, neg=None):
        self.schema, self.count, self.sum, self.zt, self.zc = schema, count, sum, zt, zc
        self.pos = dict(pos or {})  # bucket index -> count
        self.neg = dict(neg or {})

    @classmethod
    def parse(cls, body):
        h = cls()
        pos_off = neg_off = 0
        pos, neg = [], []
        for key, val in re.findall(r"(\w+):\s*(\[[^\]]*\]|[^\s\[\]]+)", body):
            if key == "schema":
                h.schema = int(val)
            elif key == "sum":
                h.sum = _float(val)
            elif key == "count":
                h.count = _float(val)
            elif key == "z_bucket":
                h.zc = _float(val)
            elif key == "z_bucket_w":
                h.zt = _float(val)
            elif key == "offset":
                pos_off = int(val)
            elif key == "n_offset":
                neg_off = int(val)
            elif key == "buckets":
                pos = [_float(x) for x in val.strip("[]").split()]
            elif key == "n_buckets":
                neg = [_float(x) for x in val.strip("[]").split()]
            elif key in ("counter_reset_hint", "custom_values"):
                pass
            else:
                raise ParseError("unknown histogram key %r" % key)
        h.pos = {pos_off + k: c for k, c in enumerate(pos)}
        h.neg = {neg_off + k: c for k, c in enumerate(neg)}
        return h

    def reduced(self, schema):
        if schema >= self.schema:
            return self
        d = self.schema - schema

        def red(b):
            out = {}
            for idx, c in b.items():
                n = ((idx - 1) >> d) + 1
                out[n] = out.get(n, 0.0) + c
            return out
        return Hist(schema, self.count, self.sum, self.zt, self.zc, red(self.pos), red(self.neg))

    def add(self, other, sign=1.0):
        s = min(self.schema, other.schema)
        a, b = self.reduced(s), other.reduced(s)
        pos, neg = dict(a.pos), dict(a.neg)
        for idx, c in b.pos.items():
            pos[idx] = pos.get(idx, 0.0) + sign * c
        for idx, c in b.neg.items():
            neg[idx] = neg.get(idx, 0.0) + sign * c
        return Hist(s, a.count + sign * b.count, a.sum + sign * b.sum, max(a.zt, b.zt),
                    a.zc + sign * b.zc, pos, neg)

    def bound(self, idx):
        if self.schema <= 0:
            return math.ldexp(1.0, idx << -self.schema)
        return 2.0 ** (idx / float(1 << self.schema))

    def buckets(self):
        """Non-empty buckets as the HTTP API lists them:
        [(boundary_rule, lower, upper, count)], negative, zero, positive."""
        out = []
        for idx in sorted(self.neg, reverse=True):
            if self.neg[idx]:
                out.append((1, -self.bound(idx), -self.bound(idx - 1), self.neg[idx]))
        if self.zc:
            out.append((3, -self.zt, self.zt, self.zc))
        for idx in sorted(self.pos):
            if self.pos[idx]:
                out.append((0, self.bound(idx - 1), self.bound(idx), self.pos[idx]))
        return out

    def __repr__(self):
        return "{{schema:%d count:%r sum:%r z:%r/%r pos:%r neg:%r}}" % (
            self.schema, self.count, self.sum, self.zc, self.zt, self.pos, self.neg)

    # remote write 1.0 prometheus.Histogram (float counts)
    def proto(self, ts):
        def spans(b):
            idxs = sorted(b)
            out, prev_end = [], None
            for idx in idxs:
                if prev_end is not None and idx == prev_end:
                    out[-1][1] += 1
                else:
                    out.append([idx if prev_end is None else idx - prev_end, 1])
                prev_end = idx + 1
            return out, [b[i] for i in idxs]

        def zz(v):
            return (v << 1) ^ (v >> 63)

        # Integer counts go as an integer histogram (deltas), like Prometheus
        # sends them: receivers tell float histograms by count_float > 0 or
        # zero_count_float > 0, so a float histogram with count 0 would be
        # misread.
        values = [self.count, self.zc] + list(self.pos.values()) + list(self.neg.values())
        is_int = all(v >= 0 and v == int(v) and v < 2 ** 63 for v in values)
        if is_int:
            body = prw.pb_varint(1, int(self.count))
        else:
            body = prw.pb_double(2, self.count)
        body += prw.pb_double(3, self.sum)
        body += prw.pb_varint(4, zz(self.schema)) + prw.pb_double(5, self.zt)
        body += prw.pb_varint(6, int(self.zc)) if is_int else prw.pb_double(7, self.zc)
        for field_span, field_counts, b in ((8, 10, self.neg), (11, 13, self.pos)):
            sp, counts = spans(b)
            for off, n in sp:
                body += prw.pb_bytes(field_span, prw.pb_varint(1, zz(off)) + prw.pb_varint(2, n))
            if not counts:
                continue
            if is_int:
                prev, deltas = 0, []
                for c in counts:
                    deltas.append(prw._uvarint(zz(int(c) - prev)))
                    prev = int(c)
                body += prw.pb_bytes(field_counts - 1, b"".join(deltas))
            else:
                body += prw.pb_bytes(field_counts, b"".join(struct.pack("<d", c) for c in counts))
        body += prw.pb_varint(15, ts)
        return body


def _find_hist_end(s, i):
    j = s.find("}}", i)
    if j < 0:
        raise ParseError("unterminated histogram literal in %r" % s)
    return j + 2


def parse_values(s):
    """A value sequence -> list of floats / Hist / OMIT."""
    out = []
    i = 0
    n = len(s)
    while i < n:
        if s[i] in " \t":
            i += 1
            continue
        if s.startswith("{{", i):
            j = _find_hist_end(s, i)
            base = Hist.parse(s[i + 2:j - 2])
            i = j
            m = re.match(r"x(\d+)", s[i:])
            if m:
                out += [base] * (int(m.group(1)) + 1)
                i += m.end()
            elif s.startswith("+{{", i) or s.startswith("-{{", i):
                sign = 1.0 if s[i] == "+" else -1.0
                j = _find_hist_end(s, i + 1)
                inc = Hist.parse(s[i + 3:j - 2])
                i = j
                m = re.match(r"x(\d+)", s[i:])
                if not m:
                    raise ParseError("expected xN after histogram increment in %r" % s)
                i += m.end()
                h = base
                for _ in range(int(m.group(1)) + 1):
                    out.append(h)
                    h = h.add(inc, sign)
            else:
                out.append(base)
            if i < n and s[i] not in " \t":
                raise ParseError("unexpected %r after histogram in %r" % (s[i:], s))
            continue
        j = i
        while j < n and s[j] not in " \t":
            j += 1
        tok = s[i:j]
        i = j
        if tok == "_":
            out.append(OMIT)
            continue
        m = re.match(r"^_x(\d+)$", tok)
        if m:
            out += [OMIT] * int(m.group(1))
            continue
        if tok == "stale":
            out.append(STALE_NAN)
            continue
        m = _ITEM_RE.match(tok)
        if not m:
            raise ParseError("bad value %r in %r" % (tok, s))
        a = _float(m.group("a"))
        if m.group("n") is None:
            if m.group("op"):
                raise ParseError("bad value %r (a+b needs xN)" % tok)
            out.append(a)
            continue
        cnt = int(m.group("n"))
        b = _float(m.group("b")) if m.group("op") else 0.0
        if m.group("op") == "-":
            b = -b
        for _ in range(cnt + 1):
            out.append(a)
            a += b
    return out


def parse_series_desc(line):
    labels, rest = parse_selector(line)
    return labels, parse_values(rest)


# ---------------------------------------------------------------- commands --

class Load:
    def __init__(self, lineno, interval_ms):
        self.lineno, self.interval = lineno, interval_ms
        self.series = []  # (labels, values)


class Clear:
    def __init__(self, lineno):
        self.lineno = lineno


class Eval:
    def __init__(self, lineno, line):
        self.lineno, self.line = lineno, line
        self.kind = "instant"
        self.fail = self.ordered = False
        self.at = self.start = self.end = self.step = 0
        self.expr = ""
        self.scalar = None        # expected scalar (float) or None
        self.expected = []        # [(labels, values)] in the listed order
        self.fail_msg = self.fail_regexp = None


_LOAD_RE = re.compile(r"^load(?:_(with_nhcb))?\s+(.+?)$", re.I)
_INSTANT_RE = re.compile(r"^eval(?:_(fail|ordered|warn|info))?\s+instant\s+(?:at\s+(.+?))?\s+(.+)$")
_RANGE_RE = re.compile(r"^eval(?:_(fail|warn|info))?\s+range\s+from\s+(.+)\s+to\s+(.+)"
                       r"\s+step\s+(.+?)\s+(.+)$")


def get_lines(text):
    out = []
    for line in text.split("\n"):
        line = line.strip()
        if line.startswith("#"):
            line = ""
        out.append(line)
    return out


def parse_text(text):
    """Returns the list of commands; raises ParseError("line N: ...")."""
    lines = get_lines(text)
    cmds = []
    i = 0
    while i < len(lines):
        line = lines[i]
        if not line:
            i += 1
            continue
        word = re.split(r"[\t ]+", line, maxsplit=1)[0].lower()
        try:
            if word == "clear":
                cmds.append(Clear(i + 1))
                i += 1
            elif word.startswith("load"):
                m = _LOAD_RE.match(line)
                if not m:
                    raise ParseError("invalid load command")
                cmd = Load(i + 1, parse_duration(m.group(2)))
                i += 1
                while i < len(lines) and lines[i]:
                    try:
                        cmd.series.append(parse_series_desc(lines[i]))
                    except ParseError as e:
                        raise ParseError("line %d: %s" % (i + 1, e))
                    i += 1
                cmds.append(cmd)
            elif word.startswith("eval"):
                cmd, i = _parse_eval(lines, i)
                cmds.append(cmd)
            else:
                raise ParseError("invalid command %r" % line)
        except (ParseError, ValueError) as e:
            if str(e).startswith("line "):
                raise
            raise ParseError("line %d: %s" % (i + 1, e))
    return cmds


def _parse_eval(lines, i):
    line = lines[i]
    cmd = Eval(i + 1, line)
    m = _INSTANT_RE.match(line)
    if m:
        mod, at, cmd.expr = m.groups()
        if at is None:
            raise ParseError("eval instant without 'at'")
        cmd.at = parse_duration(at)
    else:
        m = _RANGE_RE.match(line)
        if not m:
            raise ParseError("invalid eval command")
        mod, start, end, step, cmd.expr = m.groups()
        cmd.kind = "range"
        cmd.start, cmd.end, cmd.step = parse_duration(start), parse_duration(end), parse_duration(step)
        if cmd.end < cmd.start:
            raise ParseError("invalid test definition, end timestamp before start timestamp")
        if cmd.step <= 0:
            raise ParseError("invalid step")
    cmd.fail = mod == "fail"
    cmd.ordered = mod == "ordered"
    i += 1
    while i < len(lines) and lines[i]:
        d = lines[i]
        i += 1
        if d.startswith("expected_fail_message"):
            cmd.fail_msg = d[len("expected_fail_message"):].strip()
            continue
        if d.startswith("expected_fail_regexp"):
            cmd.fail_regexp = d[len("expected_fail_regexp"):].strip()
            continue
        m = re.match(r"^expect\s+(\w+)(?:\s+(msg|regex):\s*(.*))?$", d)
        if m and m.group(1) in ("fail", "ordered", "warn", "no_warn", "info", "no_info"):
            if m.group(1) == "fail":
                cmd.fail = True
                if m.group(2) == "msg":
                    cmd.fail_msg = m.group(3)
                elif m.group(2) == "regex":
                    cmd.fail_regexp = m.group(3)
            elif m.group(1) == "ordered":
                cmd.ordered = True
            continue
        try:
            cmd.scalar = parse_number(d)
            break
        except ValueError:
            pass
        labels, vals = parse_series_desc(d)
        if len(vals) > 1 and cmd.kind == "instant":
            raise ParseError("line %d: expecting multiple values in instant evaluation not allowed" % i)
        cmd.expected.append((labels, vals))
    return cmd, i


def parse_file(path):
    with open(path, encoding="utf-8") as f:
        return parse_text(f.read())


def count_evals(cmds):
    return sum(1 for c in cmds if isinstance(c, Eval))


# -------------------------------------------------------------- comparison --

def almost_equal(a, b, eps=DEFAULT_EPSILON):
    if math.isnan(a) and math.isnan(b):
        return True
    if a == b:
        return True
    abs_sum = abs(a) + abs(b)
    diff = abs(a - b)
    if a == 0 or b == 0 or abs_sum < MIN_NORMAL:
        return diff < eps * MIN_NORMAL
    return diff / min(abs_sum, sys.float_info.max) < eps


def _json_float(s):
    return float(s)  # "NaN", "+Inf", "-Inf" and decimals all parse


def _json_ms(t):
    return int(round(float(t) * 1000))


def _json_hist(h):
    buckets = [(int(b[0]), float(b[1]), float(b[2]), float(b[3])) for b in h.get("buckets") or []]
    return float(h.get("count", 0)), float(h.get("sum", 0)), buckets


def hist_equal(exp, got):
    """exp: Hist; got: the API's {"count","sum","buckets"}."""
    count, hsum, buckets = _json_hist(got)
    eb = exp.buckets()
    if not almost_equal(exp.count, count) or not almost_equal(exp.sum, hsum):
        return False
    if len(eb) != len(buckets):
        return False
    for (r1, lo1, hi1, c1), (r2, lo2, hi2, c2) in zip(eb, buckets):
        if r1 != r2 or not almost_equal(lo1, lo2) or not almost_equal(hi1, hi2) \
                or not almost_equal(c1, c2):
            return False
    return True


def fmt_labels(labels):
    d = dict(labels)
    name = d.pop("__name__", "")
    return name + "{" + ", ".join('%s="%s"' % kv for kv in sorted(d.items())) + "}"


def _labels_key(metric):
    return tuple(sorted(metric.items()))


def _label_cmp_key(labels):
    # labels.Compare: pairwise by name then value; a prefix sorts first.
    return [(n, v) for n, v in labels]


def _val_eq(exp, v, h):
    if isinstance(exp, Hist):
        return h is not None and hist_equal(exp, h)
    if h is not None:
        return False
    return almost_equal(exp, v)


def compare_instant(ev, rtype, result):
    """Returns None when equal, else a message."""
    if rtype == "matrix":
        return "received range result on instant evaluation"
    if rtype == "scalar":
        if ev.scalar is None:
            return "expected vector or matrix result, but got scalar %s" % result[1]
        v = _json_float(result[1])
        if not almost_equal(ev.scalar, v):
            return "expected scalar %v but got %v".replace("%v", "%r") % (ev.scalar, v)
        return None
    if rtype != "vector":
        return "unexpected result type %s" % rtype
    if ev.scalar is not None:
        return "expected scalar %r but got vector of %d" % (ev.scalar, len(result))
    expected = {}
    for pos, (labels, vals) in enumerate(ev.expected):
        expected[labels] = (pos, vals[0] if vals else OMIT)
    seen = set()
    for pos, s in enumerate(result):
        key = _labels_key(s.get("metric", {}))
        if key not in expected:
            return "unexpected metric %s in result, has value %s" % (
                fmt_labels(key), s.get("value", s.get("histogram")))
        epos, exp = expected[key]
        if ev.ordered and epos != pos:
            return "expected metric %s at position %d but was at %d" % (fmt_labels(key), epos + 1, pos + 1)
        if "histogram" in s:
            got_v, got_h = None, s["histogram"][1]
        else:
            got_v, got_h = _json_float(s["value"][1]), None
        if exp is OMIT or not _val_eq(exp, got_v, got_h):
            return "expected %r for %s but got %r" % (exp, fmt_labels(key), got_v if got_h is None else got_h)
        seen.add(key)
    for key in expected:
        if key not in seen:
            return "expected metric %s with %r not found (result: %d series)" % (
                fmt_labels(key), expected[key][1], len(result))
    return None


def compare_range(ev, rtype, result):
    if ev.ordered:
        return "expected ordered result, but query returned a matrix"
    if rtype != "matrix":
        return "range query returned %s, not a matrix" % rtype
    if ev.scalar is not None:
        return "expected a scalar on a range evaluation"
    keys = [_labels_key(s.get("metric", {})) for s in result]
    for a, b in zip(keys, keys[1:]):
        if _label_cmp_key(a) > _label_cmp_key(b):
            return "matrix not sorted: %s before %s" % (fmt_labels(a), fmt_labels(b))
    expected = {labels: vals for labels, vals in ev.expected}
    seen = set()
    for key, s in zip(keys, result):
        if key not in expected:
            return "unexpected metric %s in result" % fmt_labels(key)
        seen.add(key)
        exp_f, exp_h = [], []
        for i, e in enumerate(expected[key]):
            t = ev.start + i * ev.step
            if t > ev.end:
                return "expected %d points for %s, but the time range cannot return this many" % (
                    len(expected[key]), fmt_labels(key))
            if isinstance(e, Hist):
                exp_h.append((t, e))
            elif e is not OMIT:
                exp_f.append((t, e))
        got_f = [(_json_ms(t), _json_float(v)) for t, v in s.get("values") or []]
        got_h = [(_json_ms(t), h) for t, h in s.get("histograms") or []]
        if len(exp_f) != len(got_f) or len(exp_h) != len(got_h):
            return "expected %d float points and %d histogram points for %s, got %d and %d" % (
                len(exp_f), len(exp_h), fmt_labels(key), len(got_f), len(got_h))
        for (et, ev_), (gt, gv) in zip(exp_f, got_f):
            if et != gt or not almost_equal(ev_, gv):
                return "%s: expected %r@%d, got %r@%d" % (fmt_labels(key), ev_, et, gv, gt)
        for (et, eh), (gt, gh) in zip(exp_h, got_h):
            if et != gt or not hist_equal(eh, gh):
                return "%s: expected histogram %r@%d, got %r@%d" % (fmt_labels(key), eh, et, gh, gt)
    for key in expected:
        if key not in seen:
            return "expected metric %s not found" % fmt_labels(key)
    return None


# ------------------------------------------------------------------ client --

class EndpointMissing(Exception):
    pass


def fmt_ts(ms):
    sign = "-" if ms < 0 else ""
    ms = abs(ms)
    return "%s%d.%03d" % (sign, ms // 1000, ms % 1000)


class Client:
    """HTTP access to a Prometheus-compatible API (one tenant at a time)."""

    def __init__(self, port, host="127.0.0.1", timeout=60):
        self.host, self.port, self.timeout = host, port, timeout
        self.tenant = None

    def new_block(self, tenant):
        """A fresh, empty storage: here a new tenant."""
        self.tenant = tenant

    def _request(self, method, path, body=None, headers=None):
        conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
        try:
            h = dict(headers or {})
            if self.tenant:
                h["X-Scope-OrgID"] = self.tenant
            conn.request(method, path, body=body, headers=h)
            r = conn.getresponse()
            return r.status, r.read()
        finally:
            conn.close()

    def write(self, body):
        """Remote write 1.0 of an uncompressed WriteRequest; returns (status, text)."""
        status, data = self._request("POST", "/api/v1/write", prw.snappy_compress(body), {
            "Content-Type": "application/x-protobuf", "Content-Encoding": "snappy",
            "X-Prometheus-Remote-Write-Version": "0.1.0"})
        return status, data.decode("utf-8", "replace")

    def api(self, path, params):
        """POST form query. Returns ("ok", resultType, result) or
        ("error", errorType, message); raises EndpointMissing on 404."""
        body = urllib.parse.urlencode(params)
        status, data = self._request("POST", path, body, {
            "Content-Type": "application/x-www-form-urlencoded"})
        if status == 404:
            raise EndpointMissing("%s -> 404 %s" % (path, data[:200].decode("utf-8", "replace").strip()))
        try:
            j = json.loads(data)
        except ValueError:
            return ("error", "http_%d" % status, data[:300].decode("utf-8", "replace"))
        if status == 200 and isinstance(j, dict) and j.get("status") == "success":
            d = j.get("data") or {}
            return ("ok", d.get("resultType"), d.get("result"))
        if isinstance(j, dict):
            return ("error", j.get("errorType", "http_%d" % status), j.get("error", ""))
        return ("error", "http_%d" % status, repr(j)[:300])


# ------------------------------------------------------------------ runner --

def write_request(series_list):
    """series_list: [(labels, [(ts, float|Hist)])] -> WriteRequest bytes."""
    out = bytearray()
    for labels, samples in series_list:
        body = b"".join(prw.pb_bytes(1, prw.pb_bytes(1, n) + prw.pb_bytes(2, v)) for n, v in labels)
        for ts, v in samples:
            if isinstance(v, Hist):
                continue
            if math.isnan(v) and prw.f64_bits(v) == STALE_BITS:
                body += prw.pb_bytes(2, prw.pb_double_bits(1, STALE_BITS) + prw.pb_varint(2, ts))
            else:
                body += prw.pb_bytes(2, prw.pb_double(1, v) + prw.pb_varint(2, ts))
        for ts, v in samples:
            if isinstance(v, Hist):
                body += prw.pb_bytes(4, v.proto(ts))
        out += prw.pb_bytes(1, body)
    return bytes(out)


def load_block(client, cmd, max_samples=20000):
    """Writes a load block; returns None or an error message."""
    batch, n = [], 0
    # The same series may be listed twice in a block (aggregators.test does):
    # test.go keeps a block's series in a map by label hash, so the last
    # line for a label set replaces the earlier ones.
    defs = {}
    for labels, vals in cmd.series:
        defs.pop(labels, None)
        defs[labels] = vals
    for labels, vals in defs.items():
        samples = [(i * cmd.interval, v) for i, v in enumerate(vals) if v is not OMIT]
        for k in range(0, max(len(samples), 1), max_samples):
            part = samples[k:k + max_samples]
            if not part:
                continue
            batch.append((labels, part))
            n += len(part)
            if n >= max_samples:
                err = _flush(client, batch)
                if err:
                    return err
                batch, n = [], 0
    return _flush(client, batch) if batch else None


def _flush(client, batch):
    status, text = client.write(write_request(batch))
    if status not in (200, 204):
        return "remote write -> %d %s" % (status, text[:300])
    return None


class FileResult:
    def __init__(self, name):
        self.name = name
        self.passed = self.failed = self.evals = self.load_errors = 0
        self.failures = []  # (lineno, line, message)
        self.parse_error = None


def run_eval(client, ev, missing):
    """Returns None (pass) or a failure message. missing: set of endpoint
    paths known to answer 404."""
    if ev.kind == "instant":
        path, params = "/api/v1/query", {"query": ev.expr, "time": fmt_ts(ev.at)}
    else:
        path, params = "/api/v1/query_range", {"query": ev.expr, "start": fmt_ts(ev.start),
                                               "end": fmt_ts(ev.end), "step": fmt_ts(ev.step)}
    if path in missing:
        return "endpoint %s missing (404)" % path
    try:
        res = client.api(path, params)
    except EndpointMissing as e:
        missing.add(path)
        print("    NOTICE: %s; the remaining evals against it are counted as failed" % e)
        return "endpoint %s missing (404)" % path
    except (OSError, http.client.HTTPException) as e:
        return "request failed: %s" % e
    if ev.fail:
        if res[0] == "ok":
            return "expected error evaluating query %r (line %d) but got none" % (ev.expr, ev.lineno)
        if res[1] == "bad_data":
            return "expected an evaluation error, got a parse error (bad_data): %s" % res[2]
        if ev.fail_msg is not None and res[2] != ev.fail_msg:
            return "expected error %r, got %r" % (ev.fail_msg, res[2])
        if ev.fail_regexp is not None and not re.search(ev.fail_regexp, res[2] or ""):
            return "error %r does not match %r" % (res[2], ev.fail_regexp)
        return None
    if res[0] != "ok":
        return "error evaluating query: %s: %s" % (res[1], res[2])
    try:
        if ev.kind == "instant":
            return compare_instant(ev, res[1], res[2] or [])
        return compare_range(ev, res[1], res[2] or [])
    except (KeyError, TypeError, ValueError, IndexError) as e:
        return "malformed result (%s: %s)" % (type(e).__name__, e)


def run_file(client, path, missing, tenant_prefix):
    name = os.path.basename(path)
    fr = FileResult(name)
    try:
        cmds = parse_file(path)
    except (ParseError, ValueError) as e:
        fr.parse_error = str(e)
        return fr
    block = 0
    client.new_block("%s-%s-%d" % (tenant_prefix, name.replace(".", "-"), block))
    for cmd in cmds:
        if isinstance(cmd, Clear):
            block += 1
            client.new_block("%s-%s-%d" % (tenant_prefix, name.replace(".", "-"), block))
        elif isinstance(cmd, Load):
            try:
                err = load_block(client, cmd)
            except (OSError, http.client.HTTPException) as e:
                err = "remote write failed: %s" % e
            if err:
                # Not fatal: the evals show what the missing data breaks.
                fr.load_errors += 1
                fr.failures.append((cmd.lineno, "load", "load failed: %s" % err))
        else:
            fr.evals += 1
            msg = run_eval(client, cmd, missing)
            if msg is None:
                fr.passed += 1
            else:
                fr.failed += 1
                fr.failures.append((cmd.lineno, cmd.line, msg))
    return fr


def test_files(directory):
    return sorted(os.path.join(directory, f) for f in os.listdir(directory) if f.endswith(".test"))


def parse_all(files):
    """Parses every file; returns {name: eval count}; raises on errors."""
    counts = {}
    for path in files:
        cmds = parse_file(path)
        counts[os.path.basename(path)] = count_evals(cmds)
    return counts


class PrometheusClient(Client):
    """Self-check of the runner: a Prometheus server, restarted empty for
    every block (it has no tenants). version "2.53" (2.53.3, the reference;
    use with the v2.53.5 scripts) or "2.42" (Debian 12's; use with the
    v2.42.0 scripts); see tests/blackbox/triad.py ensure_prometheus."""

    CONFIG = "global: {}\nstorage:\n  tsdb:\n    out_of_order_time_window: 1000000h\n"

    def __init__(self, version="2.53"):
        super().__init__(0)
        self.prom = None
        self.version = version

    def new_block(self, tenant):
        import triad
        if self.prom is not None:
            self.prom.cleanup()
        features = "native-histograms"
        if self.version != "2.42":
            # triad always enables them (docs/compatibility/prometheus.md)
            features += ",promql-experimental-functions"
        self.prom = triad.Prometheus(self.CONFIG, ["--web.enable-remote-write-receiver",
                                                      "--enable-feature=" + features],
                                     version=self.version).start()
        self.port = self.prom.port

    def close(self):
        if self.prom is not None:
            self.prom.cleanup()


def run(port, files, tenant_prefix=None, verbose=False, failures_file=FAILURES_FILE, client=None):
    """Runs all files against the server on port; returns {name: FileResult}."""
    client = client or Client(port)
    missing = set()
    tenant_prefix = tenant_prefix or "pqt%d" % int(time.time() * 1000)
    results = {}
    for path in files:
        t0 = time.time()
        fr = run_file(client, path, missing, tenant_prefix)
        results[fr.name] = fr
        if fr.parse_error:
            print("  %-24s PARSE ERROR %s" % (fr.name, fr.parse_error))
        else:
            print("  %-24s %4d/%-4d passed (%.1fs)%s" % (
                fr.name, fr.passed, fr.evals, time.time() - t0,
                "  [%d load(s) failed]" % fr.load_errors if fr.load_errors else ""))
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
    """Prints the totals; returns a list of regression messages."""
    passed = sum(r.passed for r in results.values())
    failed = sum(r.failed for r in results.values())
    print("promqltest: %d passed, %d failed" % (passed, failed))
    regressions = []
    for name, want in sorted(expected.items()):
        r = results.get(name)
        got = r.passed if r else 0
        if r is None:
            continue
        if r.parse_error:
            regressions.append("%s: parse error %s" % (name, r.parse_error))
        elif got < want:
            regressions.append("%s: %d passed, expected at least %d" % (name, got, want))
        elif got > want:
            print("  NOTE: %s passes %d > expected %d (raise it in %s)" % (
                name, got, want, os.path.relpath(EXPECTED_FILE, REPO)))
    for name, r in results.items():
        if r.parse_error and name not in expected:
            regressions.append("%s: parse error %s" % (name, r.parse_error))
    return regressions


def load_expected(path=EXPECTED_FILE):
    try:
        with open(path) as f:
            return json.load(f)
    except FileNotFoundError:
        return {}


def start_triad(binary=None):
    import triad
    t = triad.Triad(TRIAD_FLAGS, binary=binary)
    t.start()
    return t


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("files", nargs="*")
    ap.add_argument("--dir", default=None, help="promqltest directory")
    ap.add_argument("--parse-only", action="store_true")
    ap.add_argument("--port", type=int, help="use a running triad on 127.0.0.1:PORT")
    ap.add_argument("--bin", help="triad binary to start (default TRIAD_BIN / build/triad)")
    ap.add_argument("--expected", default=EXPECTED_FILE)
    ap.add_argument("--update-expected", action="store_true")
    ap.add_argument("--prometheus", nargs="?", const="2.53", choices=("2.53", "2.42"),
                    help="self-check: run against Prometheus 2.53.3 (default) or 2.42 "
                         "(then use --dir .../v2.42.0)")
    ap.add_argument("-v", "--verbose", action="store_true")
    args = ap.parse_args(argv)
    directory = args.dir or os.path.join(conformance_dir(), "promqltest")
    files = [f if os.path.exists(f) else os.path.join(directory, f) for f in args.files] \
        or test_files(directory)
    if not files:
        print("promqltest: no .test files in %s" % directory)
        return 2
    counts = parse_all(files)
    for name, n in counts.items():
        print("  parsed %-24s %4d evals" % (name, n))
    print("promqltest: parsed %d files, %d evals" % (len(counts), sum(counts.values())))
    if args.parse_only:
        return 0
    if args.prometheus:
        client = PrometheusClient(args.prometheus)
        try:
            results = run(0, files, verbose=args.verbose, client=client,
                          failures_file=FAILURES_FILE.replace(".txt", "-prometheus.txt"))
        finally:
            client.close()
        summarize(results, {})
        return 0
    t = None
    port = args.port
    if port is None:
        t = start_triad(args.bin)
        port = t.port
    try:
        t0 = time.time()
        results = run(port, files, verbose=args.verbose)
        print("(%.1fs)" % (time.time() - t0))
    finally:
        if t is not None:
            t.cleanup()
    if args.update_expected:
        exp = load_expected(args.expected)
        exp.update({n: r.passed for n, r in results.items()})
        with open(args.expected, "w") as f:
            json.dump(exp, f, indent=2, sort_keys=True)
            f.write("\n")
        print("wrote %s" % args.expected)
        return 0
    regressions = summarize(results, load_expected(args.expected))
    for r in regressions:
        print("REGRESSION " + r)
    return 1 if regressions else 0


if __name__ == "__main__":
    sys.exit(main())
