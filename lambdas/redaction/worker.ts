import type { SQSBatchResponse, SQSEvent } from 'aws-lambda';
import { EVENT_RETENTION_SECONDS, redactEvent } from '../domain/event.js';
import { decodeTime } from '../domain/ids.js';
import { redactReport } from '../domain/report.js';
import { type Scope, type SessionRecord, applyFinishRedaction, redactRenderedSession } from '../domain/session.js';
import type { EventStore } from '../store/event-store.js';
import { type FileStore, UPLOAD_URL_SECONDS, sessionPrefix } from '../store/file-store.js';
import type { IdempotencyStore } from '../store/idempotency.js';
import type { FileRecordStore } from '../store/file-record-store.js';
import type { ReportStore } from '../store/report-store.js';
import { type SessionStore, StaleSession } from '../store/session-store.js';
import { type RedactionMessage, type RedactionQueue, parseRedactionMessage } from './queue.js';
import { logLine } from '../observability/powertools.js';

export interface RedactionDeps {
  sessions: SessionStore;
  events: EventStore;
  idempotency: IdempotencyStore;
  reports: ReportStore;
  fileRecords: FileRecordStore;
  files: FileStore;
  queue: RedactionQueue;
  /** When the files are deleted a second time (default UPLOAD_URL_SECONDS, when every upload URL issued before has expired). */
  filesAgainAfterSeconds?: number;
  now?: () => number;
  log?: (line: string) => void;
}

/** Events linked to the session but not stored yet: the redaction waits for them (the message is retried). */
export class EventsNotStoredYet extends Error {
  constructor(count: number) {
    super(`${count} event(s) of the session are not stored yet`);
  }
}

/** A saved Idempotency-Key result that shows the session, as redaction leaves it. */
export function redactSavedBody(body: unknown): unknown {
  const obj = body as { object?: unknown } | null;
  return obj && typeof obj === 'object' && obj.object === 'identity.verification_session'
    ? redactRenderedSession(body as Record<string, unknown>)
    : body;
}

interface CopyContext {
  deps: RedactionDeps;
  scope: Scope;
  session: SessionRecord;
  nowMs: number;
}

/**
 * Every place, besides the session item, where a copy of a session's personal
 * data lives, and how each is found without a scan. Redaction walks this
 * list; each step is idempotent, so a retried message finishes what a crashed
 * one began. Places that hold no copy, by design: webhook deliveries and
 * resends (every attempt reads the stored event, so they send its redacted
 * version); the service's own route queues and their dead-letter queues (they
 * get a reference to the event, ROUTE_MESSAGE in lambdas/events/routing.ts);
 * logs (paths are masked, bodies never logged). Events already published on
 * the bus, and webhooks already delivered, are the subscriber's copies.
 */
export const PERSONAL_DATA_COPIES: { name: string; redact: (c: CopyContext) => Promise<number> }[] = [
  {
    // Found through the session's event list (VE#<vs_id>), which the publisher
    // writes before it stores the events. Marking the list first makes the
    // publisher store any event linked later redacted; an event linked before
    // but not stored yet (its stream batch is being retried) is waited for.
    name: 'stored events',
    redact: async ({ deps, scope, session, nowMs }) => {
      const ids = await deps.events.markSessionRedacted(scope, session.id, Math.floor(nowMs / 1000));
      const stored = await deps.events.getMany(scope, ids);
      const found = new Set(stored.map((e) => e.id));
      const expiredBefore = nowMs - EVENT_RETENTION_SECONDS * 1000;
      const missing = ids.filter((id) => !found.has(id) && decodeTime(id.slice('evt_'.length, 'evt_'.length + 8)) > expiredBefore);
      if (missing.length > 0) throw new EventsNotStoredYet(missing.length);
      const changed = stored
        .map((e) => ({ before: e, after: redactEvent(e) }))
        .filter(({ before, after }) => JSON.stringify(before.data) !== JSON.stringify(after.data));
      await Promise.all(changed.map(({ after }) => deps.events.replaceData(after)));
      return changed.length;
    },
  },
  {
    // Saved results in records of their own (keyed creates, and changes saved before results moved onto the
    // session item), listed on the item (saved_keys). Results kept on the item are scrubbed with it (saved-results.ts).
    name: 'saved Idempotency-Key results',
    redact: ({ deps, scope, session, nowMs }) => {
      const keys = (session.saved_keys ?? []).filter((k) => k.expires_at * 1000 > nowMs).map((k) => k.key);
      return deps.idempotency.rewriteBodies(scope, keys, nowMs, redactSavedBody);
    },
  },
  {
    // Listed on the session item (report_ids), written with each report.
    name: 'verification reports',
    redact: async ({ deps, scope, session }) => {
      const reports = session.report_ids
        ? await deps.reports.getMany(scope, session.report_ids)
        : await deps.reports.allOfSession(scope, session.id); // sessions stored before report_ids existed
      const unredacted = reports.filter((r) => !r.redacted);
      await Promise.all(unredacted.map((r) => deps.reports.replace(redactReport(r))));
      return unredacted.length;
    },
  },
  {
    // Listed on the session item (file_ids), written with the report that names
    // them. Each file is marked first (no new link), then its links and it are
    // deleted: the Files API answers 404 for all of them from then on.
    name: 'file records and file links',
    redact: ({ deps, scope, session }) => deps.fileRecords.redact(scope, session.file_ids ?? []),
  },
  {
    // Under the session's own key prefix in the bucket.
    name: 'files',
    redact: ({ deps, scope, session }) => deps.files.deletePrefix(sessionPrefix(scope, session.id)),
  },
];

/** How long after its URL expired an upload that began in time may still land (10 MB on a slow link). */
export const LATE_UPLOAD_MARGIN_SECONDS = 5 * 60;

export type RedactionOutcome = 'redacted' | 'nothing_to_do' | 'waiting_for_checks';

/**
 * Finishes a redaction: every copy in PERSONAL_DATA_COPIES redacted, a second
 * deletion of the files booked for when the last upload URL has expired, then
 * one conditional write that sets `redaction.status: redacted` (and cancels a
 * session the checks sent back to requires_input). That write makes the
 * `redacted` event. A session still processing waits: the checks' own write
 * sends it here again.
 */
export async function finishRedaction(deps: RedactionDeps, scope: Scope, sessionId: string): Promise<RedactionOutcome> {
  const now = deps.now ?? Date.now;
  const log = deps.log ?? logLine;
  for (let attempt = 0; attempt < 5; attempt++) {
    const session = await deps.sessions.get(scope, sessionId);
    if (!session || session.redaction?.status !== 'processing') return 'nothing_to_do';
    if (session.status === 'processing') return 'waiting_for_checks';
    const nowMs = now();
    const counts: Record<string, number> = {};
    for (const copy of PERSONAL_DATA_COPIES) counts[copy.name] = await copy.redact({ deps, scope, session, nowMs });
    // An upload URL issued just before the redaction can still be used until it expires.
    await deps.queue.send([{ kind: 'files', account: scope.account, livemode: scope.livemode, session: sessionId }], deps.filesAgainAfterSeconds ?? UPLOAD_URL_SECONDS);
    const next = applyFinishRedaction(session, { updated_ms: now(), last_request: null });
    try {
      await deps.sessions.commit(next, { action: 'finish_redaction', version: session.version });
    } catch (err) {
      if (err instanceof StaleSession) continue; // changed meanwhile (the checks ended): redact what it holds now
      throw err;
    }
    log(JSON.stringify({ level: 'info', message: 'session redacted', session: sessionId, redacted: counts }));
    return 'redacted';
  }
  throw new Error('the session kept changing while it was being redacted');
}

/** The redaction queue's consumer. */
export function createRedactionWorker(deps: RedactionDeps) {
  const log = deps.log ?? logLine;
  async function handle(m: RedactionMessage) {
    const scope = { account: m.account, livemode: m.livemode };
    if (m.kind === 'files') {
      const deleted = await deps.files.deletePrefix(sessionPrefix(scope, m.session));
      if (deleted > 0) log(JSON.stringify({ level: 'info', message: 'files uploaded after a redaction deleted', session: m.session, deleted }));
      if (!m.last) await deps.queue.send([{ ...m, last: true }], LATE_UPLOAD_MARGIN_SECONDS);
      return;
    }
    await finishRedaction(deps, scope, m.session);
  }
  return async (batch: SQSEvent): Promise<SQSBatchResponse> => {
    const failures: SQSBatchResponse['batchItemFailures'] = [];
    await Promise.all(
      batch.Records.map(async (record) => {
        const m = parseRedactionMessage(record.body);
        if (!m) {
          log(JSON.stringify({ level: 'error', message: 'unreadable redaction message', messageId: record.messageId }));
          failures.push({ itemIdentifier: record.messageId }); // to the dead-letter queue, for a person to look at
          return;
        }
        try {
          await handle(m);
        } catch (err) {
          log(JSON.stringify({ level: 'error', message: 'redaction failed; the message will be retried', session: m.session, error: err instanceof Error ? err.message : String(err) }));
          failures.push({ itemIdentifier: record.messageId });
        }
      }),
    );
    return { batchItemFailures: failures };
  };
}
