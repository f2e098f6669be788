import { GetCommand, QueryCommand, UpdateCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { DEFAULT_REASONS } from '../checks/provider.js';
import { type ChangeStamp, type Scope, type SessionRecord, applyRedact, transition } from '../domain/session.js';
import type { RedactionQueue } from '../redaction/queue.js';
import { errorName } from '../store/dynamo.js';
import { type SessionStore, type WatchedSession, StaleSession, sweepPartition } from '../store/session-store.js';
import { SESSION_SK_PREFIX, SWEEP_INDEX } from '../store/table.js';
import { logLine } from '../observability/powertools.js';

/**
 * The scheduled sweeps over sessions that time has caught up with:
 *
 * - retention: `verified` or `canceled` longer than the retention period:
 *   redacted, as `POST .../redact` does (off unless configured);
 * - abandonment: `requires_input` untouched longer than the abandonment
 *   period: canceled with `last_error.code: abandoned`, as Stripe reports an
 *   abandoned session (off unless configured);
 * - stuck checks: `processing` longer than STUCK_PROCESSING_AFTER_MS (the
 *   checks gave up: their message was dead-lettered or lost): back to
 *   `requires_input` with `document_unverified_other`, so that no session
 *   stays processing forever (always on);
 * - stuck redactions: a redaction asked for more than STUCK_REDACTION_AFTER_MS
 *   ago and not finished (its message was dead-lettered or lost): asked for
 *   again on the redaction queue, and again an hour later while it stays
 *   unfinished (always on; the worker is idempotent).
 *
 * How they find sessions: every session not yet redacted is in the sparse
 * `sweep` index (keys only) under its shard, sorted by a watch-from time
 * (`sweep_at`; see sweepKeys) that ordinary writes leave alone. Each sweep is
 * a window that trails now by its period (stuck checks and stuck redactions
 * share the hour's window; abandonment and retention trail by their period
 * and SETTLE_SLACK_MS more), and keeps per shard a watermark in the table
 * (WATERMARKS_KEY): a run queries `sweep_at` from the watermark to the window's
 * end, reads each session found (the index is eventually consistent), acts
 * with the same domain transition and conditional write as the API and the
 * workers (so the state machine decides and events flow as usual), and moves
 * the watermark past what it read (a run that reaches its limit continues
 * there on the next run). So each window reads each session once, not every run.
 *
 * A visited session that is not due yet but may become due later is re-keyed
 * (its `sweep_at` set to the time that window must see it from), a write of
 * the sweeper, off the API's path; one that can never become due for that
 * window is left, and the window never reads it again. A change the sweeper
 * makes (abandoned, unstuck, redacted) re-keys the session to now, so the
 * longer windows find it in its new state.
 */
export interface SweepSettings {
  /** Redact sessions verified or canceled for longer than this (ms); undefined: never. */
  retentionMs?: number;
  /** Cancel requires_input sessions untouched for longer than this (ms); undefined: never. */
  abandonAfterMs?: number;
  /** Fail processing sessions, and ask again for redactions, older than this (ms). */
  stuckAfterMs?: number;
  /** Sessions read per window, shard and run at most (the next run continues from the watermark). */
  limit?: number;
}

/**
 * How long a session may stay processing. The checks queue dead-letters a
 * message after 5 receives of up to 6 min each (30 min), and a test-mode
 * session may ask to wait 10 min first: an hour is past both.
 */
export const STUCK_PROCESSING_AFTER_MS = 60 * 60 * 1000;
/** The redaction worker retries a message 10 times, up to 6 min apart: an hour is past that. */
export const STUCK_REDACTION_AFTER_MS = 60 * 60 * 1000;
export const CHECKS_GAVE_UP_REASON = 'The checks could not complete. Please try again.';
const DAY_MS = 24 * 3600 * 1000;

/** Days from a setting (a stack prop or an env var): undefined when unset or empty; an error when not a positive number. */
export function daysSetting(name: string, value: string | number | undefined): number | undefined {
  if (value === undefined || value === '') return undefined;
  const days = Number(value);
  if (!Number.isFinite(days) || days <= 0) throw new Error(`${name} must be a positive number of days, got '${value}'`);
  return days * DAY_MS;
}

export interface SweepDeps {
  doc: DynamoDBDocumentClient;
  table: string;
  sessions: SessionStore;
  /** Where stuck redactions are asked for again. */
  redactions: RedactionQueue;
  now?: () => number;
  log?: (line: string) => void;
}

export interface SweepCounts {
  redacted: number;
  abandoned: number;
  unstuck: number;
  /** Redactions asked for again. */
  rerequested: number;
  /** Sessions read from the index's windows (a session counts once per window that reached it). */
  visited: number;
  /** Sessions visited before they were due and given a later watch-from time. */
  rekeyed: number;
}

/**
 * How much longer than their period the abandonment and retention windows
 * trail now: a session settled (or last touched) within this time after its
 * watch-from time is already due when its window reaches it, and needs no
 * re-key. Such a session is acted on up to this much after it became due (a
 * period shorter than an hour gets a slack of its own length).
 */
export const SETTLE_SLACK_MS = 60 * 60 * 1000;

/**
 * The sweeps' watermarks: one item (under `A#`, the sweeper's items; no
 * account id starts with `~`), one entry per window and shard.
 */
export const WATERMARKS_KEY = { pk: 'A#~sweep', sk: 'WATERMARKS' } as const;
/** How far behind its window's end a watermark may stay while its runs read nothing. */
const IDLE_SAVE_AFTER_MS = 60 * 60 * 1000;
/** The sweeps' windows: stuck checks and stuck redactions share the hour's. */
export const WINDOWS = ['stuck', 'abandon', 'retention'] as const;
export type WindowName = (typeof WINDOWS)[number];
export const watermarkName = (window: WindowName, shard: number) => `${window}_${shard}`;
/** How far a window has read a shard: every entry before (`at`, `after`) in index order. */
export interface Watermark {
  at: number;
  /** The table keys of the last entry read at `at`, when a run stopped at its limit there. */
  after?: { pk: string; sk: string };
}

/** Every watermark, by watermarkName (absent: the window has not read that shard yet, and starts at 0). */
export async function readWatermarks(doc: DynamoDBDocumentClient, table: string): Promise<Map<string, Watermark>> {
  const r = await doc.send(new GetCommand({ TableName: table, Key: WATERMARKS_KEY, ConsistentRead: true, ReturnConsumedCapacity: 'TOTAL' }));
  const marks = new Map<string, Watermark>();
  for (const window of WINDOWS)
    for (let shard = 0; shard < SWEEP_INDEX.shards; shard++) {
      const m = r.Item?.[watermarkName(window, shard)] as Watermark | undefined;
      if (m) marks.set(watermarkName(window, shard), { at: Number(m.at), ...(m.after ? { after: m.after } : {}) });
    }
  return marks;
}

/** Moves a watermark forward; never back (a concurrent run that went further wins). */
async function saveWatermark(deps: SweepDeps, name: string, mark: Watermark, nowMs: number): Promise<void> {
  try {
    await deps.doc.send(
      new UpdateCommand({
        TableName: deps.table,
        Key: WATERMARKS_KEY,
        UpdateExpression: 'SET #w = :mark, #u = :now',
        ConditionExpression: 'attribute_not_exists(#w) OR #w.#at <= :at',
        ExpressionAttributeNames: { '#w': name, '#at': 'at', '#u': 'updated_ms' },
        ExpressionAttributeValues: { ':mark': mark, ':at': mark.at, ':now': nowMs },
        ReturnConsumedCapacity: 'TOTAL',
      }),
    );
  } catch (err) {
    if (errorName(err) !== 'ConditionalCheckFailedException') throw err;
  }
}

const scopeFromPk = (pk: string): Scope | undefined => {
  const m = /^A#(acct_[0-9A-Za-z]+)#(test|live)$/.exec(pk);
  return m ? { account: m[1], livemode: m[2] === 'live' } : undefined;
};

interface Found {
  scope: Scope;
  id: string;
  /** Its watch-from time in the index. */
  at: number;
}

/**
 * One window over every shard: the index entries from each shard's watermark
 * to `end` (inclusive), oldest first, at most `limit` per shard; then the
 * watermark moves past what was read.
 */
async function runWindow(
  deps: SweepDeps,
  marks: Map<string, Watermark>,
  window: WindowName,
  end: number,
  limit: number,
  nowMs: number,
  visit: (found: Found) => Promise<void>,
) {
  for (let shard = 0; shard < SWEEP_INDEX.shards; shard++) {
    const name = watermarkName(window, shard);
    const mark = marks.get(name) ?? { at: 0 };
    if (mark.at > end) continue;
    let start: Record<string, unknown> | undefined = mark.after
      ? { [SWEEP_INDEX.partitionKey]: sweepPartition(shard), [SWEEP_INDEX.sortKey]: mark.at, ...mark.after }
      : undefined;
    let next: Watermark = { at: end };
    let read = 0;
    do {
      const r = await deps.doc.send(
        new QueryCommand({
          TableName: deps.table,
          IndexName: SWEEP_INDEX.name,
          KeyConditionExpression: '#spk = :spk AND #sat BETWEEN :from AND :end',
          ExpressionAttributeNames: { '#spk': SWEEP_INDEX.partitionKey, '#sat': SWEEP_INDEX.sortKey },
          ExpressionAttributeValues: { ':spk': sweepPartition(shard), ':from': mark.at, ':end': end },
          Limit: Math.min(100, limit - read),
          ExclusiveStartKey: start,
          ReturnConsumedCapacity: 'TOTAL',
        }),
      );
      for (const item of r.Items ?? []) {
        read++;
        const scope = scopeFromPk(String(item.pk));
        const sk = String(item.sk);
        if (scope && sk.startsWith(SESSION_SK_PREFIX)) await visit({ scope, id: sk.slice(SESSION_SK_PREFIX.length), at: Number(item[SWEEP_INDEX.sortKey]) });
      }
      start = r.LastEvaluatedKey;
      if (start && read >= limit) {
        // The limit: the next run continues right after the last entry read.
        next = { at: Number(start[SWEEP_INDEX.sortKey]), after: { pk: String(start.pk), sk: String(start.sk) } };
        break;
      }
    } while (start);
    // Nothing read: the watermark stays (the next run's range is the same, and longer) unless it is an hour
    // behind, so that idle runs write nothing and a session re-keyed behind the window's end is not read again.
    if (read > 0 || next.at - mark.at > IDLE_SAVE_AFTER_MS) await saveWatermark(deps, name, next, nowMs);
  }
}

type Change = { action: 'redact' | 'cancel' | 'checks_failed'; apply: (s: SessionRecord, stamp: ChangeStamp) => SessionRecord };

const CHANGES = {
  redact: { action: 'redact', apply: applyRedact },
  abandon: {
    action: 'cancel',
    apply: (s, stamp) => transition(s, 'cancel', stamp, (n) => (n.last_error = { code: 'abandoned', reason: DEFAULT_REASONS.abandoned })),
  },
  unstick: {
    action: 'checks_failed',
    apply: (s, stamp) =>
      transition(s, 'checks_failed', stamp, (n) => {
        n.last_error = { code: 'document_unverified_other', reason: CHECKS_GAVE_UP_REASON };
        if (n.submission) n.submission = { ...n.submission, id_number: null };
      }),
  },
} satisfies Record<string, Change>;

/** When the session entered its status and redaction status (a session stored before that was recorded: its last write). */
const since = (s: SessionRecord) => s.state_since_ms ?? s.updated_ms;

/** What a window does with a session it reads: act (a change), re-key it to a later watch-from time, or leave it. */
type Decision = { change: Change; counter: 'redacted' | 'abandoned' | 'unstuck' } | { rekey: number } | { rerequest: true } | undefined;

/** Reads the session, decides, writes; a session that changed meanwhile is read again and decided again. */
async function visitSession(deps: SweepDeps, counts: SweepCounts, found: Found, nowMs: number, decide: (s: SessionRecord) => Decision) {
  counts.visited++;
  for (let attempt = 0; attempt < 3; attempt++) {
    const s = await deps.sessions.get(found.scope, found.id);
    if (!s) return;
    const d = decide(s);
    if (!d) return;
    try {
      if ('change' in d) {
        const next: WatchedSession = d.change.apply(s, { updated_ms: nowMs, last_request: null });
        // Its new state starts now: the longer windows must find it from now.
        next.sweep_at = nowMs;
        await deps.sessions.commit(next, { action: d.change.action, version: s.version });
        counts[d.counter]++;
      } else if ('rerequest' in d) {
        await deps.redactions.send([{ kind: 'finish', account: found.scope.account, livemode: found.scope.livemode, session: found.id }]);
        counts.rerequested++;
        // Looked at again an hour on, and asked for again if still unfinished.
        await deps.sessions.rekey(found.scope, found.id, s.version, nowMs).catch((err) => {
          if (!(err instanceof StaleSession)) throw err;
        });
      } else {
        // Already keyed there (the window's end): the next run reads it again.
        if (d.rekey === (s as WatchedSession).sweep_at) return;
        await deps.sessions.rekey(found.scope, found.id, s.version, d.rekey);
        counts.rekeyed++;
      }
      return;
    } catch (err) {
      if (!(err instanceof StaleSession)) throw err;
    }
  }
}

/** One run of every sweep that is configured. */
export async function sweep(deps: SweepDeps, settings: SweepSettings): Promise<SweepCounts> {
  const now = (deps.now ?? Date.now)();
  const limit = settings.limit ?? 500;
  const counts: SweepCounts = { redacted: 0, abandoned: 0, unstuck: 0, rerequested: 0, visited: 0, rekeyed: 0 };
  const marks = await readWatermarks(deps.doc, deps.table);
  const window = (name: WindowName, end: number, decide: (s: SessionRecord) => Decision) =>
    runWindow(deps, marks, name, end, limit, now, (found) => visitSession(deps, counts, found, now, decide));

  // The hour's window: stuck checks and stuck redactions. A session in requires_input, verified or
  // canceled is left: a submit or a redact long after its watch-from time re-keys it (sweepKeys).
  const stuckAfter = settings.stuckAfterMs ?? STUCK_PROCESSING_AFTER_MS;
  await window('stuck', now - stuckAfter, (s) => {
    if (s.status === 'processing') return since(s) < now - stuckAfter ? { change: CHANGES.unstick, counter: 'unstuck' } : { rekey: since(s) };
    if (s.redaction?.status === 'processing') return since(s) < now - stuckAfter ? { rerequest: true } : { rekey: since(s) };
    return undefined;
  });
  const slack = (period: number) => Math.min(SETTLE_SLACK_MS, period);
  const abandonAfter = settings.abandonAfterMs;
  if (abandonAfter !== undefined)
    await window('abandon', now - abandonAfter - slack(abandonAfter), (s) => {
      if (s.redaction) return undefined; // never abandoned
      if (s.status === 'requires_input') return s.updated_ms < now - abandonAfter ? { change: CHANGES.abandon, counter: 'abandoned' } : { rekey: s.updated_ms };
      // The checks may yet send it back to requires_input.
      if (s.status === 'processing') return { rekey: now };
      return undefined; // verified or canceled: never abandoned
    });
  const retention = settings.retentionMs;
  if (retention !== undefined)
    await window('retention', now - retention - slack(retention), (s) => {
      if (s.redaction) return undefined; // its redaction was asked for already
      if (s.status === 'verified' || s.status === 'canceled') return since(s) < now - retention ? { change: CHANGES.redact, counter: 'redacted' } : { rekey: since(s) };
      // Not settled yet: looked at again a retention period on (a later settle is found from then).
      return { rekey: now };
    });

  const log = deps.log ?? logLine;
  if (counts.redacted + counts.abandoned + counts.unstuck + counts.rerequested > 0) log(JSON.stringify({ level: 'info', message: 'sweep', ...counts }));
  return counts;
}
