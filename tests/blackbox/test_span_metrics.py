"""Span metrics and the service graph built in, against a real triad:
traces exported through POST /v1/traces with known client/server pairs,
durations and statuses come back through the Prometheus API as Tempo's
metrics-generator names them (traces_spanmetrics_calls_total,
traces_spanmetrics_latency_*, traces_service_graph_request_total, ..._failed_total,
..._server_seconds_* / ..._client_seconds_*), with the database and
virtual-node edges; a pair split over two exports is still paired; the
counters are cumulative; tenants are isolated; triad's /metrics reports the
series and edges; the flags turn the processors off and the series limit
holds; an idle tenant is flushed by the flusher thread (and SIGTERM joins
it); on a 2-node cluster each node writes its own series
(__metrics_gen_instance) and sides split over the nodes are not paired."""

import struct
import time

from triad import Triad, wait_until
import test_traces as tt

T = None

KIND_SERVER, KIND_CLIENT = 2, 3
ERROR = 2


def setup_module():
    global T
    # the flusher writes every tenant's totals every 200 ms
    T = Triad(["--traces.metrics-flush-interval", "200ms"]).start()


def teardown_module():
    if T is not None:
        T.stop()
        T.cleanup()


def span(tid, sid, name, kind, start, ms, parent=b"", status=0, attrs=()):
    s = tt.pb_field(1, 2, tid) + tt.pb_field(2, 2, sid)
    if parent:
        s += tt.pb_field(4, 2, parent)
    s += tt.pb_field(5, 2, name.encode()) + tt.pb_field(6, 0, kind)
    s += tt.pb_field(7, 1, start) + tt.pb_field(8, 1, start + ms * 1000000)
    for k, v in attrs:
        s += tt.pb_field(9, 2, tt.pb_kv(k, v))
    if status:
        s += tt.pb_field(15, 2, tt.pb_field(3, 0, status))
    return s


def request(resources):
    """resources: [(service, [span bytes])] -> ExportTraceServiceRequest."""
    out = b""
    for service, spans in resources:
        res = tt.pb_field(1, 2, tt.pb_kv("service.name", service))
        ss = tt.pb_field(1, 2, tt.pb_field(1, 2, b"lib")) + b"".join(
            tt.pb_field(2, 2, s) for s in spans)
        out += tt.pb_field(1, 2, tt.pb_field(1, 2, res) + tt.pb_field(2, 2, ss))
    return out


def export(t, body, tenant):
    r = t.request("POST", "/v1/traces", body=body,
                  headers={"Content-Type": "application/x-protobuf",
                           "X-Scope-OrgID": tenant})
    assert r.status == 200, "export -> %d %s" % (r.status, r.text[:300])


def query(t, expr, tenant):
    """{frozenset(labels without __name__/__metrics_gen_instance): value}"""
    j = t.get_json("/api/v1/query", {"query": expr}, tenant=tenant)
    assert j["status"] == "success", j
    out = {}
    for r in j["data"]["result"]:
        m = {k: v for k, v in r["metric"].items()
             if k not in ("__name__", "__metrics_gen_instance")}
        out[frozenset(m.items())] = float(r["value"][1])
    return out


def value(t, expr, tenant):
    got = query(t, expr, tenant)
    assert len(got) == 1, "%s -> %r" % (expr, got)
    return list(got.values())[0]


def settle(t, expr, tenant, want):
    """Waits (the flusher writes every 200 ms) until expr's values are
    want ({labels: value} or a number for a single series); returns the
    last answer."""
    last = [None]

    def ok():
        got = query(t, expr, tenant)
        last[0] = got
        if isinstance(want, dict):
            return got == want
        return len(got) == 1 and list(got.values())[0] == want
    try:
        wait_until(ok, 15, interval=0.1, what=expr)
    except AssertionError:
        raise AssertionError("%s: %r, want %r" % (expr, last[0], want))
    return last[0]


def tid(n):
    return struct.pack(">QQ", 0x5350414e, n)


def sid(n):
    return struct.pack(">Q", n)


def test_span_metrics_and_service_graph():
    """Three traces frontend -> backend -> postgresql in one export."""
    now = time.time_ns()
    front, back = [], []
    for i in range(3):
        t = tid(100 + i)
        front.append(span(t, sid(1), "GET /", KIND_SERVER, now, 120))
        front.append(span(t, sid(2), "GET /api", KIND_CLIENT, now, 80,
                          parent=sid(1)))
        back.append(span(t, sid(3), "/api", KIND_SERVER, now, 50,
                         parent=sid(2), status=ERROR))
        back.append(span(t, sid(4), "SELECT", KIND_CLIENT, now, 10,
                         parent=sid(3), attrs=[("db.system", "postgresql")]))
    export(T, request([("frontend", front), ("backend", back)]), "sm1")

    settle(T, "traces_spanmetrics_calls_total", "sm1", {
        frozenset({("service", "frontend"), ("span_name", "GET /"),
                   ("span_kind", "SPAN_KIND_SERVER"),
                   ("status_code", "STATUS_CODE_UNSET")}): 3,
        frozenset({("service", "frontend"), ("span_name", "GET /api"),
                   ("span_kind", "SPAN_KIND_CLIENT"),
                   ("status_code", "STATUS_CODE_UNSET")}): 3,
        frozenset({("service", "backend"), ("span_name", "/api"),
                   ("span_kind", "SPAN_KIND_SERVER"),
                   ("status_code", "STATUS_CODE_ERROR")}): 3,
        frozenset({("service", "backend"), ("span_name", "SELECT"),
                   ("span_kind", "SPAN_KIND_CLIENT"),
                   ("status_code", "STATUS_CODE_UNSET")}): 3,
    })
    settle(T, "traces_service_graph_request_total", "sm1", {
        frozenset({("client", "user"), ("server", "frontend"),
                   ("connection_type", "virtual_node")}): 3,
        frozenset({("client", "frontend"), ("server", "backend")}): 3,
        frozenset({("client", "backend"), ("server", "postgresql"),
                   ("connection_type", "database")}): 3,
    })
    lat = 'traces_spanmetrics_latency_bucket{service="frontend",' \
          'span_name="GET /api",le="%s"}'
    assert value(T, lat % "0.064", "sm1") == 0
    assert value(T, lat % "0.128", "sm1") == 3
    assert value(T, lat % "+Inf", "sm1") == 3
    s = value(T, 'traces_spanmetrics_latency_sum{span_name="GET /api"}',
              "sm1")
    assert abs(s - 0.24) < 1e-6, s
    assert value(T, 'traces_spanmetrics_size_total{span_name="SELECT"}',
                 "sm1") > 0

    failed = query(T, "traces_service_graph_request_failed_total", "sm1")
    assert failed == {
        frozenset({("client", "frontend"), ("server", "backend")}): 3,
    }, failed
    fb = '{client="frontend",server="backend"%s}'
    assert value(T, "traces_service_graph_request_server_seconds_bucket" +
                 fb % ',le="0.1"', "sm1") == 3
    assert value(T, "traces_service_graph_request_client_seconds_count" +
                 fb % "", "sm1") == 3
    cs = value(T, "traces_service_graph_request_client_seconds_sum" +
               fb % "", "sm1")
    assert abs(cs - 0.24) < 1e-6, cs
    ss = value(T, "traces_service_graph_request_server_seconds_sum" +
               fb % "", "sm1")
    assert abs(ss - 0.15) < 1e-6, ss
    # the PromQL Grafana's service graph runs
    rate = value(T, 'sum by (client, server) (rate(traces_service_graph_'
                 'request_total{client="frontend",server="backend"}[5m]))',
                 "sm1")
    assert rate > 0, rate


def test_pair_across_exports_and_cumulative_counters():
    now = time.time_ns()
    for n in range(2):
        t = tid(200 + n)
        export(T, request([("a", [span(t, sid(7), "call", KIND_CLIENT, now,
                                       30)])]), "sm2")
        export(T, request([("b", [span(t, sid(8), "serve", KIND_SERVER, now,
                                       20, parent=sid(7))])]), "sm2")
        settle(T, 'traces_service_graph_request_total{client="a",server="b"}',
               "sm2", n + 1)
    settle(T, 'traces_spanmetrics_calls_total{service="a"}', "sm2", 2)


def test_tenants_isolated():
    assert query(T, "traces_service_graph_request_total", "sm2") != {}
    got = query(T, 'traces_service_graph_request_total{client="frontend"}',
                "sm2")
    assert got == {}, got
    assert query(T, "traces_spanmetrics_calls_total", "nobody") == {}


def test_self_metrics():
    r = T.request("GET", "/metrics")
    assert r.status == 200
    text = r.text
    series = [ln for ln in text.splitlines()
              if ln.startswith('triad_traces_metrics_series{tenant="sm1"}')]
    # 4 span-metrics label sets of 19 series, 2 edges of 23 and one of 24
    assert series and float(series[0].split()[-1]) == 4 * 19 + 2 * 23 + 24, \
        series
    assert 'triad_service_graph_edges_total{tenant="sm1"} 9' in text
    assert 'triad_traces_metrics_flushes_total{tenant="sm1",result="ok"}' \
        in text


def test_flags_off_and_series_limit():
    off = Triad(["--traces.metrics-flush-interval", "100ms",
                 "--traces.span-metrics=false",
                 "--traces.service-graph=false"]).start()
    lim = Triad(["--traces.metrics-flush-interval", "100ms",
                 "--traces.service-graph=false",
                 "--limits.traces-metrics-max-series", "19"]).start()
    try:
        now = time.time_ns()
        body = request([("a", [span(tid(300), sid(1), "one", KIND_SERVER,
                                    now, 5),
                               span(tid(300), sid(2), "two", KIND_SERVER,
                                    now, 5, parent=sid(1))])])
        export(off, body, "t")
        export(lim, body, "t")
        settle(lim, "traces_spanmetrics_calls_total", "t", {
            frozenset({("service", "a"), ("span_name", "one"),
                       ("span_kind", "SPAN_KIND_SERVER"),
                       ("status_code", "STATUS_CODE_UNSET")}): 1})
        # several flush intervals later, still nothing with both off
        time.sleep(0.5)
        assert query(off, "traces_spanmetrics_calls_total", "t") == {}
        assert query(off, "traces_service_graph_request_total", "t") == {}
        assert query(lim, "traces_service_graph_request_total", "t") == {}
        text = lim.request("GET", "/metrics").text
        assert 'triad_traces_metrics_dropped_total{tenant="t",' \
            'reason="series_limit"} 1' in text, \
            [ln for ln in text.splitlines() if "traces_metrics" in ln]
    finally:
        for t in (off, lim):
            t.stop()
            t.cleanup()


def test_idle_tenant_flushed_by_the_flusher():
    """Nothing exported after a client span naming its peer: the flusher
    thread expires the edge (a virtual_node edge to the peer) and writes it
    without another export; the node then shuts down cleanly."""
    t = Triad(["--traces.metrics-flush-interval", "1s",
               "--traces.service-graph-wait", "1s"]).start()
    try:
        now = time.time_ns()
        export(t, request([("a", [span(tid(400), sid(1), "pay", KIND_CLIENT,
                                       now, 40,
                                       attrs=[("peer.service",
                                               "payments")])])]), "idle")
        expr = ('traces_service_graph_request_total{client="a",'
                'server="payments",connection_type="virtual_node"}')
        assert query(t, expr, "idle") == {}
        wait_until(lambda: query(t, expr, "idle"), 15,
                   what="the expired edge written by the flusher")
        assert value(t, expr, "idle") == 1
        assert value(t, "traces_service_graph_request_client_seconds_sum" +
                     expr[len("traces_service_graph_request_total"):],
                     "idle") > 0.039
        # SIGTERM: the flusher is joined before the cluster stops
        rc = t.stop()
        assert rc == 0, "exit code %s:\n%s" % (rc, t.stderr_tail(20))
    finally:
        t.stop()
        t.cleanup()


def test_two_nodes_keep_their_own_series():
    """A 2-node cluster (RF 2): each node counts the pairs it receives in
    its own series (__metrics_gen_instance = its node name), readable from
    either node; a pair whose sides reach different nodes is not paired."""
    nodes = [Triad() for _ in range(2)]
    joins = ",".join("127.0.0.1:%d" % t.port for t in nodes)
    for i, t in enumerate(nodes):
        t.extra_args += ["--node-name", "sm%d" % (i + 1),
                         "--bootstrap-expect", "2", "--join", joins,
                         "--replication-factor", "2",
                         "--traces.metrics-flush-interval", "200ms",
                         "--traces.service-graph-wait", "1s"]
    try:
        for t in nodes:
            t._spawn(t.argv())
        for t in nodes:
            rc = t._wait_ready(60)
            assert rc is None, "node exited with %s:\n%s" % (
                rc, t.stderr_tail(30))
        now = time.time_ns()

        def pair(n):
            t = tid(500 + n)
            return request([
                ("a", [span(t, sid(1), "call", KIND_CLIENT, now, 30)]),
                ("b", [span(t, sid(2), "serve", KIND_SERVER, now, 20,
                            parent=sid(1))])])

        def export_retry(t, body):
            def ok():
                r = t.request("POST", "/v1/traces", body=body,
                              headers={"Content-Type":
                                       "application/x-protobuf",
                                       "X-Scope-OrgID": "cl"})
                return r.status == 200
            wait_until(ok, 30, interval=0.2, what="export accepted")

        export_retry(nodes[0], pair(1))
        export_retry(nodes[1], pair(2))
        # the sides of one more pair split over the nodes
        t3 = tid(503)
        export_retry(nodes[0], request([("a", [span(t3, sid(1), "call",
                                                    KIND_CLIENT, now, 30)])]))
        export_retry(nodes[1], request([("b", [span(t3, sid(2), "serve",
                                                    KIND_SERVER, now, 20,
                                                    parent=sid(1))])]))
        expr = 'traces_service_graph_request_total{client="a",server="b"}'
        for t in nodes:
            def both():
                j = t.get_json("/api/v1/query", {"query": expr},
                               tenant="cl")
                return sorted((r["metric"].get("__metrics_gen_instance"),
                               r["value"][1]) for r in j["data"]["result"])
            wait_until(lambda: both() == [("sm1", "1"), ("sm2", "1")], 30,
                       what="one series per node")
        # past the wait: the split pair expired on both nodes, unpaired
        time.sleep(1.5)
        wait_until(lambda: all(
            "triad_service_graph_edges_expired_total{tenant=\"cl\"} 1"
            in t.request("GET", "/metrics").text for t in nodes), 15,
            what="the split sides expired on each node")
        assert value(nodes[0], "sum(%s)" % expr, "cl") == 2
    finally:
        for t in nodes:
            t.stop()
            t.cleanup()


def test_tenant_override_turns_span_metrics_off():
    """traces_span_metrics=off in the tenant's overrides: no span metrics
    for it (its service graph still runs); other tenants unaffected."""
    r = T.request("POST", "/api/v1/admin/tenants/limits?tenant=quiet&"
                  "traces_span_metrics=off")
    assert r.status == 200, r.body
    assert r.json()["data"]["traces_span_metrics"] is False
    assert r.json()["data"]["traces_service_graph"] is True
    now = time.time_ns()
    for tenant in ("quiet", "loud"):
        t = tid(900)
        body = request([("web", [span(t, sid(1), "GET /", KIND_CLIENT, now,
                                      10)]),
                        ("api", [span(t, sid(2), "/", KIND_SERVER, now, 5,
                                      parent=sid(1))])])
        export(T, body, tenant)
    settle(T, "traces_service_graph_request_total", "quiet", {
        frozenset({("client", "web"), ("server", "api")}): 1})
    settle(T, "traces_spanmetrics_calls_total", "loud", {
        frozenset({("service", "web"), ("span_name", "GET /"),
                   ("span_kind", "SPAN_KIND_CLIENT"),
                   ("status_code", "STATUS_CODE_UNSET")}): 1,
        frozenset({("service", "api"), ("span_name", "/"),
                   ("span_kind", "SPAN_KIND_SERVER"),
                   ("status_code", "STATUS_CODE_UNSET")}): 1})
    assert query(T, "traces_spanmetrics_calls_total", "quiet") == {}
    r = T.request("POST", "/api/v1/admin/tenants/limits?tenant=quiet&"
                  "traces_span_metrics=maybe")
    assert r.status == 400
