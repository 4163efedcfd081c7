"""The GitOps examples (docs/gitops/), offline: every Argo CD Application
validates against Argo CD's schema (kubernetes-models), syncs in waves
mirroring the stack triad replaces (CRDs -> OpenTelemetry Operator ->
Collector + Instrumentation -> triad + Grafana -> Fluent Bit) with
automated prune/selfHeal, CreateNamespace, ServerSideApply and
SkipDryRunOnMissingResource where custom resources precede their CRDs; the
triad Application's values render through the chart into valid objects; the
Collector's pipelines are whole and export traces, logs and metrics to
triad's OTLP port; Fluent Bit's Loki output, Prometheus' remote_write
(checked by promtool, server and agent mode) and the Grafana data sources
point at triad's client Service."""

import json
import os
import re
import subprocess
import tempfile

from triad import REPO, Skip, ensure_prometheus
import test_helm
from test_helm import CHART, helm, one, to_json

GITOPS = os.path.join(REPO, "docs", "gitops")
APPS = os.path.join(GITOPS, "apps")
MAN = os.path.join(GITOPS, "manifests")
SVC = "triad.observability.svc.cluster.local"


def read(path):
    with open(path) as f:
        return f.read()


def apps():
    test_helm.tools()
    out = {}
    for name in sorted(os.listdir(APPS)):
        objs = to_json(read(os.path.join(APPS, name)))  # schema-validated
        assert len(objs) == 1 and objs[0]["kind"] == "Application", name
        out[objs[0]["metadata"]["name"]] = objs[0]
    return out


def test_applications_sync_in_waves():
    a = apps()
    wave = {n: int(x["metadata"]["annotations"]["argocd.argoproj.io/sync-wave"])
            for n, x in a.items()}
    assert wave["prometheus-operator-crds"] < wave["opentelemetry-operator"] < \
        wave["otel-collector"] < wave["triad"] == wave["grafana"] < wave["fluent-bit"], wave
    for n, x in a.items():
        sp = x["spec"]["syncPolicy"]
        assert sp["automated"] == {"prune": True, "selfHeal": True}, n
        assert "CreateNamespace=true" in sp["syncOptions"], n
    for n in ("prometheus-operator-crds", "opentelemetry-operator", "otel-collector", "triad"):
        assert "ServerSideApply=true" in a[n]["spec"]["syncPolicy"]["syncOptions"], n
    # custom resources synced before or beside their CRDs' first sync
    for n in ("otel-collector", "triad"):
        assert "SkipDryRunOnMissingResource=true" in a[n]["spec"]["syncPolicy"]["syncOptions"], n
    assert a["triad"]["spec"]["source"]["path"] == "helm/triad"


def test_the_triad_application_renders_through_the_chart():
    values = apps()["triad"]["spec"]["source"]["helm"]["valuesObject"]
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump(values, f)
    try:
        text = helm("template", "triad", CHART, "--namespace", "observability",
                    "-f", f.name).stdout
    finally:
        os.unlink(f.name)
    objs = to_json(text)
    kinds = {o["kind"] for o in objs}
    assert {"StatefulSet", "ServiceMonitor", "PrometheusRule"} <= kinds, kinds
    assert not [o for o in objs if o["kind"] == "Secret"]  # an existing Secret
    one(objs, "Service", "triad")
    # the examples' addresses are the client Service of this release
    assert "triad.observability.svc" in json.dumps(one(objs, "ConfigMap", "triad-datasources"))


def test_collector_and_instrumentation():
    test_helm.tools()
    col = to_json(read(os.path.join(MAN, "collector.yaml")), plain=True)[0]
    assert (col["apiVersion"], col["kind"]) == ("opentelemetry.io/v1beta1",
                                                "OpenTelemetryCollector")
    assert col["spec"]["mode"] in ("deployment", "daemonset", "statefulset", "sidecar")
    cfg = col["spec"]["config"]
    pipes = cfg["service"]["pipelines"]
    assert sorted(pipes) == ["logs", "metrics", "traces"]
    for name, p in pipes.items():
        for r in p["receivers"]:
            assert r in cfg["receivers"], (name, r)
        for x in p.get("processors", []):
            assert x in cfg["processors"], (name, x)
        for e in p["exporters"]:
            assert e in cfg["exporters"], (name, e)
            assert cfg["exporters"][e]["endpoint"] == "http://%s:4318" % SVC, e
            assert e.split("/")[0] == "otlphttp", e
    ins = to_json(read(os.path.join(MAN, "instrumentation.yaml")), plain=True)[0]
    assert (ins["apiVersion"], ins["kind"]) == ("opentelemetry.io/v1alpha1", "Instrumentation")
    # the operator names the Collector's Service <name>-collector
    assert ins["spec"]["exporter"]["endpoint"] == \
        "http://%s-collector.observability.svc.cluster.local:4318" % col["metadata"]["name"]
    assert set(ins["spec"]["propagators"]) <= {"tracecontext", "baggage", "b3", "b3multi",
                                               "jaeger", "xray", "ottrace", "none"}


def test_fluent_bit_output_is_triads_loki_push():
    sections, cur = [], None
    for line in read(os.path.join(MAN, "fluent-bit.conf")).splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        m = re.match(r"^\[(\w+)\]$", line)
        if m:
            cur = (m.group(1), {})
            sections.append(cur)
            continue
        assert cur is not None, line
        k, _, v = line.partition(" ")
        cur[1][k.lower()] = v.strip()
    outs = [s for n, s in sections if n == "OUTPUT"]
    assert len(outs) == 1
    o = outs[0]
    assert (o["name"], o["host"], o["port"], o["uri"]) == ("loki", SVC, "3100",
                                                           "/loki/api/v1/push"), o


def test_prometheus_remote_write_snippets_check_with_promtool():
    promtool = os.path.join(os.path.dirname(ensure_prometheus()), "promtool")
    if not os.path.exists(promtool):
        raise Skip("promtool not found beside %s" % prom)
    snippet = read(os.path.join(MAN, "prometheus-remote-write.yaml"))
    with tempfile.TemporaryDirectory() as d:
        full = os.path.join(d, "prometheus.yml")
        with open(full, "w") as f:
            f.write("global:\n  scrape_interval: 15s\n" + snippet)
        for args in (["check", "config", full],
                     ["check", "config", "--agent", os.path.join(MAN, "prometheus-agent.yaml")]):
            p = subprocess.run([promtool] + args, capture_output=True, text=True, timeout=60)
            assert p.returncode == 0, (args, p.stdout, p.stderr)
    for name in ("prometheus-remote-write.yaml", "prometheus-agent.yaml"):
        urls = re.findall(r"url: (\S+)", read(os.path.join(MAN, name)))
        assert urls == ["http://%s:3100/api/v1/push" % SVC], (name, urls)


def test_grafana_data_sources_file_matches_the_chart():
    test_helm.tools()
    doc = to_json(read(os.path.join(MAN, "grafana-datasources.yaml")), plain=True)[0]
    ds = {d["type"]: d for d in doc["datasources"]}
    assert sorted(ds) == ["loki", "prometheus", "tempo"]
    assert {d["url"] for d in ds.values()} == {"http://%s:3100" % SVC}
    objs = test_helm.render("grafana.datasources.enabled=true")
    chart = to_json(one(objs, "ConfigMap", test_helm.FULL + "-datasources")["data"]
                    ["triad-datasources.yaml"], plain=True)[0]
    cds = {d["type"]: d for d in chart["datasources"]}
    for t in ds:
        assert ds[t]["uid"] == cds[t]["uid"], t
        for link in ("exemplarTraceIdDestinations", "derivedFields", "tracesToLogsV2",
                     "tracesToMetrics", "serviceMap"):
            if link in cds[t]["jsonData"]:
                assert link in ds[t]["jsonData"], (t, link)
