/**
 * `npm run bench`: every performance budget of the service, measured in one run
 * against one DynamoDB Local, printed as one table (figure, budget, measured,
 * within/over), then the details behind the figures. `npm run bench -- --check`
 * exits with 1 when a figure is over its budget.
 *
 * Requests are counted, never assumed: whatever the code does is what the
 * table shows. Latencies and throughputs are budgeted as ratios to a baseline
 * measured side by side in the same run, since this machine is shared; their
 * absolute values are printed for information only.
 *
 *   BENCH_N        latency samples per series (default 200)
 *   BENCH_WARMUP   rounds of each server's create and retrieve before the latency samples (default 1000)
 *   BENCH_EVENTS   webhook deliveries in the throughput backlog (default 100)
 *   BENCH_ONLY     calls,webhooks,lifecycle: run only these sections (a partial table)
 */
// No CloudWatch EMF lines in the bench's output (they would bury the table).
import '../local/quiet-metrics.js';
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { performance } from 'node:perf_hooks';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DeleteMessageBatchCommand, GetQueueAttributesCommand, ReceiveMessageCommand } from '@aws-sdk/client-sqs';
import { GetCommand, PutCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { FILE_RETENTION_DAYS } from '../lambdas/store/file-store.js';
import { documentClient } from '../lambdas/store/dynamo.js';
import { createSessionInput, getSessionInput, sessionKey } from '../lambdas/store/session-store.js';
import { localClientConfig, startDynamoDbLocal } from '../local/dynamodb.js';
import { type LocalService, startLocalService } from '../local/service.js';
import { startLocalWebhooks } from '../local/webhooks.js';
import { createQueueWithDeadLetter } from '../local/sqs.js';
import { ROUTES, WEBHOOK_DELIVERY_QUEUE } from '../lambdas/events/routing.js';
import { REDACTION_QUEUE } from '../lambdas/redaction/queue.js';
import { FUNCTION_MEMORY_MB } from '../lib/memory.js';
import { observeInvocations } from '../local/invocations.js';
import { DeliveryStore } from '../lambdas/store/delivery-store.js';
import { WebhookEndpointStore } from '../lambdas/store/webhook-store.js';
import { createFanOut } from '../lambdas/webhooks/fanout.js';
import { SqsDeliveryQueue } from '../lambdas/webhooks/queue.js';
import { type BenchServer, benchClient, measureHandlerCpu, sessionRecords, startBenchServer } from './bench-http.js';
import { type PricedWrite, WriteMeter, itemKind, itemSize, totalUnits } from './bench-meter.js';
import { LAMBDA_PLATFORM_LOG_BYTES, PRICES, PRICES_AS_OF } from './bench-prices.js';

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
process.env.API_ACCESS_LOG = 'off';
const CHECK = process.argv.includes('--check');
const N = Number(process.env.BENCH_N ?? 200);
const WARMUP = Number(process.env.BENCH_WARMUP ?? 1000);
const EVENTS = Number(process.env.BENCH_EVENTS ?? 100);
const SESSIONS = '/v1/identity/verification_sessions';
const startedAt = performance.now();
const createForm =
  'type=document&metadata[order_id]=ord_12345&metadata[customer]=cus_42&client_reference_id=user_42&options[document][allowed_types][]=passport&options[document][allowed_types][]=id_card&options[document][require_matching_selfie]=true&provided_details[email]=jo@example.com';

// ---- the table ----------------------------------------------------------------
interface Figure {
  figure: string;
  budget: string;
  measured: string;
  within: boolean | null; // null: information only
}
const figures: Figure[] = [];
const details: string[] = [];
const atMost = (figure: string, value: number, budget: number, fmt: (v: number) => string = (v) => String(Math.round(v * 100) / 100)) =>
  figures.push({ figure, budget: `<= ${fmt(budget)}`, measured: fmt(value), within: value <= budget + 1e-9 });
const atLeast = (figure: string, value: number, budget: number) =>
  figures.push({ figure, budget: `>= ${budget}`, measured: value.toFixed(2), within: value >= budget });
const info = (figure: string, measured: string) => figures.push({ figure, budget: '(information)', measured, within: null });
const say = (line = '') => details.push(line);
/** Progress on stderr, so that a slow step shows where it is. */
const progress = (step: string) => process.stderr.write(`[bench ${((performance.now() - startedAt) / 1000).toFixed(0)} s] ${step}\n`);

// ---- helpers ------------------------------------------------------------------
const p50 = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const ms = (v: number) => `${v.toFixed(2)} ms`;
async function timed(fn: () => Promise<unknown>) {
  const t = performance.now();
  await fn();
  return performance.now() - t;
}
/** `total` calls of `fn`, `concurrency` at a time; calls per second. */
async function rate(total: number, concurrency: number, fn: (i: number) => Promise<unknown>): Promise<number> {
  let next = 0;
  const t = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < total) await fn(next++);
    }),
  );
  return total / ((performance.now() - t) / 1000);
}
const readBody = (req: IncomingMessage) =>
  new Promise<string>((resolve) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString('utf8')));
    req.on('end', () => resolve(body));
  });

const dynamo = await startDynamoDbLocal();
const raw = documentClient(localClientConfig(dynamo.endpoint));

/** A receiver on 127.0.0.1 that notes when each session's webhook arrives. */
async function startReceiver() {
  const arrivals = new Map<string, number>();
  const waiters = new Map<string, () => void>();
  const server = createServer(async (req, res) => {
    const body = await readBody(req);
    const at = performance.now();
    res.writeHead(200).end();
    const session = (JSON.parse(body) as { data: { object: { id: string } } }).data.object.id;
    if (!arrivals.has(session)) arrivals.set(session, at);
    waiters.get(session)?.();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`;
  const arrival = (session: string) =>
    new Promise<number>((resolve, reject) => {
      if (arrivals.has(session)) return resolve(arrivals.get(session)!);
      const timer = setTimeout(() => reject(new Error(`no webhook for ${session} within 60 s`)), 60_000);
      waiters.set(session, () => {
        clearTimeout(timer);
        waiters.delete(session);
        resolve(arrivals.get(session)!);
      });
    });
  return { url, arrival, stop: () => new Promise<void>((resolve) => (server.closeAllConnections(), server.close(() => resolve()))) };
}
const receiver = await startReceiver();

// =================================================================================
// 1. DynamoDB requests and priced write units per API call
// =================================================================================
let latencyP50: { create: number; retrieve: number } | undefined;
const only = process.env.BENCH_ONLY?.split(',');
const runs = (section: string) => !only || only.includes(section);
if (runs('calls')) {
let apiOps: { op: string; failed: boolean }[] = [];
const meter = new WriteMeter(localClientConfig(dynamo.endpoint), 'bench-calls');
const service = await startLocalService({
  port: 0,
  dynamoEndpoint: dynamo.endpoint,
  tableName: 'bench-calls',
  observeDynamo: (op, consumed, failed, input) => {
    apiOps.push({ op, failed });
    meter.observe(op, consumed, failed, input);
  },
});
const call = benchClient(service.baseUrl, service.secretKey);
const scope = { account: service.account, livemode: false };
const newId = async () => (await call('POST', SESSIONS, createForm)).body.id as string;

interface CallCost {
  name: string;
  status: number;
  requests: number;
  ops: string;
  writes: PricedWrite[];
  units: number;
}
/** `prepare` (not counted), then `action` (counted), `times` times: per-call averages. */
async function cost(name: string, times: number, prepare: (i: number) => Promise<unknown>, action: (p: any, i: number) => Promise<{ status: number }>): Promise<CallCost> {
  let requests = 0;
  let units = 0;
  let status = 0;
  let writes: PricedWrite[] = [];
  const perOp = new Map<string, number>();
  for (let i = 0; i < times; i++) {
    const p = await prepare(i);
    await meter.take();
    apiOps = [];
    status = (await action(p, i)).status;
    requests += apiOps.length;
    for (const o of apiOps) perOp.set(o.op, (perOp.get(o.op) ?? 0) + 1);
    writes = await meter.take();
    units += totalUnits(writes);
  }
  const ops = [...perOp].map(([op, n]) => `${op.replace('Command', '')} x${(n / times).toFixed(2).replace(/\.00$/, '')}`).join(' + ');
  return { name, status, requests: requests / times, ops, writes, units: units / times };
}

progress('calls');
for (let i = 0; i < 10; i++) await call('GET', `${SESSIONS}/${await newId()}`); // warm-up: key cache, JIT
const T = 5;
const calls: CallCost[] = [];
calls.push(await cost('create', T, async () => null, () => call('POST', SESSIONS, createForm)));
calls.push(await cost('create + key', T, async () => null, (_, i) => call('POST', SESSIONS, createForm, `bench-c-${i}-${Date.now()}`)));
calls.push(await cost('create, key replayed', T, async (i) => {
  const key = `bench-r-${i}-${Date.now()}`;
  await call('POST', SESSIONS, createForm, key);
  return key;
}, (key) => call('POST', SESSIONS, createForm, key)));
calls.push(await cost('retrieve', T, newId, (id) => call('GET', `${SESSIONS}/${id}`)));
calls.push(await cost('list (limit 10)', T, async () => null, () => call('GET', `${SESSIONS}?limit=10`)));
calls.push(await cost('update', T, newId, (id) => call('POST', `${SESSIONS}/${id}`, 'metadata[step]=2')));
calls.push(await cost('update + key', T, newId, (id, i) => call('POST', `${SESSIONS}/${id}`, 'metadata[step]=2', `bench-u-${i}-${id}`)));
calls.push(await cost('cancel', T, newId, (id) => call('POST', `${SESSIONS}/${id}/cancel`)));
calls.push(await cost('cancel + key', T, newId, (id) => call('POST', `${SESSIONS}/${id}/cancel`, '', `bench-x-${id}`)));
calls.push(await cost('redact', T, newId, (id) => call('POST', `${SESSIONS}/${id}/redact`)));
calls.push(await cost('redact + key', T, newId, (id) => call('POST', `${SESSIONS}/${id}/redact`, '', `bench-d-${id}`)));
const byName = (n: string) => calls.find((c) => c.name === n)!;
for (const n of ['create', 'create + key', 'retrieve', 'list (limit 10)', 'update', 'update + key', 'cancel', 'cancel + key'])
  atMost(`DynamoDB requests: ${n}`, byName(n).requests, 1);
atMost('DynamoDB requests: redact (the API call; the worker reaches the copies)', byName('redact').requests, 2);
atMost('DynamoDB requests: redact + key', byName('redact + key').requests, 2);
atMost('write units (DynamoDB pricing): update + key', byName('update + key').units, 2);
atMost('write units (DynamoDB pricing): cancel + key', byName('cancel + key').units, 2);

say('## DynamoDB per API call');
say(`averages over ${T} calls each; write units priced by DynamoDB's rules (see bin/bench-meter.ts), the last call's writes itemised`);
say();
say('| call | HTTP | requests | operations | write units | last call: items written (bytes, units) |');
say('|---|---|---|---|---|---|');
const describeWrites = (ws: PricedWrite[]) =>
  ws.map((w) => `${w.op}${w.failed ? ' (refused)' : ''} ${w.kind} ${w.bytes} B ${w.units}${w.indexUnits ? `+${w.indexUnits} index` : ''}`).join('; ') || '-';
for (const c of calls) say(`| ${c.name} | ${c.status} | ${c.requests} | ${c.ops} | ${c.units.toFixed(1)} | ${describeWrites(c.writes)} |`);
const sample = await newId();
const sessionBytes = itemSize(await meter.item(sessionKey(scope, sample)));
say();
say(`A typical session item (the create above): ${sessionBytes} bytes.`);

// =================================================================================
// 2. The HTTP path against a bare node:http server making the same DynamoDB call
// =================================================================================
progress('latency');
meter.paused = true;
// The API and the bare server each in a process of their own, as Lambda runs the API:
// the in-process service's stream poller and queue workers stop first (in AWS they are
// other functions), so the servers, this client and DynamoDB Local share the machine alone.
await service.stop();
const freshRecord = sessionRecords(scope);
const serverOpts = { dynamoEndpoint: dynamo.endpoint, tableName: 'bench-calls', account: service.account };
const [apiServer, bareServer] = await Promise.all([startBenchServer('api', serverOpts), startBenchServer('bare', serverOpts)]);
const apiCall = benchClient(apiServer.baseUrl, service.secretKey);
const bareCall = benchClient(bareServer.baseUrl, service.secretKey);
const rawPut = () => {
  const rec = freshRecord();
  return raw.send(new PutCommand(createSessionInput('bench-calls', rec)));
};

const existing = (await apiCall('POST', SESSIONS, createForm)).body.id as string;
const series = { httpCreate: [] as number[], bareCreate: [] as number[], rawPut: [] as number[], httpRetrieve: [] as number[], bareRetrieve: [] as number[], rawGet: [] as number[] };
async function sampleOf(name: keyof typeof series, fn: () => Promise<unknown>) {
  series[name].push(await timed(fn));
}
for (let i = 0; i < WARMUP; i++) {
  // Warm-up: connections, the API's key cache, and V8's optimising compiler, which takes a
  // few hundred calls of a function to compile it: a warm Lambda instance serves thousands.
  await apiCall('GET', `${SESSIONS}/${existing}`);
  await apiCall('POST', SESSIONS, createForm);
  await bareCall('GET', `/s/${existing}`);
  await bareCall('POST', '/s', createForm);
}
// Interleaved, so that background noise hits every series alike.
for (let i = 0; i < N; i++) {
  await sampleOf('httpCreate', () => apiCall('POST', SESSIONS, createForm));
  await sampleOf('bareCreate', () => bareCall('POST', '/s', createForm));
  await sampleOf('rawPut', rawPut);
  await sampleOf('httpRetrieve', () => apiCall('GET', `${SESSIONS}/${existing}`));
  await sampleOf('bareRetrieve', () => bareCall('GET', `/s/${existing}`));
  await sampleOf('rawGet', () => raw.send(new GetCommand(getSessionInput('bench-calls', scope, existing))));
}
const m = Object.fromEntries(Object.entries(series).map(([k, v]) => [k, p50(v)])) as Record<keyof typeof series, number>;

// The servers' own CPU per call (their process's user + system time, waits excluded): what Lambda bills
// for, with the SDK's share in it. In chunks, alternating, so that load changes hit both servers alike.
const serverCpu = { apiCreate: 0, bareCreate: 0, apiRetrieve: 0, bareRetrieve: 0 };
const CHUNKS = 5;
const perChunk = Math.max(1, Math.round(N / CHUNKS));
async function cpuOf(name: keyof typeof serverCpu, server: BenchServer, fn: () => Promise<unknown>) {
  const before = await server.cpu();
  for (let i = 0; i < perChunk; i++) await fn();
  serverCpu[name] += (await server.cpu()) - before;
}
for (let c = 0; c < CHUNKS; c++) {
  await cpuOf('apiCreate', apiServer, () => apiCall('POST', SESSIONS, createForm));
  await cpuOf('bareCreate', bareServer, () => bareCall('POST', '/s', createForm));
  await cpuOf('apiRetrieve', apiServer, () => apiCall('GET', `${SESSIONS}/${existing}`));
  await cpuOf('bareRetrieve', bareServer, () => bareCall('GET', `/s/${existing}`));
}
const cpuMs = (k: keyof typeof serverCpu) => serverCpu[k] / (CHUNKS * perChunk) / 1000;
// The handler's share of the API server's CPU: the same handler in a process of its own, DynamoDB answered from memory.
const handlerCpu = await measureHandlerCpu({ createForm, warmup: WARMUP, n: N });
latencyP50 = { create: m.httpCreate, retrieve: m.httpRetrieve };
atMost('HTTP path p50 / bare server p50: create', m.httpCreate / m.bareCreate, 1.15);
atMost('HTTP path p50 / bare server p50: retrieve', m.httpRetrieve / m.bareRetrieve, 1.15);
info('bare server p50 / raw DynamoDB call p50: create, retrieve', `${(m.bareCreate / m.rawPut).toFixed(2)}, ${(m.bareRetrieve / m.rawGet).toFixed(2)}`);
info('API server CPU per call (handler, adapter, SDK; waits excluded): create, retrieve', `${cpuMs('apiCreate').toFixed(2)} ms, ${cpuMs('apiRetrieve').toFixed(2)} ms`);
info('CPU per call the API server adds over the bare server: create, retrieve', `${(cpuMs('apiCreate') - cpuMs('bareCreate')).toFixed(2)} ms, ${(cpuMs('apiRetrieve') - cpuMs('bareRetrieve')).toFixed(2)} ms`);
info(
  "the API handler's own CPU per call (in process, DynamoDB answered from memory: no SDK, no node:http, no wait): create, retrieve",
  `${handlerCpu.create.toFixed(2)} ms, ${handlerCpu.retrieve.toFixed(2)} ms`,
);
say();
say(`## Latency, p50 over ${N} interleaved samples (information: absolute times on a shared machine)`);
say('The API (lambdas/api/handler.ts behind the local adapter) and the bare server each run in a process of their own (bin/bench-server.ts);');
say('the client and the raw calls run in the bench process. Server CPU: the server process\'s user + system time per call, over');
say(`${CHUNKS * perChunk} sequential calls each, alternating in chunks.`);
say();
say('| operation | our HTTP path | bare node:http server | raw DynamoDB call |');
say('|---|---|---|---|');
say(`| create (PutItem) p50 | ${ms(m.httpCreate)} | ${ms(m.bareCreate)} | ${ms(m.rawPut)} |`);
say(`| create, server CPU per call | ${ms(cpuMs('apiCreate'))} | ${ms(cpuMs('bareCreate'))} | |`);
say(`| retrieve (GetItem) p50 | ${ms(m.httpRetrieve)} | ${ms(m.bareRetrieve)} | ${ms(m.rawGet)} |`);
say(`| retrieve, server CPU per call | ${ms(cpuMs('apiRetrieve'))} | ${ms(cpuMs('bareRetrieve'))} | |`);
say(`| create, the handler's own CPU per call (DynamoDB answered from memory, bin/bench-handler.ts) | ${ms(handlerCpu.create)} | | |`);
say(`| retrieve, the handler's own CPU per call (the same) | ${ms(handlerCpu.retrieve)} | | |`);

// ---- sustained creations: the API, the bare server and raw PutItem at the same concurrency
progress('sustained creations');
const CONCURRENCY = 8;
const CREATES = 200;
let httpRate = 0;
let bareRate = 0;
let putRate = 0;
for (let round = 0; round < 2; round++) {
  putRate += await rate(CREATES / 2, CONCURRENCY, rawPut);
  httpRate += await rate(CREATES / 2, CONCURRENCY, () => apiCall('POST', SESSIONS, createForm));
  bareRate += await rate(CREATES / 2, CONCURRENCY, () => bareCall('POST', '/s', createForm));
}
httpRate /= 2;
bareRate /= 2;
putRate /= 2;
atLeast(`creations/s through the HTTP path / raw PutItem/s, ${CONCURRENCY} at a time`, httpRate / putRate, 0.7);
info(`the ceiling: bare server creations/s / raw PutItem/s, ${CONCURRENCY} at a time; HTTP path / bare server`, `${(bareRate / putRate).toFixed(2)}; ${(httpRate / bareRate).toFixed(2)}`);
say();
say(`Sustained creations, ${CREATES} each, ${CONCURRENCY} at a time, alternating in 2 rounds: HTTP path ${httpRate.toFixed(0)}/s, bare server ${bareRate.toFixed(0)}/s, raw PutItem ${putRate.toFixed(0)}/s.`);
say('The servers are processes of their own; the raw PutItems come from the bench process. On a 2-core machine that also runs');
say("DynamoDB Local's JVM and the client, the bare server's ratio is the ceiling any HTTP server in front of DynamoDB reaches here.");
await Promise.all([apiServer.stop(), bareServer.stop()]);
meter.destroy();
}

// =================================================================================
// 3. Webhooks: requests per delivery attempt, throughput against raw UpdateItem
// =================================================================================
async function webhookThroughput(): Promise<void> {
  const table = 'bench-webhooks';
  const backlog = await startLocalService({ port: 0, dynamoEndpoint: dynamo.endpoint, tableName: table, webhooks: { consumers: false } });
  const workerOps: { op: string; role: 'fan-out' | 'attempt' }[] = [];
  const doc = documentClient(localClientConfig(dynamo.endpoint), (op, _c, _f, input: any) => {
    // The fan-out reads endpoints (a Query of WE#) and creates deliveries (PutItem on attribute_not_exists); the rest is the attempts'.
    const fanOut =
      (op === 'QueryCommand' && String(input?.ExpressionAttributeValues?.[':prefix'] ?? '').startsWith('WE#')) ||
      (op === 'PutItemCommand' && input?.ConditionExpression === 'attribute_not_exists(pk)');
    workerOps.push({ op: op.replace(/Command$/, ''), role: fanOut ? 'fan-out' : 'attempt' });
  });
  const hook = benchClient(backlog.baseUrl, backlog.secretKey);
  await hook('POST', '/v1/webhook_endpoints', `url=${encodeURIComponent(receiver.url)}&enabled_events[]=identity.verification_session.created`);
  const ids: string[] = [];
  for (let i = 0; i < EVENTS; i += 10)
    ids.push(...(await Promise.all(Array.from({ length: Math.min(10, EVENTS - i) }, async () => (await hook('POST', SESSIONS, 'type=document')).body.id as string))));
  const queued = async () =>
    Number(
      (await backlog.queues.client.send(new GetQueueAttributesCommand({ QueueUrl: backlog.queues.urls.webhooks.queue, AttributeNames: ['ApproximateNumberOfMessages'] })))
        .Attributes?.ApproximateNumberOfMessages ?? 0,
    );
  for (const deadline = Date.now() + 60_000; (await queued()) < EVENTS; ) {
    if (Date.now() > deadline) throw new Error('the events did not reach the webhooks queue');
    await new Promise((r) => setTimeout(r, 50));
  }
  const POLLERS = 4;
  // The fan-out first, alone: the deliveries' queue fills, then the delivery pollers alone are timed.
  const sqs = backlog.queues.client;
  const { queue: deliveryUrl, dlq } = await createQueueWithDeadLetter(sqs, `bench-${WEBHOOK_DELIVERY_QUEUE.name}`, WEBHOOK_DELIVERY_QUEUE.queue);
  const fanOut = createFanOut({ endpoints: new WebhookEndpointStore(doc, table), deliveries: new DeliveryStore(doc, table), queue: new SqsDeliveryQueue(sqs, deliveryUrl, dlq), log: () => {} });
  for (let fanned = 0; fanned < EVENTS; ) {
    const messages = (await sqs.send(new ReceiveMessageCommand({ QueueUrl: backlog.queues.urls.webhooks.queue, MaxNumberOfMessages: 10, WaitTimeSeconds: 0, VisibilityTimeout: 60 }))).Messages ?? [];
    if (messages.length === 0) continue;
    const r = await fanOut({ Records: messages.map((mm) => ({ messageId: mm.MessageId!, receiptHandle: mm.ReceiptHandle!, body: mm.Body! })) } as never);
    if (r.batchItemFailures.length > 0) throw new Error('the fan-out failed');
    await sqs.send(new DeleteMessageBatchCommand({ QueueUrl: backlog.queues.urls.webhooks.queue, Entries: messages.map((mm, i) => ({ Id: String(i), ReceiptHandle: mm.ReceiptHandle! })) }));
    fanned += messages.length;
  }
  const started = performance.now();
  const consumers = await startLocalWebhooks({ doc, tableName: table, sqs, webhooksQueueUrl: backlog.queues.urls.webhooks.queue, bus: backlog.bus, prefix: 'bench-', deliveryPollers: POLLERS });
  const arrivals = await Promise.all(ids.map((id) => receiver.arrival(id)));
  const first = Math.min(...arrivals);
  const last = Math.max(...arrivals);
  // Sustained: from the first arrival to the last (the pollers' start-up, queue creation and the first batch's read, are before).
  const deliveriesPerSecond = (EVENTS - 1) / ((last - first) / 1000);
  const withStartUp = EVENTS / ((last - started) / 1000);
  await new Promise((r) => setTimeout(r, 300)); // the last attempts' writes
  await consumers.stop();

  // Raw conditional UpdateItems at the same concurrency, on delivery-like items.
  for (let i = 0; i < POLLERS; i++) await raw.send(new PutCommand({ TableName: table, Item: { pk: 'bench', sk: `U#${i}`, version: 0 } }));
  const updatesPerSecond = await rate(EVENTS * 2, POLLERS, (i) =>
    raw.send(new UpdateCommand({ TableName: table, Key: { pk: 'bench', sk: `U#${i % POLLERS}` }, UpdateExpression: 'ADD version :one', ConditionExpression: 'attribute_exists(pk)', ExpressionAttributeValues: { ':one': 1 } })),
  );
  const attemptOps = workerOps.filter((o) => o.role === 'attempt');
  const count = (list: typeof workerOps) => [...list.reduce((mm, o) => mm.set(o.op, (mm.get(o.op) ?? 0) + 1), new Map<string, number>())].map(([op, n]) => `${op} x${(n / EVENTS).toFixed(2)}`).join(' + ');
  atMost('DynamoDB requests per webhook delivery attempt', attemptOps.length / EVENTS, 1);
  atLeast(`webhook deliveries/s with ${POLLERS} pollers / raw conditional UpdateItem/s, ${POLLERS} at a time`, deliveriesPerSecond / updatesPerSecond, 0.5);
  say();
  say(`## Webhooks: ${EVENTS} deliveries to one endpoint from a backlog of the delivery queue (fan-out done before the clock starts), ${POLLERS} delivery pollers`);
  say(
    `${deliveriesPerSecond.toFixed(0)} deliveries/s sustained (first arrival to last; ${withStartUp.toFixed(0)}/s counting the pollers' start-up); raw conditional UpdateItem ${updatesPerSecond.toFixed(0)}/s at the same concurrency.`,
  );
  say(`Per delivery attempt: ${count(attemptOps)}. Per delivery, fan-out: ${count(workerOps.filter((o) => o.role === 'fan-out'))}.`);
  doc.destroy();
  await backlog.stop();
}
progress('webhooks');
if (runs('webhooks')) await webhookThroughput();

// =================================================================================
// 4. One verified session's whole life, priced: write units, then dollars
// =================================================================================
async function lifecycle(): Promise<void> {
  const table = 'bench-lifecycle';
  const lifeMeter = new WriteMeter(localClientConfig(dynamo.endpoint), table);
  const dynamoOps: { op: string; consumed: unknown }[] = [];
  const observe = (op: string, consumed: unknown, failed: boolean, input?: unknown) => {
    dynamoOps.push({ op, consumed });
    lifeMeter.observe(op, consumed, failed, input);
  };
  let logBytes = 0;
  const svc: LocalService = await startLocalService({
    port: 0,
    dynamoEndpoint: dynamo.endpoint,
    tableName: table,
    observeDynamo: observe,
    observeWorkers: observe,
    log: (line) => (logBytes += Buffer.byteLength(line) + 1),
  });
  const sqsCounts = new Map<string, number>();
  svc.queues.client.middlewareStack.add(
    (next, context) => async (args) => {
      const r = await next(args);
      const op = (context.commandName ?? '').replace(/Command$/, '');
      const messages = (r.output as { Messages?: unknown[] }).Messages;
      // An empty receive is the pollers' idle cost, not this session's (Lambda polls whether or not there is work).
      if (op !== 'ReceiveMessage' || (messages && messages.length > 0)) sqsCounts.set(op, (sqsCounts.get(op) ?? 0) + 1);
      return r;
    },
    { step: 'initialize', name: 'benchCount' },
  );
  let busEvents = 0;
  const put = svc.bus.put.bind(svc.bus);
  svc.bus.put = async (entries) => {
    busEvents += entries.reduce((n, e) => n + Math.max(1, Math.ceil(Buffer.byteLength(e.detail) / 65536)), 0);
    return put(entries);
  };
  const api = benchClient(svc.baseUrl, svc.secretKey);
  await api('POST', '/v1/webhook_endpoints', `url=${encodeURIComponent(receiver.url)}&enabled_events[]=identity.verification_session.verified`);
  await new Promise((r) => setTimeout(r, 500));
  await lifeMeter.take();
  dynamoOps.length = 0;
  sqsCounts.clear();
  busEvents = 0;
  logBytes = 0;

  // The life: create (the integrator), the hosted page opened and submitted (the user), the webhook, one retrieve.
  // Each function invocation is timed as Lambda bills it (handler start to result, local/invocations.ts).
  let invocations: { fn: string; ms: number }[] = [];
  observeInvocations((fn, ms) => invocations.push({ fn, ms }));
  const live = async () => {
    const created = (await api('POST', SESSIONS, createForm)).body as { id: string; url: string };
    await fetch(created.url);
    const submit = await fetch(`${created.url}/submit`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' }, body: 'test_outcome=verified' });
    if (submit.status !== 200) throw new Error(`submit: ${submit.status} ${await submit.text()}`);
    await receiver.arrival(created.id);
    await api('GET', `${SESSIONS}/${created.id}`);
    await new Promise((r) => setTimeout(r, 1000)); // the delivery's own write, the stream's last records
  };
  await live();
  // The local stream poller's checkpoints are ours alone: in AWS the Lambda trigger keeps the stream position.
  const writes = (await lifeMeter.take()).filter((w) => !w.kind.startsWith('shardId-'));
  // Counts of the first life; the further lives are for durations only.
  const firstLife = { sqs: new Map(sqsCounts), busEvents, logBytes, dynamoOps: [...dynamoOps] };
  // Durations of one life are single samples on a shared machine: four more
  // lives, and the quickest of the five priced (contention only adds time).
  const lives: { fn: string; ms: number }[][] = [invocations];
  for (let i = 0; i < 4; i++) {
    invocations = [];
    await live();
    lives.push(invocations);
  }
  observeInvocations();
  await svc.stop();
  lifeMeter.destroy();

  const wcu = totalUnits(writes);
  atMost('write units for a verified session: create, submit, verified, events, 1 webhook', wcu, 15);
  say();
  say('## One verified session, priced (create, hosted page, submit, checks, 3 events stored and published, 1 webhook delivered, 1 retrieve)');
  say();
  say('| # | operation | item | bytes | write units | index units |');
  say('|---|---|---|---|---|---|');
  writes.forEach((w, i) => say(`| ${i + 1} | ${w.op}${w.transactional ? ' (transaction)' : ''}${w.failed ? ' (refused)' : ''} | ${w.kind} | ${w.bytes} | ${w.units} | ${w.indexUnits} |`));
  say(`Total: ${wcu} write units in ${writes.length} item writes.`);

  // ---- dollars per 1,000 ------------------------------------------------------------
  let readUnits = 0;
  for (const { op, consumed } of firstLife.dynamoOps)
    if (/Get|Query/.test(op))
      for (const c of ([] as { CapacityUnits?: number }[]).concat((consumed as never) ?? [])) readUnits += c.CapacityUnits ?? 0;
  const sqsRequests = [...firstLife.sqs.values()].reduce((a, b) => a + b, 0);
  // Lambda: each function's billed duration (rounded up to 1 ms per invocation)
  // times its memory, in the quickest life of five; invocations as counted.
  const fnOf = (name: string): keyof typeof FUNCTION_MEMORY_MB | undefined =>
    (({ api: 'api', publisher: 'publisher', [ROUTES.checks.name]: 'checks', [ROUTES.webhooks.name]: 'fanout', [WEBHOOK_DELIVERY_QUEUE.name]: 'delivery', [REDACTION_QUEUE.name]: 'redaction' }) as Record<string, keyof typeof FUNCTION_MEMORY_MB>)[name];
  const gbSecondsOf = (life: { fn: string; ms: number }[]) =>
    life.reduce((a, { fn, ms }) => a + (Math.ceil(ms) / 1000) * ((FUNCTION_MEMORY_MB[fnOf(fn) ?? 'api'] ?? 1024) / 1024), 0);
  const quickestLife = [...lives].sort((a, b) => gbSecondsOf(a) - gbSecondsOf(b))[0];
  const gbSeconds = gbSecondsOf(quickestLife);
  const perFunction = new Map<string, { n: number; ms: number }>();
  for (const { fn, ms } of quickestLife) {
    const f = fnOf(fn) ?? fn;
    const e = perFunction.get(f) ?? { n: 0, ms: 0 };
    perFunction.set(f, { n: e.n + 1, ms: e.ms + ms });
  }
  const invocationCount = quickestLife.length;
  const apiCalls = quickestLife.filter((x) => x.fn === 'api');
  const durationDetail = [...perFunction].map(([f, { n, ms }]) => `${f} ${n} x ${(ms / n).toFixed(0)} ms at ${FUNCTION_MEMORY_MB[f as keyof typeof FUNCTION_MEMORY_MB] ?? '?'} MB`).join(', ');
  // Each photo as the hosted page uploads it: downscaled in the browser to at
  // most 2,000 px, JPEG 0.85. 616,022 bytes is what a 12-megapixel phone photo
  // (5.7 MB) became in test/e2e/hosted-page-people.test.ts.
  const photoBytes = 616_022;
  const imageBytes = 3 * photoBytes;
  const storedBytes = writes.filter((w) => !w.failed).reduce((mm, w) => mm.set(w.key, w.bytes), new Map<string, number>());
  const itemBytes = [...storedBytes.values()].reduce((a, b) => a + b + 100, 0); // + DynamoDB's 100 bytes of overhead per item
  const logTotal = firstLife.logBytes + invocationCount * LAMBDA_PLATFORM_LOG_BYTES;
  const per1000 = (units: number, pricePerUnit: number) => units * pricePerUnit * 1000;
  const GB = 1024 ** 3;
  const lines: [string, string, number][] = [
    ['HTTP API requests', `${apiCalls.length} requests`, per1000(apiCalls.length, PRICES.httpApiPerMillionRequests / 1e6)],
    ['Lambda requests', `${invocationCount} invocations`, per1000(invocationCount, PRICES.lambdaPerMillionRequests / 1e6)],
    ['Lambda duration (arm64)', `${gbSeconds.toFixed(4)} GB-s, each invocation timed (the quickest of 5 lives): ${durationDetail}`, per1000(gbSeconds, PRICES.lambdaArmPerGbSecond)],
    ['DynamoDB writes', `${wcu} write units`, per1000(wcu, PRICES.dynamoPerMillionWriteUnits / 1e6)],
    ['DynamoDB reads', `${readUnits.toFixed(1)} read units (as DynamoDB Local reports them)`, per1000(readUnits, PRICES.dynamoPerMillionReadUnits / 1e6)],
    ['DynamoDB storage, 1 month', `${itemBytes} bytes`, per1000(itemBytes / GB, PRICES.dynamoStoragePerGbMonth)],
    ['DynamoDB Streams reads', 'by the Lambda trigger: free', 0],
    ['EventBridge custom events', `${firstLife.busEvents} events`, per1000(firstLife.busEvents, PRICES.eventBridgePerMillionEvents / 1e6)],
    ['SQS requests', `${sqsRequests} (${[...firstLife.sqs].map(([k, v]) => `${k} ${v}`).join(', ')}; empty polls not counted)`, per1000(sqsRequests, PRICES.sqsPerMillionRequests / 1e6)],
    ['S3 PUT of 3 images', '3 PUT', per1000(3, PRICES.s3PutPerThousand / 1000)],
    ['S3 GET by the checks', '3 GET', per1000(3, PRICES.s3GetPerThousand / 1000)],
    [`S3 storage, 3 images x ${(photoBytes / 1e6).toFixed(2)} MB (downscaled by the page) for ${FILE_RETENTION_DAYS} days`, `${(imageBytes / 1024 / 1024).toFixed(1)} MB`, per1000((imageBytes / GB) * (FILE_RETENTION_DAYS / 30), PRICES.s3StoragePerGbMonth)],
    ['CloudWatch Logs ingestion', `${logTotal} bytes (our lines + Lambda's START/END/REPORT)`, per1000(logTotal / GB, PRICES.logsIngestionPerGb)],
  ];
  const infra = lines.reduce((a, l) => a + l[2], 0);
  const checksCost = per1000(2, PRICES.textractAnalyzeIdPerPage) + per1000(1, PRICES.rekognitionCompareFacesPerImage);
  atMost('infra $ per 1,000 verified sessions (Textract, Rekognition apart)', infra, 0.05, (v) => `$${v.toFixed(4)}`);
  info('Textract AnalyzeID (2 pages) + Rekognition CompareFaces per 1,000 verified sessions', `$${checksCost.toFixed(2)}`);
  say();
  say(`## Cost per 1,000 verified sessions (prices: bin/bench-prices.ts, ${PRICES_AS_OF})`);
  say();
  say('| line item | per session | $ per 1,000 |');
  say('|---|---|---|');
  for (const [name, what, dollars] of lines) say(`| ${name} | ${what} | ${dollars.toFixed(4)} |`);
  say(`| **infrastructure** | | **${infra.toFixed(4)}** |`);
  say(`| Textract AnalyzeID (front and back) + Rekognition CompareFaces | 2 pages, 1 comparison | ${checksCost.toFixed(2)} |`);
  const storageAt = (days: number) => per1000((imageBytes / GB) * (days / 30), PRICES.s3StoragePerGbMonth);
  say();
  say(
    `The images are most of it: kept ${FILE_RETENTION_DAYS} days (the bucket's lifecycle rule), their storage is $${storageAt(FILE_RETENTION_DAYS).toFixed(4)} per 1,000 and their uploads $${per1000(3, PRICES.s3PutPerThousand / 1000).toFixed(4)}. ` +
      `A stack deployed with \`retentionDays=7\` redacts settled sessions after 7 days, deleting their images: storage $${storageAt(7).toFixed(4)}, infrastructure $${(infra - storageAt(FILE_RETENTION_DAYS) + storageAt(7)).toFixed(4)}.`,
  );
}
progress('lifecycle');
if (runs('lifecycle')) await lifecycle();

await receiver.stop();
raw.destroy();
await dynamo.stop();

// ---- print ---------------------------------------------------------------------------
const over = figures.filter((f) => f.within === false);
console.log(`\n# npm run bench (${((performance.now() - startedAt) / 1000).toFixed(0)} s)\n`);
console.log('| figure | budget | measured | |');
console.log('|---|---|---|---|');
for (const f of figures) console.log(`| ${f.figure} | ${f.budget} | ${f.measured} | ${f.within === null ? '' : f.within ? 'within' : '**over**'} |`);
console.log(`\n${figures.filter((f) => f.within).length} within budget, ${over.length} over.\n`);
console.log(details.join('\n'));
if (CHECK && over.length > 0) {
  console.error(`\n--check: ${over.length} figure(s) over budget: ${over.map((f) => f.figure).join('; ')}`);
  process.exit(1);
}
process.exit(0);
