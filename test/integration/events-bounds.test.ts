import { ReceiveMessageCommand } from '@aws-sdk/client-sqs';
import { marshall } from '@aws-sdk/util-dynamodb';
import type { DynamoDBStreamEvent } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { METADATA_LIMITS } from '../../lambdas/domain/params.js';
import { type SessionRecord, applyCancel, newSession } from '../../lambdas/domain/session.js';
import { type BusEntry, PUT_EVENTS_MAX_BYTES, PUT_EVENTS_MAX_ENTRIES, putEventsEntrySize } from '../../lambdas/events/bus.js';
import { createStreamPublisher } from '../../lambdas/events/publisher.js';
import { EventStore } from '../../lambdas/store/event-store.js';
import { LocalBus } from '../../local/bus.js';
import { type LocalQueues, startLocalQueues } from '../../local/sqs.js';
import { type TestService, startTestService } from '../support/api.js';

const SESSIONS = '/v1/identity/verification_sessions';
const API_VERSION = '2026-10-28.endive';
let svc: TestService;
let queues: LocalQueues;

beforeAll(async () => {
  svc = await startTestService({ webhooks: { consumers: false } });
  queues = await startLocalQueues({ prefix: 'bounds-' });
});
afterAll(async () => {
  await queues?.stop();
  await svc?.stop();
});

/** Metadata at its maximum: 50 keys of 40 characters with 500-character values. */
const fullMetadata = (tag: string, ch = 'a') =>
  Object.fromEntries(
    Array.from({ length: METADATA_LIMITS.keys }, (_, i) => [
      `${tag}_key${i}_`.padEnd(METADATA_LIMITS.keyLength, ch),
      `${tag}_value${i}_`.padEnd(METADATA_LIMITS.valueLength, ch),
    ]),
  );
const form = (metadata: Record<string, string>, extra: Record<string, string> = {}) =>
  new URLSearchParams({ ...extra, ...Object.fromEntries(Object.entries(metadata).map(([k, v]) => [`metadata[${k}]`, v])) }).toString();

async function drain(queueUrl: string, atLeast: number, waitMs = 15_000) {
  const bodies: any[] = [];
  const deadline = Date.now() + waitMs;
  while (bodies.length < atLeast && Date.now() < deadline) {
    const r = await queues.client.send(new ReceiveMessageCommand({ QueueUrl: queueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 0 }));
    bodies.push(...(r.Messages ?? []).map((m) => JSON.parse(m.Body!)));
    if (!r.Messages?.length) await new Promise((res) => setTimeout(res, 100));
  }
  return bodies;
}

/** The real local bus, recording each call it is given before it runs it. */
class RecordingBus extends LocalBus {
  calls: BusEntry[][] = [];
  override async put(entries: BusEntry[]) {
    this.calls.push(entries);
    return super.put(entries);
  }
}

/** An entry of `bytes` bytes: source 21 + detail type 37 + time 14 + `{"pad":"..."}`. */
const entry = (bytes: number, pad = 'x'): BusEntry => ({ source: 'verification-sessions', detailType: 'identity.verification_session.created', time: new Date(0), detail: JSON.stringify({ id: pad, pad: pad.padEnd(bytes - 90 - pad.length, '.') }) });

describe('the local bus refuses what PutEvents refuses', () => {
  it('more than 10 entries, or more than 256 KB, in one call is refused whole and nothing is sent', async () => {
    const bus = new LocalBus(queues.client, queues.urls);
    expect(putEventsEntrySize(entry(1000))).toBe(1000);
    await expect(bus.put(Array.from({ length: 11 }, () => entry(1000, 'refused')))).rejects.toMatchObject({ name: 'ValidationException' });
    await expect(bus.put([entry(200_000, 'refused'), entry(62_145, 'refused')])).rejects.toThrow(/over the limit/);
    await expect(bus.put([entry(PUT_EVENTS_MAX_BYTES + 1, 'refused')])).rejects.toThrow(/Entry 0 is 262145 bytes/);
    // At the limits, the call goes through; only its two entries reach the queue.
    expect(await bus.put([entry(200_000), entry(62_144)])).toEqual({ failed: [] });
    const received = await drain(queues.urls.webhooks.queue, 2);
    received.push(...(await drain(queues.urls.webhooks.queue, 1, 500)));
    // (The queue gets a reference to each event: its id, not its body.)
    expect(received.map((env) => env.detail.id)).toEqual(['x', 'x']);
  });
});

describe('the publisher through the local bus, sessions at the metadata maximum', () => {
  it('publishes every event of a batch whose events exceed 256 KB, in order, each call within the limits', async () => {
    const changes: [SessionRecord | undefined, SessionRecord][] = [];
    for (let i = 0; i < 12; i++) {
      const s = newSession(
        { type: 'document', metadata: fullMetadata(`s${i}`) },
        { id: `vs_0VcOcsy9AWLrEOraAjOXO${String(i).padStart(3, '0')}`, scope: { account: svc.account, livemode: false }, nowMs: Date.now(), request: null },
      );
      changes.push([undefined, s], [s, applyCancel(s, { updated_ms: Date.now() + 1, last_request: null })]);
    }
    const image = (s: SessionRecord) => marshall({ pk: 'x', sk: `VS#${s.id}`, ...s }, { removeUndefinedValues: true }) as never;
    const batch: DynamoDBStreamEvent = {
      Records: changes.map(([before, after], i) => ({
        eventName: before ? 'MODIFY' : 'INSERT',
        dynamodb: { Keys: marshall({ pk: 'x', sk: `VS#${after.id}` }) as never, OldImage: before && image(before), NewImage: image(after), SequenceNumber: String(i + 1) },
      })),
    };
    const bus = new RecordingBus(queues.client, queues.urls);
    const publish = createStreamPublisher({ events: new EventStore(svc.doc, svc.tableName), bus, apiVersion: API_VERSION, redactions: { send: async () => {} } });
    expect(await publish(batch)).toEqual({ batchItemFailures: [] });

    const sizes = bus.calls.map((c) => c.map(putEventsEntrySize));
    expect(sizes.flat().reduce((a, b) => a + b)).toBeGreaterThan(2 * PUT_EVENTS_MAX_BYTES);
    for (const call of sizes) {
      expect(call.length).toBeLessThanOrEqual(PUT_EVENTS_MAX_ENTRIES);
      expect(call.reduce((a, b) => a + b)).toBeLessThanOrEqual(PUT_EVENTS_MAX_BYTES);
    }
    const order = (d: any) => `${d.data.object.id} ${d.type.split('.').pop()}`;
    const expected = changes.map(([before, after]) => `${after.id} ${before ? 'canceled' : 'created'}`);
    expect(bus.calls.flat().map((e) => order(JSON.parse(e.detail)))).toEqual(expected);
    // Every event reached the webhooks queue (as a reference), and is stored whole.
    const received = await drain(queues.urls.webhooks.queue, expected.length);
    expect(received.map((env) => order(env.detail)).sort()).toEqual([...expected].sort());
    const listed = await svc.call('GET', '/v1/events?limit=100');
    const stored = listed.body.data.filter((e: any) => e.data.object.id.startsWith('vs_0VcOcsy9AWLrEOraAjOXO'));
    expect(stored).toHaveLength(expected.length);
    expect(stored.every((e: any) => Object.keys(e.data.object.metadata).length === METADATA_LIMITS.keys)).toBe(true);
  });
});

describe('the API caps what a session may hold', () => {
  // A form body may carry raw control characters: one byte each in the request, six in an event's JSON (\u0001).
  const raw = (n: number) => '\u0001'.repeat(n);

  it('a create with a parameter over 3 bytes of JSON per character is a 400 naming it, and creates nothing', async () => {
    const before = (await svc.call('GET', `${SESSIONS}?limit=100`)).body.data.length;
    const r = await svc.call('POST', SESSIONS, `type=document&client_reference_id=ref_1&related_person[account]=acct_1&related_person[person]=${raw(5000)}`);
    expect(r.status).toBe(400);
    expect(r.body.error).toMatchObject({ type: 'invalid_request_error', param: 'related_person[person]' });
    expect(r.body.error.message).toMatch(/takes 30000 bytes as JSON, and at most 15000 are allowed/);
    expect((await svc.call('GET', `${SESSIONS}?limit=100`)).body.data).toHaveLength(before);
  });

  it('an update over the cap is a 400 naming the metadata key, and the session is unchanged', async () => {
    const created = await svc.call('POST', SESSIONS, form(fullMetadata('m'), { type: 'document' }));
    const seventh = Object.keys(fullMetadata('m'))[7];
    expect(created.status).toBe(200);
    // Without an Idempotency-Key the update is one UpdateItem, with one: a read and a conditional write. Both refuse.
    for (const headers of [{}, { 'idempotency-key': `bounds-${Date.now()}` }] as Record<string, string>[]) {
      const r = await svc.call('POST', `${SESSIONS}/${created.body.id}`, `metadata[${seventh}]=&metadata[k]=${raw(251)}`, { headers });
      expect(r.status).toBe(400);
      expect(r.body.error.param).toBe('metadata[k]');
    }
    expect((await svc.call('GET', `${SESSIONS}/${created.body.id}`)).body.metadata).toEqual(fullMetadata('m'));
    // 250 of them (1,500 bytes) is within the cap.
    const ok = await svc.call('POST', `${SESSIONS}/${created.body.id}`, `metadata[${seventh}]=&metadata[k]=${raw(250)}`);
    expect(ok.status).toBe(200);
    expect(ok.body.metadata.k).toBe(raw(250));
  });
});
