import { createHash } from 'node:crypto';
import { redactVerifiedOutputs, type VerifiedOutputs } from './report.js';
import type { SessionRecord } from './session.js';

/**
 * Idempotency-Key results of session changes, kept on the session item itself
 * so that a keyed update or cancel is ONE UpdateItem (no separate record, no
 * transaction).
 *
 * A keyed change writes a small entry under the key (`replays`): the request's
 * fingerprint, the status code, and when it happened. The response body is
 * not stored: it is the session as that write left it, rendered at that time.
 * The write cannot know that body beforehand (it changes the item without
 * reading it), so the item keeps, instead, what later writes overwrote: each
 * later write records the previous values of the rendered fields it changes
 * (`undo`, keyed by the write's time). Replaying an entry takes the current
 * item, puts back the values of every write made after the entry, newest
 * first, and renders the result at the entry's time: the first response,
 * byte for byte (client secret and url included, they derive from the seed,
 * the attempt and the time).
 *
 * Both maps are bounded: entries older than 24 hours, and undo records no live
 * entry needs, are dropped by the next write that rewrites the whole item; a
 * change without a read refuses to run past MAX_REPLAY_ENTRIES or
 * MAX_UNDO_RECORDS (it then takes the read-modify-write path, which evicts).
 */
export const REPLAY_TTL_MS = 24 * 3600 * 1000;
export const MAX_REPLAY_ENTRIES = 32;
export const MAX_UNDO_RECORDS = 128;

export interface ReplayEntry {
  /** The first 16 characters of the request's fingerprint. */
  f: string;
  /** The response's status code. */
  s: number;
  /** When the request was answered (ms): the item's `updated_ms` after a successful change. */
  t: number;
  /** 1 when the response expanded `verified_outputs`. */
  x?: 1;
  /** A refusal's body (JSON), saved as it was. */
  e?: string;
  /** 1 when the result is in the separate saved-result record (responses that expanded the report). */
  i?: 1;
}

/** The fields a rendered session depends on that a change can alter. */
export const RENDERED_MUTABLE_FIELDS = [
  'status',
  'type',
  'options',
  'metadata',
  'provided_details',
  'redaction',
  'last_error',
  'last_verification_report',
  'verified_outputs',
  'secret_seed',
  'attempt',
] as const satisfies readonly (keyof SessionRecord)[];

/** The map key of an Idempotency-Key on the item: 96 bits of its hash (keys can be 255 characters long). */
export const replayName = (key: string) => createHash('sha256').update(key).digest('base64url').slice(0, 16);
export const shortFingerprint = (fingerprint: string) => fingerprint.slice(0, 16);

/**
 * The name of an undo record: `<write time ms>[.<writer>]|<field>` or
 * `<write time ms>[.<writer>]|md|<metadata key>` for one metadata key (absent
 * before: null). `writer` separates two changes without a read in one millisecond.
 */
export const undoName = (writeMs: number, writer: string | undefined, field: string) => `${writeMs}${writer ? `.${writer}` : ''}|${field}`;
const undoTime = (name: string) => Number(name.slice(0, name.search(/[.|]/)));
const undoField = (name: string) => name.slice(name.indexOf('|') + 1);

const liveEntries = (entries: Record<string, ReplayEntry> | undefined, nowMs: number) =>
  Object.entries(entries ?? {}).filter(([, e]) => e.t > nowMs - REPLAY_TTL_MS);

/**
 * Bookkeeping of a change computed in memory (a read-modify-write): expired
 * entries and unneeded undo records dropped, and the previous values of the
 * rendered fields this change alters recorded for the entries still live.
 * A change that starts a redaction keeps no personal data in them.
 */
export function carrySavedResults(previous: SessionRecord, next: SessionRecord, writeMs: number): void {
  if (previous.replays === undefined) return; // stored before saved results moved onto the item
  const live = liveEntries(previous.replays, writeMs);
  next.replays = Object.fromEntries(live);
  const oldest = Math.min(...live.map(([, e]) => e.t));
  const undo: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(previous.undo ?? {})) if (undoTime(name) > oldest) undo[name] = value;
  if (live.length > 0) {
    for (const field of RENDERED_MUTABLE_FIELDS) {
      if (field === 'metadata') {
        // Key by key: a change of one value keeps that value, not the whole map (up to 50 values of 500 characters).
        const before = previous.metadata ?? {};
        const after = next.metadata ?? {};
        for (const k of new Set([...Object.keys(before), ...Object.keys(after)]))
          if (before[k] !== after[k]) undo[undoName(writeMs, undefined, `md|${k}`)] = before[k] ?? null;
      } else if (JSON.stringify(previous[field] ?? null) !== JSON.stringify(next[field] ?? null)) {
        undo[undoName(writeMs, undefined, field)] = structuredClone(previous[field] ?? null);
      }
    }
  }
  next.undo = next.redaction ? scrubUndo(undo) : undo;
}

/** Undo records as a redaction leaves them: no metadata, provided details and verified outputs as `[redacted]`, no secret seed. */
function scrubUndo(undo: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(undo)) {
    const field = undoField(name);
    if (field === 'metadata') out[name] = {};
    else if (field.startsWith('md|')) continue; // the redacted metadata is empty whatever it held
    else if (field === 'secret_seed') out[name] = null;
    else if (field === 'provided_details') out[name] = value === null ? null : redactLeaves(value);
    else if (field === 'verified_outputs') out[name] = value === null ? null : redactVerifiedOutputs(value as VerifiedOutputs);
    else out[name] = value;
  }
  return out;
}

function redactLeaves(value: unknown): unknown {
  if (value === null || value === undefined) return value;
  if (typeof value === 'object') return Object.fromEntries(Object.entries(value as object).map(([k, v]) => [k, redactLeaves(v)]));
  return '[redacted]';
}

/** The session as it was just after the write made at `writeMs`: the current item with every later write undone. */
export function sessionAsOf(current: SessionRecord, writeMs: number): SessionRecord {
  const s = structuredClone(current);
  const later = Object.entries(current.undo ?? {})
    .filter(([name]) => undoTime(name) > writeMs)
    .sort(([a], [b]) => undoTime(b) - undoTime(a));
  for (const [name, value] of later) {
    const field = undoField(name);
    if (field.startsWith('md|')) {
      const key = field.slice('md|'.length);
      if (value === null) delete s.metadata[key];
      else s.metadata[key] = value as string;
    } else {
      (s as unknown as Record<string, unknown>)[field] = structuredClone(value);
    }
  }
  return s;
}
