/**
 * `npm run bench`: what an API call costs in DynamoDB, and how much latency the
 * local HTTP path adds to the DynamoDB call it makes. Everything is measured in
 * one run against one DynamoDB Local, and latencies are compared as ratios
 * because the machine is shared and absolute numbers are noisy.
 *
 *   BENCH_N   samples per latency series (default 300)
 */
import { performance } from 'node:perf_hooks';
import { GetCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import { marshall } from '@aws-sdk/util-dynamodb';
import { API_VERSION } from '../lambdas/domain/api-version.js';
import { decodeTime, derivedTimeOrderedId, timeOrderedId } from '../lambdas/domain/ids.js';
import { createStreamPublisher } from '../lambdas/events/publisher.js';
import { EventStore } from '../lambdas/store/event-store.js';
import { newSession } from '../lambdas/domain/session.js';
import { documentClient } from '../lambdas/store/dynamo.js';
import { sessionKey } from '../lambdas/store/session-store.js';
import { idempotencyKey } from '../lambdas/store/idempotency.js';
import { localClientConfig, startDynamoDbLocal } from '../local/dynamodb.js';
import { startLocalService } from '../local/service.js';
import { benchClient } from './bench-http.js';

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
process.env.API_ACCESS_LOG = 'off';
const N = Number(process.env.BENCH_N ?? 300);

interface Capacity {
  CapacityUnits?: number;
  ReadCapacityUnits?: number;
  WriteCapacityUnits?: number;
}
let ops: { op: string; consumed: unknown; failed: boolean }[] = [];

const dynamo = await startDynamoDbLocal();
const service = await startLocalService({
  port: 0,
  dynamoEndpoint: dynamo.endpoint,
  observeDynamo: (op, consumed, failed) => ops.push({ op, consumed, failed }),
});
const raw = documentClient(localClientConfig(dynamo.endpoint));
const SESSIONS = '/v1/identity/verification_sessions';

const call = benchClient(service.baseUrl, service.secretKey);

const createForm = 'type=document&metadata[order_id]=ord_12345&metadata[customer]=cus_42&client_reference_id=user_42&options[document][allowed_types][]=passport&options[document][allowed_types][]=id_card&options[document][require_matching_selfie]=true&provided_details[email]=jo@example.com';
const newId = async () => (await call('POST', SESSIONS, createForm)).body.id as string;

const READS = new Set(['GetItemCommand', 'BatchGetItemCommand', 'QueryCommand']);

/** Capacity units by kind. DynamoDB Local reports only the total per operation. */
function units(list: typeof ops) {
  let read = 0;
  let write = 0;
  for (const { op, consumed } of list) {
    for (const c of ([] as Capacity[]).concat((consumed as Capacity | Capacity[] | undefined) ?? [])) {
      const total = c.CapacityUnits ?? (c.ReadCapacityUnits ?? 0) + (c.WriteCapacityUnits ?? 0);
      if (READS.has(op)) read += total;
      else write += total;
    }
  }
  return { read, write };
}

/** Runs `prepare` (not counted) then `action` (counted) `times` times; per-call averages. */
async function cost(name: string, times: number, prepare: (i: number) => Promise<unknown>, action: (p: any, i: number) => Promise<{ status: number }>) {
  let requests = 0;
  const perOp = new Map<string, number>();
  let read = 0;
  let write = 0;
  let status = 0;
  for (let i = 0; i < times; i++) {
    const p = await prepare(i);
    ops = [];
    status = (await action(p, i)).status;
    requests += ops.length;
    for (const o of ops) perOp.set(o.op, (perOp.get(o.op) ?? 0) + 1);
    const u = units(ops);
    read += u.read;
    write += u.write;
  }
  const ops_ = [...perOp].map(([op, n]) => `${op.replace('Command', '')}×${(n / times).toFixed(2).replace(/\.00$/, '')}`).join(' + ');
  return { name, status, requests: requests / times, read: read / times, write: write / times, ops: ops_ };
}

// Warm up: the key lookup is cached after the first call, the JIT settles.
for (let i = 0; i < 50; i++) await call('GET', `${SESSIONS}/${await newId()}`);

const rows = [];
const T = 20;
rows.push(await cost('create', T, async () => null, () => call('POST', SESSIONS, createForm)));
rows.push(await cost('create + Idempotency-Key', T, async () => null, (_, i) => call('POST', SESSIONS, createForm, `bench-c-${i}-${Date.now()}`)));
rows.push(await cost('create, replayed key', T, async (i) => {
  const key = `bench-r-${i}-${Date.now()}`;
  await call('POST', SESSIONS, createForm, key);
  return key;
}, (key) => call('POST', SESSIONS, createForm, key)));
rows.push(await cost('retrieve', T, newId, (id) => call('GET', `${SESSIONS}/${id}`)));
rows.push(await cost('list (limit 10)', T, async () => null, () => call('GET', `${SESSIONS}?limit=10`)));
rows.push(await cost('update metadata', T, newId, (id) => call('POST', `${SESSIONS}/${id}`, 'metadata[step]=2')));
rows.push(await cost('update metadata + Idempotency-Key', T, newId, (id, i) => call('POST', `${SESSIONS}/${id}`, 'metadata[step]=2', `bench-u-${i}-${id}`)));
rows.push(await cost('cancel', T, newId, (id) => call('POST', `${SESSIONS}/${id}/cancel`)));
rows.push(await cost('cancel + Idempotency-Key', T, newId, (id) => call('POST', `${SESSIONS}/${id}/cancel`, '', `bench-x-${id}`)));
rows.push(await cost('cancel refused (already canceled)', T, async () => {
  const id = await newId();
  await call('POST', `${SESSIONS}/${id}/cancel`);
  return id;
}, (id) => call('POST', `${SESSIONS}/${id}/cancel`)));
rows.push(await cost('redact', T, newId, (id) => call('POST', `${SESSIONS}/${id}/redact`)));
rows.push(await cost('redact + Idempotency-Key', T, newId, (id) => call('POST', `${SESSIONS}/${id}/redact`, '', `bench-d-${id}`)));

console.log('\nDynamoDB cost per API call (averages over %d calls each; capacity units as DynamoDB Local reports them; a write refused by its condition reports none)\n', T);
console.log('| call | HTTP | DynamoDB requests | operations | RCU | WCU |');
console.log('|---|---|---|---|---|---|');
for (const r of rows) console.log(`| ${r.name} | ${r.status} | ${r.requests} | ${r.ops} | ${r.read.toFixed(1)} | ${r.write.toFixed(1)} |`);

// ---- item sizes: what real DynamoDB bills by ---------------------------------
/** DynamoDB's item size rule: attribute names plus values (strings by UTF-8 length, numbers ~1 byte per 2 digits). */
function itemSize(v: unknown): number {
  if (v === null || v === undefined || typeof v === 'boolean') return 1;
  if (typeof v === 'string') return Buffer.byteLength(v);
  if (typeof v === 'number') return Math.ceil(String(Math.abs(v)).replace('.', '').length / 2) + 1;
  if (v instanceof Uint8Array) return v.length;
  if (Array.isArray(v)) return 3 + v.reduce((n, x) => n + 1 + itemSize(x), 0);
  return 3 + Object.entries(v as object).reduce((n, [k, x]) => n + Buffer.byteLength(k) + 1 + itemSize(x), 0);
}
const sampleId = await newId();
const sessionItem = (await raw.send(new GetCommand({ TableName: service.tableName, Key: sessionKey({ account: service.account, livemode: false }, sampleId) }))).Item!;
const idemKey = `bench-size-${Date.now()}`;
await call('POST', SESSIONS, createForm, idemKey);
const idemItem = (await raw.send(new GetCommand({ TableName: service.tableName, Key: idempotencyKey({ account: service.account, livemode: false }, idemKey) }))).Item!;
const sessionBytes = itemSize(sessionItem) - 3;
const idemBytes = itemSize(idemItem) - 3;
const kb = (b: number) => Math.max(1, Math.ceil(b / 1024));
console.log(`\nItem sizes: session ${sessionBytes} B, saved idempotent result ${idemBytes} B (gzipped body). By DynamoDB's pricing rules`);
console.log(`(1 WCU per KB for a write, 2 per KB per item in a transaction): create ${kb(sessionBytes)} WCU, keyed create ${2 * kb(sessionBytes) + 2 * kb(idemBytes)} WCU,`);
console.log(`update/cancel ${kb(sessionBytes)} WCU, keyed update/cancel/redact ${2 * kb(sessionBytes) + 2 * kb(idemBytes)} WCU + 1 RCU (consistent BatchGetItem of both items).`);

// ---- latency: the HTTP path next to the raw DynamoDB call it makes ----------
const scope = { account: service.account, livemode: false };
function p50(xs: number[]) {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}
async function timed(fn: () => Promise<unknown>) {
  const t = performance.now();
  await fn();
  return performance.now() - t;
}
const series = { httpCreate: [] as number[], rawPut: [] as number[], httpRetrieve: [] as number[], rawGet: [] as number[] };
const existing = await newId();
// Interleaved, so that background noise hits every series alike.
for (let i = 0; i < N; i++) {
  series.httpCreate.push(await timed(() => call('POST', SESSIONS, createForm)));
  const nowMs = Date.now();
  const rec = newSession(
    { type: 'document', metadata: { order_id: 'ord_12345', customer: 'cus_42' }, client_reference_id: 'user_42', options: { document: { allowed_types: ['passport', 'id_card'], require_matching_selfie: true } }, provided_details: { email: 'jo@example.com' } },
    { id: timeOrderedId('vs', nowMs), scope, nowMs, request: null },
  );
  series.rawPut.push(await timed(() => raw.send(new PutCommand({ TableName: service.tableName, Item: { ...sessionKey(scope, rec.id), ...rec }, ConditionExpression: 'attribute_not_exists(pk)' }))));
  series.httpRetrieve.push(await timed(() => call('GET', `${SESSIONS}/${existing}`)));
  series.rawGet.push(await timed(() => raw.send(new GetCommand({ TableName: service.tableName, Key: sessionKey(scope, existing), ConsistentRead: true }))));
}
const m = Object.fromEntries(Object.entries(series).map(([k, v]) => [k, p50(v)])) as Record<keyof typeof series, number>;
console.log(`\nLatency, p50 over ${N} interleaved samples (HTTP on 127.0.0.1 -> API Gateway event -> handler -> DynamoDB Local)\n`);
console.log('| operation | HTTP API p50 | raw DynamoDB p50 | ratio |');
console.log('|---|---|---|---|');
console.log(`| create vs PutItem | ${m.httpCreate.toFixed(2)} ms | ${m.rawPut.toFixed(2)} ms | ${(m.httpCreate / m.rawPut).toFixed(2)} |`);
console.log(`| retrieve vs GetItem | ${m.httpRetrieve.toFixed(2)} ms | ${m.rawGet.toFixed(2)} ms | ${(m.httpRetrieve / m.rawGet).toFixed(2)} |`);

// ---- events: API write -> event stored -> message on the queue ---------------
const SAMPLES = Math.min(N, 100);
const toStored: number[] = [];
const toQueue: number[] = [];
const eventStore = new EventStore(raw, service.tableName);
for (let i = 0; i < SAMPLES; i++) {
  let queuedAt = 0;
  let sessionId = '';
  const unsubscribe = service.bus.subscribe((env) => {
    const detail = env.detail as { data: { object: { id: string } } };
    if (detail.data.object.id === sessionId && !queuedAt) queuedAt = performance.now();
  });
  const t0 = performance.now();
  sessionId = (await call('POST', SESSIONS, createForm)).body.id;
  // The created event's id follows from the session id (time) and version 1.
  const eventId = derivedTimeOrderedId('evt', decodeTime(sessionId.slice(3, 11)), 0, `${sessionId}|1|identity.verification_session.created`);
  while (!(await eventStore.get(scope, eventId))) await new Promise((r) => setTimeout(r, 1));
  toStored.push(performance.now() - t0);
  while (!queuedAt) await new Promise((r) => setTimeout(r, 1));
  toQueue.push(queuedAt - t0);
  unsubscribe();
}
console.log(`\nEvents under npm start, p50 over ${SAMPLES} creates (stream polled every 25 ms, as the local poller does)\n`);
console.log('| from sending the API call... | p50 |');
console.log('|---|---|');
console.log(`| to its event stored (GET /v1/events/{id} finds it) | ${p50(toStored).toFixed(1)} ms |`);
console.log(`| to its message on the queues (local bus sent it) | ${p50(toQueue).toFixed(1)} ms |`);

// ---- the publisher alone: records per second in one batch ---------------------
const batchSession = newSession({ type: 'document' }, { id: timeOrderedId('vs'), scope, nowMs: Date.now(), request: null });
const records = Array.from({ length: 100 }, (_, i) => {
  const s = { ...batchSession, id: timeOrderedId('vs', Date.now() + i), updated_ms: Date.now() + i };
  return { eventName: 'INSERT' as const, dynamodb: { Keys: marshall({ pk: 'x', sk: `VS#${s.id}` }) as never, NewImage: marshall(s, { removeUndefinedValues: true }) as never, SequenceNumber: String(i) } };
});
const publisher = createStreamPublisher({ events: eventStore, bus: { put: async () => ({ failed: [] }) }, apiVersion: API_VERSION, redactions: { send: async () => {} } });
const tp = performance.now();
await publisher({ Records: records });
const batchMs = performance.now() - tp;
console.log(`\nPublisher, one batch of 100 INSERT records (store each event, then PutEvents in chunks of 10 to a no-op bus): ${batchMs.toFixed(0)} ms, ${(100 / (batchMs / 1000)).toFixed(0)} records/s`);

// ---- checks: submit on the hosted page -> verified ---------------------------
const submitToVerified: number[] = [];
for (let i = 0; i < Math.min(N, 50); i++) {
  const session = (await call('POST', SESSIONS, 'type=document')).body as { id: string; url: string };
  const t0 = performance.now();
  const res = await fetch(`${session.url}/submit`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
    body: 'test_outcome=verified',
  });
  if (res.status !== 200) throw new Error(`submit: ${res.status} ${await res.text()}`);
  while ((await call('GET', `${SESSIONS}/${session.id}`)).body.status !== 'verified') await new Promise((r) => setTimeout(r, 2));
  submitToVerified.push(performance.now() - t0);
}
console.log(`\nChecks under npm start (test mode, synchronous success), p50 over ${submitToVerified.length} sessions:`);
console.log(`submit on the hosted page -> session verified: ${p50(submitToVerified).toFixed(1)} ms (stream poll 25 ms, queue poll 50 ms when idle)`);

raw.destroy();
await service.stop();
await dynamo.stop();
