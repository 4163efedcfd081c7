"""A stock Prometheus 2.42 (Debian) scrapes itself and triad every second and
remote-writes to triad: triad must hold its series, with no failed samples on
the Prometheus side, and the samples must equal Prometheus' own."""

import time

import prw
from triad import Prometheus, Triad, now_ms, wait_until

T = None
P = None

CONFIG = """
global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: prometheus
    static_configs:
      - targets: ["127.0.0.1:@PORT@"]
  - job_name: triad
    static_configs:
      - targets: ["127.0.0.1:%(triad)d"]
remote_write:
  - url: "http://127.0.0.1:%(triad)d/api/v1/write"
    remote_timeout: 10s
    queue_config:
      batch_send_deadline: 1s
      max_samples_per_send: 500
      min_backoff: 100ms
      max_backoff: 1s
    metadata_config:
      send: true
      send_interval: 2s
"""


def setup_module():
    global T, P
    T = Triad().start()
    P = Prometheus(CONFIG % {"triad": T.port}).start()


def _value(result):
    return sum(float(r["value"][1]) for r in result)


def _prom_metric(*names):
    """Sum of the first of names that Prometheus exposes (names changed
    across versions). Returns (name, value) or (None, None)."""
    for n in names:
        res = P.query(n)
        if res:
            return n, _value(res)
    return None, None


def test_series_arrive_in_triad():
    def names():
        r = T.get_json("/api/v1/label/__name__/values")
        # triad's labelled counters appear from the first ingested batch on,
        # so its own ingest counter shows up in a later scrape than the first
        want = {"prometheus_build_info", "up", "triad_samples_ingested_total"}
        return want <= set(r["data"]) and r["data"]
    names_list = wait_until(names, 60, 0.5,
                            "prometheus_build_info, up and "
                            "triad_samples_ingested_total in triad")
    assert "prometheus_tsdb_head_series" in names_list, names_list[:20]

    def up_jobs():
        r = T.get_json("/api/v1/series", {"match[]": "up"})
        jobs = {d.get("job") for d in r["data"]}
        return jobs >= {"prometheus", "triad"} and r
    r = wait_until(up_jobs, 60, 0.5, 'series up{job="prometheus"} and up{job="triad"}')
    for d in r["data"]:
        assert set(d) == {"__name__", "instance", "job"}, d
        assert d["instance"].startswith("127.0.0.1:"), d


def test_prometheus_reports_no_failures():
    # let a few more batches go out
    def sent():
        _n, v = _prom_metric("prometheus_remote_storage_samples_total",
                             "prometheus_remote_storage_succeeded_samples_total")
        return v and v > 500 and v
    wait_until(sent, 60, 0.5, "Prometheus to send > 500 samples")
    name, failed = _prom_metric("prometheus_remote_storage_samples_failed_total",
                                "prometheus_remote_storage_failed_samples_total")
    assert name is not None, "Prometheus exposes no failed-samples counter"
    assert failed == 0, "%s = %s" % (name, failed)
    _n, dropped = _prom_metric("prometheus_remote_storage_samples_dropped_total")
    assert not dropped, "samples dropped: %s" % dropped
    _n, md_failed = _prom_metric("prometheus_remote_storage_metadata_failed_total")
    assert not md_failed, "metadata failed: %s" % md_failed


def test_samples_equal_prometheus():
    """Raw samples of up and prometheus_build_info over 10 s as
    Prometheus stored them must be in triad bit-exact (allowing for the
    last ~3 s still in the remote-write queue)."""
    # Prometheus' scrape manager starts ~5 s after start-up: wait for history
    def history():
        res = P.query("count_over_time(up[60s])")
        return len(res) == 2 and min(float(r["value"][1]) for r in res) >= 12
    wait_until(history, 60, 0.5, "12 s of scrape history in Prometheus")
    end = now_ms() - 3000
    start = end - 10_000
    time.sleep(3)  # > batch_send_deadline: everything before `end` was sent
    for metric in ("up", "prometheus_build_info", "prometheus_tsdb_head_series"):
        res = P.query("%s[10s]" % metric, at=end / 1000)
        assert res, "Prometheus has no %s" % metric
        got = T.read([(prw.EQ, "__name__", metric)], start, end)
        for series in res:
            key = prw.sorted_labels(series["metric"].items())
            want = [(int(round(float(t) * 1000)), prw.f64_bits(float(v)))
                    for t, v in series["values"] if start <= float(t) * 1000 <= end]
            assert want, (metric, series)
            have = [s for s in got.get(key, [])
                    if start <= s[0] <= end and s[1] != prw.STALE_NAN_BITS]
            assert have == want, "%s: triad %r != prometheus %r" % (key, have[:4], want[:4])


def test_metadata_forwarded():
    def md():
        r = T.get_json("/api/v1/metadata", {"metric": "prometheus_build_info"})
        return r["data"].get("prometheus_build_info")
    entries = wait_until(md, 30, 0.5, "metadata of prometheus_build_info in triad")
    assert {"type": "gauge", "unit": ""}.items() <= entries[0].items(), entries
    assert "build" in entries[0]["help"].lower(), entries


def teardown_module():
    rcs = []
    if P is not None and P.running():
        rcs.append(("prometheus", P.stop()))
    if T is not None and T.running():
        rcs.append(("triad", T.stop()))
    assert all(rc == 0 for _n, rc in rcs), rcs
