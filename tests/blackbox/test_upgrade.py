"""Upgrade: a data directory written by the build before shard ids carried
their signal (tests/fixtures/datadir-d8eed2b.tar.gz, made by
tests/fixtures/make_upgrade_fixture.py with triad d8eed2b: applied-index
keys without the signal, snapshot marker version 1, write entries versions
1/2 in the Raft log, metadata in the meta column family; the process was
SIGKILLed, so its newest entries exist only in the Raft log) opens with
today's build, replays its log, and serves every sample and its metadata;
writes continue on the same series, and verify finds the shard consistent.
"""

import os
import shutil
import struct
import sys
import tarfile

import prw
from triad import Triad, wait_until

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "fixtures"))
from make_upgrade_fixture import FIXTURE_T0, TENANT, fixture_series  # noqa: E402

FIXTURE = os.path.join(HERE, "..", "fixtures", "datadir-d8eed2b.tar.gz")
T = None


def setup_module():
    global T
    t = Triad(["--late-write-grace", "1000000h", "--ingest.creation-grace", "1000000h",
               "--retention.metrics", "1000000h",
               "--node-name", "fixture-node"])
    shutil.rmtree(t.data_dir)
    with tarfile.open(FIXTURE) as tar:
        tar.extractall(t.tmp)
    t.start()
    T = t


def teardown_module():
    if T is not None and T.running():
        T.stop()


def expected():
    """{i: {ts: value bits}} of everything the fixture wrote."""
    out = {}
    for b in range(10):
        for labels, samples in fixture_series(b):
            d = out.setdefault(dict(labels)["i"], {})
            for ts, v in samples:
                d.setdefault(ts, struct.unpack("<Q", struct.pack("<d", v))[0])
    return out


def test_every_sample_survives_the_upgrade():
    want = expected()

    def all_there():
        got = T.read([(prw.EQ, "__name__", "fx_metric")], FIXTURE_T0 - 60_000,
                     FIXTURE_T0 + 3_600_000, tenant=TENANT)
        return len(got) == 12 and got
    got = wait_until(all_there, 30, 0.25, "the fixture's 12 series")
    for key, samples in got.items():
        i = dict(key)["i"]
        assert dict(samples) == want[i], "series i=%s differs after the upgrade" % i


def test_metadata_of_the_old_layout():
    r = T.get_json("/api/v1/metadata", {"metric": "fx_metric"}, tenant=TENANT)
    assert r["data"] == {"fx_metric": [{"type": "gauge", "help": "fixture metric",
                                        "unit": "things"}]}, r


def test_writes_continue_and_shard_consistent():
    last = FIXTURE_T0 + 15000 * 40
    T.write_v1([([("__name__", "fx_metric"), ("i", "3")], [(last, 42.0)])], tenant=TENANT)
    got = T.read([(prw.EQ, "__name__", "fx_metric"), (prw.EQ, "i", "3")], last - 1, last + 1,
                 tenant=TENANT)
    assert [v for _, v in list(got.values())[0]] == [struct.unpack(
        "<Q", struct.pack("<d", 42.0))[0]], got
    st = T.get_json("/api/v1/status/cluster")["data"]
    groups = {s["group"] for s in st["shards"]}
    assert "m%d-0" % FIXTURE_T0 in groups, groups
    r = T.request("POST", "/api/v1/admin/cluster/verify", body=b"", timeout=60)
    assert r.status == 200, r.text
    v = r.json()
    assert v["consistent"], v
    assert any(s["window"] == FIXTURE_T0 for s in v["shards"]), v
