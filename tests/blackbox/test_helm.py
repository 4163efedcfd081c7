"""The Helm chart (helm/triad), offline: `helm lint --strict`, `helm
template` for several value sets (1, 3 and 5 replicas; ServiceMonitor,
PrometheusRule and Grafana data sources on and off; NodePort; an existing
Secret; no persistence), every rendered object validated against the
Kubernetes schemas (tests/helm/validate.js with the npm package
kubernetes-models), and assertions on what was rendered: the StatefulSet's
--bootstrap-expect and --join, ports that match the flags, probes, the
preStop drain, a pod template that scaling does not change, a cluster
secret never generated, data sources pointing at triad and linked to each
other, and PrometheusRule expressions that triad's own PromQL parser
accepts. Helm 3.17 and the schemas come from `make k8s-tools`."""

import base64
import json
import os
import shutil
import subprocess
import urllib.parse

from triad import REPO, Skip, Triad

HELM = os.path.join(REPO, "build", "tools", "k8s", "bin", "helm")
VALIDATE = os.path.join(REPO, "tests", "helm", "validate.js")
CHART = os.path.join(REPO, "helm", "triad")
NS = "obs"
REL = "t"
FULL = "t-triad"
DOMAIN = "t-triad-headless.obs.svc.cluster.local"


def tools():
    if not os.path.exists(HELM) or shutil.which("node") is None:
        raise Skip("Helm or node missing: `make k8s-tools` installs them from npm "
                   "into build/tools/k8s (npm unavailable?)")


def helm(*args, check=True):
    tools()
    p = subprocess.run([HELM] + list(args), capture_output=True, text=True, timeout=120)
    if check:
        assert p.returncode == 0, (args, p.stdout[-2000:], p.stderr[-2000:])
    return p


def to_json(text, plain=False):
    p = subprocess.run(["node", VALIDATE] + (["--json"] if plain else []), input=text,
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, "schema validation failed:\n" + p.stderr[-3000:]
    return json.loads(p.stdout)


def render_text(*sets):
    args = ["template", REL, CHART, "--namespace", NS]
    for s in sets:
        args += ["--set", s]
    return helm(*args).stdout


def render(*sets):
    return to_json(render_text(*sets))


def one(objs, kind, name=None):
    got = [o for o in objs if o["kind"] == kind and
           (name is None or o["metadata"]["name"] == name)]
    assert len(got) == 1, (kind, name, [o["metadata"]["name"] for o in objs if o["kind"] == kind])
    return got[0]


def config_of(objs):
    """The nodes' config.yaml (flat "key: value" lines) as a dict."""
    text = one(objs, "ConfigMap", FULL)["data"]["config.yaml"]
    cfg = {}
    for line in text.splitlines():
        k, _, v = line.partition(":")
        cfg[k.strip()] = v.strip().strip('"')
    return cfg


def container(objs):
    sts = one(objs, "StatefulSet", FULL)
    cs = sts["spec"]["template"]["spec"]["containers"]
    assert len(cs) == 1
    return cs[0]


def test_lint_strict_and_the_values_schema():
    helm("lint", "--strict", CHART)
    helm("lint", "--strict", CHART, "--set", "serviceMonitor.enabled=true",
         "--set", "prometheusRule.enabled=true", "--set", "grafana.datasources.enabled=true",
         "--set", "clusterSecret.existingSecret=s")
    for bad, why in (("replicas=0", "replicas"), ("retention.logs=7days", "retention.logs"),
                     ("podAntiAffinity=maybe", "podAntiAffinity"), ("nosuchkey=1", "nosuchkey")):
        p = helm("template", REL, CHART, "--set", bad, check=False)
        assert p.returncode != 0 and why in p.stderr, (bad, p.stderr[-500:])


def test_every_value_set_renders_valid_objects():
    cases = [
        ("one node", ["replicas=1"], 1),
        ("defaults", [], 3),
        ("five nodes, everything on", ["replicas=5", "serviceMonitor.enabled=true",
                                       "prometheusRule.enabled=true",
                                       "grafana.datasources.enabled=true",
                                       "clusterSecret.value=abc"], 5),
        ("NodePort, existing secret", ["service.type=NodePort", "service.nodePorts.http=31100",
                                       "clusterSecret.existingSecret=mine"], 3),
        ("no persistence, hard anti-affinity", ["persistence.enabled=false",
                                                "podAntiAffinity=hard"], 3),
    ]
    for what, sets, n in cases:
        objs = render(*sets)
        kinds = sorted(o["kind"] for o in objs)
        sts = one(objs, "StatefulSet", FULL)
        spec = sts["spec"]
        assert spec["replicas"] == n, what
        assert spec["podManagementPolicy"] == "Parallel", what
        assert spec["serviceName"] == FULL + "-headless", what
        c = container(objs)
        args = c["args"]
        assert args[0] == "serve" and "--config=/etc/triad/config.yaml" in args, args
        # --bootstrap-expect and --join come from the cluster ConfigMap
        assert "--bootstrap-expect=$(TRIAD_BOOTSTRAP_EXPECT)" in args, args
        assert "--join=$(TRIAD_JOIN)" in args, args
        env = {e["name"]: e for e in c["env"]}
        assert env["TRIAD_BOOTSTRAP_EXPECT"]["valueFrom"]["configMapKeyRef"] == \
            {"name": FULL + "-cluster", "key": "bootstrap-expect"}
        cl = one(objs, "ConfigMap", FULL + "-cluster")["data"]
        assert cl["bootstrap-expect"] == str(n), (what, cl)
        want_join = [] if n == 1 else ["%s-%d.%s:3100" % (FULL, i, DOMAIN) for i in range(n)]
        assert [x for x in cl["join"].split(",") if x] == want_join, (what, cl["join"])
        assert "--advertise-addr=$(POD_NAME).%s:9095" % DOMAIN in args, args
        # ports: the flags in the config file, the container, the Services
        cfg = config_of(objs)
        ports = {p["name"]: p["containerPort"] for p in c["ports"]}
        for flag, name in (("http-addr", "http"), ("tempo-http-addr", "tempo"),
                           ("otlp-grpc-addr", "otlp-grpc"), ("otlp-http-addr", "otlp-http"),
                           ("cluster-addr", "cluster")):
            assert cfg[flag] == "0.0.0.0:%d" % ports[name], (flag, cfg[flag], ports)
        assert ports == {"http": 3100, "tempo": 3200, "otlp-grpc": 4317, "otlp-http": 4318,
                         "cluster": 9095}
        svc = one(objs, "Service", FULL)
        assert {p["name"]: (p["port"], p["targetPort"]) for p in svc["spec"]["ports"]} == {
            "http": (3100, "http"), "tempo": (3200, "tempo"),
            "otlp-grpc": (4317, "otlp-grpc"), "otlp-http": (4318, "otlp-http")}
        head = one(objs, "Service", FULL + "-headless")["spec"]
        assert head["clusterIP"] == "None" and head["publishNotReadyAddresses"] is True
        # retention defaults, probes, graceful stop
        assert (cfg["retention.metrics"], cfg["retention.logs"], cfg["retention.traces"]) == \
            ("20d", "7d", "14d")
        assert c["readinessProbe"]["httpGet"] == {"path": "/ready", "port": "http"}
        assert c["livenessProbe"]["httpGet"] == {"path": "/-/healthy", "port": "http"}
        pre = c["lifecycle"]["preStop"]["exec"]["command"]
        assert pre[:2] == ["/usr/bin/triad", "drain"] and "--timeout=30s" in pre, pre
        assert sts["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] >= 30 + 30 + 30
        assert c["resources"]["requests"] == {"cpu": "1", "memory": "2Gi"}
        assert one(objs, "PodDisruptionBudget")["spec"]["maxUnavailable"] == 1
        if "persistence.enabled=false" in sets:
            assert "volumeClaimTemplates" not in spec
            assert {"name": "data", "emptyDir": {}} in spec["template"]["spec"]["volumes"]
        else:
            assert spec["volumeClaimTemplates"][0]["spec"]["resources"]["requests"] == \
                {"storage": "50Gi"}
        if "service.type=NodePort" in sets:
            assert svc["spec"]["type"] == "NodePort"
            assert [p.get("nodePort") for p in svc["spec"]["ports"]] == [31100, None, None, None]
        on = "serviceMonitor.enabled=true" in sets
        assert ("ServiceMonitor" in kinds) == on and ("PrometheusRule" in kinds) == on, kinds
        if on:
            # it selects one Service (the headless one): every pod scraped once
            sel = one(objs, "ServiceMonitor")["spec"]["selector"]["matchLabels"]
            hits = [o["metadata"]["name"] for o in objs if o["kind"] == "Service" and
                    all(o["metadata"]["labels"].get(k) == v for k, v in sel.items())]
            assert hits == [FULL + "-headless"], hits
        assert ("grafana.datasources.enabled=true" in sets) == \
            any(o["metadata"]["name"] == FULL + "-datasources" for o in objs)


def test_scaling_up_changes_no_pod_template():
    """Only the cluster ConfigMap (read at a pod's start) changes with the
    replica count: the running pods are not rolled."""
    three, five = render("replicas=3"), render("replicas=5")
    t3 = one(three, "StatefulSet", FULL)["spec"]["template"]
    t5 = one(five, "StatefulSet", FULL)["spec"]["template"]
    assert t3 == t5
    assert one(three, "ConfigMap", FULL + "-cluster") != one(five, "ConfigMap", FULL + "-cluster")
    # a configuration change does roll them (checksum of the config file)
    tr = one(render("retention.logs=3d"), "StatefulSet", FULL)["spec"]["template"]
    assert tr["metadata"]["annotations"]["checksum/config"] != \
        t3["metadata"]["annotations"]["checksum/config"]


def test_the_cluster_secret_is_never_generated():
    # rendering is deterministic (Argo CD renders on every sync)
    assert render_text("clusterSecret.value=abc") == render_text("clusterSecret.value=abc")
    objs = render()
    assert not [o for o in objs if o["kind"] == "Secret"]
    assert not [a for a in container(objs)["args"] if a.startswith("--cluster-secret")]
    objs = render("clusterSecret.value=abc")
    sec = one(objs, "Secret", FULL)
    assert base64.b64decode(sec["data"]["cluster-secret"]) == b"abc"
    env = {e["name"]: e for e in container(objs)["env"]}
    assert env["TRIAD_CLUSTER_SECRET"]["valueFrom"]["secretKeyRef"] == \
        {"name": FULL, "key": "cluster-secret"}
    assert "--cluster-secret=$(TRIAD_CLUSTER_SECRET)" in container(objs)["args"]
    objs = render("clusterSecret.existingSecret=mine", "clusterSecret.key=k")
    assert not [o for o in objs if o["kind"] == "Secret"]
    env = {e["name"]: e for e in container(objs)["env"]}
    assert env["TRIAD_CLUSTER_SECRET"]["valueFrom"]["secretKeyRef"] == {"name": "mine", "key": "k"}


def test_grafana_data_sources_point_at_triad_and_link_each_other():
    objs = render("grafana.datasources.enabled=true", "grafana.datasources.tenant=team-a")
    cm = one(objs, "ConfigMap", FULL + "-datasources")
    assert cm["metadata"]["labels"]["grafana_datasource"] == "1"
    doc = to_json(cm["data"]["triad-datasources.yaml"], plain=True)[0]
    ds = {d["type"]: d for d in doc["datasources"]}
    assert sorted(ds) == ["loki", "prometheus", "tempo"]
    url = "http://t-triad.obs.svc.cluster.local:3100"
    assert all(d["url"] == url for d in ds.values()), [d["url"] for d in ds.values()]
    uids = {d["type"]: d["uid"] for d in ds.values()}
    prom, loki, tempo = ds["prometheus"]["jsonData"], ds["loki"]["jsonData"], ds["tempo"]["jsonData"]
    assert prom["exemplarTraceIdDestinations"][0]["datasourceUid"] == uids["tempo"]
    assert loki["derivedFields"][0]["datasourceUid"] == uids["tempo"]
    assert tempo["tracesToLogsV2"]["datasourceUid"] == uids["loki"]
    assert tempo["tracesToMetrics"]["datasourceUid"] == uids["prometheus"]
    assert tempo["serviceMap"]["datasourceUid"] == uids["prometheus"]
    for d in ds.values():
        assert d["jsonData"]["httpHeaderName1"] == "X-Scope-OrgID"
        assert d["secureJsonData"]["httpHeaderValue1"] == "team-a"


def test_prometheus_rule_expressions_parse_in_triad():
    """Every alert expression goes to a real triad's /api/v1/query: its
    PromQL parser must accept it (an empty result is fine). A broken
    expression gets 400 there, so the check can fail."""
    objs = render("prometheusRule.enabled=true")
    rules = [r for g in one(objs, "PrometheusRule")["spec"]["groups"] for r in g["rules"]]
    assert {r["alert"] for r in rules} >= {
        "TriadShardWithoutLeader", "TriadReplicaLagging", "TriadReplicaInconsistent",
        "TriadDiskFilling", "TriadCompactionFailing", "TriadIngestRejected"}
    t = Triad().start()
    try:
        def query(expr):
            return t.request("GET", "/api/v1/query?" + urllib.parse.urlencode({"query": expr}))
        for r in rules:
            resp = query(r["expr"])
            assert resp.status == 200, (r["alert"], r["expr"], resp.status, resp.text[:300])
        bad = query("max by (group) (triad_raft_is_leader == 0")
        assert bad.status == 400 and "parse" in bad.text, bad.text[:200]
    finally:
        t.stop()
