// Sends log lines to triad through stock clients, each line carrying a
// unique marker the test reads back:
//   winston-loki (protobuf + snappy, its default), winston-loki (JSON),
//   pino-loki (JSON), the OpenTelemetry SDK's OTLP/HTTP exporters (JSON
//   and protobuf) to /otlp/v1/logs, and its OTLP/gRPC exporter (plain and
//   gzip) to the API port (h2c next to HTTP/1.1) and to GRPC_PORT.
//
//   node log_clients.js PORT TENANT RUN_ID N GRPC_PORT
// Prints one JSON line per client: {"client":..,"sent":[markers...]}.
'use strict';
const [port, tenant, runId, nStr, grpcPort] = process.argv.slice(2);
const N = parseInt(nStr, 10);
const base = `http://127.0.0.1:${port}`;
const headers = { 'X-Scope-OrgID': tenant };

function markers(client) {
  const out = [];
  for (let i = 0; i < N; i++) out.push(`mk-${runId}-${client}-${i}`);
  return out;
}

async function winston(json) {
  const w = require('winston');
  const LokiTransport = require('winston-loki');
  const client = json ? 'winston-json' : 'winston-proto';
  const t = new LokiTransport({
    host: base, json, headers, batching: true, interval: 0.2,
    labels: { job: 'clients', client, run_id: runId },
    onConnectionError: (e) => { console.error(client, e && e.message); },
  });
  const logger = w.createLogger({ transports: [t] });
  const sent = markers(client);
  for (const m of sent) logger.info(`winston line marker=${m}`, { marker_id: m });
  await new Promise((r) => setTimeout(r, 1500));
  await t.flush?.();
  logger.close();
  return { client, sent };
}

async function pinoLoki() {
  const pino = require('pino');
  const client = 'pino';
  const transport = pino.transport({
    target: 'pino-loki',
    options: { host: base, headers, batching: false, labels: { job: 'clients', client,
      run_id: runId } },
  });
  const logger = pino(transport);
  const sent = markers(client);
  for (const m of sent) logger.warn({ marker_id: m }, `pino line marker=${m}`);
  await new Promise((r) => setTimeout(r, 2000));
  transport.end();
  await new Promise((r) => setTimeout(r, 500));
  return { client, sent };
}

function exporterOf(kind) {
  if (kind.startsWith('grpc')) {
    const { OTLPLogExporter } = require('@opentelemetry/exporter-logs-otlp-grpc');
    const grpc = require('@grpc/grpc-js');
    const metadata = new grpc.Metadata();
    metadata.set('x-scope-orgid', tenant);
    const p = kind === 'grpc-port' ? grpcPort : port;
    return new OTLPLogExporter({ url: `http://127.0.0.1:${p}`, metadata,
      compression: kind === 'grpc-gzip' ? 'gzip' : 'none' });
  }
  const mod = kind === 'proto' ? require('@opentelemetry/exporter-logs-otlp-proto')
    : require('@opentelemetry/exporter-logs-otlp-http');
  return new mod.OTLPLogExporter({ url: `${base}/otlp/v1/logs`, headers });
}

async function otlp(kind) {
  const { LoggerProvider, BatchLogRecordProcessor } = require('@opentelemetry/sdk-logs');
  const { resourceFromAttributes } = require('@opentelemetry/resources');
  const client = `otlp-${kind}`;
  const exporter = exporterOf(kind);
  let failed = null;
  const orig = exporter.export.bind(exporter);
  exporter.export = (logs, cb) => orig(logs, (r) => {
    if (r.code !== 0) failed = (r.error && r.error.message) || 'export failed';
    cb(r);
  });
  const provider = new LoggerProvider({
    resource: resourceFromAttributes({ 'service.name': 'clients', 'run.id': runId,
      'k8s.namespace.name': client }),
    processors: [new BatchLogRecordProcessor({ exporter })],
  });
  const logger = provider.getLogger('log-clients');
  const sent = markers(client);
  for (const m of sent) {
    logger.emit({ severityNumber: 9, severityText: 'INFO', body: `otlp line marker=${m}`,
      attributes: { marker_id: m } });
  }
  await provider.forceFlush();
  await provider.shutdown();
  if (failed) throw new Error(`${client}: ${failed}`);
  return { client, sent };
}

(async () => {
  for (const f of [() => winston(false), () => winston(true), pinoLoki, () => otlp('json'),
    () => otlp('proto'), () => otlp('grpc'), () => otlp('grpc-gzip'),
    () => otlp('grpc-port')]) {
    const r = await f();
    console.log(JSON.stringify(r));
  }
})().catch((e) => { console.error(e); process.exit(1); });
