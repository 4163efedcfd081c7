#!/usr/bin/env python3
"""compliance.py - the PromQL compliance queries (prometheus/compliance,
../shared/conformance/promql-compliance/promql-test-queries.yml) against
triad, with Prometheus 2.53.3 as the reference (the PromQL semantics triad
implements; unpacked from Debian trixie by ../shared/tools/debian-pkg into
build/tools/prometheus-2.53, see `make prometheus-2.53`; the test is skipped
with the reason when the tool or the Debian mirror is unavailable).

1. A synthetic data set shaped like the PromLabs demo service (every metric
   name and label the queries use) is generated deterministically: 2 h at
   15 s resolution ending now, 3 instances demo.promlabs.com:10000-10002
   (job "demo") scraped at different offsets within the 15 s:
     demo_cpu_usage_seconds_total{mode=idle|user|system}   counters (one
         instance restarts once: a counter reset)
     demo_memory_usage_bytes{type=free|used|buffers|cached} gauges
     demo_disk_usage_bytes, demo_disk_total_bytes           gauges (linear growth)
     demo_num_cpus                                          gauge (4, 8, 6)
     demo_batch_last_success_timestamp_seconds, demo_batch_last_run_
         {timestamp,duration}_seconds, ..._processed_bytes  (batch every 5 min,
         some runs fail)
     demo_intermittent_metric                               present 6 min of
         every 10, with a staleness marker when it disappears
     demo_api_request_duration_seconds_{bucket,sum,count}{method,path,status}
         classic histogram, 15 le buckets incl. +Inf, 4 label combinations
   The same data is remote-written to triad (tenant "compliance") and to a
   fresh Prometheus 2.53.3 (--web.enable-remote-write-receiver).
2. The 118 templates expand to 539 queries (cartesian product of the listed
   variant_args, values as upstream). Each runs as a range query (10 min
   window ending 15 min before the data ends, step 10 s) on both servers.
3. Comparison as upstream: same series set (order ignored), labels and
   timestamps exact, values within relative 1e-5 (NaN == NaN);
   should_fail: triad must return an error; skip_comparison: both succeed.

Prints "promql-compliance: N/539 passed"; failures go to
build/compliance-failures.txt. Exits 1 when N is below
tests/conformance/expected_compliance.json ("passed"); --update-expected
writes N there. A 404 from triad's query_range is reported once and the rest
counted as failed (the reference queries still run: they check the data set,
and a reference error on a query that should work is reported).

  compliance.py [--port PORT | --bin TRIAD] [--target-prometheus] [-v]
                [--update-expected]
--target-prometheus compares a second Prometheus 2.53.3 holding the same data
(a self-check of the runner: should give 539/539).
"""

import argparse
import itertools
import json
import math
import os
import random
import re
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(REPO, "tests", "blackbox"))

import promqltest  # noqa: E402
import prw  # noqa: E402

EXPECTED_FILE = os.path.join(HERE, "expected_compliance.json")
FAILURES_FILE = os.path.join(REPO, "build", "compliance-failures.txt")
TENANT = "compliance"
RESOLUTION_MS = 15000
DATA_SPAN_MS = 2 * 3600 * 1000
QUERY_RANGE_MS = 10 * 60 * 1000
QUERY_STEP_MS = 10000
QUERY_END_BEFORE_MS = 15 * 60 * 1000
TOLERANCE = 1e-5

VARIANTS = {
    "range": ["1s", "15s", "1m", "5m", "15m", "1h"],
    "offset": ["1m", "5m", "10m"],
    "simpleAggrOp": ["sum", "avg", "max", "min", "count", "stddev", "stdvar"],
    "simpleTimeAggrOp": ["sum", "avg", "max", "min", "count", "stddev", "stdvar", "absent", "last"],
    "topBottomOp": ["topk", "bottomk"],
    "quantile": ["-0.5", "0.1", "0.5", "0.75", "0.95", "0.90", "0.99", "1", "1.5"],
    "arithBinOp": ["+", "-", "*", "/", "%", "^"],
    "compBinOp": ["==", "!=", "<", ">", "<=", ">="],
    "binOp": ["+", "-", "*", "/", "%", "^", "==", "!=", "<", ">", "<=", ">="],
    "simpleMathFunc": ["abs", "ceil", "floor", "exp", "sqrt", "ln", "log2", "log10", "round"],
    "extrapolatedRateFunc": ["delta", "rate", "increase"],
    "clampFunc": ["clamp_min", "clamp_max"],
    "instantRateFunc": ["idelta", "irate"],
    "dateFunc": ["day_of_month", "day_of_week", "days_in_month", "hour", "minute", "month", "year"],
    "smoothingFactor": ["0.1", "0.5", "0.8"],
    "trendFactor": ["0.1", "0.5", "0.8"],
}
N_QUERIES = 539


# -------------------------------------------------------------- the queries --

def _yaml_scalar(v):
    v = v.strip()
    if v.startswith("'"):
        out, i = [], 1
        while i < len(v):
            if v[i] == "'":
                if v[i + 1:i + 2] == "'":
                    out.append("'")
                    i += 2
                    continue
                return "".join(out)
            out.append(v[i])
            i += 1
        raise ValueError("unterminated single-quoted string %r" % v)
    if v.startswith('"'):
        m = re.match(r'"((?:[^"\\]|\\.)*)"', v)
        if not m:
            raise ValueError("unterminated double-quoted string %r" % v)
        return json.loads('"%s"' % m.group(1))
    if v.startswith("["):
        body = v[1:v.rindex("]")]
        return [_yaml_scalar(x) for x in re.findall(r"'(?:[^']|'')*'|\"[^\"]*\"|[^,\s][^,]*", body)]
    v = re.sub(r"\s+#.*$", "", v)
    if v in ("true", "false"):
        return v == "true"
    return v


def parse_queries_yml(text):
    """The subset of YAML the query file uses: a list of maps of scalars /
    flow lists under test_cases."""
    cases, cur = [], None
    for raw in text.split("\n"):
        s = raw.strip()
        if not s or s.startswith("#") or s == "test_cases:":
            continue
        if s == "-" or s.startswith("- ") or s.startswith("-\t"):
            cur = {}
            cases.append(cur)
            s = s[1:].strip()
            if not s or s.startswith("#"):
                continue
        if cur is None:
            raise ValueError("unexpected line %r" % raw)
        key, sep, val = s.partition(":")
        if not sep or not re.match(r"^[a-z_]+$", key):
            raise ValueError("unexpected line %r" % raw)
        cur[key] = _yaml_scalar(val)
    return cases


def expand(cases):
    """-> list of dicts {query, should_fail, skip_comparison, template}."""
    out = []
    for c in cases:
        args = c.get("variant_args") or []
        for combo in itertools.product(*[VARIANTS[a] for a in args]):
            q = c["query"]
            for name, val in zip(args, combo):
                q = q.replace("{{.%s}}" % name, val)
            if "{{" in q:
                raise ValueError("unexpanded template in %r" % q)
            out.append({"query": q, "template": c["query"],
                        "should_fail": bool(c.get("should_fail")),
                        "skip_comparison": bool(c.get("skip_comparison"))})
    return out


def load_queries(directory):
    with open(os.path.join(directory, "promql-test-queries.yml"), encoding="utf-8") as f:
        return expand(parse_queries_yml(f.read()))


# ---------------------------------------------------------------- the data --

INSTANCES = ["demo.promlabs.com:10000", "demo.promlabs.com:10001", "demo.promlabs.com:10002"]
SCRAPE_OFFSET_MS = [0, 4300, 9100]
NUM_CPUS = [4, 8, 6]
LE = ["0.0001", "0.00015", "0.0002", "0.0003", "0.0005", "0.001", "0.0025", "0.005",
      "0.01", "0.025", "0.05", "0.1", "0.25", "1", "+Inf"]
API_COMBOS = [("GET", "/api/foo", "200", 12.0, 0.004), ("POST", "/api/foo", "200", 3.0, 0.02),
              ("GET", "/api/bar", "200", 6.0, 0.0008), ("GET", "/api/bar", "500", 0.4, 0.12)]


def generate(end_ms, seed=42):
    """Returns {labels_tuple: [(ts_ms, value)]} (labels sorted by name)."""
    rnd = random.Random(seed)
    start_ms = end_ms - DATA_SPAN_MS
    series = {}

    def add(name, inst, extra, ts, v):
        labels = dict(extra)
        labels.update({"__name__": name, "job": "demo", "instance": inst})
        series.setdefault(tuple(sorted(labels.items())), []).append((ts, v))

    for k, inst in enumerate(INSTANCES):
        cpus = NUM_CPUS[k]
        cpu = {"idle": 1e5 * (k + 1), "user": 2e4 * (k + 1), "system": 8e3 * (k + 1)}
        mem = {"free": 3.2e9 - k * 1e8, "used": 5.1e9 + k * 3e8, "buffers": 2.5e8, "cached": 1.1e9}
        disk = 1.2e11 + k * 7e9
        api = {c: [0] * len(LE) + [0.0, 0] for c in API_COMBOS}  # buckets, sum, count
        last_success = start_ms // 1000 - 120
        last_run = last_success
        run_duration = 30.0
        processed = 0
        reset_at = start_ms + DATA_SPAN_MS * 3 // 5 if k == 1 else None
        ts = start_ms + SCRAPE_OFFSET_MS[k]
        step = 0
        intermittent_on = False
        while ts <= end_ms:
            dt = RESOLUTION_MS / 1000.0
            if reset_at is not None and ts >= reset_at:
                reset_at = None
                cpu = {m: rnd.uniform(0.5, 3) for m in cpu}
                api = {c: [0] * len(LE) + [0.0, 0] for c in API_COMBOS}
            cpu["idle"] += dt * cpus * rnd.uniform(0.6, 0.9)
            cpu["user"] += dt * cpus * rnd.uniform(0.05, 0.3)
            cpu["system"] += dt * cpus * rnd.uniform(0.01, 0.1)
            for m, v in cpu.items():
                add("demo_cpu_usage_seconds_total", inst, {"mode": m}, ts, round(v, 6))
            phase = 2 * math.pi * (ts - start_ms) / 3.6e6
            mem["used"] += rnd.randint(-4000000, 4000000) + 2e7 * math.sin(phase + k)
            mem["free"] -= rnd.randint(-3000000, 3000000) + 2e7 * math.sin(phase + k)
            mem["cached"] += rnd.randint(-500000, 600000)
            mem["buffers"] += rnd.randint(-100000, 100000)
            for m, v in mem.items():
                add("demo_memory_usage_bytes", inst, {"type": m}, ts, float(int(v)))
            disk += rnd.uniform(2e4, 9e4) * dt
            add("demo_disk_usage_bytes", inst, {}, ts, float(int(disk)))
            add("demo_disk_total_bytes", inst, {}, ts, 5e11)
            add("demo_num_cpus", inst, {}, ts, float(cpus))
            # a batch job every 5 minutes, one run in 4 fails
            now_s = ts // 1000
            if now_s - last_run >= 300:
                last_run = now_s
                run_duration = round(rnd.uniform(20, 40), 3)
                processed = rnd.randint(10 ** 6, 10 ** 8)
                if rnd.random() >= 0.25:
                    last_success = now_s
            add("demo_batch_last_success_timestamp_seconds", inst, {}, ts, float(last_success))
            add("demo_batch_last_run_timestamp_seconds", inst, {}, ts, float(last_run))
            add("demo_batch_last_run_duration_seconds", inst, {}, ts, run_duration)
            add("demo_batch_last_run_processed_bytes", inst, {}, ts, float(processed))
            # present 6 minutes out of every 10 (shifted per instance)
            on = ((ts - start_ms) // 60000 + 3 * k) % 10 < 6
            if on:
                add("demo_intermittent_metric", inst, {}, ts, float(rnd.randint(0, 100)))
            elif intermittent_on:
                add("demo_intermittent_metric", inst, {}, ts, prw.STALE_NAN)
            intermittent_on = on
            for combo in API_COMBOS:
                method, path, status, rate, median = combo
                st = api[combo]
                n = max(0, int(rnd.gauss(rate * dt, math.sqrt(rate * dt))))
                for _ in range(n):
                    lat = rnd.lognormvariate(math.log(median), 0.9)
                    st[len(LE)] += lat
                    st[len(LE) + 1] += 1
                    for i, le in enumerate(LE):
                        if le == "+Inf" or lat <= float(le):
                            st[i] += 1
                base = {"method": method, "path": path, "status": status}
                for i, le in enumerate(LE):
                    add("demo_api_request_duration_seconds_bucket", inst, dict(base, le=le), ts,
                        float(st[i]))
                add("demo_api_request_duration_seconds_sum", inst, base, ts, round(st[len(LE)], 9))
                add("demo_api_request_duration_seconds_count", inst, base, ts,
                    float(st[len(LE) + 1]))
            ts += RESOLUTION_MS
            step += 1
    return series


def write_all(client, series, slice_ms=10 * 60 * 1000):
    """Remote-writes in time order (all series for one time slice per
    request: Prometheus refuses samples older than its head allows)."""
    t_min = min(s[0][0] for s in series.values())
    t_max = max(s[-1][0] for s in series.values())
    n = 0
    t = t_min
    while t <= t_max:
        batch = []
        for labels, samples in series.items():
            part = [(ts, v) for ts, v in samples if t <= ts < t + slice_ms]
            if part:
                batch.append((labels, part))
                n += len(part)
        if batch:
            status, text = client.write(promqltest.write_request(batch))
            if status not in (200, 204):
                raise AssertionError("remote write to port %d -> %d %s" % (
                    client.port, status, text[:300]))
        t += slice_ms
    return n


# ----------------------------------------------------------- comparison --

def approx_equal(a, b):
    if math.isnan(a) and math.isnan(b):
        return True
    if a == b:
        return True
    if math.isinf(a) or math.isinf(b) or math.isnan(a) or math.isnan(b):
        return False
    return abs(a - b) <= TOLERANCE * min(abs(a), abs(b))


def _series_map(result):
    out = {}
    for s in result or []:
        key = tuple(sorted((s.get("metric") or {}).items()))
        if key in out:
            raise ValueError("series %s twice in the result" % promqltest.fmt_labels(key))
        out[key] = [(promqltest._json_ms(t), float(v)) for t, v in s.get("values") or []]
    return out


def compare(ref, got):
    """ref, got: ("ok", resultType, result). Returns None or a message."""
    if ref[1] != got[1]:
        return "result type %s, reference %s" % (got[1], ref[1])
    if ref[1] != "matrix":
        r = ref[2]
        g = got[2]
        if json.dumps(r, sort_keys=True) != json.dumps(g, sort_keys=True):
            return "result %r, reference %r" % (g, r)
        return None
    rm, gm = _series_map(ref[2]), _series_map(got[2])
    missing = [k for k in rm if k not in gm]
    extra = [k for k in gm if k not in rm]
    if missing or extra:
        return "series differ: missing %s; unexpected %s" % (
            ", ".join(promqltest.fmt_labels(k) for k in missing[:3]) or "-",
            ", ".join(promqltest.fmt_labels(k) for k in extra[:3]) or "-")
    for key, rpts in rm.items():
        gpts = gm[key]
        if [t for t, _ in rpts] != [t for t, _ in gpts]:
            rts, gts = {t for t, _ in rpts}, {t for t, _ in gpts}
            return "%s: timestamps differ (%d vs reference %d points; first extra %s, first missing %s)" % (
                promqltest.fmt_labels(key), len(gpts), len(rpts),
                min(gts - rts, default="-"), min(rts - gts, default="-"))
        for (t, rv), (_, gv) in zip(rpts, gpts):
            if not approx_equal(rv, gv):
                return "%s @%d: %r, reference %r" % (promqltest.fmt_labels(key), t, gv, rv)
    return None


def run(triad_client, ref_client, queries, start_ms, end_ms, step_ms=QUERY_STEP_MS,
        failures_file=FAILURES_FILE, verbose=False):
    """Returns (passed, failures: [(query, message)], reference_stats)."""
    params = {"start": promqltest.fmt_ts(start_ms), "end": promqltest.fmt_ts(end_ms),
              "step": promqltest.fmt_ts(step_ms)}
    path = "/api/v1/query_range"
    passed = 0
    failures = []
    missing = False
    ref_errors = ref_empty = 0
    for q in queries:
        p = dict(params, query=q["query"])
        ref = ref_client.api(path, p)
        if ref[0] == "ok" and not ref[2]:
            ref_empty += 1
        if ref[0] != "ok" and not q["should_fail"]:
            ref_errors += 1
        if missing:
            got = None
        else:
            try:
                got = triad_client.api(path, p)
            except promqltest.EndpointMissing as e:
                print("    NOTICE: triad %s; the remaining queries are counted as failed" % e)
                missing = True
                got = None
        if got is None:
            msg = "endpoint %s missing (404)" % path
        elif q["should_fail"]:
            msg = None if got[0] != "ok" else "expected an error, got a %s result" % got[1]
        elif ref[0] != "ok":
            msg = "reference failed: %s: %s" % (ref[1], ref[2])
        elif got[0] != "ok":
            msg = "error: %s: %s" % (got[1], got[2])
        elif q["skip_comparison"]:
            msg = None
        else:
            try:
                msg = compare(ref, got)
            except (ValueError, TypeError, KeyError, IndexError) as e:
                msg = "malformed result (%s: %s)" % (type(e).__name__, e)
        if msg is None:
            passed += 1
        else:
            failures.append((q["query"], msg))
            if verbose and got is not None:
                print("  FAIL %s\n       %s" % (q["query"], msg[:300]))
    if failures_file:
        os.makedirs(os.path.dirname(failures_file), exist_ok=True)
        with open(failures_file, "w") as f:
            f.write("# range queries start=%s end=%s step=%s\n" % (
                params["start"], params["end"], params["step"]))
            for query, msg in failures:
                f.write("%s\n    %s\n" % (query, msg))
    stats = {"errors": ref_errors, "empty": ref_empty}
    return passed, failures, stats


PROM_CONFIG = "global: {}\nstorage:\n  tsdb:\n    out_of_order_time_window: 3h\n"
# The reference: the Prometheus release whose PromQL semantics triad implements.
REFERENCE_VERSION = "2.53"


def start_prometheus():
    import triad
    return triad.Prometheus(PROM_CONFIG, ["--web.enable-remote-write-receiver"],
                            version=REFERENCE_VERSION).start()


def prom_version(binary):
    """"2.53.3+ds1" from `prometheus --version` (the reference actually run)."""
    import subprocess
    try:
        out = subprocess.run([binary, "--version"], capture_output=True, timeout=30).stdout
    except (OSError, subprocess.TimeoutExpired):
        return "?"
    m = re.search(rb"version (\S+)", out)
    return m.group(1).decode() if m else "?"


def run_all(triad_port=None, triad_bin=None, target_prometheus=False, verbose=False,
            directory=None):
    """Starts what is needed, writes the data, runs the queries.
    Returns (passed, total, failures)."""
    import triad
    directory = directory or os.path.join(promqltest.conformance_dir(), "promql-compliance")
    queries = load_queries(directory)
    if len(queries) != N_QUERIES:
        raise AssertionError("expanded %d queries, expected %d" % (len(queries), N_QUERIES))
    started = []
    try:
        t0 = time.time()
        if target_prometheus:
            tp = start_prometheus()
            started.append(tp)
            target = promqltest.Client(tp.port)
        else:
            if triad_port is None:
                t = triad.Triad(promqltest.TRIAD_FLAGS, binary=triad_bin).start()
                started.append(t)
                triad_port = t.port
            target = promqltest.Client(triad_port)
            target.tenant = TENANT
        prom = start_prometheus()
        started.append(prom)
        ref = promqltest.Client(prom.port)
        end_data = (int(time.time() * 1000) // RESOLUTION_MS) * RESOLUTION_MS
        series = generate(end_data)
        n = write_all(ref, series)
        write_all(target, series)
        names = sorted({dict(k)["__name__"] for k in series})
        print("  data: %d series, %d samples (%d metric names), %s .. %s, written in %.1fs" % (
            len(series), n, len(names),
            time.strftime("%H:%M:%S", time.gmtime((end_data - DATA_SPAN_MS) / 1000)),
            time.strftime("%H:%M:%S", time.gmtime(end_data / 1000)), time.time() - t0))
        q_end = ((end_data - QUERY_END_BEFORE_MS) // QUERY_STEP_MS) * QUERY_STEP_MS
        q_start = q_end - QUERY_RANGE_MS
        t1 = time.time()
        passed, failures, stats = run(target, ref, queries, q_start, q_end, verbose=verbose)
        print("  reference (Prometheus %s): %d errors on queries that should work, %d empty "
              "results; queries ran in %.1fs" % (prom_version(prom.binary), stats["errors"],
                                                 stats["empty"], time.time() - t1))
        if stats["errors"]:
            for query, msg in failures:
                if msg.startswith("reference failed"):
                    print("    reference: %s: %s" % (query, msg))
        return passed, len(queries), failures
    finally:
        for p in started:
            p.cleanup()


def load_expected(path=EXPECTED_FILE):
    try:
        with open(path) as f:
            return json.load(f).get("passed", 0)
    except FileNotFoundError:
        return 0


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--dir", help="promql-compliance directory")
    ap.add_argument("--port", type=int, help="a running triad on 127.0.0.1:PORT")
    ap.add_argument("--bin", help="triad binary to start")
    ap.add_argument("--target-prometheus", action="store_true",
                    help="self-check: compare two Prometheus servers")
    ap.add_argument("--list", action="store_true", help="print the expanded queries")
    ap.add_argument("--expected", default=EXPECTED_FILE)
    ap.add_argument("--update-expected", action="store_true")
    ap.add_argument("-v", "--verbose", action="store_true")
    args = ap.parse_args(argv)
    if args.list:
        d = args.dir or os.path.join(promqltest.conformance_dir(), "promql-compliance")
        for q in load_queries(d):
            print(q["query"])
        return 0
    t0 = time.time()
    passed, total, failures = run_all(args.port, args.bin, args.target_prometheus,
                                      args.verbose, args.dir)
    print("promql-compliance: %d/%d passed (%.1fs; failures in %s)" % (
        passed, total, time.time() - t0, os.path.relpath(FAILURES_FILE, REPO)))
    if args.target_prometheus:
        return 0 if passed == total else 1
    if args.update_expected:
        with open(args.expected, "w") as f:
            json.dump({"passed": passed, "total": total}, f, indent=2)
            f.write("\n")
        print("wrote %s" % args.expected)
        return 0
    want = load_expected(args.expected)
    if passed < want:
        print("REGRESSION promql-compliance: %d passed, expected at least %d" % (passed, want))
        return 1
    if passed > want:
        print("  NOTE: %d passed > expected %d (raise it in %s)" % (
            passed, want, os.path.relpath(args.expected, REPO)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
