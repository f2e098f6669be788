/**
 * `npm run bench` (second part): webhooks on the local service.
 *
 * 1. Latency: p50 / p90 / max time from an API call (create a session) to its
 *    `identity.verification_session.created` webhook arriving at a receiver on
 *    127.0.0.1 (API -> table stream -> publisher -> bus -> webhooks queue ->
 *    fan-out -> delivery queue -> worker -> POST), sessions created one at a time.
 * 2. Throughput: deliveries per second to one endpoint, from a backlog of
 *    events: the events are made with the webhook consumers off, then the
 *    fan-out and delivery pollers are started and the clock runs until the
 *    last webhook has arrived.
 *
 *   BENCH_WEBHOOK_N       sessions for the latency series (default 50)
 *   BENCH_WEBHOOK_EVENTS  events in the throughput backlog (default 200)
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { performance } from 'node:perf_hooks';
import { GetQueueAttributesCommand } from '@aws-sdk/client-sqs';
import { documentClient } from '../lambdas/store/dynamo.js';
import { localClientConfig, startDynamoDbLocal } from '../local/dynamodb.js';
import { type LocalService, startLocalService } from '../local/service.js';
import { startLocalWebhooks } from '../local/webhooks.js';

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
process.env.API_ACCESS_LOG = 'off';
const N = Number(process.env.BENCH_WEBHOOK_N ?? 50);
const EVENTS = Number(process.env.BENCH_WEBHOOK_EVENTS ?? 200);
const SESSIONS = '/v1/identity/verification_sessions';

/** A receiver on 127.0.0.1 that notes when each session's created event arrives. */
async function startReceiver() {
  const arrivals = new Map<string, number>();
  const waiters = new Map<string, () => void>();
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString('utf8')));
    req.on('end', () => {
      const at = performance.now();
      res.writeHead(200).end();
      const session = (JSON.parse(body) as { data: { object: { id: string } } }).data.object.id;
      if (!arrivals.has(session)) arrivals.set(session, at);
      waiters.get(session)?.();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`;
  const arrival = (session: string) =>
    new Promise<number>((resolve, reject) => {
      if (arrivals.has(session)) return resolve(arrivals.get(session)!);
      const timer = setTimeout(() => reject(new Error(`no webhook for ${session} within 30 s`)), 30_000);
      waiters.set(session, () => {
        clearTimeout(timer);
        waiters.delete(session);
        resolve(arrivals.get(session)!);
      });
    });
  return { url, arrivals, arrival, stop: () => new Promise<void>((resolve) => (server.closeAllConnections(), server.close(() => resolve()))) };
}

async function call(service: LocalService, method: string, path: string, body?: string) {
  const res = await fetch(service.baseUrl + path, {
    method,
    headers: { authorization: `Bearer ${service.secretKey}`, 'content-type': 'application/x-www-form-urlencoded' },
    body,
  });
  const json = (await res.json()) as any;
  if (res.status !== 200) throw new Error(`${method} ${path}: ${res.status} ${JSON.stringify(json)}`);
  return json;
}

const percentile = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))]!;

const dynamo = await startDynamoDbLocal();
const receiver = await startReceiver();
try {
  // ---- 1. latency ------------------------------------------------------------
  const svc = await startLocalService({ port: 0, dynamoEndpoint: dynamo.endpoint, tableName: 'bench-webhook-latency' });
  await call(svc, 'POST', '/v1/webhook_endpoints', `url=${encodeURIComponent(receiver.url)}&enabled_events[]=identity.verification_session.created`);
  // Warm up the whole path once.
  for (let i = 0; i < 3; i++) await receiver.arrival((await call(svc, 'POST', SESSIONS, 'type=document')).id);
  const latencies: number[] = [];
  for (let i = 0; i < N; i++) {
    const started = performance.now();
    const { id } = await call(svc, 'POST', SESSIONS, 'type=document');
    latencies.push((await receiver.arrival(id)) - started);
  }
  await svc.stop();
  const f = (ms: number) => `${Math.round(ms)} ms`;
  console.log(`\nWebhook latency, API call (create session) to its webhook at a receiver on 127.0.0.1, ${N} sessions one at a time:`);
  console.log(`p50 ${f(percentile(latencies, 50))}, p90 ${f(percentile(latencies, 90))}, max ${f(Math.max(...latencies))}`);

  // ---- 2. throughput -----------------------------------------------------------
  console.log(`\nWebhook throughput, ${EVENTS} events to one endpoint from a backlog (fan-out + delivery; receiver answers 200 at once):`);
  console.log('| delivery pollers (local stand-in for Lambda concurrency) | seconds | deliveries/s |');
  console.log('|---|---|---|');
  const backlog = await startLocalService({ port: 0, dynamoEndpoint: dynamo.endpoint, tableName: 'bench-webhook-throughput', webhooks: { consumers: false } });
  const doc = documentClient(localClientConfig(dynamo.endpoint));
  await call(backlog, 'POST', '/v1/webhook_endpoints', `url=${encodeURIComponent(receiver.url)}&enabled_events[]=identity.verification_session.created`);
  for (const pollers of [1, 2, 4]) {
    // The events, with nobody consuming the webhooks route queue yet.
    const ids: string[] = [];
    for (let i = 0; i < EVENTS; i += 10)
      ids.push(...(await Promise.all(Array.from({ length: Math.min(10, EVENTS - i) }, async () => (await call(backlog, 'POST', SESSIONS, 'type=document')).id))));
    const queued = async () =>
      Number(
        (await backlog.queues.client.send(new GetQueueAttributesCommand({ QueueUrl: backlog.queues.urls.webhooks.queue, AttributeNames: ['ApproximateNumberOfMessages'] })))
          .Attributes?.ApproximateNumberOfMessages ?? 0,
      );
    for (const deadline = Date.now() + 60_000; (await queued()) < EVENTS; ) {
      if (Date.now() > deadline) throw new Error('the events did not reach the webhooks queue');
      await new Promise((r) => setTimeout(r, 50));
    }
    const started = performance.now();
    const consumers = await startLocalWebhooks({
      doc,
      tableName: 'bench-webhook-throughput',
      sqs: backlog.queues.client,
      webhooksQueueUrl: backlog.queues.urls.webhooks.queue,
      bus: backlog.bus,
      prefix: `bench-${pollers}-`,
      deliveryPollers: pollers,
    });
    const last = Math.max(...(await Promise.all(ids.map((id) => receiver.arrival(id)))));
    await consumers.stop();
    const seconds = (last - started) / 1000;
    console.log(`| ${pollers} | ${seconds.toFixed(2)} | ${Math.round(EVENTS / seconds)} |`);
  }
  doc.destroy();
  await backlog.stop();
} finally {
  await receiver.stop();
  await dynamo.stop();
}
