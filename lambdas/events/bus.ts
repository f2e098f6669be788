import { type EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';

/** One event for the bus, in EventBridge's PutEvents terms. */
export interface BusEntry {
  source: string;
  detailType: string;
  /** JSON text of the detail (the Stripe-shaped event). */
  detail: string;
  time: Date;
  resources?: string[];
}

export interface PutResult {
  /** Indexes (into the entries given) that were not accepted, with the reason. */
  failed: { index: number; code: string; message: string }[];
}

/** The port the stream publisher publishes through: EventBridge in AWS, a local bus under npm start. */
export interface EventBus {
  put(entries: BusEntry[]): Promise<PutResult>;
}

/** PutEvents accepts at most 10 entries per call. */
export const PUT_EVENTS_MAX_ENTRIES = 10;

/** PutEvents accepts at most 256 KB per call, counted over its entries as `putEventsEntrySize` counts them. */
export const PUT_EVENTS_MAX_BYTES = 256 * 1024;

const utf8Bytes = (s: string) => Buffer.byteLength(s, 'utf8');

/**
 * The size EventBridge counts for one PutEvents entry, as AWS documents it
 * ("Calculating Amazon EventBridge PutEvents event entry size",
 * https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-putevent-size.html):
 * `Time`, if specified, is 14 bytes; `Source` and `DetailType` are the bytes of
 * their UTF-8 forms; `Detail`, if specified, the bytes of its UTF-8 form; and
 * each `Resources` string the bytes of its UTF-8 form. `EventBusName` is not
 * counted. The entries of one call must stay within 256 KB together.
 */
export function putEventsEntrySize(entry: BusEntry): number {
  let size = entry.time ? 14 : 0;
  size += utf8Bytes(entry.source) + utf8Bytes(entry.detailType);
  if (entry.detail !== undefined) size += utf8Bytes(entry.detail);
  for (const r of entry.resources ?? []) size += utf8Bytes(r);
  return size;
}

/** What PutEvents answers, for the whole call, to more than 10 entries or more than 256 KB (its ValidationException). */
export class PutEventsValidationError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ValidationException';
  }
}

/** Throws as PutEvents would for a call over its limits; every bus checks a call with it before sending. */
export function assertPutEventsLimits(entries: readonly BusEntry[]): void {
  if (entries.length > PUT_EVENTS_MAX_ENTRIES)
    throw new PutEventsValidationError(`PutEvents takes at most ${PUT_EVENTS_MAX_ENTRIES} entries; this call has ${entries.length}.`);
  const sizes = entries.map(putEventsEntrySize);
  const total = sizes.reduce((a, b) => a + b, 0);
  if (total > PUT_EVENTS_MAX_BYTES) {
    const big = sizes.findIndex((s) => s > PUT_EVENTS_MAX_BYTES);
    throw new PutEventsValidationError(
      big >= 0
        ? `Entry ${big} is ${sizes[big]} bytes; an entry can be at most ${PUT_EVENTS_MAX_BYTES}.`
        : `Total size of the entries in the request is over the limit: ${total} bytes, at most ${PUT_EVENTS_MAX_BYTES}.`,
    );
  }
}

/**
 * Cuts entries into PutEvents calls, in order: a call takes at most 10 entries
 * and at most 256 KB. An entry that alone is over 256 KB can never be sent, so
 * it is an error here (the publisher sends such an event by reference instead).
 */
export function chunkEntries(entries: readonly BusEntry[]): BusEntry[][];
export function chunkEntries<T>(items: readonly T[], entryOf: (item: T) => BusEntry): T[][];
export function chunkEntries<T>(items: readonly T[], entryOf: (item: T) => BusEntry = (i) => i as unknown as BusEntry): T[][] {
  const chunks: T[][] = [];
  let current: T[] = [];
  let bytes = 0;
  for (const item of items) {
    const size = putEventsEntrySize(entryOf(item));
    if (size > PUT_EVENTS_MAX_BYTES) throw new RangeError(`A bus entry of ${size} bytes is over the PutEvents limit of ${PUT_EVENTS_MAX_BYTES}.`);
    if (current.length === PUT_EVENTS_MAX_ENTRIES || bytes + size > PUT_EVENTS_MAX_BYTES) {
      chunks.push(current);
      current = [];
      bytes = 0;
    }
    current.push(item);
    bytes += size;
  }
  if (current.length > 0) chunks.push(current);
  return chunks;
}

export class EventBridgeBus implements EventBus {
  constructor(
    private readonly client: EventBridgeClient,
    private readonly busName: string,
  ) {}

  async put(entries: BusEntry[]): Promise<PutResult> {
    assertPutEventsLimits(entries);
    const r = await this.client.send(
      new PutEventsCommand({
        Entries: entries.map((e) => ({
          EventBusName: this.busName,
          Source: e.source,
          DetailType: e.detailType,
          Detail: e.detail,
          Time: e.time,
          Resources: e.resources,
        })),
      }),
    );
    const failed: PutResult['failed'] = [];
    (r.Entries ?? []).forEach((entry, index) => {
      if (entry.ErrorCode) failed.push({ index, code: entry.ErrorCode, message: entry.ErrorMessage ?? '' });
    });
    return { failed };
  }
}
