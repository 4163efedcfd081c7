// Builds traces with known contents through the OpenTelemetry JS SDK
// (@opentelemetry/sdk-trace-base) and exports them to triad with the stock
// OTLP trace exporters; the black-box test (tests/blackbox/
// test_trace_clients.py) reads every span back through Tempo's API.
//
//   node trace_clients.js PORT TENANT RUN_ID GRPC_PORT
//
// RUN_ID: 8 hex digits, the first bytes of every trace id of this run.
// Clients (each sends the same shape of traces under its own ids):
//   grpc          exporter-trace-otlp-grpc, h2c to the API port
//   grpc-gzip     the same, compression gzip
//   grpc-port     the same, plain, to GRPC_PORT (--otlp-grpc-addr)
//   proto         exporter-trace-otlp-proto to /v1/traces, through the
//                 SDK's BatchSpanProcessor (one export per service)
//   proto-gzip    exporter-trace-otlp-proto, gzip, to /otlp/v1/traces
//   json          exporter-trace-otlp-http (OTLP/JSON) to /otlp/v1/traces
//   json-gzip     the same, gzip, to /v1/traces
// Every client but "proto" exports all its spans (three services, i.e.
// three resources, and several scopes) in one export call.
//
// Each trace: several services (one resource each), parent/child within
// and across services (a remote parent with a trace state), every span
// kind, events with attributes, links (with attributes and trace state,
// within the trace and to another trace), an error status with a message,
// an OK status, attributes of every type the SDK takes (string incl.
// empty/escapes/unicode, int incl. negative and 2^53-1, double, bool,
// arrays of each, an empty array), and on a resource a bytes and a kvlist
// value.
//
// Each client also sends a third trace of a root and 1,500 children with
// 300-byte attributes (~630 KB as protobuf, 1.1 MB as JSON: many HTTP/2
// DATA frames and HTTP chunks), described in short as "bulk".
//
// Prints one JSON line per client:
//   {"client":..., "traces":[hex ids], "spans":[span...],
//    "bulk":{traceId, rootSpanId, children, childSpanIds, padBytes}}
// span: {traceId, spanId, parentSpanId ("" for none), traceState, flags,
//   name, kind (OTLP number: 1 internal .. 5 consumer), start, end (ns as
//   decimal strings), attributes, events:[{name, time, attributes}],
//   links:[{traceId, spanId, traceState, flags, attributes}],
//   status:{code (0 unset, 1 ok, 2 error), message}, service, resource
//   (attributes), scope:{name, version}}
// attributes: [[key, typed value]]; typed value: {"string": s},
//   {"int": "decimal"}, {"double": x}, {"bool": b}, {"array": [typed]},
//   {"kvlist": [[key, typed]]}, {"bytes": hex}, {} (an empty AnyValue).
'use strict';
const [port, tenant, runId, grpcPort] = process.argv.slice(2);
if (!/^[0-9a-f]{8}$/.test(runId || '')) {
  console.error('usage: node trace_clients.js PORT TENANT RUN_ID(8 hex) GRPC_PORT');
  process.exit(2);
}
const api = require('@opentelemetry/api');
const {
  BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor, BatchSpanProcessor,
} = require('@opentelemetry/sdk-trace-base');
const { resourceFromAttributes } = require('@opentelemetry/resources');

const base = `http://127.0.0.1:${port}`;
const BULK = 1500;
const CLIENTS = ['grpc', 'grpc-gzip', 'grpc-port', 'proto', 'proto-gzip', 'json', 'json-gzip'];

// ---- what was sent, typed as OTLP types it ---------------------------------

function typed(v) {
  if (v === null || v === undefined) return {};
  if (typeof v === 'string') return { string: v };
  if (typeof v === 'boolean') return { bool: v };
  if (typeof v === 'number') return Number.isInteger(v) ? { int: String(v) } : { double: v };
  if (v instanceof Uint8Array) return { bytes: Buffer.from(v).toString('hex') };
  if (Array.isArray(v)) return { array: v.map(typed) };
  return { kvlist: Object.keys(v).map((k) => [k, typed(v[k])]) };
}
const typedAttrs = (a) => Object.keys(a || {}).map((k) => [k, typed(a[k])]);
const ns = (hr) => (BigInt(hr[0]) * 1000000000n + BigInt(hr[1])).toString();

// ---- ids: each span's ids are chosen before it starts ----------------------

class KnownIds {
  constructor() { this.trace = null; this.span = null; }
  generateTraceId() { const t = this.trace; this.trace = null; return t; }
  generateSpanId() { const s = this.span; this.span = null; return s; }
}

const SERVER = api.SpanKind.SERVER;
const CLIENT = api.SpanKind.CLIENT;
const PRODUCER = api.SpanKind.PRODUCER;
const CONSUMER = api.SpanKind.CONSUMER;
const INTERNAL = api.SpanKind.INTERNAL;

// Every attribute type the SDK accepts on spans.
const ALL_TYPES = {
  'str': 'plain',
  'str.empty': '',
  'str.escapes': 'line1\nline2\t"quoted" \\ back/slash \u0001',
  'str.unicode': 'héllo wörld ✓ 日本語 🚀',
  'int': 42,
  'int.zero': 0,
  'int.negative': -7,
  'int.max_safe': 9007199254740991,
  'double': 3.14159,
  'double.negative': -1234.5678,
  'double.tiny': 1.5e-300,
  'bool.true': true,
  'bool.false': false,
  'arr.str': ['a', '', 'ç'],
  'arr.int': [1, -2, 3000000000],
  'arr.double': [0.5, -1.25, 1e-9],
  'arr.bool': [true, false, true],
  'arr.empty': [],
  'arr.with_null': ['x', null, 'z'],
};

// Builds the client's traces; returns { spans: [ReadableSpan], sent, traces }.
function buildTraces(ci, processorsFor) {
  const tid = (t) => `${runId}${ci.toString(16).padStart(2, '0')}${t}` +
    'a1b2c3d4e5f6a7b8c9d0'.slice(0, 32 - 8 - 2 - 2);
  const sid = (n) => `${ci.toString(16).padStart(2, '0')}5${n.toString(16).padStart(13, '0')}`;
  const traceA = tid('0a');
  const traceB = tid('0b');
  const external = tid('ee');
  const t0 = Math.floor(Date.now() / 1000) - 120;
  const hr = (ms, nanos) => [t0 + Math.floor(ms / 1000), (ms % 1000) * 1000000 + nanos];

  const ids = new KnownIds();
  const resources = {
    frontend: resourceFromAttributes({
      'service.name': 'frontend', 'service.version': '1.4.2',
      'deployment.environment': 'test', 'k8s.namespace.name': 'shop',
      'host.id.bytes': new Uint8Array([0, 1, 2, 0xfe, 0xff]),
      'build.info': { commit: 'abc123', dirty: false, number: 17 },
      'client.kind': CLIENTS[ci - 1],
    }),
    checkout: resourceFromAttributes({ 'service.name': 'checkout', 'service.instance.id': 'co-1',
      'process.pid': 4242 }),
    worker: resourceFromAttributes({ 'service.name': 'worker', 'host.arch': 'amd64' }),
  };
  const collected = new InMemorySpanExporter();
  const providers = {};
  for (const [svc, resource] of Object.entries(resources)) {
    providers[svc] = new BasicTracerProvider({
      resource, idGenerator: ids,
      spanProcessors: [new SimpleSpanProcessor(collected)].concat(processorsFor(svc)),
    });
  }
  const tracer = (svc, scope, version) => providers[svc].getTracer(scope, version);
  const sent = [];
  let nextSpan = 1;

  function start(svc, scope, version, name, kind, parent, startHr, opts = {}) {
    ids.span = sid(nextSpan++);
    let ctx = api.ROOT_CONTEXT;
    if (parent && parent.remote) ctx = api.trace.setSpanContext(ctx, parent.remote);
    else if (parent) ctx = api.trace.setSpan(ctx, parent.span);
    else ids.trace = opts.traceId;
    const span = tracer(svc, scope, version).startSpan(name, {
      kind, startTime: startHr, attributes: opts.attributes, links: opts.links,
    }, ctx);
    const sc = span.spanContext();
    const parentSc = parent ? (parent.remote || parent.span.spanContext()) : null;
    const rec = {
      traceId: sc.traceId, spanId: sc.spanId,
      parentSpanId: parentSc ? parentSc.spanId : '',
      traceState: sc.traceState ? sc.traceState.serialize() : '',
      // W3C flags | HAS_IS_REMOTE | IS_REMOTE (of the parent), as OTLP asks
      flags: (sc.traceFlags & 0xff) | 0x100 | (parent && parent.remote ? 0x200 : 0),
      name, kind: kind + 1, start: ns(startHr), end: null,
      attributes: typedAttrs(opts.attributes), events: [],
      links: (opts.links || []).map((l) => ({
        traceId: l.context.traceId, spanId: l.context.spanId,
        traceState: l.context.traceState ? l.context.traceState.serialize() : '',
        flags: (l.context.traceFlags & 0xff) | 0x100 | (l.context.isRemote ? 0x200 : 0),
        attributes: typedAttrs(l.attributes),
      })),
      status: { code: 0, message: '' }, service: svc,
      resource: typedAttrs(resources[svc].attributes),
      scope: { name: scope, version: version || '' },
    };
    sent.push(rec);
    return {
      span, rec,
      setAttribute(k, v) { span.setAttribute(k, v); rec.attributes.push([k, typed(v)]); },
      event(n, attrs, at) {
        span.addEvent(n, attrs, at);
        rec.events.push({ name: n, time: ns(at), attributes: typedAttrs(attrs) });
      },
      link(l) {
        span.addLink(l);
        rec.links.push({ traceId: l.context.traceId, spanId: l.context.spanId,
          traceState: l.context.traceState ? l.context.traceState.serialize() : '',
          flags: (l.context.traceFlags & 0xff) | 0x100 | (l.context.isRemote ? 0x200 : 0),
          attributes: typedAttrs(l.attributes) });
      },
      status(code, message) {
        span.setStatus(message === undefined ? { code } : { code, message });
        rec.status = { code, message: code === api.SpanStatusCode.ERROR ? (message || '') : '' };
      },
      end(at) { span.end(at); rec.end = ns(at); },
    };
  }

  // Trace B first (trace A's producer links to it): a worker job.
  const job = start('worker', 'trace-clients/jobs', '0.9.0', 'job.run', CONSUMER, null,
    hr(5, 11), { traceId: traceB, attributes: { 'job.id': 'j-77', 'job.retries': 2,
      'job.tags': ['nightly', 'bulk'] } });
  const jobStep = start('worker', 'trace-clients/jobs', '0.9.0', 'job.step', INTERNAL, job,
    hr(6, 1));
  jobStep.event('progress', { done: 50, of: 100 }, hr(7, 3));
  jobStep.end(hr(9, 999999));
  job.status(api.SpanStatusCode.OK);
  job.end(hr(10, 0));

  // Trace A: frontend -> checkout (remote parent) -> worker queue.
  const root = start('frontend', 'trace-clients/http', '1.2.3', 'GET /checkout', SERVER, null,
    hr(0, 123456789), { traceId: traceA, attributes: ALL_TYPES });
  root.setAttribute('http.response.status_code', 500);
  root.event('request.received', { 'http.method': 'GET', size: 1024, ratio: 0.25,
    flags: [true, false] }, hr(0, 123456790));
  root.event('no-attributes', undefined, hr(1, 0));
  const db = start('frontend', 'trace-clients/http', '1.2.3', 'SELECT orders', CLIENT, root,
    hr(2, 500), { attributes: { 'db.system': 'postgresql',
      'db.statement': 'SELECT * FROM orders WHERE id = $1' } });
  db.event('exception', { 'exception.type': 'TimeoutError',
    'exception.message': 'db timeout after 5s',
    'exception.stacktrace': 'TimeoutError: db timeout\n    at query (db.js:10:5)' }, hr(300, 7));
  db.status(api.SpanStatusCode.ERROR, 'db timeout after 5s');
  db.end(hr(301, 0));
  const compute = start('frontend', 'trace-clients/internal', undefined, 'compute totals',
    INTERNAL, root, hr(302, 0), { attributes: { items: 3 } });
  compute.end(hr(303, 1));
  const publish = start('frontend', 'trace-clients/http', '1.2.3', 'publish order', PRODUCER,
    root, hr(304, 0), { links: [{ context: job.span.spanContext(),
      attributes: { 'link.reason': 'enqueued', 'link.n': 1 } }] });
  publish.end(hr(305, 0));
  // the checkout service continues the trace from a propagated context
  const remote = {
    traceId: traceA, spanId: root.rec.spanId, traceFlags: api.TraceFlags.SAMPLED,
    isRemote: true, traceState: api.createTraceState('vendor=triad,x=1'),
  };
  const orders = start('checkout', 'trace-clients/grpc', '2.0.0', 'POST /api/orders', SERVER,
    { remote }, hr(306, 42), { attributes: { 'rpc.system': 'grpc', 'arr.int': [7, 8] } });
  orders.link({ context: { traceId: external, spanId: sid(999), traceFlags: 0, isRemote: true,
    traceState: api.createTraceState('other=1') }, attributes: { external: true } });
  const consume = start('checkout', 'trace-clients/grpc', '2.0.0', 'orders.consume', CONSUMER,
    orders, hr(307, 0), { links: [{ context: db.span.spanContext() }] });
  consume.event('ack', { 'msg.id': 'm-1' }, hr(308, 5));
  consume.event('ack', { 'msg.id': 'm-2' }, hr(308, 6));
  consume.end(hr(309, 0));
  orders.status(api.SpanStatusCode.OK);
  orders.end(hr(310, 0));
  root.status(api.SpanStatusCode.ERROR, 'upstream failed');
  root.end(hr(400, 987654321));

  // Trace C: large enough that the request spans many HTTP/2 DATA frames
  // and HTTP chunks (~630 KB as protobuf): a root and BULK children,
  // described in short (bulk.*) rather than span by span.
  const traceC = tid('0c');
  ids.trace = traceC;
  ids.span = sid(0x1000);
  const bulkTracer = tracer('worker', 'trace-clients/bulk', '1.0.0');
  const bulkRoot = bulkTracer.startSpan('bulk root', { startTime: hr(500, 0) }, api.ROOT_CONTEXT);
  const bulkCtx = api.trace.setSpan(api.ROOT_CONTEXT, bulkRoot);
  for (let i = 0; i < BULK; i++) {
    ids.span = sid(0x1001 + i);
    const c = bulkTracer.startSpan(`bulk ${i}`, { startTime: hr(501, i),
      attributes: { 'bulk.i': i, 'bulk.pad': `${i}:`.padEnd(300, 'p') } }, bulkCtx);
    c.end(hr(502, i));
  }
  bulkRoot.end(hr(503, 0));
  const bulk = { traceId: traceC, rootSpanId: sid(0x1000), children: BULK,
    childSpanIds: `${sid(0x1001)}..${sid(0x1000 + BULK)}`, padBytes: 300 };

  return { providers, collected, sent, bulk, traces: [traceA, traceB] };
}

// ---- exporters -------------------------------------------------------------

function exporterOf(kind) {
  const gzip = kind.endsWith('-gzip') ? 'gzip' : 'none';
  if (kind.startsWith('grpc')) {
    const { OTLPTraceExporter } = require('@opentelemetry/exporter-trace-otlp-grpc');
    const grpc = require('@grpc/grpc-js');
    const metadata = new grpc.Metadata();
    metadata.set('x-scope-orgid', tenant);
    const p = kind === 'grpc-port' ? grpcPort : port;
    return new OTLPTraceExporter({ url: `http://127.0.0.1:${p}`, metadata, compression: gzip });
  }
  const headers = { 'X-Scope-OrgID': tenant };
  const path = { proto: '/v1/traces', 'proto-gzip': '/otlp/v1/traces', json: '/otlp/v1/traces',
    'json-gzip': '/v1/traces' }[kind];
  const mod = kind.startsWith('proto') ? require('@opentelemetry/exporter-trace-otlp-proto')
    : require('@opentelemetry/exporter-trace-otlp-http');
  return new mod.OTLPTraceExporter({ url: `${base}${path}`, headers, compression: gzip });
}

function watched(exporter, client, errors) {
  const orig = exporter.export.bind(exporter);
  exporter.export = (spans, cb) => orig(spans, (r) => {
    if (r.code !== 0) errors.push(`${client}: ${(r.error && r.error.message) || 'export failed'}`);
    cb(r);
  });
  return exporter;
}

async function run(kind, ci) {
  const client = kind;
  const errors = [];
  let built;
  let finished;
  if (kind === 'proto') {
    // the SDK's own pipeline: one BatchSpanProcessor (and exporter) per service
    const exporters = [];
    built = buildTraces(ci, () => {
      const e = watched(exporterOf(kind), client, errors);
      exporters.push(e);
      return [new BatchSpanProcessor(e)];
    });
    for (const p of Object.values(built.providers)) await p.forceFlush();
    finished = built.collected.getFinishedSpans().length;
    for (const p of Object.values(built.providers)) await p.shutdown();
  } else {
    built = buildTraces(ci, () => []);
    const exporter = watched(exporterOf(kind), client, errors);
    const spans = built.collected.getFinishedSpans();
    finished = spans.length;
    await new Promise((resolve) => exporter.export(spans, resolve));
    await exporter.shutdown();
    for (const p of Object.values(built.providers)) await p.shutdown();
  }
  if (finished !== built.sent.length + 1 + BULK) {
    errors.push(`${client}: the SDK finished ${finished} spans of ${built.sent.length + 1 + BULK}`);
  }
  if (errors.length) throw new Error(errors.join('; '));
  return { client, traces: built.traces, spans: built.sent, bulk: built.bulk };
}

(async () => {
  const only = process.env.TRACE_CLIENTS ? process.env.TRACE_CLIENTS.split(',') : CLIENTS;
  for (let i = 0; i < CLIENTS.length; i++) {
    if (!only.includes(CLIENTS[i])) continue;
    console.log(JSON.stringify(await run(CLIENTS[i], i + 1)));
  }
})().catch((e) => { console.error(e); process.exit(1); });
