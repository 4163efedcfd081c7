"""Durability: every acknowledged (204) sample survives kill -9 and a
restart on the same data dir; SIGTERM exits 0 and keeps the data."""

import http.client
import threading
import time

import prw
from triad import Triad, now_ms, tenant_headers


class Writer(threading.Thread):
    """Sends batches until stopped. Batch i writes a new series
    restart_batch{batch="i"} with 10 samples and appends one sample to the
    shared series restart_seq{} at ts BASE+i*1000. Records acknowledged
    batches; everything else (errors, resets) is 'unknown'."""

    def __init__(self, t, base, tenant=None):
        super().__init__(daemon=True)
        self.t, self.base, self.tenant = t, base, tenant
        self.acked = []
        self.sent = 0
        self.stop_flag = threading.Event()
        self.errors = []

    @staticmethod
    def batch(base, i):
        s1 = ([("__name__", "restart_batch"), ("batch", str(i))],
              [(base + i * 1000 + j, float(i * 100 + j) / 7.0) for j in range(10)])
        s2 = ([("__name__", "restart_seq")], [(base + i * 1000, float(i))])
        return [s1, s2]

    def run(self):
        i = 0
        while not self.stop_flag.is_set():
            body = prw.write_body_v1(self.batch(self.base, i))
            self.sent = i + 1
            try:
                h = {"Content-Type": "application/x-protobuf", "Content-Encoding": "snappy"}
                h.update(tenant_headers(self.tenant))
                r = self.t.request("POST", "/api/v1/write", body, h, timeout=10)
                if r.status == 204:
                    self.acked.append(i)
                else:
                    self.errors.append((i, r.status, r.text[:200]))
                    if r.status < 500:
                        return
            except (OSError, http.client.HTTPException) as e:
                self.errors.append((i, "exc", str(e)))
                time.sleep(0.01)
            i += 1


def verify(t, base, acked, upto, tenant=None):
    """All acked batches present exactly; unacked batches either absent or
    exactly as sent (never partial or corrupt)."""
    got = t.read([(prw.RE, "__name__", "restart_.*")], base - 1, base + (upto + 1) * 1000 + 100,
                 tenant=tenant)
    seq = dict(got.get((("__name__", "restart_seq"),), []))
    acked_set = set(acked)
    for i in range(upto):
        s1, s2 = Writer.batch(base, i)
        key = prw.sorted_labels(s1[0])
        want = [(ts, prw.f64_bits(v)) for ts, v in s1[1]]
        if i in acked_set:
            assert got.get(key) == want, "acked batch %d lost or changed: %r" % (i, got.get(key))
            assert seq.get(base + i * 1000) == prw.f64_bits(float(i)), \
                "acked sample %d of restart_seq lost" % i
        elif key in got:
            assert got[key] == want, "unacked batch %d stored partially/corrupt: %r" % (i, got[key])
    extra = [k for k in got if got[k] and dict(k).get("batch") and int(dict(k)["batch"]) >= upto]
    assert not extra, "series that were never sent: %r" % extra[:3]


def test_kill9_loses_nothing_acknowledged():
    t = Triad().start()
    base = now_ms() - 30 * 60_000  # 30 min of 1s steps fits well inside the grace
    w = Writer(t, base)
    w.start()
    deadline = time.time() + 20
    while len(w.acked) < 150 and time.time() < deadline:
        time.sleep(0.05)
    assert len(w.acked) >= 20, "writer got few acks: %d (errors %r)" % (len(w.acked), w.errors[:3])
    t.kill9()  # mid-stream: the writer is still sending
    time.sleep(0.3)
    w.stop_flag.set()
    w.join(15)
    acked, upto = list(w.acked), w.sent
    bad = [e for e in w.errors if e[1] != "exc" and e[1] < 500]
    assert not bad, "writes rejected before the crash: %r" % bad[:3]
    t.start()
    verify(t, base, acked, upto)
    # a second crash right after restart (replay + new writes) loses nothing either
    base2 = base + (upto + 10) * 1000
    w2 = Writer(t, base2, tenant="second")
    w2.start()
    time.sleep(1.0)
    t.kill9()
    w2.stop_flag.set()
    w2.join(15)
    t.start()
    verify(t, base, acked, upto)
    verify(t, base2, list(w2.acked), w2.sent, tenant="second")
    assert t.stop() == 0


def test_sigterm_graceful_and_data_survives():
    t = Triad().start()
    base = now_ms() - 10 * 60_000
    for i in range(30):
        t.write_v1(Writer.batch(base, i), tenant="durable")
    t0 = time.time()
    rc = t.stop(timeout=30)
    assert rc == 0, "SIGTERM exit code %r" % rc
    assert time.time() - t0 < 30
    t.start()
    verify(t, base, list(range(30)), 30, tenant="durable")
    # other tenants see none of it
    assert t.read([(prw.RE, "__name__", "restart_.*")], base - 1, base + 60_000) == {}
    assert t.stop() == 0


def test_sigterm_during_writes():
    t = Triad().start()
    base = now_ms() - 20 * 60_000
    w = Writer(t, base)
    w.start()
    deadline = time.time() + 10
    while len(w.acked) < 50 and time.time() < deadline:
        time.sleep(0.05)
    rc = t.stop(timeout=30)
    w.stop_flag.set()
    w.join(15)
    assert rc == 0, "SIGTERM during writes: exit code %r" % rc
    t.start()
    verify(t, base, list(w.acked), w.sent)
    assert t.stop() == 0


def test_single_server_raft_log_empty_after_graceful_stop():
    """A group of one server keeps no entries behind a snapshot (it has no
    follower), so after a graceful stop (every group snapshots) no closed
    segment of a shard's Raft log lies at or below its last snapshot; and
    everything is still there after the restart."""
    import os
    import re
    import loki
    t = Triad().start()
    base = (now_ms() - 10 * 60_000) * 1_000_000
    for r in range(8):
        loki.push_pb(t, [({"app": "seg", "n": str(s)},
                          [(base + (r * 100 + i) * 1_000_000,
                            "request %d of %d handled %s" % (i, r, "x" * (i % 50)))
                           for i in range(100)]) for s in range(3)])
        t.write_v1(Writer.batch(now_ms() - 5 * 60_000, r), tenant="seg")
    assert t.stop() == 0
    groups = 0
    raft_dir = os.path.join(t.data_dir, "raft")
    for name in sorted(os.listdir(raft_dir)):
        if name == "meta" or not os.path.isdir(os.path.join(raft_dir, name)):
            continue  # the meta group, the node's identity file
        files = os.listdir(os.path.join(raft_dir, name))
        snaps = [int(m.group(1)) for f in files
                 for m in [re.match(r"snapshot-\d+-(\d+)-\d+$", f)] if m]
        if not snaps:
            continue
        groups += 1
        last = max(snaps)
        for f in files:
            m = re.match(r"(\d+)-(\d+)$", f)
            assert not (m and int(m.group(2)) <= last), \
                "%s: segment %s kept behind snapshot %d" % (name, f, last)
    assert groups >= 2, "no snapshotted shard groups in %s" % os.listdir(raft_dir)
    t.start()
    got = loki.entries(loki.query_range(t, '{app="seg"}', base, base + 10**12, limit=5000))
    assert len(got) == 8 * 100 * 3, len(got)
    assert t.stop() == 0


def test_graceful_stop_cuts_open_log_fragments_into_blocks():
    """A leader's graceful stop proposes the logs cut entry before its last
    snapshot: lines that sat in open fragments (too few for a block) are in
    one block per stream after the restart (Loki's stats count blocks as
    chunks), and every line reads back in order."""
    import loki
    t = Triad().start()
    base = (now_ms() - 10 * 60_000) * 1_000_000
    streams = [({"app": "cut", "n": str(s)},
                [(base + i * 1_000_000, "line %d of stream %d" % (i, s)) for i in range(50)])
               for s in range(3)]
    loki.push_pb(t, streams)
    want = sorted((ts, line) for _, vals in streams for ts, line in vals)

    def read():
        r = loki.query_range(t, '{app="cut"}', base, base + 10**12, limit=1000)
        got = sorted((ts, line) for ts, line, _ in loki.entries(r))
        return got, r.json()["data"]["stats"]["querier"]["store"]["totalChunksRef"]

    got, blocks = read()
    assert got == want
    assert blocks == 0, "50 short lines per stream stay in open fragments"
    assert t.stop() == 0
    t.start()
    got, blocks = read()
    assert got == want
    assert blocks == 3, "one block per stream after the graceful stop, got %d" % blocks
    assert t.stop() == 0
