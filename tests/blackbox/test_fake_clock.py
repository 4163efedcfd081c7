"""The cluster's fake clock (--debug.fake-clock, POST /debug/clock): a 3-node
cluster starts at 23:30 on a fake day, standing still; advancing the clock on
one node moves every node's clock (replicated through the meta group);
crossing midnight, the meta leader creates the next day's shards, writes at
the new time land in them, and a range query across the boundary reads both
windows from every node. "Too old" follows the fake clock. Without the flag
/debug/clock is 404; with --auth.enabled it is refused."""

import time

from triad import Triad, wait_until

NODES = []
START = "2030-01-01T23:30:00Z"
START_MS = 1893540600000  # 2030-01-01T23:30:00Z
DAY = 86_400_000
MIDNIGHT = START_MS + 30 * 60_000  # 2030-01-02T00:00:00Z


def setup_module():
    nodes = [Triad() for _ in range(3)]
    joins = ",".join("127.0.0.1:%d" % t.port for t in nodes)
    for i, t in enumerate(nodes):
        t.extra_args += ["--node-name", "c%d" % (i + 1), "--bootstrap-expect", "3",
                         "--join", joins, "--debug.fake-clock", START,
                         "--late-write-grace", "2h"]
    for t in nodes:
        t._spawn(t.argv())
    for t in nodes:
        assert t._wait_ready(60) is None, t.stderr_tail(30)
    NODES.extend(nodes)


def teardown_module():
    for t in NODES:
        if t.running():
            t.stop()


def clock_of(t):
    """The node's notion of now, from PromQL time() at the default time."""
    r = t.get_json("/api/v1/query", {"query": "time()"})
    return int(round(float(r["data"]["result"][1]) * 1000))


def windows(t, signal="metrics"):
    r = t.request("GET", "/api/v1/status/cluster", timeout=10)
    assert r.status == 200, r.text[:300]
    return sorted({s["window"] for s in r.json()["data"]["shards"] if s["signal"] == signal})


def advance(t, what):
    r = t.request("POST", "/debug/clock?advance=" + what, body=b"", timeout=15)
    assert r.status == 200, (r.status, r.text)
    return int(r.text.strip())


def test_clock_stands_still_at_the_flag():
    for t in NODES:
        assert clock_of(t) == START_MS
    time.sleep(1.0)
    for t in NODES:
        assert clock_of(t) == START_MS, "the fake clock must stand still"
    # the day of the fake clock and the next exist (created ahead of time)
    wait_until(lambda: windows(NODES[0]) == [MIDNIGHT - DAY, MIDNIGHT], 20, 0.25,
               "the fake day's and the next day's windows")


def test_write_before_midnight_and_too_old():
    t = NODES[0]
    t.write_v1([([("__name__", "fc"), ("side", "before")],
                 [(START_MS - 60_000 * k, float(k)) for k in range(10, 0, -1)])])
    # older than the late-write grace relative to the FAKE clock: 2030 is far
    # in the future of the real clock, yet the previous day is too old
    r = t.write_raw(__import__("prw").write_body_v1(
        [([("__name__", "fc"), ("side", "old")], [(MIDNIGHT - 3 * DAY, 1.0)])]))
    assert r.status == 400 and "too old" in r.text, (r.status, r.text)


def test_advance_moves_every_node_across_midnight():
    now = advance(NODES[1], "45m")
    assert now == START_MS + 45 * 60_000, now
    for t in NODES:
        wait_until(lambda t=t: clock_of(t) == START_MS + 45 * 60_000, 10, 0.1,
                   "node %s at the advanced time" % t.port)
    # past midnight: the meta leader creates the day after the new day
    wait_until(lambda: windows(NODES[2]) == [MIDNIGHT - DAY, MIDNIGHT, MIDNIGHT + DAY], 20,
               0.25, "the next day's window")
    # a write at the new time goes to the new day's shards
    t = NODES[2]
    after = [(MIDNIGHT + 60_000 * k, 100.0 + k) for k in range(1, 11)]
    t.write_v1([([("__name__", "fc"), ("side", "after")], after)])
    # the clock never goes back
    r = NODES[0].request("POST", "/debug/clock?advance=-5m", body=b"", timeout=15)
    assert r.status == 400, (r.status, r.text)


def test_range_query_across_the_boundary_on_every_node():
    q = {"query": "fc", "start": str((START_MS - 11 * 60_000) / 1000),
         "end": str((MIDNIGHT + 11 * 60_000) / 1000), "step": "60"}
    results = []
    for t in NODES:
        def got(t=t):
            r = t.get_json("/api/v1/query_range", q)
            res = sorted(r["data"]["result"], key=lambda s: s["metric"]["side"])
            return len(res) == 2 and res
        results.append(wait_until(got, 15, 0.25, "both windows' series"))
    assert results[0] == results[1] == results[2]
    before, after = results[0][1], results[0][0]
    assert before["metric"]["side"] == "before" and after["metric"]["side"] == "after"
    assert [float(v) for _, v in after["values"]][-1] == 110.0


def test_without_the_flag_404_and_with_auth_refused():
    plain = Triad()
    plain.start()
    try:
        r = plain.request("POST", "/debug/clock?advance=1h", body=b"")
        assert r.status == 404, (r.status, r.text)
    finally:
        plain.stop()
    authed = Triad(["--debug.fake-clock", START, "--auth.enabled"])
    authed.start()
    try:
        r = authed.request("POST", "/debug/clock?advance=1h", body=b"",
                           headers={"X-Scope-OrgID": "t"})
        assert r.status == 403, (r.status, r.text)
    finally:
        authed.stop()
