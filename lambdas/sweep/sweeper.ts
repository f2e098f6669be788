import { QueryCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { DEFAULT_REASONS } from '../checks/provider.js';
import { type ChangeStamp, type Scope, type SessionRecord, applyRedact, transition } from '../domain/session.js';
import type { Status } from '../domain/state-machine.js';
import type { RedactionQueue } from '../redaction/queue.js';
import { type SessionStore, StaleSession, type SweepGroup, sweepPartition } from '../store/session-store.js';
import { SESSION_SK_PREFIX, SWEEP_INDEX } from '../store/table.js';
import { logLine } from '../observability/powertools.js';

/**
 * The scheduled sweeps over sessions that time has caught up with. Each finds
 * its sessions in the sparse `sweep` index (status and time of the last
 * change), reads each one again (the index is eventually consistent), and
 * changes it with the same domain transition and conditional write as the API
 * and the workers, so the state machine decides and events flow as usual:
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
 *   again on the redaction queue (always on; the worker is idempotent).
 */
export interface SweepSettings {
  /** Redact sessions verified or canceled for longer than this (ms); undefined: never. */
  retentionMs?: number;
  /** Cancel requires_input sessions untouched for longer than this (ms); undefined: never. */
  abandonAfterMs?: number;
  /** Fail processing sessions, and ask again for redactions, older than this (ms). */
  stuckAfterMs?: number;
  /** Sessions acted on per sweep and run at most (the next run continues). */
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
}

const scopeFromPk = (pk: string): Scope | undefined => {
  const m = /^A#(acct_[0-9A-Za-z]+)#(test|live)$/.exec(pk);
  return m ? { account: m[1], livemode: m[2] === 'live' } : undefined;
};

/** Sessions of `status` whose last change is before `beforeMs`, oldest first, from every shard. */
async function* due(deps: SweepDeps, status: SweepGroup, beforeMs: number, limit: number): AsyncGenerator<{ scope: Scope; id: string }> {
  let found = 0;
  for (let shard = 0; shard < SWEEP_INDEX.shards; shard++) {
    let start: Record<string, unknown> | undefined;
    do {
      const r = await deps.doc.send(
        new QueryCommand({
          TableName: deps.table,
          IndexName: SWEEP_INDEX.name,
          KeyConditionExpression: '#spk = :spk AND #sat < :before',
          ExpressionAttributeNames: { '#spk': SWEEP_INDEX.partitionKey, '#sat': SWEEP_INDEX.sortKey },
          ExpressionAttributeValues: { ':spk': sweepPartition(status, shard), ':before': beforeMs },
          Limit: Math.min(100, limit - found),
          ExclusiveStartKey: start,
          ReturnConsumedCapacity: 'TOTAL',
        }),
      );
      for (const item of r.Items ?? []) {
        const scope = scopeFromPk(String(item.pk));
        const sk = String(item.sk);
        if (!scope || !sk.startsWith(SESSION_SK_PREFIX)) continue;
        yield { scope, id: sk.slice(SESSION_SK_PREFIX.length) };
        if (++found >= limit) return;
      }
      start = r.LastEvaluatedKey;
    } while (start);
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

/** Applies `change` to a session still in `statuses` and unchanged since `beforeMs`; false when it moved on meanwhile. */
async function act(deps: SweepDeps, scope: Scope, id: string, statuses: Status[], beforeMs: number, change: Change): Promise<boolean> {
  const s = await deps.sessions.get(scope, id);
  if (!s || !statuses.includes(s.status) || s.updated_ms >= beforeMs) return false;
  if (change.action !== 'checks_failed' && s.redaction) return false;
  const now = (deps.now ?? Date.now)();
  try {
    await deps.sessions.commit(change.apply(s, { updated_ms: now, last_request: null }), { action: change.action, version: s.version });
    return true;
  } catch (err) {
    if (err instanceof StaleSession) return false;
    throw err;
  }
}

/** One run of every sweep that is configured. */
export async function sweep(deps: SweepDeps, settings: SweepSettings): Promise<SweepCounts> {
  const now = (deps.now ?? Date.now)();
  const limit = settings.limit ?? 500;
  const counts: SweepCounts = { redacted: 0, abandoned: 0, unstuck: 0, rerequested: 0 };
  const run = async (statuses: Status[], olderThanMs: number, change: Change, counter: keyof SweepCounts) => {
    for (const status of statuses)
      for await (const { scope, id } of due(deps, status, now - olderThanMs, limit))
        if (await act(deps, scope, id, statuses, now - olderThanMs, change)) counts[counter]++;
  };
  await run(['processing'], settings.stuckAfterMs ?? STUCK_PROCESSING_AFTER_MS, CHANGES.unstick, 'unstuck');
  if (settings.abandonAfterMs !== undefined) await run(['requires_input'], settings.abandonAfterMs, CHANGES.abandon, 'abandoned');
  if (settings.retentionMs !== undefined) await run(['verified', 'canceled'], settings.retentionMs, CHANGES.redact, 'redacted');
  const stuck: { scope: Scope; id: string }[] = [];
  for await (const found of due(deps, 'redacting', now - (settings.stuckAfterMs ?? STUCK_REDACTION_AFTER_MS), limit)) stuck.push(found);
  for (const { scope, id } of stuck) {
    const s = await deps.sessions.get(scope, id);
    if (s?.redaction?.status !== 'processing' || s.status === 'processing') continue;
    await deps.redactions.send([{ kind: 'finish', account: scope.account, livemode: scope.livemode, session: id }]);
    counts.rerequested++;
  }
  const log = deps.log ?? logLine;
  if (counts.redacted + counts.abandoned + counts.unstuck + counts.rerequested > 0) log(JSON.stringify({ level: 'info', message: 'sweep', ...counts }));
  return counts;
}
