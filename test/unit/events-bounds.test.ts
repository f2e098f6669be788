import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { marshall } from '@aws-sdk/util-dynamodb';
import type { DynamoDBStreamEvent } from 'aws-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { ApiError } from '../../lambdas/domain/errors.js';
import { type EventRecord, eventsFromChange } from '../../lambdas/domain/event.js';
import { METADATA_LIMITS, parseParams } from '../../lambdas/domain/params.js';
import {
  CREATE_PARAMS,
  type CreateParams,
  type SessionRecord,
  UPDATE_PARAMS,
  type UpdateParams,
  applyCancel,
  applyUpdate,
  newSession,
} from '../../lambdas/domain/session.js';
import {
  type BusEntry,
  EventBridgeBus,
  type EventBus,
  PUT_EVENTS_MAX_BYTES,
  PUT_EVENTS_MAX_ENTRIES,
  assertPutEventsLimits,
  chunkEntries,
  putEventsEntrySize,
} from '../../lambdas/events/bus.js';
import { createStreamPublisher, toBusEntry } from '../../lambdas/events/publisher.js';
import type { EventStore } from '../../lambdas/store/event-store.js';
import { logger } from '../../lambdas/observability/powertools.js';

const API_VERSION = '2026-10-28.endive';
/** The longest request an event can name: an Idempotency-Key of 255 characters. */
const STAMP = { updated_ms: 1_800_000_001_000, last_request: { id: 'req_0VcOcsy9AWLrEOraAjOXOWqM', idempotency_key: 'k'.repeat(255) } };
const CTX = { id: 'vs_0VcOcsy9AWLrEOraAjOXOWqM', scope: { account: 'acct_0VcOcsy9AWLrEOraAjOXOWqM', livemode: true }, nowMs: 1_800_000_000_000, request: STAMP.last_request };

/** An entry whose size is `bytes` exactly: source 1 + detail type 1 + time 14 + detail. */
const entryOf = (bytes: number, tag = 'x'): BusEntry => ({ source: 's', detailType: 't', time: new Date(0), detail: tag.padEnd(bytes - 16, '.') });

describe('PutEvents entry size', () => {
  it('counts as AWS documents: Time 14 bytes, and the UTF-8 bytes of Source, DetailType, Detail and each resource', () => {
    // source 3, detail type "dé" 1+2, detail {"a":"€"} 8+3, time 14, resources "acct_1" 6 and an emoji 4
    const entry: BusEntry = { source: 'abc', detailType: 'dé', detail: '{"a":"€"}', time: new Date(0), resources: ['acct_1', '😀'] };
    expect(putEventsEntrySize(entry)).toBe(3 + 3 + 11 + 14 + 6 + 4);
    expect(putEventsEntrySize({ ...entry, resources: undefined })).toBe(31);
    expect(putEventsEntrySize({ ...entry, resources: [], time: undefined as unknown as Date })).toBe(17);
    expect(putEventsEntrySize(entryOf(1000))).toBe(1000);
  });
});

describe('cutting PutEvents calls', () => {
  it('cuts by count: at most 10 entries a call, in order', () => {
    const entries = Array.from({ length: 25 }, (_, i) => entryOf(100, `e${i}`));
    const chunks = chunkEntries(entries);
    expect(chunks.map((c) => c.length)).toEqual([10, 10, 5]);
    expect(chunks.flat()).toEqual(entries);
  });

  it('cuts by size: a call holds at most 262,144 bytes, counted to the byte', () => {
    const sizes = (chunks: BusEntry[][]) => chunks.map((c) => c.map(putEventsEntrySize));
    expect(sizes(chunkEntries([entryOf(100_000), entryOf(100_000), entryOf(100_000)]))).toEqual([[100_000, 100_000], [100_000]]);
    // Exactly the limit fits; one byte more starts a new call.
    expect(sizes(chunkEntries([entryOf(262_000), entryOf(144)]))).toEqual([[262_000, 144]]);
    expect(sizes(chunkEntries([entryOf(262_000), entryOf(145)]))).toEqual([[262_000], [145]]);
    // Size and count together.
    const mixed = [entryOf(200_000), ...Array.from({ length: 12 }, () => entryOf(1000)), entryOf(260_000), entryOf(20_000)];
    expect(sizes(chunkEntries(mixed)).map((c) => c.length)).toEqual([10, 3, 1, 1]);
    for (const c of chunkEntries(mixed)) expect(() => assertPutEventsLimits(c)).not.toThrow();
  });

  it('keeps the items it is given when told how to read their entry', () => {
    const items = Array.from({ length: 4 }, (_, i) => ({ record: i, entry: entryOf(100_000) }));
    expect(chunkEntries(items, (i) => i.entry).map((c) => c.map((i) => i.record))).toEqual([[0, 1], [2, 3]]);
  });

  it('an entry alone over the limit cannot be sent', () => {
    expect(() => chunkEntries([entryOf(PUT_EVENTS_MAX_BYTES + 1)])).toThrow(RangeError);
  });
});

describe('EventBridge adapter limits', () => {
  const eb = mockClient(EventBridgeClient);
  afterEach(() => eb.reset());
  const bus = new EventBridgeBus(new EventBridgeClient({ region: 'eu-west-1' }), 'my-bus');

  it('refuses a call over 10 entries or 256 KB as PutEvents would, before calling AWS', async () => {
    eb.on(PutEventsCommand).resolves({ FailedEntryCount: 0, Entries: [] });
    await expect(bus.put(Array.from({ length: 11 }, () => entryOf(100)))).rejects.toMatchObject({ name: 'ValidationException' });
    await expect(bus.put([entryOf(200_000), entryOf(62_145)])).rejects.toThrow(/over the limit: 262145 bytes/);
    await expect(bus.put([entryOf(PUT_EVENTS_MAX_BYTES + 1)])).rejects.toThrow(/Entry 0 is 262145 bytes/);
    expect(eb.commandCalls(PutEventsCommand)).toHaveLength(0);
    await bus.put([entryOf(200_000), entryOf(62_144)]);
    await bus.put(Array.from({ length: 10 }, () => entryOf(100)));
    expect(eb.commandCalls(PutEventsCommand)).toHaveLength(2);
  });
});

// ---- the largest event a session can produce ---------------------------------

const fill = (n: number, prefix: string, ch = 'a') => (prefix + ch.repeat(n)).slice(0, n);
const fullMetadata = (value: string, ch = 'a') =>
  Object.fromEntries(
    Array.from({ length: METADATA_LIMITS.keys }, (_, i) => [fill(METADATA_LIMITS.keyLength, `key${i}_`, ch), fill(METADATA_LIMITS.valueLength, value, ch)]),
  );
/** Every create parameter at its longest, as the API receives it (strings), filled with `ch`. */
const everyMaximum = (ch = 'a') => ({
  type: 'document',
  options: { document: { allowed_types: ['driving_license', 'id_card', 'passport'], require_id_number: 'true', require_live_capture: 'true', require_matching_selfie: 'true' } },
  metadata: fullMetadata('a', ch),
  return_url: fill(5000, 'https://shop.example/', ch),
  client_reference_id: fill(5000, 'ref_', ch),
  provided_details: { email: fill(800, 'jo@', ch), phone: fill(50, '+49', ch) },
  related_customer: fill(5000, 'cus_', ch),
  related_customer_account: fill(5000, 'acct_', ch),
  related_person: { account: fill(5000, 'acct_', ch), person: fill(5000, 'person_', ch) },
});
/** Everything an update can change, changed, at its longest. */
const updateOfEverything = (ch = 'a') => ({
  type: 'id_number',
  options: { document: { allowed_types: ['passport'] } },
  metadata: fullMetadata('b', ch),
  provided_details: { email: fill(800, 'al@', ch), phone: fill(50, '+33', ch) },
});

/**
 * The worst event: the session after an update of everything and a cancel, against the session
 * before the update, so that it carries the whole session in `data.object` and everything an update
 * can change in `previous_attributes`. Parameters go through the API's own validation.
 */
function worstEvent(ch: string): EventRecord {
  const before = newSession(parseParams<CreateParams>(CREATE_PARAMS, everyMaximum(ch)), CTX);
  const after = applyCancel(applyUpdate(before, parseParams<UpdateParams>(UPDATE_PARAMS, updateOfEverything(ch)), STAMP), STAMP);
  const [event] = eventsFromChange(before, after, API_VERSION);
  expect(Object.keys(event.data.previous_attributes ?? {})).toEqual(['metadata', 'options', 'provided_details', 'status', 'type']);
  return event;
}
const refusal = (fn: () => unknown) => {
  try {
    fn();
  } catch (err) {
    return err as ApiError;
  }
  throw new Error('not refused');
};

describe('the largest event a session can produce', () => {
  it('at every parameter maximum in ASCII: about 83 KB', () => {
    const event = worstEvent('a');
    const bytes = putEventsEntrySize(toBusEntry(event));
    // Measured: 82,754 bytes as a bus entry, 82,678 as the stored event's JSON.
    expect(bytes).toBeGreaterThan(80_000);
    expect(bytes).toBeLessThan(PUT_EVENTS_MAX_BYTES / 3);
    expect(Math.abs(Buffer.byteLength(JSON.stringify(event)) - bytes)).toBeLessThan(200);
  });

  it('at every maximum with 3 bytes per character, the most the API accepts: under 256 KB with room for EventBridge\'s envelope', () => {
    const event = worstEvent('€');
    const entry = toBusEntry(event);
    const bytes = putEventsEntrySize(entry);
    expect(JSON.parse(entry.detail).data.previous_attributes.metadata).toEqual(fullMetadata('a', '€')); // whole, not by reference
    // Measured: 242,720 bytes as a bus entry (19,424 under the limit), 242,644 as the stored event's JSON.
    // EventBridge's envelope on an SQS target adds about 250 bytes. A parameter added to the session
    // must fit in this margin, or this test fails.
    expect(bytes).toBeGreaterThan(240_000);
    expect(PUT_EVENTS_MAX_BYTES - bytes).toBeGreaterThanOrEqual(16_000);
    expect(Buffer.byteLength(JSON.stringify(event))).toBeLessThan(bytes);
  });

  it('more than 3 bytes of JSON per character is refused with a 400 naming the parameter', () => {
    // U+0001 is one character and six bytes in JSON (\u0001): at every maximum, the event would be about 484 KB.
    const err = refusal(() => parseParams(CREATE_PARAMS, everyMaximum('\u0001')));
    expect(err).toBeInstanceOf(ApiError);
    expect(err).toMatchObject({ status: 400, type: 'invalid_request_error', param: 'metadata[key0_\u0001\u0001\u0001\u0001\u0001\u0001\u0001\u0001\u0001\u0001\u0001\u0001\u0001\u0001\u0001\u0001\u0001\u0001\u0001\u0001\u0001\u0001\u0001\u0001\u0001\u0001\u0001\u0001\u0001\u0001\u0001\u0001\u0001\u0001\u0001]' });
    expect(err.message).toMatch(/metadata key: it takes 215 bytes as JSON, and at most 120 are allowed/);
    expect(refusal(() => parseParams(CREATE_PARAMS, { type: 'document', client_reference_id: '\u0001'.repeat(5000) }))).toMatchObject({ param: 'client_reference_id' });
    expect(refusal(() => parseParams(UPDATE_PARAMS, { provided_details: { email: '\u0001'.repeat(401) } }))).toMatchObject({ param: 'provided_details[email]' });
    // At the limit exactly: 250 six-byte characters in a 500-character value is 1,500 bytes.
    expect(parseParams<UpdateParams>(UPDATE_PARAMS, { metadata: { k: '\u0001'.repeat(250) } }).metadata).toEqual({ k: '\u0001'.repeat(250) });
    expect(refusal(() => parseParams(UPDATE_PARAMS, { metadata: { k: `${'\u0001'.repeat(250)}a` } }))).toMatchObject({ param: 'metadata[k]' });
    // Quotes, backslashes, newlines and tabs are two bytes; any script is at most three: all accepted at the limit.
    expect(() => parseParams(UPDATE_PARAMS, { metadata: { a: '"\\\n\t'.repeat(125), b: '漢'.repeat(500), c: '😀'.repeat(250) } })).not.toThrow();
  });
});

describe('an event over the limit goes by reference', () => {
  it('keeps the id, type, mode and session id (the account is in resources), drops the data, and fits', () => {
    const s = newSession({ type: 'document' }, CTX);
    const [event] = eventsFromChange(undefined, s, API_VERSION);
    // A field the cap does not cover (none does today): the object alone is over 256 KB.
    const huge: EventRecord = { ...event, data: { object: { ...event.data.object, future_field: 'x'.repeat(PUT_EVENTS_MAX_BYTES) } } };
    const warn = vi.spyOn(logger, 'warn').mockImplementation(() => {});
    const entry = toBusEntry(huge);
    expect(warn).toHaveBeenCalledTimes(1);
    expect(JSON.stringify(warn.mock.calls[0])).toContain(event.id);
    warn.mockRestore();
    expect(putEventsEntrySize(entry)).toBeLessThan(1000);
    const detail = JSON.parse(entry.detail);
    expect(detail).toEqual({
      id: event.id, object: 'event', api_version: API_VERSION, created: event.created, livemode: true,
      pending_webhooks: 0, request: STAMP.last_request, type: 'identity.verification_session.created',
      data: { object: { id: s.id, object: 'identity.verification_session' } }, by_reference: true,
    });
    expect(entry).toMatchObject({ source: 'verification-sessions', detailType: event.type, resources: [CTX.scope.account] });
    // An event within the limit goes whole.
    expect(JSON.parse(toBusEntry(event).detail)).not.toHaveProperty('by_reference');
  });
});

// ---- the publisher under the limits ------------------------------------------

/** A bus that refuses what PutEvents refuses and records every call. */
class LimitedBus implements EventBus {
  calls: BusEntry[][] = [];
  async put(entries: BusEntry[]) {
    assertPutEventsLimits(entries);
    this.calls.push(entries);
    return { failed: [] };
  }
}

class MemoryEvents {
  stored = new Map<string, EventRecord>();
  async linkToSession() {}
  async putIfAbsent(e: EventRecord) {
    if (this.stored.has(e.id)) return false;
    this.stored.set(e.id, e);
    return true;
  }
}

function streamEvent(changes: [SessionRecord | undefined, SessionRecord][]): DynamoDBStreamEvent {
  const image = (s: SessionRecord) => marshall({ pk: `A#${s.account}#live`, sk: `VS#${s.id}`, ...s }, { removeUndefinedValues: true }) as never;
  return {
    Records: changes.map(([before, after], i) => ({
      eventName: before ? 'MODIFY' : 'INSERT',
      dynamodb: { Keys: marshall({ pk: `A#${after.account}#live`, sk: `VS#${after.id}` }) as never, OldImage: before ? image(before) : undefined, NewImage: image(after), SequenceNumber: String(100 + i) },
    })),
  };
}

describe('stream publisher under the PutEvents limits', () => {
  it('publishes every event of a batch at the metadata maximum, in order, no call over 10 entries or 256 KB', async () => {
    // 12 sessions at the metadata maximum, each created then canceled: 24 events of about 28 KB, 680 KB together.
    const changes: [SessionRecord | undefined, SessionRecord][] = [];
    for (let i = 0; i < 12; i++) {
      const s = newSession({ type: 'document', metadata: fullMetadata(`s${i}_`) }, { ...CTX, id: `vs_0VcOcsy9AWLrEOraAjOXO${String(i).padStart(3, '0')}` });
      changes.push([undefined, s], [s, applyCancel(s, STAMP)]);
    }
    const bus = new LimitedBus();
    const publish = createStreamPublisher({ events: new MemoryEvents() as unknown as EventStore, bus, apiVersion: API_VERSION, redactions: { send: async () => {} }, sleep: async () => {} });
    expect(await publish(streamEvent(changes))).toEqual({ batchItemFailures: [] });

    const sent = bus.calls.flat();
    const total = sent.reduce((n, e) => n + putEventsEntrySize(e), 0);
    expect(total).toBeGreaterThan(2 * PUT_EVENTS_MAX_BYTES);
    expect(bus.calls.length).toBeGreaterThanOrEqual(Math.ceil(total / PUT_EVENTS_MAX_BYTES));
    for (const call of bus.calls) {
      expect(call.length).toBeLessThanOrEqual(PUT_EVENTS_MAX_ENTRIES);
      expect(call.reduce((n, e) => n + putEventsEntrySize(e), 0)).toBeLessThanOrEqual(PUT_EVENTS_MAX_BYTES);
    }
    const published = sent.map((e) => JSON.parse(e.detail));
    expect(published.map((d) => `${d.data.object.id.slice(-3)} ${d.type.split('.').pop()}`)).toEqual(
      changes.map(([before, after]) => `${after.id.slice(-3)} ${before ? 'canceled' : 'created'}`),
    );
    expect(published.every((d) => Object.keys(d.data.object.metadata).length === METADATA_LIMITS.keys)).toBe(true);
  });

  it('a bus that would take an oversized call is never given one: the old 10-entry chunk would be refused', async () => {
    const changes = Array.from({ length: 10 }, (_, i) => {
      const s = newSession({ type: 'document', metadata: fullMetadata(`s${i}_`) }, { ...CTX, id: `vs_0VcOcsy9AWLrEOraAjOXO${String(i).padStart(3, '0')}` });
      return [undefined, s] as [undefined, SessionRecord];
    });
    const entries = changes.map(([, s]) => toBusEntry(eventsFromChange(undefined, s, API_VERSION)[0]));
    expect(() => assertPutEventsLimits(entries)).toThrow(/over the limit/);
    const bus = new LimitedBus();
    const publish = createStreamPublisher({ events: new MemoryEvents() as unknown as EventStore, bus, apiVersion: API_VERSION, redactions: { send: async () => {} }, sleep: async () => {} });
    expect(await publish(streamEvent(changes))).toEqual({ batchItemFailures: [] });
    expect(bus.calls.map((c) => c.length)).toEqual([9, 1]);
  });
});
