import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Scope } from '../../lambdas/domain/session.js';
import { type SessionRecord, applyFinishRedaction, newSession, transition } from '../../lambdas/domain/session.js';
import type { Action } from '../../lambdas/domain/state-machine.js';
import { GetCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { backfillSweepIndex } from '../../lambdas/sweep/backfill.js';
import { SessionStore, sessionKey } from '../../lambdas/store/session-store.js';
import { CHECKS_GAVE_UP_REASON, type SweepCounts, daysSetting, sweep } from '../../lambdas/sweep/sweeper.js';
import { type TestService, startTestService } from '../support/api.js';
import { until } from '../support/until.js';
import { freshTable } from '../support/dynamo.js';
import type { RedactionMessage } from '../../lambdas/redaction/queue.js';
import { timeOrderedId } from '../../lambdas/domain/ids.js';

const SESSIONS = '/v1/identity/verification_sessions';
/**
 * A short bound, so that a sweep acts within the test: a session is "old" after
 * 1.5 s. Each sweep runs in a service of its own, with the others at their
 * defaults (off, or an hour), so that on a slow machine one cannot overtake
 * another's session.
 */
const BOUND_MS = 1500;
const services: Record<'stuck' | 'abandon' | 'retention', TestService> = {} as never;
let svc: TestService;
let store: SessionStore;
let scope: Scope;

beforeAll(async () => {
  [services.stuck, services.abandon, services.retention] = await Promise.all([
    startTestService({ sweep: { intervalMs: 200, stuckAfterMs: BOUND_MS } }),
    startTestService({ sweep: { intervalMs: 200, abandonAfterMs: BOUND_MS } }),
    startTestService({ sweep: { intervalMs: 200, retentionMs: BOUND_MS } }),
  ]);
  svc = services.stuck;
  // Its submits re-key as the API's do against the hour's bound, scaled to this one.
  store = new SessionStore(svc.doc, svc.tableName, { rekeyOlderThanMs: BOUND_MS / 2 });
  scope = { account: svc.account, livemode: false };
});
afterAll(() => Promise.all(Object.values(services).map((s) => s?.stop())));

const session = (id: string, on = svc) => on.call('GET', `${SESSIONS}/${id}`).then((r) => r.body);
const eventTypes = async (id: string, on = svc) =>
  (await on.call('GET', '/v1/events?limit=100')).body.data
    .filter((e: any) => e.data.object.id === id)
    .map((e: any) => e.type.replace('identity.verification_session.', ''))
    .reverse();

describe('scheduled sweeps under npm start', () => {
  it('a session stuck in processing goes back to requires_input, with its event', async () => {
    const created = (await svc.call('POST', SESSIONS, 'type=document&metadata[a]=b')).body;
    // Submitted, but no checks will ever finish it (its submission is gone, as after a lost message).
    const s = (await store.get(scope, created.id))!;
    await store.commit(transition(s, 'submit', { updated_ms: Date.now(), last_request: null }, (n) => (n.attempt += 1)), { action: 'submit', version: s.version });
    expect((await session(created.id)).status).toBe('processing');
    const back = await until('requires_input', () => session(created.id), (x) => x.status === 'requires_input');
    expect(back.last_error).toEqual({ code: 'document_unverified_other', reason: CHECKS_GAVE_UP_REASON });
    expect(back.metadata).toEqual({ a: 'b' });
    // A fresh url works again: the user can retry.
    expect(back.url).toMatch(/\/verify\//);
    await until('its events', () => eventTypes(created.id), (t) => t.includes('requires_input'));
    expect(await eventTypes(created.id)).toEqual(['created', 'processing', 'requires_input']);
  });

  it('a session awaiting input, untouched past the bound, is canceled as abandoned', async () => {
    const on = services.abandon;
    const created = (await on.call('POST', SESSIONS, 'type=document')).body;
    const done = await until('canceled', () => session(created.id, on), (x) => x.status === 'canceled');
    expect(done.last_error.code).toBe('abandoned');
    expect(done.redaction).toBeNull();
  });

  it('a verified session past the retention period is redacted through the redact path', async () => {
    const on = services.retention;
    const created = (await on.call('POST', SESSIONS, 'type=id_number&provided_details[email]=kept.too.long@example.org')).body;
    const submitted = await fetch(`${created.url}/submit`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
      body: 'id_number=000000000&test_outcome=verified',
    });
    expect(submitted.status).toBe(200);
    const done = await until('redacted', () => session(created.id, on), (x) => x.redaction?.status === 'redacted');
    expect(done).toMatchObject({ status: 'verified', provided_details: { email: '[redacted]' } });
    await until('the redacted event', () => eventTypes(created.id, on), (t) => t.includes('redacted'));
    expect(await eventTypes(created.id, on)).toEqual(['created', 'processing', 'verified', 'redacted']);
  });
});

const HOUR = 3600 * 1000;
const DAY = 24 * HOUR;
const NONE = { redacted: 0, abandoned: 0, unstuck: 0, rerequested: 0, visited: 0, rekeyed: 0 };

/** A table no service sweeps, so that only the test's calls act on it, at the times it gives them. */
async function ownTable(name: string) {
  const { tableName, doc } = await freshTable(name);
  const own = new SessionStore(doc, tableName);
  const sent: RedactionMessage[] = [];
  const at = (nowMs: number) => ({
    doc,
    table: tableName,
    sessions: own,
    redactions: { send: async (m: RedactionMessage[]) => void sent.push(...m) },
    now: () => nowMs,
    log: () => {},
  });
  const raw = async (id: string) => (await doc.send(new GetCommand({ TableName: tableName, Key: sessionKey(scope, id) }))).Item!;
  const create = async (t: number) => {
    const s = newSession({ type: 'document' }, { id: timeOrderedId('vs', t), scope, nowMs: t, request: null });
    await own.commit(s, 'create');
    return (await own.get(scope, s.id))!;
  };
  const change = async (s: SessionRecord, action: Action, t: number, edit?: (n: SessionRecord) => void) => {
    await own.commit(transition(s, action, { updated_ms: t, last_request: null }, edit), { action, version: s.version });
    return (await own.get(scope, s.id))!;
  };
  const submit = (s: SessionRecord, t: number) => change(s, 'submit', t, (n) => (n.attempt += 1));
  return { doc, tableName, own, sent, at, raw, create, change, submit };
}

describe('the sweeps as configured', () => {
  it('retention and abandonment are off unless set; the stuck-checks sweep always runs', { timeout: 120_000 }, async () => {
    const { own, sent, at, create, change, submit } = await ownTable('sweep');
    const t0 = Date.now();
    const waiting = (await create(t0)).id;
    const stuck = (await submit(await create(t0), t0)).id;
    const verified = (await change(await submit(await create(t0), t0), 'checks_passed', t0)).id;
    // A year later, with nothing configured: only the stuck session is changed.
    const later = t0 + 365 * DAY;
    expect(await sweep(at(later), {})).toEqual({ ...NONE, unstuck: 1, visited: 3 });
    expect((await own.get(scope, waiting))!).toMatchObject({ status: 'requires_input', last_error: null });
    expect((await own.get(scope, verified))!).toMatchObject({ status: 'verified', redaction: null });
    expect((await own.get(scope, stuck))!.status).toBe('requires_input');
    // Configured, the same call acts on both; a second run finds nothing left to do, and reads nothing.
    const year = 300 * DAY;
    expect(await sweep(at(later), { retentionMs: year, abandonAfterMs: year })).toEqual({
      ...NONE,
      redacted: 1,
      abandoned: 1, // the waiting session; the one just sent back to requires_input was touched now
      visited: 3, // abandonment: the waiting and the verified session; retention: the verified one
    });
    expect((await own.get(scope, waiting))!.last_error?.code).toBe('abandoned');
    expect((await own.get(scope, verified))!.redaction).toEqual({ status: 'processing' });
    expect(await sweep(at(later), { retentionMs: year, abandonAfterMs: year })).toEqual(NONE);
    expect(sent).toEqual([]);
    // No redaction worker runs on this table: two hours on, the redaction is asked for again, and an hour after that again.
    expect(await sweep(at(later + 2 * HOUR), {})).toMatchObject({ rerequested: 1 });
    expect(sent).toEqual([{ kind: 'finish', account: scope.account, livemode: false, session: verified }]);
    expect(await sweep(at(later + 2.5 * HOUR), {})).toMatchObject({ rerequested: 0 });
    expect(await sweep(at(later + 3.1 * HOUR), {})).toMatchObject({ rerequested: 1 });
  });

  it('keeps the index entry where create put it: a keyed update and a keyed cancel move nothing; a finished redaction removes it', async () => {
    // The stuck-checks service: no sweep there cancels or redacts a session waiting for input.
    const on = services.stuck;
    const raw = async (id: string) => (await on.doc.send(new GetCommand({ TableName: on.tableName, Key: sessionKey({ account: on.account, livemode: false }, id) }))).Item!;
    const id = (await on.call('POST', SESSIONS, 'type=document')).body.id as string;
    const created = await raw(id);
    expect(created.sweep_pk).toMatch(/^SW#[0-3]$/);
    expect(created.sweep_at).toBe(created.updated_ms);
    expect((await on.call('POST', `${SESSIONS}/${id}`, 'metadata[a]=b', { headers: { 'Idempotency-Key': `sweep-u-${id}` } })).status).toBe(200);
    const updated = await raw(id);
    expect([updated.sweep_pk, updated.sweep_at]).toEqual([created.sweep_pk, created.sweep_at]);
    expect(updated.updated_ms).toBeGreaterThan(created.updated_ms);
    expect((await on.call('POST', `${SESSIONS}/${id}/cancel`, '', { headers: { 'Idempotency-Key': `sweep-c-${id}` } })).status).toBe(200);
    const canceled = await raw(id);
    expect(canceled.status).toBe('canceled');
    expect([canceled.sweep_pk, canceled.sweep_at]).toEqual([created.sweep_pk, created.sweep_at]);
    await on.call('POST', `${SESSIONS}/${id}/redact`);
    await until('redacted', () => session(id, on), (x) => x.redaction?.status === 'redacted');
    const redacted = await raw(id);
    expect(redacted.sweep_pk).toBeUndefined();
    expect(redacted.sweep_at).toBeUndefined();
  });

  it('a session canceled a day after creation is redacted at retention once, and no run after reads it again', { timeout: 120_000 }, async () => {
    const { own, at, raw, create, change } = await ownTable('retention');
    const t0 = Date.now();
    const s = await change(await create(t0), 'cancel', t0 + DAY);
    expect((await raw(s.id)).sweep_at).toBe(t0); // the cancel wrote no index entry
    const settings = { retentionMs: 10 * DAY };
    const counts: (SweepCounts & { t: number })[] = [];
    const runAt = async (days: number[]) => {
      for (const d of days) counts.push({ t: d, ...(await sweep(at(t0 + d * DAY), settings)) });
    };
    const total = (k: keyof SweepCounts) => counts.reduce((n, c) => n + c[k], 0);
    await runAt([1, 2, 5, 10, 10.05, 10.1, 10.5, 11, 11.02, 11.05]);
    expect(total('redacted')).toBe(1);
    // Redacted by the first run after 11 days (its cancel) and an hour, not before.
    expect(counts.find((c) => c.redacted === 1)!.t).toBe(11.05);
    // Read three times: by the hour's window a day in (canceled: left), by the retention window at 10 days
    // (not due: re-keyed to its cancel) and at 11 days (redacted).
    expect([total('visited'), total('rekeyed')]).toEqual([3, 1]);
    const redacting = (await own.get(scope, s.id))!;
    expect(redacting.redaction).toEqual({ status: 'processing' });
    // The redaction worker finishes: the session leaves the index, and no run reads it again.
    await own.commit(applyFinishRedaction(redacting, { updated_ms: t0 + 11.06 * DAY, last_request: null }), { action: 'finish_redaction', version: redacting.version });
    expect((await raw(s.id)).sweep_pk).toBeUndefined();
    counts.length = 0;
    await runAt([11.5, 12, 20, 100, 400]);
    expect(counts.map(({ t: _t, ...c }) => c)).toEqual(counts.map(() => NONE));
  });

  it('a session submitted long after creation is found by the stuck-checks sweep an hour after the submit', { timeout: 120_000 }, async () => {
    const { own, at, raw, create, submit } = await ownTable('late-submit');
    const t0 = Date.now();
    const early = await create(t0);
    const late = await create(t0);
    // The hour's window passes both while they wait for input.
    expect(await sweep(at(t0 + 2 * HOUR), {})).toEqual({ ...NONE, visited: 2 });
    await submit(early, t0 + 2 * HOUR + 1);
    await submit(late, t0 + 3 * HOUR);
    // Entering processing long after its watch-from time moves the entry to the submit.
    expect((await raw(late.id)).sweep_at).toBe(t0 + 3 * HOUR);
    expect(await sweep(at(t0 + 3 * HOUR + 59 * 60_000), {})).toMatchObject({ unstuck: 1 }); // the earlier one
    expect((await own.get(scope, late.id))!.status).toBe('processing');
    expect(await sweep(at(t0 + 4 * HOUR + 60_000), {})).toMatchObject({ unstuck: 1, visited: 1 });
    expect((await own.get(scope, late.id))!).toMatchObject({ status: 'requires_input', last_error: { code: 'document_unverified_other' } });
  });

  it('a session still processing when the hour passes its watch-from time is looked at again and unstuck an hour after its submit', { timeout: 120_000 }, async () => {
    const { own, at, raw, create, submit } = await ownTable('slow-checks');
    const t0 = Date.now();
    const s = await submit(await create(t0), t0 + 20 * 60_000);
    expect((await raw(s.id)).sweep_at).toBe(t0); // a submit soon after create writes no index entry
    expect(await sweep(at(t0 + HOUR + 60_000), {})).toEqual({ ...NONE, visited: 1, rekeyed: 1 });
    expect((await raw(s.id)).sweep_at).toBe(t0 + 20 * 60_000);
    expect(await sweep(at(t0 + HOUR + 19 * 60_000), {})).toEqual(NONE);
    expect(await sweep(at(t0 + HOUR + 21 * 60_000), {})).toEqual({ ...NONE, unstuck: 1, visited: 1 });
    expect((await own.get(scope, s.id))!.status).toBe('requires_input');
  });

  it('continues from its watermark when a run reaches its limit: each session read once', { timeout: 120_000 }, async () => {
    const { own, at, create, submit } = await ownTable('limit');
    const t0 = Date.now();
    // Twelve sessions with the same watch-from time: three a shard on average.
    const ids: string[] = [];
    for (let i = 0; i < 12; i++) ids.push((await submit(await create(t0), t0)).id);
    const runs = [];
    for (let run = 0; run < 20; run++) {
      const c = await sweep(at(t0 + 2 * HOUR), { limit: 1 });
      if (c.visited === 0) break;
      runs.push(c);
    }
    expect(runs[0].unstuck).toBeLessThanOrEqual(4); // one a shard
    expect(runs.length).toBeGreaterThan(1);
    expect(runs.reduce((n, c) => n + c.unstuck, 0)).toBe(12);
    expect(runs.reduce((n, c) => n + c.visited, 0)).toBe(12);
    for (const id of ids) expect((await own.get(scope, id))!.status).toBe('requires_input');
  });

  it('sessions stored before the index, or keyed the old way, are swept once the backfill has re-keyed them', { timeout: 120_000 }, async () => {
    const { doc, tableName, own, at, raw, create, change, submit } = await ownTable('backfill');
    const t0 = Date.now();
    const preIndex = await change(await create(t0), 'cancel', t0);
    const oldCanceled = await change(await create(t0), 'cancel', t0);
    const oldProcessing = await submit(await create(t0), t0);
    // As items written before the index: no sweep keys, no state_since_ms.
    await doc.send(new UpdateCommand({ TableName: tableName, Key: sessionKey(scope, preIndex.id), UpdateExpression: 'REMOVE sweep_pk, sweep_at, state_since_ms' }));
    // As items keyed by status: SW#<status>#<shard>.
    for (const s of [oldCanceled, oldProcessing]) {
      const shard = (await raw(s.id)).sweep_pk.slice(3);
      await doc.send(
        new UpdateCommand({
          TableName: tableName,
          Key: sessionKey(scope, s.id),
          UpdateExpression: 'SET sweep_pk = :old',
          ExpressionAttributeValues: { ':old': `SW#${s.status}#${shard}` },
        }),
      );
    }
    const later = t0 + 365 * DAY;
    const settings = { retentionMs: 300 * DAY };
    // Upgraded, the sweeps run (and move their watermarks) before the backfill: they see none of the three.
    expect(await sweep(at(later), settings)).toEqual(NONE);
    expect(await backfillSweepIndex(doc, tableName)).toMatchObject({ updated: 3 });
    for (const s of [preIndex, oldCanceled, oldProcessing]) expect((await raw(s.id)).sweep_pk).toMatch(/^SW#[0-3]$/);
    // Keyed ahead of the watermarks that had passed them: found within the next runs.
    let counts = { ...NONE };
    for (const t of [later + HOUR, later + 2 * HOUR, later + 3 * HOUR]) {
      const c = await sweep(at(t), settings);
      counts = { ...counts, redacted: counts.redacted + c.redacted, unstuck: counts.unstuck + c.unstuck };
    }
    expect(counts).toMatchObject({ redacted: 2, unstuck: 1 });
    expect((await own.get(scope, preIndex.id))!.redaction).toEqual({ status: 'processing' });
    expect((await own.get(scope, oldCanceled.id))!.redaction).toEqual({ status: 'processing' });
    expect((await own.get(scope, oldProcessing.id))!.status).toBe('requires_input');
    // A second run finds nothing left to do.
    expect(await backfillSweepIndex(doc, tableName)).toMatchObject({ updated: 0 });
  });

  it('reads days from settings and refuses nonsense', () => {
    expect(daysSetting('RETENTION_DAYS', undefined)).toBeUndefined();
    expect(daysSetting('RETENTION_DAYS', '')).toBeUndefined();
    expect(daysSetting('RETENTION_DAYS', '30')).toBe(30 * 24 * 3600 * 1000);
    expect(daysSetting('RETENTION_DAYS', 0.5)).toBe(12 * 3600 * 1000);
    expect(() => daysSetting('RETENTION_DAYS', '0')).toThrow(/positive/);
    expect(() => daysSetting('RETENTION_DAYS', 'thirty')).toThrow(/RETENTION_DAYS/);
  });
});
