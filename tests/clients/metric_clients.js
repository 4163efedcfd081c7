// Sends metrics to triad through the OpenTelemetry SDK's stock OTLP metric
// exporters: OTLP/HTTP JSON and protobuf to /otlp/v1/metrics, OTLP/gRPC
// (plain and gzip) to the API port (h2c next to HTTP/1.1). Each client
// exports, from a resource with service.name "mclients" and
// service.instance.id = the client, a counter, an up-down counter, a
// histogram and an observable gauge, then a second collection with the
// counter increased (cumulative temporality, the SDK's default).
//
//   node metric_clients.js PORT TENANT RUN_ID
// Prints one JSON line per client: {"client":..,"counter":N}.
'use strict';
const [port, tenant, runId] = process.argv.slice(2);
const base = `http://127.0.0.1:${port}`;
const headers = { 'X-Scope-OrgID': tenant };

function exporterOf(kind) {
  if (kind.startsWith('grpc')) {
    const { OTLPMetricExporter } = require('@opentelemetry/exporter-metrics-otlp-grpc');
    const grpc = require('@grpc/grpc-js');
    const metadata = new grpc.Metadata();
    metadata.set('x-scope-orgid', tenant);
    return new OTLPMetricExporter({ url: base, metadata,
      compression: kind === 'grpc-gzip' ? 'gzip' : 'none' });
  }
  const mod = kind === 'proto' ? require('@opentelemetry/exporter-metrics-otlp-proto')
    : require('@opentelemetry/exporter-metrics-otlp-http');
  return new mod.OTLPMetricExporter({ url: `${base}/otlp/v1/metrics`, headers });
}

async function client(kind) {
  const { MeterProvider, PeriodicExportingMetricReader } = require('@opentelemetry/sdk-metrics');
  const { resourceFromAttributes } = require('@opentelemetry/resources');
  const name = `otlp-${kind}`;
  const exporter = exporterOf(kind);
  let failed = null;
  const orig = exporter.export.bind(exporter);
  exporter.export = (m, cb) => orig(m, (r) => {
    if (r.code !== 0) failed = (r.error && r.error.message) || 'export failed';
    cb(r);
  });
  const reader = new PeriodicExportingMetricReader({ exporter, exportIntervalMillis: 60000 });
  const provider = new MeterProvider({
    resource: resourceFromAttributes({ 'service.name': 'mclients',
      'service.instance.id': name, 'run.id': runId }),
    readers: [reader],
  });
  const meter = provider.getMeter('metric-clients', '1.0.0');
  const counter = meter.createCounter('mc.requests', { unit: '{request}',
    description: 'requests' });
  const updown = meter.createUpDownCounter('mc.queue.depth', { unit: '{item}' });
  const hist = meter.createHistogram('mc.latency', { unit: 'ms',
    advice: { explicitBucketBoundaries: [10, 100] } });
  meter.createObservableGauge('mc.temperature', { unit: 'Cel' })
    .addCallback((r) => r.observe(21.5, { room: 'a' }));
  counter.add(5, { route: '/x' });
  updown.add(3);
  updown.add(-1);
  for (const v of [5, 50, 500]) hist.record(v, { route: '/x' });
  await provider.forceFlush();
  await new Promise((r) => setTimeout(r, 50));
  counter.add(2, { route: '/x' });
  await provider.forceFlush();
  await provider.shutdown();
  if (failed) throw new Error(`${name}: ${failed}`);
  return { client: name, counter: 7 };
}

(async () => {
  for (const k of ['json', 'proto', 'grpc', 'grpc-gzip']) {
    console.log(JSON.stringify(await client(k)));
  }
})().catch((e) => { console.error(e); process.exit(1); });
