import { type IncomingMessage, type Server, type ServerResponse, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { SQSRecord } from 'aws-lambda';
import { UpdateCommand } from '@aws-sdk/lib-dynamodb';
import Stripe from 'stripe';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { API_VERSION } from '../../lambdas/domain/api-version.js';
import type { EventRecord } from '../../lambdas/domain/event.js';
import { newAccountId, timeOrderedId } from '../../lambdas/domain/ids.js';
import { newDelivery, resendDelivery } from '../../lambdas/domain/webhook-delivery.js';
import { newWebhookEndpoint } from '../../lambdas/domain/webhook-endpoint.js';
import type { BusEntry, EventBus } from '../../lambdas/events/bus.js';
import { EVENT_SOURCE } from '../../lambdas/events/routing.js';
import { DeliveryStore } from '../../lambdas/store/delivery-store.js';
import { EventStore, eventKey } from '../../lambdas/store/event-store.js';
import { WebhookEndpointStore } from '../../lambdas/store/webhook-store.js';
import { createFanOut } from '../../lambdas/webhooks/fanout.js';
import type { DeliveryMessage, DeliveryQueue } from '../../lambdas/webhooks/queue.js';
import { type RetrySchedule, MAX_SQS_VISIBILITY_SECONDS, RETRY_SCHEDULE, VISIBILITY_SAFETY_SECONDS } from '../../lambdas/webhooks/schedule.js';
import { ENDPOINT_DISABLED_EVENT, createDeliveryWorker } from '../../lambdas/webhooks/worker.js';
import { freshTable } from '../support/dynamo.js';

// The fan-out and the delivery worker on DynamoDB Local with an injected clock,
// a recording queue and bus, and real receivers on 127.0.0.1: long waits, the
// production schedule and endpoint disabling without waiting for days.

const HOUR = 3600;
const DAY = 24 * HOUR;
const T0 = Date.UTC(2026, 5, 1, 12, 0, 0);

class RecordingQueue implements DeliveryQueue {
  sent: DeliveryMessage[] = [];
  hidden: { receiptHandle: string; seconds: number }[] = [];
  dead: any[] = [];
  async enqueue(messages: DeliveryMessage[]) {
    this.sent.push(...messages);
  }
  async hideFor(receiptHandle: string, seconds: number) {
    this.hidden.push({ receiptHandle, seconds });
  }
  async deadLetter(body: unknown) {
    this.dead.push(body);
  }
}

class RecordingBus implements EventBus {
  entries: BusEntry[] = [];
  async put(entries: BusEntry[]) {
    this.entries.push(...entries);
    return { failed: [] };
  }
}

const servers: Server[] = [];
async function receiver(respond: (n: number, req: IncomingMessage, res: ServerResponse) => void) {
  const received: { headers: IncomingMessage['headers']; body: string }[] = [];
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString('utf8')));
    req.on('end', () => {
      received.push({ headers: req.headers, body });
      respond(received.length - 1, req, res);
    });
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`, received };
}
afterEach(async () => {
  for (const s of servers.splice(0)) {
    s.closeAllConnections();
    await new Promise((resolve) => s.close(resolve));
  }
});

let clock: number;
let endpoints: WebhookEndpointStore;
let deliveries: DeliveryStore;
let events: EventStore;
let queue: RecordingQueue;
let bus: RecordingBus;
let scope: { account: string; livemode: boolean };
let receipts = 0;

let raw: { doc: Awaited<ReturnType<typeof freshTable>>['doc']; tableName: string };

beforeEach(async () => {
  const { tableName, doc } = await freshTable('worker');
  raw = { doc, tableName };
  endpoints = new WebhookEndpointStore(doc, tableName);
  deliveries = new DeliveryStore(doc, tableName);
  events = new EventStore(doc, tableName);
  queue = new RecordingQueue();
  bus = new RecordingBus();
  scope = { account: newAccountId(), livemode: false };
  clock = T0;
});

const worker = (schedule?: RetrySchedule, random: () => number = () => 0.5) =>
  createDeliveryWorker({ deliveries, endpoints, queue, bus, apiVersion: API_VERSION, now: () => clock, random, schedule, timeoutMs: 2000, allowLoopback: true, log: () => {} });
const fanOut = () => createFanOut({ endpoints, deliveries, queue, now: () => clock, log: () => {} });

async function endpoint(url: string, enabled_events = ['*'], s = scope) {
  const rec = newWebhookEndpoint({ url, enabled_events }, { scope: s, nowSeconds: Math.floor(clock / 1000), id: timeOrderedId('we', clock) });
  await endpoints.create(rec);
  return rec;
}

async function storedEvent(type = 'identity.verification_session.created', s = scope): Promise<EventRecord> {
  const e: EventRecord = {
    id: timeOrderedId('evt', clock),
    account: s.account,
    livemode: s.livemode,
    created: Math.floor(clock / 1000),
    type,
    api_version: API_VERSION,
    data: { object: { id: 'vs_0VcOo7DUEH5l9i5xvLMLHHyN', object: 'identity.verification_session', status: 'requires_input' } },
    request: { id: null, idempotency_key: null },
    pending_webhooks: 0,
    session_id: 'vs_0VcOo7DUEH5l9i5xvLMLHHyN',
  };
  await events.putIfAbsent(e);
  return e;
}

const envelope = (e: EventRecord, messageId = `m-${e.id}`): SQSRecord =>
  ({
    messageId,
    receiptHandle: `rh-${++receipts}`,
    body: JSON.stringify({
      version: '0',
      id: 'x',
      'detail-type': e.type,
      source: EVENT_SOURCE,
      account: '000000000000',
      time: new Date(e.created * 1000).toISOString(),
      region: 'local',
      resources: [e.account],
      detail: { id: e.id, object: 'event', type: e.type, livemode: e.livemode },
    }),
  }) as SQSRecord;

const message = (m: DeliveryMessage): SQSRecord => ({ messageId: `d-${++receipts}`, receiptHandle: `rh-${receipts}`, body: JSON.stringify(m) }) as SQSRecord;

/** Fans one event out and returns its queue messages. */
async function fanOutOne(e: EventRecord) {
  const before = queue.sent.length;
  expect((await fanOut()({ Records: [envelope(e)] })).batchItemFailures).toEqual([]);
  return queue.sent.slice(before);
}

describe('fan-out', () => {
  it('makes one delivery per enabled endpoint that wants the event, once, however often the message comes', async () => {
    const r = { url: 'http://127.0.0.1:9/hook' };
    const all = await endpoint(r.url, ['*']);
    const named = await endpoint(r.url, ['identity.verification_session.created']);
    await endpoint(r.url, ['identity.verification_session.verified']);
    const off = await endpoint(r.url, ['*']);
    await endpoints.update({ ...off, status: 'disabled', version: 2 }, 1);
    await endpoint('https://hooks.example.com/hook', ['*'], { account: scope.account, livemode: true });
    await endpoint(r.url, ['*'], { account: newAccountId(), livemode: false });
    const e = await storedEvent();

    const sent = await fanOutOne(e);
    expect(sent.map((m) => m.delivery).sort()).toEqual([all.id, named.id].map((we) => `whd_${e.id.slice(4)}${we.slice(3)}`).sort());
    expect(sent.every((m) => m.generation === 1 && m.account === scope.account && m.livemode === false)).toBe(true);
    expect((await events.get(scope, e.id))!.pending_webhooks).toBe(2);

    // Redelivered: no new delivery, the count unchanged; the not-yet-attempted ones are sent again (the worker drops the copy).
    const again = await fanOutOne(e);
    expect(again.map((m) => m.delivery).sort()).toEqual(sent.map((m) => m.delivery).sort());
    expect((await deliveries.listForEvent(scope, e.id)).length).toBe(2);
    expect((await events.get(scope, e.id))!.pending_webhooks).toBe(2);
  });

  it('does not send a redelivered event again once its delivery was attempted', async () => {
    const r = await receiver((_n, _req, res) => res.writeHead(200).end());
    await endpoint(r.url);
    const e = await storedEvent();
    const [m] = await fanOutOne(e);
    await worker()({ Records: [message(m!)] });
    expect(r.received).toHaveLength(1);
    expect(await fanOutOne(e)).toEqual([]);
    expect((await events.get(scope, e.id))!.pending_webhooks).toBe(0);
  });

  it('reports a message it cannot read, and only that one, as failed', async () => {
    await endpoint('http://127.0.0.1:9/hook');
    const e = await storedEvent();
    const bad = { messageId: 'bad', receiptHandle: 'rh', body: JSON.stringify({ detail: { id: e.id }, resources: [] }) } as SQSRecord;
    const r = await fanOut()({ Records: [bad, envelope(e, 'good')] });
    expect(r.batchItemFailures).toEqual([{ itemIdentifier: 'bad' }]);
    expect(queue.sent).toHaveLength(1);
  });
});

describe('delivery worker', () => {
  it('waits longer than 12 h in visibility steps, attempting only when due', async () => {
    const r = await receiver((n, _req, res) => res.writeHead(n === 0 ? 500 : 200).end());
    await endpoint(r.url);
    const [m] = await fanOutOne(await storedEvent());
    const run = worker({ live: [], test: [30 * HOUR] });
    const budget = MAX_SQS_VISIBILITY_SECONDS - VISIBILITY_SAFETY_SECONDS;

    const first = message(m!);
    expect((await run({ Records: [first] })).batchItemFailures).toEqual([{ itemIdentifier: first.messageId }]);
    expect(r.received).toHaveLength(1);
    expect(queue.hidden).toEqual([{ receiptHandle: first.receiptHandle, seconds: budget }]);
    const d = (await deliveries.listForEvent(scope, JSON.parse(r.received[0]!.body).id))[0]!;
    expect(d.next_attempt_ms).toBe(T0 + 30 * HOUR * 1000);
    expect(d.round_attempts).toBe(1);

    // The message comes back after ~12 h and ~24 h: not due, hidden again, no attempt.
    clock = T0 + budget * 1000;
    await run({ Records: [message(m!)] });
    clock += budget * 1000;
    await run({ Records: [message(m!)] });
    expect(r.received).toHaveLength(1);
    const leftAfter2 = 30 * HOUR - 2 * budget;
    expect(queue.hidden.map((h) => h.seconds)).toEqual([budget, budget, leftAfter2]);

    clock = T0 + 30 * HOUR * 1000;
    const last = message(m!);
    expect((await run({ Records: [last] })).batchItemFailures).toEqual([]);
    expect(r.received).toHaveLength(2);
    expect((await deliveries.listForEvent(scope, d.event_id))[0]).toMatchObject({ status: 'succeeded', attempt_count: 2, round_attempts: 2 });
  });

  it('follows the published test-mode schedule by default, with ±20% jitter', async () => {
    const r = await receiver((_n, _req, res) => res.writeHead(500).end());
    await endpoint(r.url);
    const e = await storedEvent();
    const [m] = await fanOutOne(e);
    for (const [i, base] of RETRY_SCHEDULE.test.entries()) {
      await worker(undefined, () => (i % 2 === 0 ? 0 : 0.999999))({ Records: [message(m!)] });
      const [d] = await deliveries.listForEvent(scope, e.id);
      const factor = i % 2 === 0 ? 0.8 : 1.2;
      expect(d!.next_attempt_ms! - clock, `wait after attempt ${i + 1}`).toBe(Math.round(base * factor) * 1000);
      clock = d!.next_attempt_ms!;
    }
    // Attempt 6 fails too: the schedule (5 waits) is spent.
    await worker()({ Records: [message(m!)] });
    expect(r.received).toHaveLength(RETRY_SCHEDULE.test.length + 1);
    expect(queue.dead).toHaveLength(1);
    expect(queue.dead[0].delivery).toMatchObject({ status: 'failed', attempt_count: 6 });
  });

  it('honours Retry-After as a lower bound on the wait', async () => {
    const r = await receiver((n, _req, res) => res.writeHead(503, { 'retry-after': n === 0 ? '120' : '1' }).end());
    await endpoint(r.url);
    const e = await storedEvent();
    const [m] = await fanOutOne(e);
    const run = worker({ live: [], test: [10, 10] });
    await run({ Records: [message(m!)] });
    const [d] = await deliveries.listForEvent(scope, e.id);
    expect(d!.next_attempt_ms! - clock).toBe(120_000);
    clock = d!.next_attempt_ms!;
    await run({ Records: [message(m!)] });
    const [d2] = await deliveries.listForEvent(scope, e.id);
    expect(d2!.next_attempt_ms! - clock).toBe(10_000); // the schedule wins over a shorter Retry-After
  });

  it('signs each attempt with a fresh timestamp and every active secret', async () => {
    const r = await receiver((n, _req, res) => res.writeHead(n < 2 ? 500 : 200).end());
    const ep = await endpoint(r.url);
    // A secret roll: the old secret keeps signing until it expires.
    const rolled = { ...ep, secrets: [{ secret: 'whsec_newnewnewnewnewnewnewnewnewnew1', expires_at: null }, { secret: ep.secrets[0]!.secret, expires_at: Math.floor(T0 / 1000) + 90 }], version: 2 };
    await endpoints.update(rolled, 1);
    const e = await storedEvent();
    const [m] = await fanOutOne(e);
    const run = worker({ live: [], test: [60, 60] });
    for (let i = 0; i < 3; i++) {
      await run({ Records: [message(m!)] });
      const [d] = await deliveries.listForEvent(scope, e.id);
      if (d!.next_attempt_ms) clock = d!.next_attempt_ms;
    }
    const stamps = r.received.map((g) => /^t=(\d+),/.exec(g.headers['stripe-signature'] as string)![1]);
    expect(stamps).toEqual([T0 / 1000, T0 / 1000 + 60, T0 / 1000 + 120].map(String));
    expect(r.received.map((g) => (g.headers['stripe-signature'] as string).split(',').length)).toEqual([3, 3, 2]);
    const stripe = new Stripe('sk_test_unused');
    for (const [i, g] of r.received.entries()) {
      const sig = g.headers['stripe-signature'] as string;
      const receivedAt = Number(stamps[i]);
      expect(stripe.webhooks.constructEvent(g.body, sig, rolled.secrets[0]!.secret, 300, undefined, receivedAt).id).toBe(e.id);
      if (i < 2) expect(stripe.webhooks.constructEvent(g.body, sig, ep.secrets[0]!.secret, 300, undefined, receivedAt).id).toBe(e.id);
    }
  });

  it('drops a second copy of a message and a message of an earlier generation', async () => {
    const r = await receiver((_n, _req, res) => res.writeHead(200).end());
    await endpoint(r.url);
    const e = await storedEvent();
    const [m] = await fanOutOne(e);
    expect((await worker()({ Records: [message(m!)] })).batchItemFailures).toEqual([]);
    expect((await worker()({ Records: [message(m!)] })).batchItemFailures).toEqual([]);
    expect(r.received).toHaveLength(1);
    const [d] = await deliveries.listForEvent(scope, e.id);
    expect(d).toMatchObject({ status: 'succeeded', attempt_count: 1 });

    // A resend makes generation 2: a leftover generation-1 message does nothing, the new one delivers.
    await deliveries.save(d!, resendDelivery(d!, clock));
    await worker()({ Records: [message(m!)] });
    expect(r.received).toHaveLength(1);
    await worker()({ Records: [message({ ...m!, generation: 2 })] });
    expect(r.received).toHaveLength(2);
    expect((await deliveries.listForEvent(scope, e.id))[0]).toMatchObject({ status: 'succeeded', attempt_count: 2, generation: 2 });
  });

  it('disables an endpoint that failed continuously for 5 days, announces it on the bus, and stops its deliveries', async () => {
    const r = await receiver((_n, _req, res) => res.writeHead(500).end());
    const ep = await endpoint(r.url);
    const first = await storedEvent();
    const [m] = await fanOutOne(first);
    const run = worker({ live: [], test: [2 * DAY, 2 * DAY, 2 * DAY, 2 * DAY] });
    for (let i = 0; i < 3; i++) {
      await run({ Records: [message(m!)] });
      expect((await endpoints.get(scope, ep.id))!.status).toBe('enabled');
      clock = (await deliveries.listForEvent(scope, first.id))[0]!.next_attempt_ms!;
    }
    expect((await endpoints.get(scope, ep.id))!.failing_since).toBe(T0 / 1000);
    // Attempt 4, at T0 + 6 days: more than 5 days of failures.
    await run({ Records: [message(m!)] });
    const disabled = (await endpoints.get(scope, ep.id))!;
    expect(disabled.status).toBe('disabled');
    expect(disabled.disabled_reason).toMatch(/failed continuously for 5 days/);
    expect(bus.entries).toHaveLength(1);
    const entry = bus.entries[0]!;
    expect(entry).toMatchObject({ source: EVENT_SOURCE, detailType: ENDPOINT_DISABLED_EVENT, resources: [scope.account] });
    const detail = JSON.parse(entry.detail);
    expect(detail).toMatchObject({ object: 'event', type: 'webhook_endpoint.disabled', livemode: false, data: { object: { id: ep.id, object: 'webhook_endpoint', status: 'disabled' } } });
    expect(detail.data.object.secret).toBeUndefined();

    // Its pending retry stops at the next receive; a new event is not fanned out to it.
    clock += 2 * DAY * 1000;
    await run({ Records: [message(m!)] });
    expect((await deliveries.listForEvent(scope, first.id))[0]).toMatchObject({ status: 'canceled', status_reason: 'The webhook endpoint is disabled.' });
    expect(r.received).toHaveLength(4);
    expect(await fanOutOne(await storedEvent())).toEqual([]);

    // Enabling it again starts a new streak.
    await endpoints.update({ ...disabled, status: 'enabled', version: disabled.version + 1 }, disabled.version, undefined, { resetHealth: true });
    const enabled = (await endpoints.get(scope, ep.id))!;
    expect(enabled.failing_since).toBeUndefined();
    expect(enabled.disabled_reason).toBeUndefined();
  });

  it('ends a failure streak with a success', async () => {
    const r = await receiver((n, _req, res) => res.writeHead(n === 0 ? 500 : 200).end());
    const ep = await endpoint(r.url);
    const e = await storedEvent();
    const [m] = await fanOutOne(e);
    const run = worker({ live: [], test: [60] });
    await run({ Records: [message(m!)] });
    expect((await endpoints.get(scope, ep.id))!.failing_since).toBe(T0 / 1000);
    clock += 60_000;
    await run({ Records: [message(m!)] });
    expect((await endpoints.get(scope, ep.id))!.failing_since).toBeUndefined();
  });

  it('sends a message it cannot read to the dead-letter queue instead of retrying it', async () => {
    const bad = { messageId: 'bad', receiptHandle: 'rh', body: '{"delivery":"nope"}' } as SQSRecord;
    expect((await worker()({ Records: [bad] })).batchItemFailures).toEqual([]);
    expect(queue.dead).toEqual([{ reason: 'The delivery queue message could not be read.', body: '{"delivery":"nope"}' }]);
  });

  it('refuses loopback in test mode when not running locally', async () => {
    const r = await receiver((_n, _req, res) => res.writeHead(200).end());
    await endpoint(r.url);
    const e = await storedEvent();
    const [m] = await fanOutOne(e);
    const deployed = createDeliveryWorker({ deliveries, endpoints, queue, bus, apiVersion: API_VERSION, now: () => clock, random: () => 0.5, allowLoopback: false, log: () => {} });
    await deployed({ Records: [message(m!)] });
    expect(r.received).toHaveLength(0);
    const [d] = await deliveries.listForEvent(scope, e.id);
    expect(d!.attempts[0]!.error).toMatch(/^blocked address: 127\.0\.0\.1 is a loopback address/);
  });
});

describe('pending_webhooks, counted from the deliveries', () => {
  const payloadPending = (got: { body: string }) => (JSON.parse(got.body) as Stripe.Event).pending_webhooks;

  it('is in each payload as the deliveries stood when it was sent, for fan-out messages and resends alike', async () => {
    const a = await receiver((_n, _req, res) => res.writeHead(200).end());
    const b = await receiver((n, _req, res) => res.writeHead(n === 0 ? 500 : 200).end());
    const toA = await endpoint(a.url);
    const toB = await endpoint(b.url);
    const e = await storedEvent();
    const sent = await fanOutOne(e);
    expect(sent).toHaveLength(2);
    const run = worker({ live: [], test: [10] });

    // Both read pending: the payloads say 2. A is delivered, B fails and waits.
    await run({ Records: sent.map(message) });
    expect([payloadPending(a.received[0]!), payloadPending(b.received[0]!)]).toEqual([2, 2]);
    expect((await events.get(scope, e.id))!.pending_webhooks).toBe(1);

    // A resend to A (its message names no other delivery): counted by listing them; A delivered, B still pending.
    const [delivered] = await deliveries.listForEvent(scope, e.id).then((ds) => ds.filter((d) => d.endpoint_id === toA.id));
    const again = resendDelivery(delivered!, clock);
    await deliveries.save(delivered!, again);
    await run({ Records: [message({ delivery: again.id, account: again.account, livemode: again.livemode, generation: again.generation })] });
    expect(a.received).toHaveLength(2);
    expect(payloadPending(a.received[1]!)).toBe(1);

    // B's retry, due: only B itself is pending now.
    clock += 10_000;
    await run({ Records: [message(sent.find((m) => m.delivery.endsWith(toB.id.slice(3)))!)] });
    expect(b.received).toHaveLength(2);
    expect(payloadPending(b.received[1]!)).toBe(1);
    expect((await events.get(scope, e.id))!.pending_webhooks).toBe(0);
  });

  it('ignores a count stored on an event by an earlier version: only the deliveries count', async () => {
    const we = await endpoint('http://127.0.0.1:9/hook');
    const e = await storedEvent();
    await raw.doc.send(
      new UpdateCommand({ TableName: raw.tableName, Key: eventKey(scope, e.id), UpdateExpression: 'SET pending_webhooks = :n', ExpressionAttributeValues: { ':n': 3 } }),
    );
    expect((await events.get(scope, e.id))!.pending_webhooks).toBe(0);
    expect((await events.list(scope, { limit: 10, delivery_success: false })).data).toEqual([]);
    await deliveries.create(newDelivery(scope, e, we.id, clock));
    expect((await events.get(scope, e.id))!.pending_webhooks).toBe(1);
    expect((await events.list(scope, { limit: 10 })).data.map((x) => x.pending_webhooks)).toEqual([1]);
  });

  it('lists events with their counts, and delivery_success over more events than one read, forwards and backwards', async () => {
    const we = await endpoint('http://127.0.0.1:9/hook');
    const other = await endpoint('http://127.0.0.1:9/other');
    // 60 events a second apart: every 7th has a delivery not yet successful (two for every 14th), every 5th has none,
    // the others were delivered. Every 3rd is of another type (filtered off pages of `created` events).
    const expected = new Map<string, number>();
    for (let i = 0; i < 60; i++) {
      clock = T0 + i * 1000;
      const e = await storedEvent(i % 3 === 0 ? 'identity.verification_session.canceled' : 'identity.verification_session.created');
      const pending = i % 7 === 0 ? (i % 14 === 0 ? 2 : 1) : 0;
      expected.set(e.id, pending);
      if (pending === 0 && i % 5 === 0) continue;
      for (const [k, endpointId] of [we.id, other.id].entries()) {
        if (k > 0 && pending < 2) continue;
        const d = newDelivery(scope, e, endpointId, clock);
        await deliveries.create(pending > k ? d : { ...d, status: 'succeeded', delivered: true, counted_pending: false });
      }
    }
    const newestFirst = [...expected.keys()].reverse();
    const walk = async (q: Record<string, unknown>, backwards = false) => {
      const ids: string[] = [];
      let cursor: string | undefined;
      for (;;) {
        const page = await events.list(scope, { limit: 4, ...q, ...(cursor ? (backwards ? { ending_before: cursor } : { starting_after: cursor }) : {}) });
        for (const ev of page.data) expect(ev.pending_webhooks, ev.id).toBe(expected.get(ev.id));
        ids.push(...(backwards ? [...page.data].reverse() : page.data).map((ev) => ev.id));
        if (!page.has_more) return ids;
        cursor = backwards ? page.data[0]!.id : page.data.at(-1)!.id;
      }
    };

    expect(await walk({})).toEqual(newestFirst);
    const created = newestFirst.filter((_id, j) => (59 - j) % 3 !== 0);
    expect(await walk({ type: 'identity.verification_session.created' })).toEqual(created);
    const pending = newestFirst.filter((id) => expected.get(id)! > 0);
    expect(pending).toHaveLength(9);
    expect(await walk({ delivery_success: false })).toEqual(pending);
    expect(await walk({ delivery_success: true })).toEqual(newestFirst.filter((id) => expected.get(id) === 0));
    expect(await walk({ delivery_success: false, type: 'identity.verification_session.created' })).toEqual(created.filter((id) => expected.get(id)! > 0));
    // Backwards from the oldest event: the pending ones newer than it, oldest first, a page at a time.
    const oldest = newestFirst.at(-1)!;
    const back = async () => {
      const ids: string[] = [];
      let cursor = oldest;
      for (;;) {
        const page = await events.list(scope, { limit: 4, delivery_success: false, ending_before: cursor });
        ids.push(...[...page.data].reverse().map((ev) => ev.id));
        if (!page.has_more) return ids;
        cursor = page.data[0]!.id;
      }
    };
    expect(await back()).toEqual([...pending].reverse().filter((id) => id !== oldest));
    expect((await events.get(scope, newestFirst.at(-1)!))!.pending_webhooks).toBe(2);
  });
});
