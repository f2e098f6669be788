import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Scope } from '../../lambdas/domain/session.js';
import { transition } from '../../lambdas/domain/session.js';
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

async function create(form: string) {
  const r = await svc.call('POST', SESSIONS, form);
  expect(r.status).toBe(200);
  return r.body as { id: string; url: string; metadata: Record<string, string> };
}

const sessionCount = async () => (await svc.call('GET', `${SESSIONS}?limit=100`)).body.data.length as number;

describe('input found by the audit', () => {
  it('an id that is not valid percent-encoding is a 404 in Stripe shape, for every route', async () => {
    for (const [method, path] of [
      ['GET', `${SESSIONS}/%E0%A4%A`],
      ['POST', `${SESSIONS}/%E0%A4%A`],
      ['POST', `${SESSIONS}/%E0%A4%A/cancel`],
      ['GET', '/v1/events/%ZZ'],
      ['DELETE', '/v1/webhook_endpoints/%C0'],
    ] as const) {
      const r = await svc.call(method, path);
      expect(r.status, `${method} ${path}`).toBe(404);
      expect(r.body.error).toMatchObject({ type: 'invalid_request_error' });
      expect(r.body.error.message).toMatch(/^Unrecognized request URL/);
    }
  });

  it('a return_url that is not an absolute http(s) URL is a 400 naming it, and nothing is created', async () => {
    const before = await sessionCount();
    for (const bad of ['https://merchant.example/done%0D%0ASet-Cookie:%20a=1', 'merchant.example/done', 'javascript:alert(1)', 'https://merchant.example/%00']) {
      const r = await svc.call('POST', SESSIONS, `type=document&return_url=${bad}`);
      expect(r.status, bad).toBe(400);
      expect(r.body.error, bad).toMatchObject({ type: 'invalid_request_error', param: 'return_url' });
    }
    expect(await sessionCount()).toBe(before);
  });

  it('the hosted page never answers 500 for a stored return_url that breaks the rule: it does not redirect', async () => {
    for (const accept of ['text/html', 'application/json']) {
      const s = await create('type=document&return_url=https://merchant.example/done');
      // A value stored before the rule existed.
      const read = (await store.get(scope, s.id))!;
      const next = transition(read, 'update', SYSTEM, (n) => {
        n.return_url = 'https://merchant.example/done\r\nSet-Cookie: a=1';
      });
      await store.commit(next, { action: 'update', version: read.version });
      const res = await fetch(`${s.url}/submit`, {
        method: 'POST',
        redirect: 'manual',
        headers: { 'content-type': 'application/x-www-form-urlencoded', accept },
        body: 'test_outcome=verified&document_type=passport',
      });
      expect(res.status, accept).toBe(200);
      expect(res.headers.get('location')).toBeNull();
      if (accept === 'application/json') expect(await res.json()).toEqual({ status: 'processing', redirect_url: null });
    }
  });

  it('a good return_url still redirects after the submission', async () => {
    const s = await create('type=document&return_url=https://merchant.example/done?ref=1');
    const res = await fetch(`${s.url}/submit`, {
      method: 'POST',
      redirect: 'manual',
      headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'text/html' },
      body: 'test_outcome=verified&document_type=passport',
    });
    expect(res.status).toBe(303);
    expect(res.headers.get('location')).toBe('https://merchant.example/done?ref=1');
  });

  it('metadata keys __proto__, constructor and prototype are refused by name, on create and update, changing nothing', async () => {
    const before = await sessionCount();
    for (const key of ['__proto__', 'constructor', 'prototype']) {
      const r = await svc.call('POST', SESSIONS, `type=document&metadata[${key}]=x&metadata[ok]=1`);
      expect(r.status, key).toBe(400);
      expect(r.body.error, key).toMatchObject({ type: 'invalid_request_error', param: `metadata[${key}]` });
    }
    expect(await sessionCount()).toBe(before);
    const s = await create('type=document&metadata[ok]=1');
    const stored = await store.get(scope, s.id);
    const upd = await svc.call('POST', `${SESSIONS}/${s.id}`, 'metadata%5B__proto__%5D=x&metadata[other]=2');
    expect(upd.status).toBe(400);
    expect(upd.body.error.param).toBe('metadata[__proto__]');
    expect(await store.get(scope, s.id)).toEqual(stored);
  });

  it('a body past 1000 parameters is a 400, not a partial update', async () => {
    const s = await create('type=document');
    const stored = await store.get(scope, s.id);
    const many = Array.from({ length: 1001 }, (_, i) => `expand[${i % 2}]=x`).join('&');
    const r = await svc.call('POST', `${SESSIONS}/${s.id}`, `${many}&metadata[late]=1`);
    expect(r.status).toBe(400);
    expect(r.body.error).toMatchObject({ type: 'invalid_request_error' });
    expect(r.body.error.message).toMatch(/more than 1000 parameters/);
    expect(await store.get(scope, s.id)).toEqual(stored);
  });

  it('a one-value parameter sent twice is a 400 that says so, naming it, and nothing is created', async () => {
    const before = await sessionCount();
    for (const [form, param] of [
      ['type=document&type=id_number', 'type'],
      ['type=document&options[document][allowed_types][0]=passport&options[document][allowed_types][0]=passport', 'options[document][allowed_types][0]'],
      ['type=document&client_reference_id=a&client_reference_id=b', 'client_reference_id'],
      ['type=document&options[document][require_id_number]=true&options[document][require_id_number]=false', 'options[document][require_id_number]'],
    ] as const) {
      const r = await svc.call('POST', SESSIONS, form);
      expect(r.status, form).toBe(400);
      expect(r.body.error).toMatchObject({ type: 'invalid_request_error', param });
      expect(r.body.error.message).toBe(`Invalid ${param}: it takes one value, and was sent 2 times (or with [] after its name).`);
    }
    const listed = await svc.call('POST', SESSIONS, 'type[0]=document');
    expect(listed.status).toBe(400);
    expect(listed.body.error.message).toBe('Invalid type: it takes one value, and was sent as a list (or with [] after its name).');
    expect(await sessionCount()).toBe(before);
  });
});
