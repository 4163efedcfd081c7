"""Traces on a 3-node cluster (RF=3): spans exported to one node (OTLP
protobuf over HTTP, and gRPC) are read back from every node, trace by id
through Tempo's API (traces spread over the window's traces shards); a node
leading traces shards is SIGKILLed while a thread keeps exporting distinct
traces to the surviving nodes (retrying on 503 as an OTLP SDK does), and
every acknowledged span stays readable on the survivors, and on the killed
node once it is restarted and has caught up; the replicas then verify
equal. A node receiving exports is SIGKILLed with requests in flight: the
requests sent again to another node are served with every span once.

The nodes take snapshots every 16 entries, so that the restarted leader
catches up by copying its traces shards from another replica.
"""

import base64
import http.client
import json
import os
import struct
import threading
import time

from test_traces import grpc_export, json_spans, pb_parse, pb_request, pb_span
from triad import Triad, wait_until

NODES = []
# small snapshot thresholds: a replica down for a hundred writes finds its
# shards' logs truncated and catches up by copying the shard (shard copy of
# the traces column families)
FLAGS = ["--raft.snapshot-threshold", "16", "--raft.snapshot-trailing", "4",
         "--raft.snapshot-bytes", "64KiB", "--raft.snapshot-trailing-bytes", "16KiB"]
PB = {"Content-Type": "application/x-protobuf", "X-Scope-OrgID": "tc"}


def setup_module():
    # ports come from the OS and are free when picked, but another process
    # on the machine may take one before a node binds it: form the cluster
    # again on fresh ports then (a node exits at once when it cannot listen)
    for attempt in range(3):
        nodes = [Triad() for _ in range(3)]
        joins = ",".join("127.0.0.1:%d" % t.port for t in nodes)
        for i, t in enumerate(nodes):
            t.extra_args += ["--node-name", "n%d" % (i + 1), "--bootstrap-expect", "3",
                             "--join", joins, "--replication-factor", "3"] + FLAGS
        for t in nodes:
            t._spawn(t.argv())
        failed = None
        for t in nodes:
            failed = _wait_ready_or_exit(t, nodes, 60)
            if failed is not None:
                break
        if failed is None:
            NODES.extend(nodes)
            return
        rc = failed.proc.returncode
        tail = failed.stderr_tail(30)
        for n in nodes:
            n.kill9()
        if "address already in use" not in tail or attempt == 2:
            raise AssertionError("node exited with %s:\n%s" % (rc, tail))
        for n in nodes:
            n.cleanup()
        print("    NOTICE: a port was taken before the node bound it; forming the "
              "cluster again on other ports")


def _wait_ready_or_exit(t, nodes, timeout):
    """None once t is ready; the node of the cluster (t or another) that
    exited first (the others would wait for it in vain)."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        for n in nodes:
            if n.proc.poll() is not None:
                return n
        try:
            if t.request("GET", "/ready", timeout=2).status == 200:
                return None
        except (OSError, http.client.HTTPException):
            pass
        time.sleep(0.05)
    raise AssertionError("node %d not ready within %ds:\n%s" % (t.port, timeout,
                                                                   t.stderr_tail(30)))


def teardown_module():
    for t in NODES:
        if t.running():
            t.stop()


def _status(t):
    r = t.request("GET", "/api/v1/status/cluster", timeout=10)
    assert r.status == 200
    return r.json()["data"]


def _traces_shards_led():
    """The traces shards of the windows begun so far, once each has a
    leader."""
    st = _status(next(t for t in NODES if t.running()))
    now_ms = time.time() * 1000
    shards = [s for s in st["shards"]
              if s.get("signal") == "traces" and s["window"] <= now_ms]
    return shards if shards and all(s["leader"] for s in shards) else None


def _trace(i, tag):
    """A distinct trace of three spans (root, child, grandchild) in the
    current second: (trace id, {span id hex: (name, parent hex)}, spans)."""
    tid = struct.pack(">4sI", tag, i) + os.urandom(8)
    now = time.time_ns()
    ids = [struct.pack(">IHH", i, j, 0xbeef) for j in range(1, 4)]
    want, spans = {}, []
    for j, sid in enumerate(ids):
        parent = ids[j - 1] if j else b""
        name = "%s-%d-op%d" % (tag.decode(), i, j)
        spans.append(pb_span(tid, sid, name, now + j, now + 1000 + j,
                             attrs=[("i", str(i))], parent=parent))
        want[sid.hex()] = (name, parent.hex())
    return tid.hex(), want, spans


def _read(t, tid):
    """{span id hex: (name, parent hex)} of a trace as node t serves it
    (JSON and protobuf must agree); {} when absent."""
    r = t.request("GET", "/api/traces/" + tid, headers={"X-Scope-OrgID": "tc"},
                  timeout=15)
    if r.status == 404:
        return {}
    assert r.status == 200, (t.port, tid, r.status, r.body[:300])
    got = {}
    for _, sp in json_spans(r.json()):
        sid = _b64hex(sp["spanId"])
        assert sid not in got, (t.port, tid, "span twice", sid)
        got[sid] = (sp["name"], _b64hex(sp.get("parentSpanId", "")))
    r = t.request("GET", "/api/traces/" + tid,
                  headers={"X-Scope-OrgID": "tc", "Accept": "application/protobuf"},
                  timeout=15)
    assert r.status == 200, (t.port, tid, r.status)
    pb = {}
    for f, _, rs in pb_parse(r.body):
        for f2, _, ss in pb_parse(rs):
            if f2 != 2:
                continue
            for f3, _, sp in pb_parse(ss):
                if f3 == 2:
                    d = dict((a, b) for a, _, b in pb_parse(sp))
                    pb[d[2].hex()] = (d[5].decode(), d.get(4, b"").hex())
    assert pb == got, (t.port, tid, pb, got)
    return got


def _b64hex(s):
    return base64.b64decode(s).hex() if s else ""


def _all_served(t, traces):
    """The traces node t does not serve exactly as sent ({} when all)."""
    return {tid: want for tid, want in traces.items() if _read(t, tid) != want}


def _wait_served(t, traces, timeout, what):
    try:
        wait_until(lambda: not _all_served(t, traces), timeout, 0.2, what)
    except AssertionError:
        bad = _all_served(t, traces)
        raise AssertionError("node %d (port %d): %d of %d acknowledged traces not served "
                             "as sent, e.g. %s" % (NODES.index(t) + 1, t.port, len(bad),
                                                   len(traces), sorted(bad.items())[:3]))


def _commit_indexes():
    return {s["group"]: s["commitIndex"] for s in _traces_shards_led() or []}


def test_export_on_one_read_on_all():
    before = wait_until(_commit_indexes, 20, 0.2, "every traces shard led")
    traces, spans = {}, []
    for i in range(30):
        tid, want, sp = _trace(i, b"one0")
        traces[tid] = want
        spans += sp
    r = NODES[0].request("POST", "/v1/traces", body=pb_request(spans, "cl-http"), headers=PB)
    assert r.status == 200, (r.status, r.body[:300])
    # the same kind of export over gRPC (h2c on the API port) to another node
    gspans = []
    for i in range(30, 40):
        tid, want, sp = _trace(i, b"one0")
        traces[tid] = want
        gspans += sp
    fields, _ = grpc_export(NODES[1].port, pb_request(gspans, "cl-grpc"), tenant="tc")
    assert fields.get("grpc-status") == "0", fields
    for t in NODES:
        _wait_served(t, traces, 15, "node %d to serve every trace" % t.port)
    # the 40 traces went to more than one shard (their entries advanced
    # the commit index of several traces groups)
    def spread():
        after = _commit_indexes()
        grown = [g for g in after if after[g] > before.get(g, 0)]
        return len(grown) >= 2 and grown
    wait_until(spread, 10, 0.2, "several traces shards to take the exports")


def test_stock_exporters_to_one_node_read_on_all():
    """The stock OpenTelemetry JS exporters (tests/clients/trace_clients.js:
    gRPC plain and gzip, protobuf, JSON, each also a trace of 1,501 spans
    in ~630 KB of protobuf) export to one node, which forwards to the
    shards' leaders; every span reads back from every node as
    test_trace_clients checks it on one node (skipped with a notice
    without Node.js / the npm packages)."""
    import test_trace_clients as tc
    clients = [c for c in tc.CLIENTS if c != "grpc-port"]
    sent = tc.run_clients(NODES[1], clients=clients)
    for t in NODES:
        for c in clients:
            # followers serve what they applied: wait for it
            line = wait_until(lambda: tc.check_client(t, c, sent[c]), 20, 0.2,
                              "node %d to serve %s's traces" % (t.port, c))
            if t is NODES[0]:
                print("    node 1: " + line)


class Exporter(threading.Thread):
    """Exports distinct traces (`per_request` to a request) to the nodes
    targets() names, round robin; a request answered 502/503/504 or not
    answered at all is sent again to the next node with backoff, as the
    OTLP exporters retry, up to 8 times. statuses counts the answers per
    node: {(node index, status or exception name): n}."""

    def __init__(self, targets, tag, per_request=1):
        super().__init__(daemon=True)
        self.targets, self.tag, self.per_request = targets, tag, per_request
        self.acked, self.failed, self.statuses = {}, [], {}
        self.stop_flag = threading.Event()
        self.i = 0

    def run(self):
        while not self.stop_flag.is_set():
            traces, spans = {}, []
            for k in range(self.per_request):
                tid, want, sp = _trace(self.i * self.per_request + k, self.tag)
                traces[tid] = want
                spans += sp
            body = pb_request(spans, "failover")
            status = None
            for attempt in range(8):
                targets = self.targets()
                t = targets[(self.i + attempt) % len(targets)]
                try:
                    r = t.request("POST", "/v1/traces", body=body, headers=PB, timeout=15)
                    status = r.status
                except (OSError, http.client.HTTPException) as e:
                    status = type(e).__name__
                key = (NODES.index(t), status)
                self.statuses[key] = self.statuses.get(key, 0) + 1
                if status not in (503, 502, 504) and not isinstance(status, str):
                    break
                time.sleep(min(0.05 * 2 ** attempt, 1.0))
            if status == 200:
                self.acked.update(traces)
            else:
                self.failed.append((sorted(traces), status))
            self.i += 1
            time.sleep(0.01)


def _copies(t):
    """How many traces shards node t caught up by copying them from another
    replica since its last start (its log says so)."""
    with open(t.stderr_path, "rb") as f:
        f.seek(t.log_mark)
        log = f.read().decode("utf-8", errors="replace")
    return sum(1 for ln in log.splitlines()
               if "caught up by copy" in ln and "signal=traces" in ln)


def _verify_traces_shards(t):
    """POST /api/v1/admin/cluster/verify on t until it finds every shard
    consistent; every traces shard has 3 replicas with one checksum."""
    def consistent():
        r = t.request("POST", "/api/v1/admin/cluster/verify", body=b"", timeout=30)
        if r.status != 200:
            return None
        v = json.loads(r.text)
        return v if v["consistent"] else None
    v = wait_until(consistent, 30, 0.5, "every shard consistent")
    traces_shards = [s for s in v["shards"] if s.get("signal") == "traces"]
    assert traces_shards, v
    for s in traces_shards:
        assert len(s["replicas"]) == 3 and len({r["checksum"] for r in s["replicas"]}) == 1, s
    return traces_shards


def test_kill_traces_shard_leader_no_acknowledged_span_lost():
    shards = wait_until(_traces_shards_led, 20, 0.2, "every traces shard led")
    counts = {}
    for s in shards:
        counts[s["leader"]] = counts.get(s["leader"], 0) + 1
    victim_name = max(counts, key=counts.get)
    victim = NODES[int(victim_name[1:]) - 1]
    survivors = [t for t in NODES if t is not victim]
    ex = Exporter(lambda: survivors, b"fo00")
    ex.start()
    wait_until(lambda: len(ex.acked) >= 20, 20, 0.05, "20 exports acknowledged before the kill")
    before = len(ex.acked)
    victim.kill9()
    # exports continue until the survivors have elected new leaders and
    # acknowledged a good number more (more than the snapshot threshold:
    # the victim's logs are left behind)
    wait_until(lambda: len(ex.acked) >= before + 100, 30, 0.1,
               "100 more exports acknowledged after the kill")
    ex.stop_flag.set()
    ex.join(60)
    assert not ex.is_alive()
    print("    victim %s (led %d of %d traces shards); %d exports acknowledged (%d before "
          "the kill), %d failed; answers %r" % (victim_name, counts[victim_name],
                                                len(shards), len(ex.acked), before,
                                                len(ex.failed), ex.statuses))
    # only 200 and the retryable 503 (no leader yet) are expected
    assert set(st for _, st in ex.statuses if st != 200) <= {503}, ex.statuses
    for t in survivors:
        _wait_served(t, ex.acked, 15, "survivor %d to serve every acknowledged trace" % t.port)
    # the killed node restarts, catches up (by log or by copying shards
    # whose log was truncated meanwhile) and serves them too
    victim.start()
    wait_until(_traces_shards_led, 20, 0.2, "every traces shard led again")
    _wait_served(victim, ex.acked, 20, "the restarted node to serve every acknowledged trace")
    # and every replica of every traces shard holds the same data
    n = len(_verify_traces_shards(victim))
    print("    restarted node caught up %d traces shards by copy; %d traces shards verified "
          "equal" % (_copies(victim), n))


def test_kill_receiving_node_retries_exact():
    """A node that receives exports is SIGKILLed with requests in flight:
    four exporters send to it alone until the kill, then to the others;
    an unanswered request (4 traces, so over several shards: some may have
    committed before the kill) is sent again to another node. Every
    acknowledged trace is served with each span once, on every node after
    the victim restarts, and the replicas stay equal."""
    wait_until(_traces_shards_led, 20, 0.2, "every traces shard led")
    victim = NODES[0]
    survivors = NODES[1:]
    killed = threading.Event()
    targets = lambda: survivors if killed.is_set() else [victim]  # noqa: E731
    exs = [Exporter(targets, b"rt%02d" % k, per_request=4) for k in range(4)]
    for ex in exs:
        ex.start()
    wait_until(lambda: all(len(ex.acked) >= 20 for ex in exs), 20, 0.05,
               "exports acknowledged by the victim before the kill")
    victim.kill9()
    killed.set()
    before = [len(ex.acked) for ex in exs]
    wait_until(lambda: all(len(ex.acked) >= b + 40 for ex, b in zip(exs, before)), 30, 0.1,
               "exports acknowledged after the kill")
    for ex in exs:
        ex.stop_flag.set()
        ex.join(60)
        assert not ex.is_alive()
    acked, statuses = {}, {}
    for ex in exs:
        acked.update(ex.acked)
        for k, v in ex.statuses.items():
            statuses[k] = statuses.get(k, 0) + v
    unanswered = sum(v for (i, st), v in statuses.items() if i == 0 and isinstance(st, str))
    print("    %d traces acknowledged; %d requests in flight at the kill sent again; answers "
          "per (node, status): %r" % (len(acked), unanswered, statuses))
    # the survivors answer 200 or 503 (no leader yet), the victim 200 or
    # nothing
    assert set(st for (i, st) in statuses if i != 0) <= {200, 503}, statuses
    assert set(st for (i, st) in statuses if i == 0 and not isinstance(st, str)) <= {200}, \
        statuses
    assert not [f for ex in exs for f in ex.failed], [f for ex in exs for f in ex.failed][:3]
    for t in survivors:
        _wait_served(t, acked, 20, "node %d to serve every acknowledged trace" % t.port)
    victim.start()
    _wait_served(victim, acked, 20, "the restarted node to serve every acknowledged trace")
    _verify_traces_shards(NODES[1])
