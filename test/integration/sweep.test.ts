import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Scope } from '../../lambdas/domain/session.js';
import { newSession, transition } from '../../lambdas/domain/session.js';
import { GetCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { backfillSweepIndex } from '../../lambdas/sweep/backfill.js';
import { SessionStore, sessionKey } from '../../lambdas/store/session-store.js';
import { CHECKS_GAVE_UP_REASON, daysSetting, sweep } from '../../lambdas/sweep/sweeper.js';
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
  store = new SessionStore(svc.doc, svc.tableName);
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

describe('the sweeps as configured', () => {
  it('retention and abandonment are off unless set; the stuck-checks sweep always runs', async () => {
    // A table no service sweeps, so that only this call acts on it.
    const { tableName, doc } = await freshTable('sweep');
    const own = new SessionStore(doc, tableName);
    const t0 = Date.now();
    const make = async (status: 'requires_input' | 'processing' | 'verified') => {
      let s = newSession({ type: 'document' }, { id: timeOrderedId('vs', t0), scope, nowMs: t0, request: null });
      await own.commit(s, 'create');
      if (status === 'requires_input') return s.id;
      const submitted = transition(s, 'submit', { updated_ms: t0, last_request: null }, (n) => (n.attempt += 1));
      await own.commit(submitted, { action: 'submit', version: s.version });
      s = submitted;
      if (status === 'verified') await own.commit(transition(s, 'checks_passed', { updated_ms: t0, last_request: null }), { action: 'checks_passed', version: s.version });
      return s.id;
    };
    const [waiting, stuck, verified] = [await make('requires_input'), await make('processing'), await make('verified')];
    // A year later, with nothing configured: only the stuck session is changed.
    const later = () => t0 + 365 * 24 * 3600 * 1000;
    const sent: RedactionMessage[] = [];
    const deps = { doc, table: tableName, sessions: own, redactions: { send: async (m: RedactionMessage[]) => void sent.push(...m) }, now: later, log: () => {} };
    const counts = await sweep(deps, {});
    expect(counts).toEqual({ redacted: 0, abandoned: 0, unstuck: 1, rerequested: 0 });
    expect((await own.get(scope, waiting))!).toMatchObject({ status: 'requires_input', last_error: null });
    expect((await own.get(scope, verified))!).toMatchObject({ status: 'verified', redaction: null });
    expect((await own.get(scope, stuck))!.status).toBe('requires_input');
    // Configured, the same call acts on both; a second run finds nothing left to do.
    const year = 300 * 24 * 3600 * 1000;
    expect(await sweep(deps, { retentionMs: year, abandonAfterMs: year })).toEqual({
      redacted: 1,
      abandoned: 1, // the waiting session; the one just sent back to requires_input was touched now
      unstuck: 0,
      rerequested: 0,
    });
    expect((await own.get(scope, waiting))!.last_error?.code).toBe('abandoned');
    expect((await own.get(scope, verified))!.redaction).toEqual({ status: 'processing' });
    expect(await sweep(deps, { retentionMs: year, abandonAfterMs: year })).toEqual({ redacted: 0, abandoned: 0, unstuck: 0, rerequested: 0 });
    expect(sent).toEqual([]);
    // No redaction worker runs on this table: two hours on, the redaction is asked for again.
    const twoHoursOn = { ...deps, now: () => later() + 2 * 3600 * 1000 };
    expect(await sweep(twoHoursOn, {})).toEqual({ redacted: 0, abandoned: 0, unstuck: 0, rerequested: 1 });
    expect(sent).toEqual([{ kind: 'finish', account: scope.account, livemode: false, session: verified }]);
  });

  it('keeps each session in the index by state: an update moves nothing, a cancel moves it, a finished redaction removes it', async () => {
    const on = services.abandon;
    const raw = async (id: string) => (await on.doc.send(new GetCommand({ TableName: on.tableName, Key: sessionKey({ account: on.account, livemode: false }, id) }))).Item!;
    const id = (await on.call('POST', SESSIONS, 'type=document')).body.id as string;
    const created = await raw(id);
    expect(created.sweep_pk).toMatch(/^SW#requires_input#[0-3]$/);
    await on.call('POST', `${SESSIONS}/${id}`, 'metadata[a]=b');
    const updated = await raw(id);
    expect([updated.sweep_pk, updated.sweep_at]).toEqual([created.sweep_pk, created.sweep_at]);
    expect(updated.updated_ms).toBeGreaterThan(created.updated_ms);
    await on.call('POST', `${SESSIONS}/${id}/cancel`);
    const canceled = await raw(id);
    expect(canceled.sweep_pk).toBe(created.sweep_pk.replace('requires_input', 'canceled'));
    expect(canceled.sweep_at).toBe(canceled.updated_ms);
    await on.call('POST', `${SESSIONS}/${id}/redact`);
    await until('redacted', () => session(id, on), (x) => x.redaction?.status === 'redacted');
    const redacted = await raw(id);
    expect(redacted.sweep_pk).toBeUndefined();
    expect(redacted.sweep_at).toBeUndefined();
  });

  it('a session stored before the index existed is swept once the backfill has put it in', async () => {
    const { tableName, doc } = await freshTable('backfill');
    const own = new SessionStore(doc, tableName);
    const t0 = Date.now();
    const s = newSession({ type: 'document' }, { id: timeOrderedId('vs', t0), scope, nowMs: t0, request: null });
    await own.commit(s, 'create');
    const canceled = transition(s, 'cancel', { updated_ms: t0, last_request: null });
    await own.commit(canceled, { action: 'cancel', version: s.version });
    // As an item written before the index: no sweep keys, no state_since_ms.
    await doc.send(
      new UpdateCommand({ TableName: tableName, Key: sessionKey(scope, s.id), UpdateExpression: 'REMOVE sweep_pk, sweep_at, state_since_ms' }),
    );
    const later = () => t0 + 365 * 24 * 3600 * 1000;
    const deps = { doc, table: tableName, sessions: own, redactions: { send: async () => {} }, now: later, log: () => {} };
    const settings = { retentionMs: 300 * 24 * 3600 * 1000 };
    expect((await sweep(deps, settings)).redacted).toBe(0);
    expect(await backfillSweepIndex(doc, tableName)).toMatchObject({ updated: 1 });
    expect((await sweep(deps, settings)).redacted).toBe(1);
    expect((await own.get(scope, s.id))!.redaction).toEqual({ status: 'processing' });
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
