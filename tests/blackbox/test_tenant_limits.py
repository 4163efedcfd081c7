"""Per-tenant limit overrides kept in the cluster catalog: set through
POST /api/v1/admin/tenants/limits, shown by GET, enforced on writes (series
limit carried in the Raft entry, ingestion rate at the receiving node)."""

import prw
from triad import Triad, now_ms

T = None


def setup_module():
    global T
    T = Triad(["--limits.max-series", "1000"]).start()


def teardown_module():
    if T is not None and T.running():
        T.stop()


def _series(name, n, tenant):
    now = now_ms()
    return [([("__name__", name), ("i", str(i))], [(now, float(i))]) for i in range(n)]


def test_series_limit_override():
    r = T.request("POST", "/api/v1/admin/tenants/limits?tenant=small&max_series=3", b"")
    assert r.status == 200, (r.status, r.text)
    d = r.json()["data"]
    assert d["overridden"] and d["max_series"] == 3, d
    r = T.get_json("/api/v1/admin/tenants/limits", {"tenant": "small"})
    assert r["data"]["max_series"] == 3 and r["data"]["retention_metrics"] == "20d", r
    r = T.get_json("/api/v1/admin/tenants/limits", {"tenant": "other"})
    assert not r["data"]["overridden"] and r["data"]["max_series"] == 1000, r
    # 5 new series for "small": 3 fit, 2 are refused with the limit's message
    r = T.write_v1(_series("lim", 5, "small"), tenant="small", expect=400)
    assert "series limit of 3" in r.text, r.text
    got = T.read([(prw.EQ, "__name__", "lim")], 0, now_ms() + 60_000, tenant="small")
    assert len(got) == 3, len(got)
    # another tenant keeps the node default
    T.write_v1(_series("lim", 5, "big"), tenant="big")
    # removing the override restores the default
    r = T.request("POST", "/api/v1/admin/tenants/limits?tenant=small", b"")
    assert r.status == 200 and not r.json()["data"]["overridden"], r.text
    T.write_v1(_series("lim", 5, "small"), tenant="small")


def test_rate_override_and_bad_values():
    r = T.request("POST", "/api/v1/admin/tenants/limits?tenant=slow&ingestion_rate=10"
                  "&ingestion_burst=10", b"")
    assert r.status == 200, r.text
    T.write_v1(_series("slow_m", 10, "slow"), tenant="slow")
    r = T.write_v1(_series("slow_m2", 10, "slow"), tenant="slow", expect=503)
    assert "ingestion rate limit (10 samples/s" in r.text, r.text
    assert r.headers.get("retry-after") == "1", r.headers
    r = T.request("POST", "/api/v1/admin/tenants/limits?tenant=x&max_series=-1", b"")
    assert r.status == 400, r.text
    r = T.request("POST", "/api/v1/admin/tenants/limits?tenant=x&retention_metrics=soon", b"")
    assert r.status == 400, r.text
    r = T.request("POST", "/api/v1/admin/tenants/limits", b"")
    assert r.status == 400 and "tenant" in r.text, r.text
