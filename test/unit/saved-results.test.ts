import { describe, expect, it } from 'vitest';
import { REPLAY_TTL_MS, sessionAsOf, undoName } from '../../lambdas/domain/saved-results.js';
import { type SessionRecord, applyCancel, applyRedact, applyUpdate, newSession } from '../../lambdas/domain/session.js';

const T0 = Date.UTC(2026, 0, 5, 10);
const scope = { account: 'acct_1Abc', livemode: false };
const stamp = (ms: number) => ({ updated_ms: ms, last_request: { id: `req_${ms}`, idempotency_key: `k${ms}` } });

function session(): SessionRecord {
  return newSession(
    { type: 'document', metadata: { order: '1', note: 'Jo Example' }, provided_details: { email: 'jo@example.com' } },
    { id: 'vs_0VcW0tG1uzvjBt9erE2WL3kH', scope, nowMs: T0, request: null },
  );
}
const entry = (t: number) => ({ f: 'f'.repeat(16), s: 200, t });

describe('results of keyed changes kept on the session item', () => {
  it('rebuilds the session as each keyed change left it, through later changes', () => {
    const s0 = session();
    s0.replays = { a: entry(T0) };
    const s1 = applyUpdate(s0, { metadata: { order: '2', extra: 'x' } }, stamp(T0 + 10));
    s1.replays!.b = entry(T0 + 10);
    const s2 = applyCancel(s1, stamp(T0 + 20));
    expect(sessionAsOf(s2, T0).metadata).toEqual({ order: '1', note: 'Jo Example' });
    expect(sessionAsOf(s2, T0).status).toBe('requires_input');
    expect(sessionAsOf(s2, T0 + 10).metadata).toEqual({ order: '2', note: 'Jo Example', extra: 'x' });
    expect(sessionAsOf(s2, T0 + 10).status).toBe('requires_input');
    expect(sessionAsOf(s2, T0 + 20)).toEqual(s2);
  });

  it('undo records written without a read (one per metadata key, absent as null) are applied newest first', () => {
    const s = session();
    s.metadata = { order: '3' };
    s.undo = {
      [undoName(T0 + 10, 'abcd', 'md|order')]: '1',
      [undoName(T0 + 10, 'abcd', 'md|note')]: 'Jo Example',
      [undoName(T0 + 20, 'efgh', 'md|order')]: '2',
      [undoName(T0 + 20, 'efgh', 'md|new')]: null,
    };
    s.metadata.new = 'n';
    expect(sessionAsOf(s, T0 + 10).metadata).toEqual({ order: '2' });
    expect(sessionAsOf(s, T0).metadata).toEqual({ order: '1', note: 'Jo Example' });
  });

  it('keeps no undo records without live entries, and drops entries after 24 hours', () => {
    const s0 = session();
    const s1 = applyUpdate(s0, { metadata: { order: '2' } }, stamp(T0 + 10));
    expect(s1.undo).toEqual({});
    s1.replays = { old: entry(T0 + 10) };
    const s2 = applyUpdate(s1, { metadata: { order: '3' } }, stamp(T0 + 10 + REPLAY_TTL_MS));
    expect(s2.replays).toEqual({});
    expect(s2.undo).toEqual({});
  });

  it('a redaction leaves no personal value in the undo records', () => {
    const s0 = session();
    s0.replays = { a: entry(T0) };
    const s1 = applyUpdate(s0, { metadata: { note: 'Jo Again' }, provided_details: { email: 'jo2@example.com' } }, stamp(T0 + 10));
    const s2 = applyRedact(s1, stamp(T0 + 20));
    const text = JSON.stringify(s2.undo);
    for (const personal of ['Jo Example', 'Jo Again', 'jo@example.com', 'jo2@example.com', s0.secret_seed!]) expect(text).not.toContain(personal);
    const asFirst = sessionAsOf(s2, T0);
    expect(asFirst.redaction).toBeNull();
    expect(asFirst.metadata).toEqual({});
    expect(asFirst.provided_details).toEqual({ email: '[redacted]' });
    expect(asFirst.secret_seed).toBeNull();
  });
});
