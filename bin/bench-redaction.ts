/**
 * `npm run bench` (third part): what a redaction costs in DynamoDB, for
 * sessions with N stored events, K saved Idempotency-Key results and R
 * reports. The API's part (the redact call) and the redaction worker's part
 * (every copy, then the finished session) are counted apart, by operation.
 * Capacity units are as DynamoDB Local reports them.
 */
// No CloudWatch EMF lines in the bench's output (they would bury the table).
import '../local/quiet-metrics.js';
import { type DynamoObserver, documentClient } from '../lambdas/store/dynamo.js';
import { EventStore } from '../lambdas/store/event-store.js';
import { FileStore } from '../lambdas/store/file-store.js';
import { IdempotencyStore } from '../lambdas/store/idempotency.js';
import { ReportStore } from '../lambdas/store/report-store.js';
import { FileRecordStore } from '../lambdas/store/file-record-store.js';
import { SessionStore } from '../lambdas/store/session-store.js';
import { finishRedaction } from '../lambdas/redaction/worker.js';
import { localClientConfig, startDynamoDbLocal } from '../local/dynamodb.js';
import { startLocalService } from '../local/service.js';
import { benchClient } from './bench-http.js';

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
process.env.API_ACCESS_LOG = 'off';

type Op = { op: string; consumed: unknown };
let apiOps: Op[] = [];
let workerOps: Op[] = [];
const dynamo = await startDynamoDbLocal();
const service = await startLocalService({ port: 0, dynamoEndpoint: dynamo.endpoint, observeDynamo: (op, consumed) => apiOps.push({ op, consumed }) });
// The service's own redaction worker stops, so that this script runs each redaction itself, observed.
await service.redaction.stop();
const observe: DynamoObserver = (op, consumed) => workerOps.push({ op, consumed });
const doc = documentClient(localClientConfig(dynamo.endpoint), observe);
const scope = { account: service.account, livemode: false };
const deps = {
  sessions: new SessionStore(doc, service.tableName),
  events: new EventStore(doc, service.tableName),
  idempotency: new IdempotencyStore(doc, service.tableName),
  reports: new ReportStore(doc, service.tableName),
  fileRecords: new FileRecordStore(doc, service.tableName),
  files: new FileStore(service.s3.client, service.s3.bucket),
  queue: { send: async () => {} },
  log: () => {},
};

const SESSIONS = '/v1/identity/verification_sessions';
const client = benchClient(service.baseUrl, service.secretKey);
/** The response body of a call that must succeed. */
async function call(method: string, path: string, body?: string, key?: string) {
  const r = await client(method, path, body, key);
  if (r.status !== 200) throw new Error(`${method} ${path}: ${r.status} ${JSON.stringify(r.body)}`);
  return r.body;
}
async function until<T>(get: () => Promise<T>, ok: (v: T) => boolean): Promise<T> {
  for (let i = 0; i < 400; i++) {
    const v = await get();
    if (ok(v)) return v;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error('timed out');
}
const eventsOf = async (id: string) => (await deps.events.getMany(scope, await deps.events.linkedIds(scope, id))).length;

/** A session with `keys` keyed writes (create + updates), `failures` failed attempts, then a verified one. */
async function session(keys: number, failures: number) {
  const created = await call('POST', SESSIONS, 'type=id_number&provided_details[email]=jo@example.com&metadata[order]=1', `c-${Math.random()}`);
  for (let i = 1; i < keys; i++) await call('POST', `${SESSIONS}/${created.id}`, `metadata[k${i}]=v${i}`, `u-${i}-${Math.random()}`);
  let url = created.url as string;
  for (let attempt = 0; attempt <= failures; attempt++) {
    const outcome = attempt < failures ? 'test_outcome=unverified&test_error_code=id_number_mismatch' : 'test_outcome=verified';
    const r = await fetch(`${url}/submit`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' }, body: `id_number=000000000&${outcome}` });
    if (r.status !== 200) throw new Error(`submit: ${r.status}`);
    const s = await until(() => call('GET', `${SESSIONS}/${created.id}`), (x) => x.status !== 'processing');
    url = s.url;
  }
  const expectedEvents = 1 + 2 * (failures + 1);
  await until(() => eventsOf(created.id), (n) => n >= expectedEvents);
  return created.id as string;
}

function summary(list: Op[]) {
  const byOp = new Map<string, number>();
  let units = 0;
  for (const { op, consumed } of list) {
    byOp.set(op.replace(/Command$/, ''), (byOp.get(op.replace(/Command$/, '')) ?? 0) + 1);
    for (const c of ([] as { CapacityUnits?: number }[]).concat((consumed as never) ?? [])) units += c.CapacityUnits ?? 0;
  }
  return { requests: list.length, units: Math.round(units * 10) / 10, byOp: [...byOp].map(([k, v]) => `${v} ${k}`).join(', ') };
}

console.log('\nRedaction cost (DynamoDB Local capacity units; requests by operation)\n');
console.log('| events N | saved results K | reports R | API redact: requests, units | worker: requests, units | worker requests by operation |');
console.log('|---|---|---|---|---|---|');
for (const [keys, failures] of [[1, 0], [3, 0], [3, 3], [10, 9]] as const) {
  const id = await session(keys, failures);
  const n = await eventsOf(id);
  apiOps = [];
  await call('POST', `${SESSIONS}/${id}/redact`);
  const api = summary(apiOps);
  // The redact's own event (none from verified) is stored before the worker would run.
  await new Promise((r) => setTimeout(r, 200));
  workerOps = [];
  const outcome = await finishRedaction(deps, scope, id);
  if (outcome !== 'redacted') throw new Error(`redaction: ${outcome}`);
  const worker = summary(workerOps);
  console.log(`| ${n} | ${keys} | ${failures + 1} | ${api.requests}, ${api.units} | ${worker.requests}, ${worker.units} | ${worker.byOp} |`);
}

doc.destroy();
await service.stop();
await dynamo.stop();
