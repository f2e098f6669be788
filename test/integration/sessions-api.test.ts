import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newAccountId } from '../../lambdas/domain/ids.js';
import { checkToken } from '../../lambdas/domain/secrets.js';
import { type Scope, transition } from '../../lambdas/domain/session.js';
import { STATUSES, type Status } from '../../lambdas/domain/state-machine.js';
import { ApiKeyStore, newSecretKey } from '../../lambdas/store/api-keys.js';
import { SessionStore } from '../../lambdas/store/session-store.js';
import { type TestService, startTestService } from '../support/api.js';

const SESSIONS = '/v1/identity/verification_sessions';
const SYSTEM = { updated_ms: Date.now(), last_request: null };
let svc: TestService;
let store: SessionStore;
let scope: Scope;

beforeAll(async () => {
  svc = await startTestService();
  store = new SessionStore(svc.doc, svc.tableName);
  scope = { account: svc.account, livemode: false };
});
afterAll(() => svc?.stop());

async function create(form: string | Record<string, string> = 'type=document') {
  const r = await svc.call('POST', SESSIONS, form);
  expect(r.status).toBe(200);
  return r.body;
}

/** The session as the API shows it, once `ok` holds (the redaction worker runs in the background). */
async function untilSession(id: string, ok: (s: any) => boolean, ms = 15_000) {
  const deadline = Date.now() + ms;
  for (;;) {
    const r = await svc.call('GET', `${SESSIONS}/${id}`);
    if (ok(r.body) || Date.now() > deadline) return r.body;
    await new Promise((res) => setTimeout(res, 50));
  }
}

/** A session brought into `status` through the store's conditional writes. */
async function sessionIn(status: Status) {
  const created = await create({ type: 'document', 'metadata[k]': 'v', 'provided_details[email]': 'jo@example.com' });
  if (status === 'requires_input') return created.id as string;
  if (status === 'canceled') {
    expect((await svc.call('POST', `${SESSIONS}/${created.id}/cancel`)).status).toBe(200);
    return created.id as string;
  }
  let s = (await store.get(scope, created.id))!;
  const submitted = transition(s, 'submit', SYSTEM, (n) => (n.attempt += 1));
  await store.commit(submitted, { action: 'submit', version: s.version });
  s = submitted;
  if (status === 'verified') {
    const verified = transition(s, 'checks_passed', SYSTEM);
    await store.commit(verified, { action: 'checks_passed', version: s.version });
  }
  return created.id as string;
}

describe('create, retrieve, update, cancel, redact', () => {
  it('creates a session in Stripe\'s shape with a usable url and client secret', async () => {
    const r = await svc.call('POST', SESSIONS, 'type=document&options[document][allowed_types][]=passport&metadata[order]=42&client_reference_id=user_1');
    expect(r.status).toBe(200);
    expect(r.headers.get('request-id')).toMatch(/^req_/);
    expect(r.body).toMatchObject({
      object: 'identity.verification_session',
      status: 'requires_input',
      type: 'document',
      livemode: false,
      metadata: { order: '42' },
      client_reference_id: 'user_1',
      options: { document: { allowed_types: ['passport'] } },
      last_error: null,
      redaction: null,
    });
    expect(r.body.id).toMatch(/^vs_[0-9A-Za-z]{24}$/);
    expect(r.body.client_secret).toMatch(new RegExp(`^${r.body.id}_secret_`));
    expect(r.body.url).toMatch(new RegExp(`^${svc.baseUrl}/verify/${r.body.id}/`));
    expect(r.body).not.toHaveProperty('verified_outputs');
    expect(r.body).not.toHaveProperty('secret_seed');
  });

  it('retrieve in requires_input hands out a valid url and client secret; none once canceled', async () => {
    const id = await sessionIn('requires_input');
    const r = await svc.call('GET', `${SESSIONS}/${id}`);
    const rec = (await store.get(scope, id))!;
    const now = Math.floor(Date.now() / 1000);
    expect(checkToken('client_secret', rec, r.body.client_secret.split('_secret_')[1], now)).toBe('valid');
    expect(checkToken('url', rec, r.body.url.split('/').pop(), now)).toBe('valid');
    await svc.call('POST', `${SESSIONS}/${id}/cancel`);
    const after = await svc.call('GET', `${SESSIONS}/${id}`);
    expect(after.body).toMatchObject({ status: 'canceled', url: null, client_secret: null });
  });

  it('expand[] returns verified_outputs and last_verification_report (null until checks exist)', async () => {
    const id = await sessionIn('requires_input');
    const r = await svc.call('GET', `${SESSIONS}/${id}?expand[]=verified_outputs&expand[]=last_verification_report`);
    expect(r.body.verified_outputs).toBeNull();
    expect(r.body.last_verification_report).toBeNull();
    const bad = await svc.call('GET', `${SESSIONS}/${id}?expand[]=secret_seed`);
    expect(bad.status).toBe(400);
    expect(bad.body.error.param).toBe('expand[0]');
  });

  it('update changes metadata keys, unsets empty ones, and replaces options', async () => {
    const id = await sessionIn('requires_input');
    const r = await svc.call('POST', `${SESSIONS}/${id}`, 'metadata[k]=&metadata[new]=1&options[document][require_matching_selfie]=true&type=id_number');
    expect(r.status).toBe(200);
    expect(r.body.metadata).toEqual({ new: '1' });
    expect(r.body.options).toEqual({ document: { require_matching_selfie: true } });
    expect(r.body.type).toBe('id_number');
    const all = await svc.call('POST', `${SESSIONS}/${id}`, 'metadata=');
    expect(all.body.metadata).toEqual({});
  });

  it('redact from requires_input cancels at once and redacts; personal data and metadata are gone', async () => {
    const id = await sessionIn('requires_input');
    const r = await svc.call('POST', `${SESSIONS}/${id}/redact`);
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({
      status: 'canceled',
      redaction: { status: 'processing' },
      provided_details: { email: '[redacted]' },
      url: null,
      client_secret: null,
    });
    // The session had metadata { k: 'v' }: a redaction empties it.
    expect(r.body.metadata).toEqual({});
    const done = await untilSession(id, (s) => s.redaction?.status === 'redacted');
    expect(done).toMatchObject({ status: 'canceled', redaction: { status: 'redacted' } });
    const again = await svc.call('POST', `${SESSIONS}/${id}/redact`);
    expect(again.status).toBe(200);
    expect(again.body.redaction).toEqual({ status: 'redacted' });
    expect(again.body.metadata).toEqual({});
  });

  it('a session being redacted takes no update or cancel', async () => {
    const id = await sessionIn('processing');
    expect((await svc.call('POST', `${SESSIONS}/${id}/redact`)).body.redaction).toEqual({ status: 'processing' });
    // The checks send it back to requires_input while the redaction waits for them.
    const s = (await store.get(scope, id))!;
    await store.commit({ ...s, status: 'requires_input', version: s.version + 1 }, { action: 'checks_failed', version: s.version });
    for (const keyed of [false, true]) {
      const headers = keyed ? { 'idempotency-key': `redacting-${id}` } : undefined;
      const update = await svc.call('POST', `${SESSIONS}/${id}`, 'metadata[name]=Jo', { headers });
      expect(update.status).toBe(400);
      expect(update.body.error.message).toContain('redacted');
    }
    expect((await svc.call('POST', `${SESSIONS}/${id}/cancel`)).status).toBe(400);
    const done = await untilSession(id, (x) => x.redaction?.status === 'redacted');
    expect(done).toMatchObject({ status: 'canceled', metadata: {} });
  });

  it('refuses parameters the endpoint does not take, changing nothing', async () => {
    const id = await sessionIn('requires_input');
    const before = (await store.get(scope, id))!;
    const r = await svc.call('POST', `${SESSIONS}/${id}`, 'metadata[a]=1&return_url=https://example.com');
    expect(r.status).toBe(400);
    expect(r.body.error).toMatchObject({ type: 'invalid_request_error', code: 'parameter_unknown', param: 'return_url' });
    expect((await store.get(scope, id))!).toEqual(before);
  });

  it('refuses JSON bodies with an explanation', async () => {
    const r = await svc.call('POST', SESSIONS, JSON.stringify({ type: 'document' }), { headers: { 'content-type': 'application/json' } });
    expect(r.status).toBe(400);
    expect(r.body.error.message).toContain('form-encoded');
  });
});

describe('every (status, action) pair through the API and DynamoDB', () => {
  const actions = {
    update: (id: string) => svc.call('POST', `${SESSIONS}/${id}`, 'metadata[x]=1'),
    cancel: (id: string) => svc.call('POST', `${SESSIONS}/${id}/cancel`),
    redact: (id: string) => svc.call('POST', `${SESSIONS}/${id}/redact`),
  };
  const expected: Record<Status, Record<keyof typeof actions, Status | 'refused'>> = {
    requires_input: { update: 'requires_input', cancel: 'canceled', redact: 'canceled' },
    // A redact while processing is accepted as pending (redaction.status: processing).
    processing: { update: 'refused', cancel: 'refused', redact: 'processing' },
    verified: { update: 'refused', cancel: 'refused', redact: 'verified' },
    canceled: { update: 'refused', cancel: 'refused', redact: 'canceled' },
  };
  for (const status of STATUSES) {
    for (const [action, run] of Object.entries(actions) as [keyof typeof actions, (id: string) => Promise<any>][]) {
      for (const keyed of [false, true]) {
        const outcome = expected[status][action];
        it(`${action} on ${status}${keyed ? ' (Idempotency-Key)' : ''}: ${outcome}`, async () => {
          const id = await sessionIn(status);
          const before = (await store.get(scope, id))!;
          const r = keyed
            ? await svc.call('POST', action === 'update' ? `${SESSIONS}/${id}` : `${SESSIONS}/${id}/${action}`, action === 'update' ? 'metadata[x]=1' : '', {
                headers: { 'idempotency-key': `k-${id}-${action}` },
              })
            : await run(id);
          const after = (await store.get(scope, id))!;
          if (outcome === 'refused') {
            expect(r.status).toBe(400);
            expect(r.body.error.type).toBe('invalid_request_error');
            expect(r.body.error.message).toContain(`\`${status}\``);
            // The session is unchanged; a keyed refusal is saved under its key on the item (for its replay).
            const { replays: savedAfter, ...sessionAfter } = after;
            const { replays: savedBefore, ...sessionBefore } = before;
            expect(sessionAfter).toEqual(sessionBefore);
            expect(Object.keys(savedAfter ?? {}).length).toBe(Object.keys(savedBefore ?? {}).length + (keyed ? 1 : 0));
          } else {
            expect(r.status).toBe(200);
            expect(r.body.status).toBe(outcome);
            expect(after.status).toBe(outcome);
            expect(after.version).toBe(before.version + 1);
          }
        });
      }
    }
  }
});

describe('concurrency', () => {
  it('25 concurrent cancels: exactly one succeeds, the others get clean refusals', async () => {
    const id = await sessionIn('requires_input');
    const results = await Promise.all(Array.from({ length: 25 }, () => svc.call('POST', `${SESSIONS}/${id}/cancel`)));
    expect(results.filter((r) => r.status === 200)).toHaveLength(1);
    for (const r of results.filter((x) => x.status !== 200)) {
      expect([400, 409]).toContain(r.status);
      expect(r.body.error.type).toBe('invalid_request_error');
    }
    expect((await store.get(scope, id))!.version).toBe(2);
  });

  it('25 concurrent keyed cancels (read-modify-write path): exactly one succeeds', async () => {
    const id = await sessionIn('requires_input');
    const results = await Promise.all(
      Array.from({ length: 25 }, (_, i) => svc.call('POST', `${SESSIONS}/${id}/cancel`, '', { headers: { 'idempotency-key': `c-${id}-${i}` } })),
    );
    expect(results.filter((r) => r.status === 200)).toHaveLength(1);
    expect(results.every((r) => [200, 400, 409].includes(r.status))).toBe(true);
    expect((await store.get(scope, id))!.version).toBe(2);
  });

  for (const keyed of [false, true]) {
    it(`concurrent updates of different metadata keys lose nothing${keyed ? ' (Idempotency-Key)' : ''}`, async () => {
      const id = await sessionIn('requires_input');
      // Like Stripe's clients: a 409 is retried with the same key after a pause.
      const update = async (i: number) => {
        for (let attempt = 0; ; attempt++) {
          const r = await svc.call('POST', `${SESSIONS}/${id}`, `metadata[key${i}]=${i}`, keyed ? { headers: { 'idempotency-key': `u-${id}-${i}` } } : {});
          if (r.status !== 409 || attempt === 5) return r;
          await new Promise((res) => setTimeout(res, 50 * 2 ** attempt * Math.random()));
        }
      };
      const results = await Promise.all(Array.from({ length: 20 }, (_, i) => update(i)));
      expect(results.map((r) => r.status)).toEqual(Array(20).fill(200));
      results.forEach((r, i) => expect(r.body.metadata[`key${i}`]).toBe(String(i)));
      const final = (await store.get(scope, id))!;
      for (let i = 0; i < 20; i++) expect(final.metadata[`key${i}`]).toBe(String(i));
      expect(final.metadata.k).toBe('v');
      expect(final.version).toBe(21);
    });
  }

  it('two writers of the same version: exactly one conditional write wins', async () => {
    const id = await sessionIn('requires_input');
    const s = (await store.get(scope, id))!;
    const a = transition(s, 'submit', SYSTEM);
    const b = transition(s, 'cancel', SYSTEM);
    const outcomes = await Promise.allSettled([
      store.commit(a, { action: 'submit', version: s.version }),
      store.commit(b, { action: 'cancel', version: s.version }),
    ]);
    expect(outcomes.filter((o) => o.status === 'fulfilled')).toHaveLength(1);
  });

  it('the metadata limit holds when an update races toward 50 keys', async () => {
    const id = await sessionIn('requires_input'); // has 1 key
    const fortyEight = Array.from({ length: 48 }, (_, i) => `metadata[m${i}]=v`).join('&');
    expect((await svc.call('POST', `${SESSIONS}/${id}`, fortyEight)).status).toBe(200); // 49 keys
    const over = await svc.call('POST', `${SESSIONS}/${id}`, 'metadata[x1]=1&metadata[x2]=2');
    expect(over.status).toBe(400);
    expect(over.body.error.param).toBe('metadata');
    const overwrite = await svc.call('POST', `${SESSIONS}/${id}`, 'metadata[m0]=changed&metadata[x1]=1'); // exactly 50
    expect(overwrite.status).toBe(200);
    expect(Object.keys(overwrite.body.metadata)).toHaveLength(50);
  });
});

describe('accounts and authentication', () => {
  it('a key of another account can neither read nor change a session (404), nor list it', async () => {
    const id = await sessionIn('requires_input');
    const otherKey = newSecretKey(false);
    await new ApiKeyStore(svc.doc, svc.tableName).register(otherKey, newAccountId());
    for (const [method, path] of [
      ['GET', `${SESSIONS}/${id}`],
      ['POST', `${SESSIONS}/${id}`],
      ['POST', `${SESSIONS}/${id}/cancel`],
      ['POST', `${SESSIONS}/${id}/redact`],
    ] as const) {
      const r = await svc.call(method, path, method === 'POST' ? 'metadata[a]=b' : undefined, { key: otherKey });
      if (path.endsWith('cancel') || path.endsWith('redact')) {
        // these endpoints take no metadata: retry without it
        const r2 = await svc.call(method, path, '', { key: otherKey });
        expect(r2.status).toBe(404);
        expect(r2.body.error).toMatchObject({ code: 'resource_missing', param: 'id' });
      } else {
        expect(r.status).toBe(404);
        expect(r.body.error.code).toBe('resource_missing');
      }
    }
    const list = await svc.call('GET', SESSIONS, undefined, { key: otherKey });
    expect(list.body.data).toEqual([]);
    expect((await store.get(scope, id))!.status).toBe('requires_input');
  });

  it('no key or a wrong key is a 401 that reveals nothing; Basic auth with the key works', async () => {
    const none = await svc.call('GET', SESSIONS, undefined, { key: null });
    expect(none.status).toBe(401);
    // Stripe's wire type for a 401 (its clients choose the authentication error class from the status).
    expect(none.body.error.type).toBe('invalid_request_error');
    const wrongKey = newSecretKey(false);
    const wrong = await svc.call('GET', SESSIONS, undefined, { key: wrongKey });
    expect(wrong.status).toBe(401);
    expect(JSON.stringify(wrong.body)).not.toContain(wrongKey.slice(-6));
    expect(Object.keys(wrong.body)).toEqual(['error']);
    const basic = await svc.call('GET', SESSIONS, undefined, {
      key: null,
      headers: { authorization: `Basic ${Buffer.from(`${svc.secretKey}:`).toString('base64')}` },
    });
    expect(basic.status).toBe(200);
  });

  it('unknown routes answer JSON 404 with a request id; Stripe-Version is echoed', async () => {
    const r = await svc.call('GET', '/v1/charges', undefined, { headers: { 'stripe-version': '2024-06-20' } });
    expect(r.status).toBe(404);
    expect(r.body.error.type).toBe('invalid_request_error');
    expect(r.body.error.message).toContain('GET: /v1/charges');
    expect(r.headers.get('request-id')).toMatch(/^req_/);
    expect(r.headers.get('stripe-version')).toBe('2024-06-20');
  });
});

describe('list', () => {
  let ids: string[];
  let client: string;
  beforeAll(async () => {
    client = `list-${Date.now()}`;
    ids = [];
    // Created in quick succession: many share a second.
    for (let i = 0; i < 23; i++) ids.push((await create({ type: 'document', client_reference_id: client, related_customer: i % 2 ? 'cus_odd' : 'cus_even' })).id);
    await svc.call('POST', `${SESSIONS}/${ids[3]}/cancel`);
  });

  it('pages newest first with starting_after, stable within a second, with has_more and url', async () => {
    const seen: string[] = [];
    let after: string | undefined;
    for (;;) {
      const r = await svc.call('GET', `${SESSIONS}?limit=10&client_reference_id=${client}${after ? `&starting_after=${after}` : ''}`);
      expect(r.body).toMatchObject({ object: 'list', url: SESSIONS });
      seen.push(...r.body.data.map((s: { id: string }) => s.id));
      if (!r.body.has_more) break;
      after = seen[seen.length - 1];
    }
    expect(seen).toEqual([...ids].reverse());
  });

  it('pages backwards with ending_before', async () => {
    const newest = [...ids].reverse();
    const r = await svc.call('GET', `${SESSIONS}?limit=3&client_reference_id=${client}&ending_before=${newest[10]}`);
    expect(r.body.data.map((s: { id: string }) => s.id)).toEqual(newest.slice(7, 10));
    expect(r.body.has_more).toBe(true);
  });

  it('filters by status, related_customer and created', async () => {
    const canceled = await svc.call('GET', `${SESSIONS}?status=canceled&client_reference_id=${client}`);
    expect(canceled.body.data.map((s: { id: string }) => s.id)).toEqual([ids[3]]);
    const odd = await svc.call('GET', `${SESSIONS}?limit=100&related_customer=cus_odd&client_reference_id=${client}`);
    expect(odd.body.data).toHaveLength(11);
    const created = (await store.get(scope, ids[0]))!.created;
    const upTo = await svc.call('GET', `${SESSIONS}?limit=100&client_reference_id=${client}&created[lt]=${created}`);
    expect(upTo.body.data).toEqual([]);
    const from = await svc.call('GET', `${SESSIONS}?limit=100&client_reference_id=${client}&created[gte]=${created}`);
    expect(from.body.data).toHaveLength(23);
    const exact = await svc.call('GET', `${SESSIONS}?limit=100&client_reference_id=${client}&created=${created}`);
    expect(exact.body.data.every((s: { created: number }) => s.created === created)).toBe(true);
    expect(exact.body.data.length).toBeGreaterThan(0);
  });

  it('validates limit and cursors', async () => {
    for (const q of ['limit=0', 'limit=101', 'limit=ten', 'status=done', 'starting_after=nope', 'created[after]=1']) {
      const r = await svc.call('GET', `${SESSIONS}?${q}`);
      expect(r.status, q).toBeGreaterThanOrEqual(400);
      expect(r.body.error.param, q).toBeDefined();
    }
  });
});

describe('Idempotency-Key', () => {
  it('replays the first result and creates only one session', async () => {
    const key = `create-${Date.now()}`;
    const form = 'type=document&client_reference_id=idem-one';
    const first = await svc.call('POST', SESSIONS, form, { headers: { 'idempotency-key': key } });
    const second = await svc.call('POST', SESSIONS, form, { headers: { 'idempotency-key': key } });
    expect(second.status).toBe(200);
    expect(second.body).toEqual(first.body);
    expect(second.headers.get('idempotent-replayed')).toBe('true');
    const list = await svc.call('GET', `${SESSIONS}?client_reference_id=idem-one`);
    expect(list.body.data).toHaveLength(1);
  });

  it("two accounts with the same key each get their own result and never see the other's", async () => {
    const otherKey = newSecretKey(false);
    const other = await new ApiKeyStore(svc.doc, svc.tableName).register(otherKey, newAccountId());
    const key = `shared-${Date.now()}`;
    const asOther = { key: otherKey, headers: { 'idempotency-key': key } };
    const mine = await svc.call('POST', SESSIONS, 'type=document&client_reference_id=idem-mine', { headers: { 'idempotency-key': key } });
    const theirs = await svc.call('POST', SESSIONS, 'type=id_number&client_reference_id=idem-theirs', asOther);
    expect(mine.status).toBe(200);
    expect(theirs.status).toBe(200);
    expect(theirs.headers.get('idempotent-replayed')).not.toBe('true');
    expect(theirs.body).toMatchObject({ type: 'id_number', client_reference_id: 'idem-theirs' });
    expect(theirs.body.id).not.toBe(mine.body.id);
    // Each replay is its own account's result.
    const mineAgain = await svc.call('POST', SESSIONS, 'type=document&client_reference_id=idem-mine', { headers: { 'idempotency-key': key } });
    const theirsAgain = await svc.call('POST', SESSIONS, 'type=id_number&client_reference_id=idem-theirs', asOther);
    expect(mineAgain.body).toEqual(mine.body);
    expect(theirsAgain.body).toEqual(theirs.body);
    expect(theirsAgain.headers.get('idempotent-replayed')).toBe('true');
    // Each session belongs to the account that created it.
    expect((await svc.call('GET', `${SESSIONS}/${theirs.body.id}`, undefined, { key: otherKey })).status).toBe(200);
    expect((await svc.call('GET', `${SESSIONS}/${theirs.body.id}`)).status).toBe(404);
    expect(other.account).not.toBe(svc.account);
    // An update keyed the same way in both accounts stays apart too.
    const updKey = `shared-update-${Date.now()}`;
    const u1 = await svc.call('POST', `${SESSIONS}/${mine.body.id}`, 'metadata[who]=me', { headers: { 'idempotency-key': updKey } });
    const u2 = await svc.call('POST', `${SESSIONS}/${theirs.body.id}`, 'metadata[who]=them', { key: otherKey, headers: { 'idempotency-key': updKey } });
    expect(u1.body.metadata).toEqual({ who: 'me' });
    expect(u2.status).toBe(200);
    expect(u2.body).toMatchObject({ id: theirs.body.id, metadata: { who: 'them' } });
  });

  it('the same key with other parameters is a 400 idempotency_error', async () => {
    const key = `mismatch-${Date.now()}`;
    await svc.call('POST', SESSIONS, 'type=document', { headers: { 'idempotency-key': key } });
    const r = await svc.call('POST', SESSIONS, 'type=id_number', { headers: { 'idempotency-key': key } });
    expect(r.status).toBe(400);
    expect(r.body.error.type).toBe('idempotency_error');
  });

  it('concurrent requests with one key: one result, the others 409 or its replay', async () => {
    const key = `race-${Date.now()}`;
    const results = await Promise.all(
      Array.from({ length: 8 }, () => svc.call('POST', SESSIONS, 'type=document&client_reference_id=idem-race', { headers: { 'idempotency-key': key } })),
    );
    const ok = results.filter((r) => r.status === 200);
    const conflicts = results.filter((r) => r.status === 409);
    expect(ok.length + conflicts.length).toBe(8);
    expect(new Set(ok.map((r) => r.body.id)).size).toBe(1);
    for (const c of conflicts) expect(c.body.error.type).toBe('idempotency_error');
    expect((await svc.call('GET', `${SESSIONS}?client_reference_id=idem-race`)).body.data).toHaveLength(1);
  });

  it('a request that fails validation saves nothing', async () => {
    const key = `invalid-${Date.now()}`;
    const bad = await svc.call('POST', SESSIONS, 'type=selfie', { headers: { 'idempotency-key': key } });
    expect(bad.status).toBe(400);
    const good = await svc.call('POST', SESSIONS, 'type=document', { headers: { 'idempotency-key': key } });
    expect(good.status).toBe(200);
    expect(good.headers.get('idempotent-replayed')).toBeNull();
  });

  it('a refused transition is saved and replayed as it was', async () => {
    const id = await sessionIn('canceled');
    const key = `refused-${id}`;
    const first = await svc.call('POST', `${SESSIONS}/${id}/cancel`, '', { headers: { 'idempotency-key': key } });
    expect(first.status).toBe(400);
    const again = await svc.call('POST', `${SESSIONS}/${id}/cancel`, '', { headers: { 'idempotency-key': key } });
    expect(again.status).toBe(400);
    expect(again.body).toEqual(first.body);
    expect(again.headers.get('idempotent-replayed')).toBe('true');
  });

  it('a replayed cancel returns the first response even after later changes, but never personal data after a redact', async () => {
    const id = await sessionIn('requires_input');
    const key = `cancel-${id}`;
    const first = await svc.call('POST', `${SESSIONS}/${id}/cancel`, '', { headers: { 'idempotency-key': key } });
    expect(first.body.provided_details).toEqual({ email: 'jo@example.com' });
    expect((await svc.call('POST', `${SESSIONS}/${id}/cancel`, '', { headers: { 'idempotency-key': key } })).body).toEqual(first.body);
    await svc.call('POST', `${SESSIONS}/${id}/redact`);
    await untilSession(id, (s) => s.redaction?.status === 'redacted');
    const replay = await svc.call('POST', `${SESSIONS}/${id}/cancel`, '', { headers: { 'idempotency-key': key } });
    expect(replay.headers.get('idempotent-replayed')).toBe('true');
    // The first response, as the redaction leaves it: same status and fields, no personal data.
    expect(replay.body).toEqual({ ...first.body, metadata: {}, provided_details: { email: '[redacted]' } });
    expect(replay.body.redaction).toBeNull();
  });

  it('rejects keys longer than 255 characters', async () => {
    const r = await svc.call('POST', SESSIONS, 'type=document', { headers: { 'idempotency-key': 'k'.repeat(256) } });
    expect(r.status).toBe(400);
  });
});
