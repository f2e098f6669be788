import { GetCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { itemSize, writeUnits } from '../../lambdas/store/item-size.js';
import { idempotencyKey } from '../../lambdas/store/idempotency.js';
import { sessionKey } from '../../lambdas/store/session-store.js';
import { type TestService, startTestService } from '../support/api.js';

/**
 * What a keyed call costs in DynamoDB requests (counted on the API's own
 * client), and what the saved results on the session item do to its size and
 * to the write units of a keyed update or cancel, priced as DynamoDB prices
 * them (lambdas/store/item-size.ts).
 */
const SESSIONS = '/v1/identity/verification_sessions';
/** A session as a merchant typically makes it, with stripe-node's kind of key. */
const TYPICAL =
  'type=document&options[document][allowed_types][]=driving_license&options[document][allowed_types][]=passport' +
  '&options[document][require_matching_selfie]=true&metadata[order_id]=ord_81723&metadata[customer]=cus_Q2x8h3&client_reference_id=user_5531' +
  '&provided_details[email]=jenny.rosen@example.com&return_url=https://shop.example.com/verified';
const stripeNodeKey = () => `stripe-node-retry-${crypto.randomUUID()}`;

let svc: TestService;
const operations: string[] = [];

beforeAll(async () => {
  svc = await startTestService({ observeDynamo: (operation) => operations.push(operation.replace(/Command$/, '')) });
});
afterAll(() => svc?.stop());

/** The call's response and the DynamoDB requests it made. */
async function counted(method: string, path: string, form?: string, key?: string) {
  operations.length = 0;
  const r = await svc.call(method, path, form, key ? { headers: { 'idempotency-key': key } } : {});
  return { ...r, requests: [...operations] };
}

const scope = () => ({ account: svc.account, livemode: false });
async function sessionItem(id: string) {
  return (await svc.doc.send(new GetCommand({ TableName: svc.tableName, Key: sessionKey(scope(), id), ConsistentRead: true }))).Item!;
}

describe('requests per call', () => {
  it('a keyed update and cancel are one UpdateItem; a replay, even after later changes, is one request and the first response', async () => {
    const createKey = stripeNodeKey();
    const created = await counted('POST', SESSIONS, TYPICAL, createKey);
    expect(created.status).toBe(200);
    expect(created.requests).toEqual(['TransactWriteItems']);
    const id = created.body.id as string;

    const updateKey = stripeNodeKey();
    const updated = await counted('POST', `${SESSIONS}/${id}`, 'metadata[step]=1', updateKey);
    expect(updated.status).toBe(200);
    expect(updated.requests).toEqual(['UpdateItem']);
    expect(updated.body.metadata).toEqual({ order_id: 'ord_81723', customer: 'cus_Q2x8h3', step: '1' });

    const second = await counted('POST', `${SESSIONS}/${id}`, 'metadata[step]=2&metadata[customer]=', stripeNodeKey());
    expect(second.requests).toEqual(['UpdateItem']);
    expect(second.body.metadata).toEqual({ order_id: 'ord_81723', step: '2' });

    const cancelKey = stripeNodeKey();
    const canceled = await counted('POST', `${SESSIONS}/${id}/cancel`, '', cancelKey);
    expect(canceled.status).toBe(200);
    expect(canceled.requests).toEqual(['UpdateItem']);
    expect(canceled.body).toMatchObject({ status: 'canceled', client_secret: null, url: null });

    // Replays after later changes: each is the first response, byte for byte, in one request.
    const updateAgain = await counted('POST', `${SESSIONS}/${id}`, 'metadata[step]=1', updateKey);
    expect(updateAgain.requests).toEqual(['UpdateItem']);
    expect(updateAgain.headers.get('idempotent-replayed')).toBe('true');
    expect(JSON.stringify(updateAgain.body)).toBe(JSON.stringify(updated.body));
    expect(updateAgain.body.client_secret).toMatch(new RegExp(`^${id}_secret_`));
    const cancelAgain = await counted('POST', `${SESSIONS}/${id}/cancel`, '', cancelKey);
    expect(cancelAgain.requests).toEqual(['UpdateItem']);
    expect(JSON.stringify(cancelAgain.body)).toBe(JSON.stringify(canceled.body));
    const createAgain = await counted('POST', SESSIONS, TYPICAL, createKey);
    expect(JSON.stringify(createAgain.body)).toBe(JSON.stringify(created.body));

    // The key with other parameters, or the create's key reused for a change: 400, nothing changed.
    const other = await counted('POST', `${SESSIONS}/${id}`, 'metadata[step]=9', updateKey);
    expect(other.status).toBe(400);
    expect(other.body.error.type).toBe('idempotency_error');
    expect(other.requests).toEqual(['UpdateItem']);
    const reused = await counted('POST', `${SESSIONS}/${id}`, 'metadata[step]=9', createKey);
    expect(reused.status).toBe(400);
    expect(reused.body.error.type).toBe('idempotency_error');
    expect((await svc.call('GET', `${SESSIONS}/${id}`)).body.metadata).toEqual({ order_id: 'ord_81723', step: '2' });
  });

  it('a keyed refusal costs two requests (the refused write, then its saving) and its replay one', async () => {
    const id = (await svc.call('POST', SESSIONS, TYPICAL)).body.id as string;
    await svc.call('POST', `${SESSIONS}/${id}/cancel`);
    const key = stripeNodeKey();
    const refused = await counted('POST', `${SESSIONS}/${id}/cancel`, '', key);
    expect(refused.status).toBe(400);
    expect(refused.requests).toEqual(['UpdateItem', 'UpdateItem']);
    const again = await counted('POST', `${SESSIONS}/${id}/cancel`, '', key);
    expect(again.requests).toEqual(['UpdateItem']);
    expect(again.body).toEqual(refused.body);
    expect(again.headers.get('idempotent-replayed')).toBe('true');
  });

  it('without a key: create, update and cancel are one request; redact is two, keyed or not', async () => {
    const created = await counted('POST', SESSIONS, TYPICAL);
    expect(created.requests).toEqual(['PutItem']);
    const id = created.body.id as string;
    expect((await counted('POST', `${SESSIONS}/${id}`, 'metadata[step]=1')).requests).toEqual(['UpdateItem']);
    expect((await counted('POST', `${SESSIONS}/${id}/cancel`, '')).requests).toEqual(['UpdateItem']);
    expect((await counted('POST', `${SESSIONS}/${id}/redact`, '')).requests).toEqual(['GetItem', 'PutItem']);
    const keyedId = (await svc.call('POST', SESSIONS, TYPICAL)).body.id as string;
    expect((await counted('POST', `${SESSIONS}/${keyedId}/redact`, '', stripeNodeKey())).requests).toEqual(['BatchGetItem', 'PutItem']);
  });
});

describe('item size and write units (DynamoDB pricing)', () => {
  it('a typical session with five keyed calls saved: a keyed update or cancel writes at most 2 units', async () => {
    const createKey = stripeNodeKey();
    const id = (await svc.call('POST', SESSIONS, TYPICAL, { headers: { 'idempotency-key': createKey } })).body.id as string;
    const sizes: Record<string, number> = { created: itemSize(await sessionItem(id)) };
    const units: Record<string, number> = {};
    for (let i = 1; i <= 4; i++) {
      const before = itemSize(await sessionItem(id));
      const r = await svc.call('POST', `${SESSIONS}/${id}`, `metadata[step]=${i}`, { headers: { 'idempotency-key': stripeNodeKey() } });
      expect(r.status).toBe(200);
      const after = itemSize(await sessionItem(id));
      sizes[`after keyed update ${i}`] = after;
      units[`keyed update ${i}`] = writeUnits(before, after);
    }
    const before = itemSize(await sessionItem(id));
    expect((await svc.call('POST', `${SESSIONS}/${id}/cancel`, '', { headers: { 'idempotency-key': stripeNodeKey() } })).status).toBe(200);
    const item = await sessionItem(id);
    sizes['after keyed cancel (5 keyed calls saved)'] = itemSize(item);
    // The cancel also moves the session's entry in the sweep index (keys only, ~100 bytes): a delete and a put there.
    units['keyed cancel (table)'] = writeUnits(before, itemSize(item));
    const { replays, undo, ...session } = item;
    sizes['of which saved results (replays + undo)'] = itemSize({ replays, undo });
    sizes['the same session without them'] = itemSize(session);
    const saved = (await svc.doc.send(new GetCommand({ TableName: svc.tableName, Key: idempotencyKey(scope(), createKey), ConsistentRead: true }))).Item!;
    sizes['separate saved-result record (as every keyed call wrote before)'] = itemSize(saved);
    // The design before: each keyed change was a transaction of the session (listing its keys in saved_keys) and a
    // record like `saved`; a transaction costs 2 units per KB of each item.
    const expires_at = Math.floor(Date.now() / 1000);
    const listing = (n: number) => Array.from({ length: n }, () => ({ key: stripeNodeKey(), expires_at }));
    const { saved_keys: _listed, ...bare } = session;
    for (const n of [1, 5]) units[`before: keyed update with ${n} key(s) listed (transaction)`] = 2 * writeUnits(0, itemSize({ ...bare, saved_keys: listing(n) })) + 2 * writeUnits(0, itemSize(saved));
    console.log(JSON.stringify({ bytes: sizes, writeUnits: units }, null, 1));
    for (const [call, n] of Object.entries(units)) if (!call.startsWith('before')) expect(n, call).toBeLessThanOrEqual(2);
  });

  it('metadata at its maximum (50 keys of 40 characters, values of 500): saved results add little beside it', async () => {
    const full = Array.from({ length: 50 }, (_, i) => `metadata[${`k${i}`.padEnd(40, 'x')}]=${String(i).padEnd(500, 'v')}`).join('&');
    const id = (await svc.call('POST', SESSIONS, `${TYPICAL.replace(/&metadata\[[^&]*/g, '')}&${full}`, { headers: { 'idempotency-key': stripeNodeKey() } })).body.id as string;
    const plain = itemSize(await sessionItem(id));
    const units: number[] = [];
    for (let i = 1; i <= 4; i++) {
      const before = itemSize(await sessionItem(id));
      const r = await svc.call('POST', `${SESSIONS}/${id}`, `metadata[${'k0'.padEnd(40, 'x')}]=${String(i).padEnd(500, 'w')}`, { headers: { 'idempotency-key': stripeNodeKey() } });
      expect(r.status).toBe(200);
      units.push(writeUnits(before, itemSize(await sessionItem(id))));
    }
    const after = itemSize(await sessionItem(id));
    console.log(JSON.stringify({ maxMetadata: { createdBytes: plain, afterFourKeyedUpdatesBytes: after, writeUnitsPerKeyedUpdate: units } }));
    // Each update of one 500-character value keeps the value it overwrote (for the earlier results' replays).
    expect(after - plain).toBeLessThan(4 * 700);
  });
});
