"""Cluster reads: 3 nodes, RF=1, 3 shards per window (1 h), so every query
reads one shard locally and two from the other nodes, whose answers arrive
as chunk frames. Every node returns the very same samples (bit-exact, over
several windows, through PromQL and remote read), and one sample budget
(--query.max-samples) covers the local shards and every node's answer: a
query each node's part of which fits but whose sum does not fails with 422
(errorType execution); under the budget it succeeds."""

import math
import struct

import prw
from triad import Triad, now_ms, wait_until

NODES = []
MAX_SAMPLES = 1600
BUDGET_SERIES = 300  # x 10 samples: ~1000 per node, 3000 in all
T_LAST = 0  # newest sample time of the budget data (ms, on a minute)
SPAN = {}  # labels -> [(t, bits)] of the data spanning several windows
SPAN_SERIES = 10  # x 150 samples; a 2 h query selects ~1,250 of them


def _start_all(nodes, timeout=60):
    for t in nodes:
        t._spawn(t.argv())
    for t in nodes:
        rc = t._wait_ready(timeout)
        assert rc is None, "node exited with %s:\n%s" % (rc, t.stderr_tail(30))


def setup_module():
    nodes = [Triad() for _ in range(3)]
    joins = ",".join("127.0.0.1:%d" % t.port for t in nodes)
    for i, t in enumerate(nodes):
        t.extra_args += ["--node-name", "r%d" % (i + 1), "--bootstrap-expect", "3",
                         "--join", joins, "--replication-factor", "1",
                         "--shards-per-window", "3", "--placement-window", "1h",
                         "--late-write-grace", "4h",
                         "--query.max-samples", str(MAX_SAMPLES)]
    _start_all(nodes)
    NODES.extend(nodes)


def teardown_module():
    for t in NODES:
        if t.running():
            t.stop()


def _status(t):
    r = t.request("GET", "/api/v1/status/cluster", timeout=10)
    assert r.status == 200, (r.status, r.text[:300])
    return r.json()["data"]


def _bits(v):
    return struct.unpack("<Q", struct.pack("<d", v))[0]


def test_shards_spread_one_replica_each():
    def spread():
        st = _status(NODES[0])
        now = now_ms()
        mine = [s for s in st["shards"] if s.get("signal", "metrics") == "metrics"]
        w = max([s["window"] for s in mine if s["window"] <= now] or [0])
        cur = [s for s in mine if s["window"] == w]
        ok = (len(cur) == 3 and all(s["leader"] for s in cur) and
              all(len(s["replicas"]) == 1 for s in cur) and
              len({s["replicas"][0]["node"] for s in cur}) == 3)
        return ok and cur
    wait_until(spread, 30, 0.25, "3 shards of the current window, one per node")


def test_every_node_reads_the_same_samples():
    """Series over the last 150 minutes (three 1 h windows), one sample a
    minute, values with every kind of bit pattern; remote read (decoded
    samples) and PromQL on every node see exactly what was written."""
    now = now_ms()
    t0 = now - 150 * 60_000
    # (not -0.0: remote read answers it as 0.0, protobuf-c leaving out a
    # double equal to 0 - on one node as well)
    specials = [float("nan"), math.inf, -math.inf, 5e-324, 1e-300, 0.1]
    series = []
    for i in range(SPAN_SERIES):
        labels = [("__name__", "span"), ("i", "%02d" % i)]
        samples = []
        for k in range(150):
            t = t0 + k * 60_000 + i
            v = specials[k % len(specials)] if i == 0 else float(k * 10 + i) / (i % 4 + 1)
            samples.append((t, v))
        series.append((labels, samples))
        SPAN[prw.sorted_labels(labels)] = [(t, _bits(v)) for t, v in samples]
    for k in range(0, 150, 25):  # several requests: any node takes any write
        part = [(ls, ss[k:k + 25]) for ls, ss in series]
        NODES[k // 25 % 3].write_v1(part, tenant="span")
    for t in NODES:
        got = t.read([(0, "__name__", "span")], t0, now, tenant="span")
        assert len(got) == SPAN_SERIES, len(got)
        for key, want in SPAN.items():
            diff = [(h, w) for h, w in zip(got[key], want) if h != w]
            assert list(got[key]) == want, (key, len(got[key]), diff[:3])
        r = t.get_json("/api/v1/query_range",
                       {"query": "span", "start": (t0 + 30 * 60_000) / 1000,
                        "end": (now - 60_000) / 1000, "step": "60"}, tenant="span")
        res = r["data"]["result"]
        assert len(res) == SPAN_SERIES
        for s in res:
            key = tuple(sorted(s["metric"].items()))
            want = SPAN[key]
            # the newest sample at or before each step within the lookback
            for ts, val in s["values"]:
                ms = int(round(ts * 1000))
                prev = [w for w in want if w[0] <= ms and w[0] > ms - 300_000]
                assert prev, (key, ts)
                v = struct.unpack("<d", struct.pack("<Q", prev[-1][1]))[0]
                if math.isnan(v):
                    assert val == "NaN", (key, ts, val)
                else:
                    assert float(val) == v, (key, ts, val, v)


def _write_budget_data():
    global T_LAST
    T_LAST = (now_ms() - 60_000) // 60_000 * 60_000
    series = []
    for i in range(BUDGET_SERIES):
        labels = [("__name__", "b"), ("i", "%03d" % i)]
        series.append((labels, [(T_LAST - (9 - k) * 60_000, float(k)) for k in range(10)]))
    NODES[0].write_v1(series, tenant="budget")


def _instant(t, expr, expect):
    return t.get_json("/api/v1/query", {"query": expr, "time": T_LAST / 1000},
                      tenant="budget", expect=expect)


def _stopped_answers(t):
    """Answers of other nodes this node stopped (budget) or cancelled."""
    r = t.request("GET", "/metrics")
    n = 0.0
    for line in r.text.splitlines():
        if line.startswith("triad_cluster_read_answers_total{") and (
                'result="over_budget"' in line or 'result="cancelled"' in line):
            n += float(line.rsplit(" ", 1)[1])
    return n


def test_one_sample_budget_over_all_nodes():
    _write_budget_data()
    for t in NODES:
        # 5 samples a series: 1,500 in all, under the budget of 1,600
        r = _instant(t, "count_over_time(b[4m])", 200)
        res = r["data"]["result"]
        assert len(res) == BUDGET_SERIES, len(res)
        assert all(s["value"][1] == "5" for s in res), res[:3]
        # 10 a series: about 1,000 from each node (each under the budget),
        # 3,000 in all: the query fails as soon as the sum is over - an
        # answer still arriving then is stopped, not held
        stopped = _stopped_answers(t)
        r = _instant(t, "count_over_time(b[10m])", 422)
        assert r["errorType"] == "execution", r
        assert "query processing would load too many samples into memory" in r["error"], r
        assert _stopped_answers(t) >= stopped + 1, (stopped, _stopped_answers(t))
        # the selectors of a query share the budget: the second one (2 a
        # series, 600) gets what the first (1,500) left, 100, and every
        # node is told so (it answers 422 beyond that)
        r = _instant(t, "count_over_time(b[4m]) + on(i) count_over_time(b[1m])",
                     422)
        assert r["errorType"] == "execution", r
        r = _instant(t, "count_over_time(b[4m]) + on(i) count_over_time(b[1m] offset 10m)",
                     200)
        assert len(r["data"]["result"]) == 0, r
        # the same over a range query
        r = t.get_json("/api/v1/query_range",
                       {"query": "b", "start": (T_LAST - 9 * 60_000) / 1000,
                        "end": T_LAST / 1000, "step": "60"}, tenant="budget",
                       expect=422)
        assert r["errorType"] == "execution", r


def test_budget_failures_leave_nodes_healthy():
    """After queries that blew the budget (transfers aborted mid-answer),
    every node still answers reads of the whole data set."""
    for t in NODES:
        r = _instant(t, "count(count_over_time(b[4m]))", 200)
        assert r["data"]["result"][0]["value"][1] == str(BUDGET_SERIES), r
        got = t.read([(0, "__name__", "b")], T_LAST - 3 * 60_000, T_LAST,
                     tenant="budget")
        assert len(got) == BUDGET_SERIES
        assert all(len(v) == 4 for v in got.values())
        assert wait_until(lambda: t.ready(), 5, 0.1, "ready")


def test_exemplars_from_every_node():
    # 30 series with an exemplar each, spread over the three shards (one
    # per node): /api/v1/query_exemplars on any node fans out to all
    t = now_ms() - 60000
    body = b""
    for i in range(30):
        labels = [("__name__", "ex_total"), ("i", "%02d" % i)]
        ex = prw.pb_bytes(1, prw.pb_bytes(1, "trace_id") + prw.pb_bytes(2, "t%02d" % i))
        ex += prw.pb_double(2, float(i)) + prw.pb_varint(3, t)
        body += prw.pb_bytes(1, prw._labels_pb(labels)
                             + prw.pb_bytes(2, prw._sample_pb(t, float(i))) + prw.pb_bytes(3, ex))
    r = NODES[0].write_raw(prw.snappy_compress(body))
    assert r.status == 204, (r.status, r.text)
    params = {"query": "ex_total", "start": str((t - 60000) / 1000),
              "end": str((t + 60000) / 1000)}
    for node in NODES:
        got = {}

        def ok():
            got["d"] = node.get_json("/api/v1/query_exemplars", params)["data"]
            return len(got["d"]) == 30
        wait_until(ok, 10, 0.2, "30 series' exemplars on %s" % node.port)
        assert [x["seriesLabels"]["i"] for x in got["d"]] == ["%02d" % i for i in range(30)]
        for i, x in enumerate(got["d"]):
            assert x["exemplars"] == [{"labels": {"trace_id": "t%02d" % i},
                                       "value": str(i), "timestamp": t / 1000}], x
