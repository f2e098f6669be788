import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { marshall } from '@aws-sdk/util-dynamodb';
import type { DynamoDBStreamEvent } from 'aws-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import { describe, expect, it } from 'vitest';
import { type EventRecord, SESSION_EVENT_TYPES, eventsFromChange, redactEvent, renderEvent } from '../../lambdas/domain/event.js';
import { type SessionRecord, applyCancel, applyFinishRedaction, applyRedact, applyUpdate, newSession, transition } from '../../lambdas/domain/session.js';
import { type BusEntry, EventBridgeBus, type EventBus } from '../../lambdas/events/bus.js';
import { createStreamPublisher } from '../../lambdas/events/publisher.js';
import { EVENT_SOURCE, ROUTES, matchesPattern } from '../../lambdas/events/routing.js';
import type { EventStore } from '../../lambdas/store/event-store.js';

const API_VERSION = '2026-10-28.endive';
const REQ = { updated_ms: 1_800_000_001_000, last_request: { id: 'req_abc', idempotency_key: 'key-1' } };
const SYSTEM = { updated_ms: 1_800_000_002_000, last_request: null };

function fresh(): SessionRecord {
  return newSession(
    { type: 'document', metadata: { order: '1' }, provided_details: { email: 'jo@example.com' } },
    { id: 'vs_0VcOcsy9AWLrEOraAjOXOWqM', scope: { account: 'acct_1', livemode: false }, nowMs: 1_800_000_000_000, request: { id: 'req_create', idempotency_key: null } },
  );
}
const types = (events: EventRecord[]) => events.map((e) => e.type.replace('identity.verification_session.', ''));

describe('events from session changes', () => {
  it('each status change makes one event of its type; other changes make none', () => {
    const s0 = fresh();
    expect(types(eventsFromChange(undefined, s0, API_VERSION))).toEqual(['created']);
    const s1 = transition(s0, 'submit', SYSTEM);
    expect(types(eventsFromChange(s0, s1, API_VERSION))).toEqual(['processing']);
    const s2 = transition(s1, 'checks_failed', SYSTEM, (s) => (s.last_error = { code: 'document_expired', reason: 'expired' }));
    expect(types(eventsFromChange(s1, s2, API_VERSION))).toEqual(['requires_input']);
    const s3 = transition(transition(s2, 'submit', SYSTEM), 'checks_passed', SYSTEM);
    expect(types(eventsFromChange(transition(s2, 'submit', SYSTEM), s3, API_VERSION))).toEqual(['verified']);
    const updated = applyUpdate(s0, { metadata: { order: '2' } }, REQ);
    expect(eventsFromChange(s0, updated, API_VERSION)).toEqual([]);
    expect(types(eventsFromChange(s0, applyCancel(s0, REQ), API_VERSION))).toEqual(['canceled']);
  });

  it('a redact of a requires_input session is canceled at once, then redacted when every copy is', () => {
    const s0 = fresh();
    const asked = applyRedact(s0, REQ);
    const [canceled] = eventsFromChange(s0, asked, API_VERSION);
    expect(types([canceled])).toEqual(['canceled']);
    const done = applyFinishRedaction(asked, SYSTEM);
    const [redacted] = eventsFromChange(asked, done, API_VERSION);
    expect(types([redacted])).toEqual(['redacted']);
    // newest first in lists: redacted sorts after canceled
    expect(redacted.id > canceled.id).toBe(true);
    const verified = { ...s0, status: 'verified' as const };
    const verifiedAsked = applyRedact(verified, REQ);
    expect(eventsFromChange(verified, verifiedAsked, API_VERSION)).toEqual([]);
    expect(types(eventsFromChange(verifiedAsked, applyFinishRedaction(verifiedAsked, SYSTEM), API_VERSION))).toEqual(['redacted']);
  });

  it('no event of a redaction carries the personal data, not even in previous_attributes', () => {
    const s0 = fresh();
    const asked = applyRedact(s0, REQ);
    const done = applyFinishRedaction(asked, SYSTEM);
    const all = [...eventsFromChange(s0, asked, API_VERSION), ...eventsFromChange(asked, done, API_VERSION)];
    const text = JSON.stringify(all);
    expect(text).not.toContain('jo@example.com');
    expect(text).not.toContain('"order"');
    const [canceled, redacted] = all;
    expect(canceled.data.previous_attributes).toMatchObject({ status: 'requires_input', metadata: {}, provided_details: { email: '[redacted]' } });
    expect(redacted.data.previous_attributes).toEqual({ redaction: { status: 'processing' } });
    // A stored event from before the redaction, redacted afterwards.
    const [created] = eventsFromChange(undefined, s0, API_VERSION);
    expect(JSON.stringify(created)).toContain('jo@example.com');
    const clean = redactEvent(created);
    expect(JSON.stringify(clean)).not.toContain('jo@example.com');
    expect(clean.data.object).toMatchObject({ metadata: {}, provided_details: { email: '[redacted]' }, status: 'requires_input', id: s0.id });
    expect(Object.keys(clean.data.object)).toEqual(Object.keys(created.data.object));
  });

  it('ids are derived from session id and version: a redelivery gives the same ids', () => {
    const s0 = fresh();
    const s1 = applyCancel(s0, REQ);
    const a = eventsFromChange(s0, s1, API_VERSION);
    const b = eventsFromChange(structuredClone(s0), structuredClone(s1), API_VERSION);
    expect(a.map((e) => e.id)).toEqual(b.map((e) => e.id));
    expect(a[0].id).toMatch(/^evt_[0-9A-Za-z]{24}$/);
    const other = eventsFromChange(s0, { ...s1, version: s1.version + 1 }, API_VERSION);
    expect(other[0].id).not.toBe(a[0].id);
  });

  it('renders Stripe\'s event: request, previous_attributes, no usable url or secret', () => {
    const s0 = fresh();
    const [e] = eventsFromChange(s0, applyCancel(s0, REQ), API_VERSION);
    const r = renderEvent(e);
    // No `account`: Stripe shows it only on Connect events.
    expect(Object.keys(r)).toEqual(['id', 'object', 'api_version', 'created', 'data', 'livemode', 'pending_webhooks', 'request', 'type']);
    expect(r).toMatchObject({ object: 'event', api_version: API_VERSION, created: 1_800_000_001, livemode: false, pending_webhooks: 0 });
    expect(r.request).toEqual({ id: 'req_abc', idempotency_key: 'key-1' });
    expect(r.data.previous_attributes).toEqual({ status: 'requires_input' });
    expect(r.data.object).toMatchObject({ status: 'canceled', url: null, client_secret: null });
    const [system] = eventsFromChange(s0, transition(s0, 'submit', SYSTEM), API_VERSION);
    // A change the service made: Stripe's request object with both fields null.
    expect(renderEvent(system).request).toEqual({ id: null, idempotency_key: null });
    const [created] = eventsFromChange(undefined, s0, API_VERSION);
    expect(renderEvent(created).data.object.url).toBeNull();
    expect(renderEvent(created).data).not.toHaveProperty('previous_attributes');
  });
});

describe('routing table', () => {
  const envelope = (type: string, source = EVENT_SOURCE) => ({ source, 'detail-type': type });
  it('processing events go to the checks queue, and nothing else does', () => {
    for (const t of SESSION_EVENT_TYPES)
      expect(matchesPattern(ROUTES.checks.pattern, envelope(t)), t).toBe(t === 'identity.verification_session.processing');
  });
  it('every session event goes to the webhooks queue; other sources and types do not', () => {
    for (const t of SESSION_EVENT_TYPES) expect(matchesPattern(ROUTES.webhooks.pattern, envelope(t)), t).toBe(true);
    expect(matchesPattern(ROUTES.webhooks.pattern, envelope('identity.verification_session.created', 'someone-else'))).toBe(false);
    expect(matchesPattern(ROUTES.webhooks.pattern, envelope('webhook_endpoint.disabled'))).toBe(false);
    expect(matchesPattern(ROUTES.checks.pattern, envelope('identity.verification_session.processing', 'aws.events'))).toBe(false);
  });
});

// ---- the stream publisher ---------------------------------------------------

const noRedactions = { send: async () => {} };

class MemoryEvents {
  stored = new Map<string, EventRecord>();
  links = new Map<string, Set<string>>();
  redactedSessions = new Set<string>();
  failOn?: string;
  async linkToSession(_scope: unknown, sessionId: string, ids: string[]) {
    const set = this.links.get(sessionId) ?? new Set<string>();
    for (const id of ids) set.add(id);
    this.links.set(sessionId, set);
    return { redacted: this.redactedSessions.has(sessionId) };
  }
  async putIfAbsent(e: EventRecord) {
    if (this.failOn && e.type.endsWith(this.failOn)) throw new Error('throttled');
    if (this.stored.has(e.id)) return false;
    this.stored.set(e.id, e);
    return true;
  }
}

/** A bus that refuses some entries a number of times. */
class FlakyBus implements EventBus {
  calls: BusEntry[][] = [];
  delivered: BusEntry[] = [];
  constructor(private refuse: (entry: BusEntry, call: number) => boolean) {}
  async put(entries: BusEntry[]) {
    this.calls.push(entries);
    const failed: { index: number; code: string; message: string }[] = [];
    entries.forEach((e, index) => {
      if (this.refuse(e, this.calls.length)) failed.push({ index, code: 'ThrottlingException', message: 'slow down' });
      else this.delivered.push(e);
    });
    return { failed };
  }
}

function streamEvent(changes: [SessionRecord | undefined, SessionRecord][]): DynamoDBStreamEvent {
  return {
    Records: changes.map(([before, after], i) => ({
      eventName: before ? 'MODIFY' : 'INSERT',
      dynamodb: {
        Keys: marshall({ pk: 'A#acct_1#test', sk: `VS#${after.id}` }) as never,
        OldImage: before ? (marshall({ pk: 'A#acct_1#test', sk: `VS#${before.id}`, ...before }, { removeUndefinedValues: true }) as never) : undefined,
        NewImage: marshall({ pk: 'A#acct_1#test', sk: `VS#${after.id}`, ...after }, { removeUndefinedValues: true }) as never,
        SequenceNumber: String(100 + i),
      },
    })),
  };
}

/** 12 sessions created: 12 events, more than one PutEvents chunk. */
function twelveCreates() {
  return Array.from({ length: 12 }, (_, i) => {
    const s = fresh();
    return [undefined, { ...s, id: `vs_0VcOcsy9AWLrEOraAjOXO${String(i).padStart(3, '0')}` }] as [undefined, SessionRecord];
  });
}

describe('stream publisher', () => {
  it('stores each event once and publishes in chunks of 10', async () => {
    const events = new MemoryEvents();
    const bus = new FlakyBus(() => false);
    const publish = createStreamPublisher({ events: events as unknown as EventStore, bus, apiVersion: API_VERSION, redactions: noRedactions });
    const batch = streamEvent(twelveCreates());
    expect(await publish(batch)).toEqual({ batchItemFailures: [] });
    expect(bus.calls.map((c) => c.length)).toEqual([10, 2]);
    expect(bus.delivered[0]).toMatchObject({ source: EVENT_SOURCE, detailType: 'identity.verification_session.created' });
    expect(JSON.parse(bus.delivered[0].detail).object).toBe('event');
    // A redelivered batch stores nothing new.
    await publish(batch);
    expect(events.stored.size).toBe(12);
  });

  it('re-sends only the entries PutEvents refused', async () => {
    const events = new MemoryEvents();
    const bus = new FlakyBus((e, call) => call === 1 && e.detail.includes('O001'));
    const publish = createStreamPublisher({ events: events as unknown as EventStore, bus, apiVersion: API_VERSION, redactions: noRedactions, sleep: async () => {} });
    expect(await publish(streamEvent(twelveCreates()))).toEqual({ batchItemFailures: [] });
    expect(bus.calls[1]).toHaveLength(1);
    expect(bus.delivered).toHaveLength(12);
  });

  it('reports the first record it could not publish, so it and all after it are retried', async () => {
    const events = new MemoryEvents();
    const bus = new FlakyBus((e) => e.detail.includes('O004'));
    const publish = createStreamPublisher({ events: events as unknown as EventStore, bus, apiVersion: API_VERSION, redactions: noRedactions, sleep: async () => {} });
    expect(await publish(streamEvent(twelveCreates()))).toEqual({ batchItemFailures: [{ itemIdentifier: '104' }] });
  });

  it('stops at a record whose events cannot be stored', async () => {
    const events = new MemoryEvents();
    const s0 = fresh();
    const s1 = applyCancel(s0, REQ);
    events.failOn = 'canceled';
    const bus = new FlakyBus(() => false);
    const publish = createStreamPublisher({ events: events as unknown as EventStore, bus, apiVersion: API_VERSION, redactions: noRedactions });
    const result = await publish(streamEvent([[undefined, s0], [s0, s1]]));
    expect(result.batchItemFailures).toEqual([{ itemIdentifier: '101' }]);
    expect(bus.delivered.map((e) => e.detailType)).toEqual(['identity.verification_session.created']);
  });
});

describe('stream publisher and redaction', () => {
  it('links every event to its session before storing it, and asks for a redaction only once the batch is stored', async () => {
    const order: string[] = [];
    const events = new MemoryEvents();
    const put = events.putIfAbsent.bind(events);
    events.putIfAbsent = async (e: EventRecord) => (order.push(`store ${e.type.split('.').pop()}`), put(e));
    const redactions = { send: async (m: unknown[]) => void order.push(`redact ${m.length}`) };
    const s0 = fresh();
    const s1 = applyRedact(s0, REQ);
    const publish = createStreamPublisher({ events: events as unknown as EventStore, bus: new FlakyBus(() => false), apiVersion: API_VERSION, redactions });
    expect(await publish(streamEvent([[undefined, s0], [s0, s1]]))).toEqual({ batchItemFailures: [] });
    expect(order.at(-1)).toBe('redact 1');
    expect(order.slice(0, -1).sort()).toEqual(['store canceled', 'store created']);
    expect([...events.links.get(s0.id)!].sort()).toEqual([...events.stored.keys()].sort());
  });

  it('stores and publishes redacted the events of a session whose redaction has begun (a late or retried batch)', async () => {
    const events = new MemoryEvents();
    events.redactedSessions.add('vs_0VcOcsy9AWLrEOraAjOXOWqM');
    const bus = new FlakyBus(() => false);
    const publish = createStreamPublisher({ events: events as unknown as EventStore, bus, apiVersion: API_VERSION, redactions: noRedactions });
    const s0 = fresh();
    expect(await publish(streamEvent([[undefined, s0]]))).toEqual({ batchItemFailures: [] });
    expect(JSON.stringify([...events.stored.values()])).not.toContain('jo@example.com');
    expect(bus.delivered).toHaveLength(1);
    expect(bus.delivered[0].detail).not.toContain('jo@example.com');
    expect(JSON.parse(bus.delivered[0].detail).data.object.provided_details).toEqual({ email: '[redacted]' });
  });

  it('a redaction it could not ask for is retried with its record', async () => {
    const s0 = fresh();
    const s1 = applyRedact(s0, REQ);
    const redactions = { send: async () => Promise.reject(new Error('SQS is down')) };
    const publish = createStreamPublisher({ events: new MemoryEvents() as unknown as EventStore, bus: new FlakyBus(() => false), apiVersion: API_VERSION, redactions });
    expect(await publish(streamEvent([[undefined, s0], [s0, s1]]))).toEqual({ batchItemFailures: [{ itemIdentifier: '101' }] });
  });
});

describe('EventBridge adapter', () => {
  it('sends to the bus and reports the entries PutEvents refused', async () => {
    const eb = mockClient(EventBridgeClient);
    eb.on(PutEventsCommand).resolves({ FailedEntryCount: 1, Entries: [{ EventId: '1' }, { ErrorCode: 'InternalFailure', ErrorMessage: 'x' }] });
    const bus = new EventBridgeBus(new EventBridgeClient({ region: 'eu-west-1' }), 'my-bus');
    const entry = { source: EVENT_SOURCE, detailType: 'identity.verification_session.created', detail: '{}', time: new Date(0) };
    const r = await bus.put([entry, entry]);
    expect(r.failed).toEqual([{ index: 1, code: 'InternalFailure', message: 'x' }]);
    const sent = eb.commandCalls(PutEventsCommand)[0].args[0].input.Entries!;
    expect(sent[0]).toMatchObject({ EventBusName: 'my-bus', Source: EVENT_SOURCE, DetailType: 'identity.verification_session.created' });
    eb.restore();
  });
});
