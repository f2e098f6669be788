import { beforeAll, describe, expect, it } from 'vitest';
import { newAccountId, newSessionId } from '../../lambdas/domain/ids.js';
import { type ChangeStamp, type Scope, type SessionRecord, applyFinishRedaction, applyRedact, newSession, transition } from '../../lambdas/domain/session.js';
import type { Action } from '../../lambdas/domain/state-machine.js';
import { GetCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { SessionStore, StaleSession, sessionKey, sweepKeys } from '../../lambdas/store/session-store.js';
import { freshTable } from '../support/dynamo.js';

const STAMP = { updated_ms: Date.now(), last_request: null };
let store: SessionStore;
/** A store that writes as this release does by default: without null fields (store/session-item.ts). */
let compactStore: SessionStore;
const scope: Scope = { account: newAccountId(), livemode: false };

beforeAll(async () => {
  const { doc, tableName } = await freshTable('store');
  store = new SessionStore(doc, tableName);
  compactStore = new SessionStore(doc, tableName);
});

async function stored() {
  const s = newSession({ type: 'document', metadata: { order: '1' } }, { id: newSessionId(), scope, nowMs: Date.now(), request: null });
  await store.commit(s, 'create');
  return (await store.get(scope, s.id))!;
}

describe('SessionStore.commit against DynamoDB Local', () => {
  it('two writers that read the same version and change different fields: the second is refused, the first is kept', async () => {
    const read = await stored();
    const first = transition(read, 'update', STAMP, (n) => {
      n.metadata = { ...n.metadata, first: 'yes' };
    });
    const second = transition(read, 'update', STAMP, (n) => {
      n.provided_details = { email: 'second@example.com' };
    });
    await store.commit(first, { action: 'update', version: read.version });

    const refused = await store.commit(second, { action: 'update', version: read.version }).then(
      () => undefined,
      (err: unknown) => err,
    );
    expect(refused).toBeInstanceOf(StaleSession);
    // The refusal carries the session as it is now, so the caller can say why.
    expect((refused as StaleSession).current?.version).toBe(read.version + 1);

    const now = (await store.get(scope, read.id))!;
    expect(now.version).toBe(read.version + 1);
    expect(now.metadata).toEqual({ order: '1', first: 'yes' });
    expect(now.provided_details).toEqual(read.provided_details);
  });

  it('a writer that read the current version succeeds after the other one', async () => {
    const read = await stored();
    await store.commit(transition(read, 'update', STAMP, (n) => (n.metadata = { a: '1' })), { action: 'update', version: read.version });
    const fresh = (await store.get(scope, read.id))!;
    await store.commit(transition(fresh, 'update', STAMP, (n) => (n.metadata = { ...n.metadata, b: '2' })), { action: 'update', version: fresh.version });
    expect((await store.get(scope, read.id))!.metadata).toEqual({ a: '1', b: '2' });
  });
});

describe('how a session is stored', () => {
  it('written without null fields (top level, verified_outputs and its address), a verified session stays under 1 KB (1 write unit), and this release reads it back exactly', async () => {
    const { GetCommand } = await import('@aws-sdk/lib-dynamodb');
    const { itemSize } = await import('../../lambdas/store/item-size.js');
    const { sessionRecords } = await import('../../bin/bench-http.js');
    const { emptyVerifiedOutputs } = await import('../../lambdas/domain/report.js');
    // The bench's typical session: two metadata keys, a client reference, options, an email to match.
    const created = sessionRecords(scope)();
    await compactStore.commit(created, 'create');
    const submitted = transition(created, 'submit', STAMP, (n) => {
      n.submission = { submitted_ms: Date.now(), files: {}, id_number: null, document_type: 'passport' } as never;
    });
    await compactStore.commit(submitted, { action: 'submit', version: created.version });
    const verified = transition(submitted, 'checks_passed', STAMP, (n) => {
      n.verified_outputs = {
        ...emptyVerifiedOutputs(),
        first_name: 'Jenny',
        last_name: 'Rosen',
        dob: { day: 1, month: 1, year: 1901 },
        address: { line1: '1234 Main Street', line2: null, city: 'San Francisco', state: 'CA', postal_code: '94111', country: 'US' },
      };
      n.last_verification_report = 'vr_0VcWYZiI0dMCwxl9Zie4zbl0';
      n.report_ids = ['vr_0VcWYZiI0dMCwxl9Zie4zbl0'];
    });
    await compactStore.commit(verified, { action: 'checks_passed', version: submitted.version });

    const raw = (await (store as unknown as { doc: { send: (c: unknown) => Promise<{ Item?: Record<string, unknown> }> } }).doc.send(
      new GetCommand({ TableName: store.table, Key: { pk: `A#${scope.account}#test`, sk: `VS#${verified.id}` } }),
    )).Item!;
    const nulls = (o: Record<string, unknown>, at = ''): string[] =>
      Object.entries(o).flatMap(([k, v]) => (v === null ? [at + k] : (k === 'verified_outputs' || k === 'address') && v && typeof v === 'object' ? nulls(v as Record<string, unknown>, `${at + k}.`) : []));
    expect(nulls(raw)).toEqual([]);
    expect(raw.return_url).toBeUndefined();
    expect((raw.verified_outputs as { address: Record<string, unknown> }).address).not.toHaveProperty('line2');
    expect(itemSize(raw)).toBeLessThan(1024);
    // Nothing outside the store sees the difference: every null is back.
    const { sweep_at: _at, ...readBack } = (await store.get(scope, verified.id)) as typeof verified & { sweep_at?: number };
    expect(readBack).toEqual(verified);
  });

  it('a session an earlier release stored with its null fields reads back exactly, and this release changes it without losing a field', async () => {
    const { GetCommand } = await import('@aws-sdk/lib-dynamodb');
    const raw = async (id: string) =>
      (await (store as unknown as { doc: { send: (c: unknown) => Promise<{ Item?: Record<string, unknown> }> } }).doc.send(
        new GetCommand({ TableName: store.table, Key: { pk: `A#${scope.account}#test`, sk: `VS#${id}` } }),
      )).Item!;
    const old = newSession({ type: 'document', metadata: { order: '1' } }, { id: newSessionId(), scope, nowMs: Date.now(), request: null });
    // As the releases up to 2145ffa wrote it: every null field stored.
    const { PutCommand } = await import('@aws-sdk/lib-dynamodb');
    await (store as unknown as { doc: { send: (c: unknown) => Promise<unknown> } }).doc.send(
      new PutCommand({ TableName: store.table, Item: { ...sessionKey(scope, old.id), ...old, ...sweepKeys(old) } }),
    );
    expect(await raw(old.id)).toMatchObject({ redaction: null, return_url: null, last_error: null });
    const read = (await store.get(scope, old.id))!;
    const { sweep_at: _at, ...readBack } = read as typeof read & { sweep_at?: number };
    expect(readBack).toEqual(old);
    const canceled = await store.cancel(scope, old.id, { updated_ms: Date.now(), last_request: null });
    expect(canceled.status).toBe('canceled');
    expect(canceled.redaction).toBeNull();
    expect(canceled.metadata).toEqual({ order: '1' });
    // The nulls written before stay until a full write replaces the item: both forms read the same.
    expect((await store.get(scope, old.id))!.return_url).toBeNull();
  });

  it('without stored nulls, clearing provided_details with an UpdateItem removes it, and the session reads back with null', async () => {
    const read = await stored();
    const store = compactStore;
    await store.updateFields(scope, read.id, { provided_details: { email: 'a@example.com' } } as never, { updated_ms: Date.now(), last_request: { id: 'req_1', idempotency_key: null } });
    expect((await store.get(scope, read.id))!.provided_details).toEqual({ email: 'a@example.com' });
    const cleared = await store.updateFields(scope, read.id, { provided_details: null } as never, { updated_ms: Date.now(), last_request: { id: 'req_2', idempotency_key: null } });
    expect(cleared.provided_details).toBeNull();
    expect((await store.get(scope, read.id))!.provided_details).toBeNull();
  });
});

describe('the sweep index entry a write leaves (sweep_pk, sweep_at)', () => {
  const T0 = Date.now();
  const MIN = 60_000;
  let own: SessionStore;
  let table: Awaited<ReturnType<typeof freshTable>>;
  const raw = async (id: string) => (await table.doc.send(new GetCommand({ TableName: table.tableName, Key: sessionKey(scope, id) }))).Item!;
  beforeAll(async () => {
    table = await freshTable('store-sweep');
    own = new SessionStore(table.doc, table.tableName);
  });
  const create = async (t: number) => {
    const s = newSession({ type: 'document' }, { id: newSessionId(), scope, nowMs: t, request: null });
    await own.commit(s, 'create');
    return (await own.get(scope, s.id))!;
  };
  const step = async (s: SessionRecord, action: Action, t: number, apply?: (s: SessionRecord, stamp: ChangeStamp) => SessionRecord) => {
    const stamp = { updated_ms: t, last_request: null };
    await own.commit(apply ? apply(s, stamp) : transition(s, action, stamp), { action, version: s.version });
    return (await own.get(scope, s.id))!;
  };
  const entry = async (id: string) => {
    const item = await raw(id);
    return [item.sweep_pk, item.sweep_at];
  };

  it('create puts it (the shard, the creation time); a submit soon after, the checks verdict, an update and a cancel keep it', async () => {
    let s = await create(T0);
    const first = await entry(s.id);
    expect(first).toEqual([expect.stringMatching(/^SW#[0-3]$/), T0]);
    s = await step(s, 'submit', T0 + 20 * MIN);
    expect(await entry(s.id)).toEqual(first);
    // The checks' result goes with its report in one transaction.
    await own.commitWithReport(
      transition(s, 'checks_failed', { updated_ms: T0 + 21 * MIN, last_request: null }),
      { action: 'checks_failed', version: s.version },
      { pk: sessionKey(scope, s.id).pk, sk: `VR#${s.id}` },
    );
    s = (await own.get(scope, s.id))!;
    expect(s.status).toBe('requires_input');
    expect(await entry(s.id)).toEqual(first);
    await own.updateFields(scope, s.id, { metadata: { a: 'b' } }, { updated_ms: T0 + 120 * MIN, last_request: null });
    expect(await entry(s.id)).toEqual(first);
    const canceled = await own.cancel(scope, s.id, { updated_ms: T0 + 180 * MIN, last_request: null });
    expect(canceled).toMatchObject({ status: 'canceled', state_since_ms: T0 + 180 * MIN });
    expect(await entry(s.id)).toEqual(first);
  });

  it('a submit or a redact long after its watch-from time moves it to the write; a finished redaction removes it', async () => {
    let s = await create(T0);
    s = await step(s, 'submit', T0 + 120 * MIN);
    expect((await entry(s.id))[1]).toBe(T0 + 120 * MIN);
    s = await step(s, 'checks_passed', T0 + 120 * MIN + 1);
    expect((await entry(s.id))[1]).toBe(T0 + 120 * MIN);
    s = await step(s, 'redact', T0 + 540 * MIN, applyRedact);
    expect((await entry(s.id))[1]).toBe(T0 + 540 * MIN);
    s = await step(s, 'finish_redaction', T0 + 540 * MIN + 5, applyFinishRedaction);
    expect(await entry(s.id)).toEqual([undefined, undefined]);
    expect(s.redaction).toEqual({ status: 'redacted' });
  });

  it('an entry keyed the old way (SW#<status>#<shard>) is re-keyed by the next full write; the sweeper re-keys only an unchanged session', async () => {
    let s = await create(T0);
    const [pk] = await entry(s.id);
    await own.rekey(scope, s.id, s.version, T0 + 1);
    expect(await entry(s.id)).toEqual([pk, T0 + 1]);
    await table.doc.send(
      new UpdateCommand({
        TableName: table.tableName,
        Key: sessionKey(scope, s.id),
        UpdateExpression: 'SET sweep_pk = :old',
        ExpressionAttributeValues: { ':old': `SW#requires_input#${String(pk).slice(3)}` },
      }),
    );
    s = (await own.get(scope, s.id))!;
    s = await step(s, 'submit', T0 + 5 * MIN);
    expect(await entry(s.id)).toEqual([pk, T0 + 5 * MIN]);
    await expect(own.rekey(scope, s.id, s.version - 1, T0)).rejects.toBeInstanceOf(StaleSession);
    expect(await entry(s.id)).toEqual([pk, T0 + 5 * MIN]);
  });
});
