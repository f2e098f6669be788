import { unmarshall } from '@aws-sdk/util-dynamodb';
import type { DynamoDBBatchResponse, DynamoDBStreamEvent } from 'aws-lambda';
import { type EventRecord, SESSION_EVENT_PREFIX, eventsFromChange, redactEvent, renderEvent } from '../domain/event.js';
import type { SessionRecord } from '../domain/session.js';
import type { EventStore } from '../store/event-store.js';
import type { RedactionQueue } from '../redaction/queue.js';
import { isSessionStreamRecord } from '../store/table.js';
import { expandSession } from '../store/session-item.js';
import { type BusEntry, type EventBus, PUT_EVENTS_MAX_BYTES, chunkEntries, putEventsEntrySize } from './bus.js';
import { EVENT_SOURCE, accountResource } from './routing.js';
import { logger, recordMetric } from '../observability/powertools.js';
import { METRIC, type MetricName } from '../observability/metric-names.js';

export interface PublisherDeps {
  events: EventStore;
  bus: EventBus;
  /** Where finished-redaction work goes (see lambdas/redaction). */
  redactions: RedactionQueue;
  apiVersion: string;
  /** Attempts for an entry that PutEvents did not accept (default 4). */
  maxPutAttempts?: number;
  sleep?: (ms: number) => Promise<void>;
}

const STORE_CONCURRENCY = 16;

async function mapConcurrently<T, R>(items: T[], limit: number, fn: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, async () => {
      while (next < items.length) {
        const i = next++;
        out[i] = await fn(items[i], i);
      }
    }),
  );
  return out;
}

/**
 * The event as a bus entry; `detail` is the event as the API renders it.
 *
 * The API caps what a session may hold (character limits, and at most 3 bytes
 * of JSON per character: JSON_BYTES_PER_CHARACTER) so that an event, which can
 * carry much of the session twice (`data.object` and `previous_attributes`),
 * fits PutEvents' 256 KB: about 243 KB at every limit. Should an entry still be
 * over the limit (a future field the cap does not cover), it is sent by
 * reference rather than refused: refusing would report the record in
 * batchItemFailures and block the session's stream for good. The reference
 * detail keeps the event's id, type, mode and the session's id (the account is in `resources`), which
 * the checks worker and the webhook fan-out need, drops the object's contents
 * and says `by_reference: true`; the whole event is at GET /v1/events/{id}.
 */
export function toBusEntry(e: EventRecord): BusEntry {
  const entry: BusEntry = {
    source: EVENT_SOURCE,
    detailType: e.type,
    detail: JSON.stringify(renderEvent(e)),
    time: new Date(e.created * 1000),
    resources: [accountResource(e.account)],
  };
  const size = putEventsEntrySize(entry);
  if (size <= PUT_EVENTS_MAX_BYTES) return entry;
  logger.warn('event over the PutEvents limit sent by reference', { event: e.id, type: e.type, session_id: e.session_id, bytes: size });
  const { data, ...rest } = renderEvent(e);
  const object = { id: data.object.id, object: data.object.object };
  return { ...entry, detail: JSON.stringify({ ...rest, data: { object }, by_reference: true }) };
}

/** A redaction was asked for and the checks are not running: the redaction worker can finish it. */
export const redactionDue = (s: SessionRecord) => s.redaction?.status === 'processing' && s.status !== 'processing';

type Image = Parameters<typeof unmarshall>[0];
// As the store reads it: the null fields it does not store put back.
const session = (image: unknown): SessionRecord | undefined => (image ? expandSession(unmarshall(image as Image)) : undefined);

/**
 * The table stream's consumer: each change of a session becomes its events,
 * stored once (conditional puts, several at a time) and published to the bus in
 * calls cut by count (10) and size (256 KB),
 * re-sending only what PutEvents refused. A record whose events could not be
 * stored or published is reported in `batchItemFailures` (with everything after
 * it, so order per session holds); its events keep their ids on the retry.
 */
export function createStreamPublisher(deps: PublisherDeps) {
  const maxAttempts = deps.maxPutAttempts ?? 4;
  const sleep = deps.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));

  return async (event: DynamoDBStreamEvent): Promise<DynamoDBBatchResponse> => {
    const records = event.Records;
    let firstFailed = records.length;
    const pending: { record: number; entry: BusEntry }[] = [];

    // Events of every record, stored concurrently (ids order them, not write order).
    const afterImages = records.map((r) =>
      isSessionStreamRecord(r.dynamodb?.Keys as { sk?: { S?: string } }) ? session(r.dynamodb?.NewImage) : undefined,
    );
    const perRecord = records.map((r, i) =>
      afterImages[i] ? eventsFromChange(session(r.dynamodb?.OldImage), afterImages[i], deps.apiVersion) : [],
    );
    const stored = await mapConcurrently(perRecord, STORE_CONCURRENCY, async (events, i) => {
      try {
        // Linked first, so that redaction finds every event that is stored; an event
        // of a session whose redaction has begun is stored and published redacted.
        if (events.length > 0) {
          const link = await deps.events.linkToSession(events[0], events[0].session_id, events.map((e) => e.id), events[0].created);
          if (link?.redacted) perRecord[i] = events = events.map(redactEvent);
        }
        for (const e of events) await deps.events.putIfAbsent(e);
        return true;
      } catch (err) {
        logger.error('storing events failed', { sequence_number: records[i].dynamodb?.SequenceNumber, session_id: afterImages[i]?.id, error: String(err) });
        return false;
      }
    });
    firstFailed = stored.indexOf(false) === -1 ? records.length : stored.indexOf(false);

    // Redactions asked for: sent only now, when every earlier event of the session is stored.
    const redactions = afterImages
      .slice(0, firstFailed)
      .map((after, record) => ({ after, record }))
      .filter((x): x is { after: SessionRecord; record: number } => x.after !== undefined && redactionDue(x.after));
    if (redactions.length > 0) {
      try {
        await deps.redactions.send(redactions.map(({ after }) => ({ kind: 'finish', account: after.account, livemode: after.livemode, session: after.id })));
      } catch (err) {
        logger.error('requesting redactions failed', { error: String(err) });
        firstFailed = redactions[0].record;
      }
    }
    for (let i = 0; i < firstFailed; i++) for (const e of perRecord[i]) pending.push({ record: i, entry: toBusEntry(e) });

    // Calls of at most 10 entries and 256 KB, one after the other, so order per session holds.
    for (let chunk of chunkEntries(pending, (p) => p.entry)) {
      for (let attempt = 1; chunk.length > 0; attempt++) {
        let failed: typeof chunk;
        try {
          const result = await deps.bus.put(chunk.map((p) => p.entry));
          failed = result.failed.map((f) => chunk[f.index]);
        } catch (err) {
          logger.error('PutEvents failed', { error: String(err) });
          failed = chunk;
        }
        if (failed.length === 0) break;
        if (attempt >= maxAttempts) {
          firstFailed = Math.min(firstFailed, ...failed.map((f) => f.record));
          break;
        }
        chunk = failed;
        await sleep(50 * 2 ** attempt);
      }
    }

    recordPublished(records, afterImages, perRecord, firstFailed);
    return {
      batchItemFailures:
        firstFailed < records.length ? [{ itemIdentifier: records[firstFailed].dynamodb?.SequenceNumber ?? '' }] : [],
    };
  };
}

/** What a status change means for the business metrics: the metric its event counts in. */
const METRIC_OF_EVENT: Partial<Record<string, MetricName>> = {
  // Counted here rather than by the API: once per session, never for a replayed create, and no EMF line on the API's hot path.
  [`${SESSION_EVENT_PREFIX}created`]: METRIC.sessionsCreated,
  [`${SESSION_EVENT_PREFIX}processing`]: METRIC.sessionsSubmitted,
  [`${SESSION_EVENT_PREFIX}verified`]: METRIC.sessionsVerified,
  [`${SESSION_EVENT_PREFIX}requires_input`]: METRIC.sessionsRequiresInput,
  [`${SESSION_EVENT_PREFIX}canceled`]: METRIC.sessionsCanceled,
  [`${SESSION_EVENT_PREFIX}redacted`]: METRIC.sessionsRedacted,
};

/**
 * The metrics of the records published (those before the first failure): one
 * count per status change, each seen here once per event, and the oldest
 * record's lag from its write to now.
 */
function recordPublished(records: DynamoDBStreamEvent['Records'], afterImages: (SessionRecord | undefined)[], perRecord: EventRecord[][], published: number) {
  let oldestWriteMs: number | undefined;
  for (let i = 0; i < published; i++) {
    const written = records[i].dynamodb?.ApproximateCreationDateTime;
    if (written !== undefined) oldestWriteMs = Math.min(oldestWriteMs ?? Infinity, written * 1000);
    for (const e of perRecord[i]) {
      const name = METRIC_OF_EVENT[e.type];
      if (!name) continue;
      if (name === METRIC.sessionsRequiresInput) recordMetric(name, 1, { name: 'error_code', value: afterImages[i]?.last_error?.code ?? 'none' });
      else recordMetric(name);
    }
  }
  if (oldestWriteMs !== undefined) recordMetric(METRIC.streamPublisherLag, Math.max(0, Date.now() - oldestWriteMs));
}
