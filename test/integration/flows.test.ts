import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newAccountId } from '../../lambdas/domain/ids.js';
import { ApiKeyStore, newSecretKey } from '../../lambdas/store/api-keys.js';
import { type TestService, startTestService } from '../support/api.js';
import { until } from '../support/until.js';

// Verification flows, an extension of this service: made through the API, used by sessions as Stripe's Dashboard flows are.
const FLOWS = '/v1/identity/verification_flows';
const SESSIONS = '/v1/identity/verification_sessions';
let svc: TestService;
let otherKey: string;

beforeAll(async () => {
  svc = await startTestService();
  otherKey = newSecretKey(false);
  await new ApiKeyStore(svc.doc, svc.tableName).register(otherKey, newAccountId());
});
afterAll(() => svc?.stop());

const SELFIE_FLOW = 'type=document&options[document][require_matching_selfie]=true&options[document][allowed_types][0]=passport&metadata[team]=kyc';

async function createFlow(form = SELFIE_FLOW, key?: string) {
  const r = await svc.call('POST', FLOWS, form, key ? { key } : {});
  expect(r.status).toBe(200);
  return r.body as { id: string };
}

describe('the verification flows endpoint', () => {
  it('creates a flow, retrieves it, and lists flows newest first with cursors', async () => {
    const flow = await createFlow();
    expect(flow).toEqual({
      id: expect.stringMatching(/^vf_[0-9A-Za-z]{24}$/),
      object: 'identity.verification_flow',
      created: expect.any(Number),
      livemode: false,
      metadata: { team: 'kyc' },
      options: { document: { allowed_types: ['passport'], require_matching_selfie: true } },
      type: 'document',
    });
    expect((await svc.call('GET', `${FLOWS}/${flow.id}`)).body).toEqual(flow);

    const second = await createFlow('type=id_number');
    const page1 = await svc.call('GET', `${FLOWS}?limit=1`);
    expect(page1.body).toMatchObject({ object: 'list', url: FLOWS, has_more: true });
    expect(page1.body.data.map((f: { id: string }) => f.id)).toEqual([second.id]);
    const page2 = await svc.call('GET', `${FLOWS}?limit=1&starting_after=${second.id}`);
    expect(page2.body.data.map((f: { id: string }) => f.id)).toEqual([flow.id]);
    const back = await svc.call('GET', `${FLOWS}?limit=5&ending_before=${flow.id}`);
    expect(back.body.data.map((f: { id: string }) => f.id)).toEqual([second.id]);
  });

  it('refuses a flow without a type or with a bad option, naming the parameter', async () => {
    const none = await svc.call('POST', FLOWS, 'metadata[a]=b');
    expect(none.status).toBe(400);
    expect(none.body.error).toMatchObject({ code: 'parameter_missing', param: 'type' });
    const bad = await svc.call('POST', FLOWS, 'type=verification_flow');
    expect(bad.status).toBe(400);
    expect(bad.body.error.param).toBe('type');
    const option = await svc.call('POST', FLOWS, 'type=document&options[document][allowed_types][0]=library_card');
    expect(option.status).toBe(400);
    expect(option.body.error.param).toBe('options[document][allowed_types][0]');
  });

  it('an Idempotency-Key replays the first flow, and refuses other parameters', async () => {
    const headers = { 'idempotency-key': `flow-${Date.now()}` };
    const first = await svc.call('POST', FLOWS, 'type=document', { headers });
    const again = await svc.call('POST', FLOWS, 'type=document', { headers });
    expect(again.body).toEqual(first.body);
    expect(again.headers.get('idempotent-replayed')).toBe('true');
    const other = await svc.call('POST', FLOWS, 'type=id_number', { headers });
    expect(other.status).toBe(400);
    expect(other.body.error.type).toBe('idempotency_error');
  });

  it("another account neither sees nor lists an account's flow", async () => {
    const flow = await createFlow();
    const r = await svc.call('GET', `${FLOWS}/${flow.id}`, undefined, { key: otherKey });
    expect(r.status).toBe(404);
    expect(r.body.error).toMatchObject({ code: 'resource_missing', param: 'id' });
    const list = await svc.call('GET', FLOWS, undefined, { key: otherKey });
    expect(list.body.data.map((f: { id: string }) => f.id)).not.toContain(flow.id);
  });
});

describe('sessions made from a flow', () => {
  it('take the flow\'s options, run its checks on the hosted page, and verify with a report carrying the flow', async () => {
    const flow = await createFlow();
    const created = await svc.call('POST', SESSIONS, `verification_flow=${flow.id}&metadata[order]=7`);
    expect(created.status).toBe(200);
    expect(created.body).toMatchObject({
      type: 'verification_flow',
      verification_flow: flow.id,
      options: { document: { allowed_types: ['passport'], require_matching_selfie: true } },
      metadata: { order: '7' },
      status: 'requires_input',
    });
    // The hosted page asks for what the flow's checks need: the flow's document types and a selfie.
    const page = await (await fetch(created.body.url)).text();
    expect(page).toContain('value="passport"');
    expect(page).not.toContain('value="id_card"');
    expect(page).toContain('id="selfie"');

    const submit = await fetch(`${created.body.url}/submit`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
      body: 'test_outcome=verified&document_type=passport',
    });
    expect(submit.status).toBe(200);
    const done = await until(
      'the checks',
      () => svc.call('GET', `${SESSIONS}/${created.body.id}?expand[]=last_verification_report`),
      (r) => r.body.status !== 'processing',
    );
    expect(done.body.status).toBe('verified');
    const report = done.body.last_verification_report;
    expect(report).toMatchObject({ type: 'verification_flow', verification_flow: flow.id, verification_session: created.body.id });
    // The document flow's checks ran: a document and a selfie, no id number.
    expect(report.document.status).toBe('verified');
    expect(report.selfie.status).toBe('verified');
    expect(report).not.toHaveProperty('id_number');
    expect(report.options).toEqual({ document: { allowed_types: ['passport'], require_matching_selfie: true } });

    const listed = await svc.call('GET', `/v1/identity/verification_reports?type=verification_flow&verification_session=${created.body.id}`);
    expect(listed.body.data.map((r: { id: string }) => r.id)).toEqual([report.id]);
  });

  it('of an id_number flow ask for the id number and check only it', async () => {
    const flow = await createFlow('type=id_number');
    const s = (await svc.call('POST', SESSIONS, `verification_flow=${flow.id}`)).body;
    const page = await (await fetch(s.url)).text();
    expect(page).toContain('id="id_number"');
    expect(page).not.toContain('id="document_front"');
    await fetch(`${s.url}/submit`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
      body: 'test_outcome=verified',
    });
    const done = await until('the checks', () => svc.call('GET', `${SESSIONS}/${s.id}?expand[]=last_verification_report`), (r) => r.body.status !== 'processing');
    expect(done.body.status).toBe('verified');
    expect(done.body.last_verification_report).toMatchObject({ type: 'verification_flow', verification_flow: flow.id, options: { id_number: {} } });
    expect(done.body.last_verification_report.id_number.status).toBe('verified');
    expect(done.body.last_verification_report).not.toHaveProperty('document');
  });

  it('a session without a flow shows no verification_flow at all', async () => {
    const s = await svc.call('POST', SESSIONS, 'type=document');
    expect(s.body).not.toHaveProperty('verification_flow');
  });

  it("another account's flow, an unknown id and a malformed id are a 400 naming verification_flow; nothing is created", async () => {
    const theirs = await createFlow('type=document', otherKey);
    const before = (await svc.call('GET', `${SESSIONS}?limit=100`)).body.data.length;
    for (const id of [theirs.id, 'vf_0000000000000000000000ZZ', 'not-a-flow']) {
      const r = await svc.call('POST', SESSIONS, `verification_flow=${id}`);
      expect(r.status).toBe(400);
      expect(r.body.error).toMatchObject({ type: 'invalid_request_error', code: 'resource_missing', param: 'verification_flow' });
      expect(r.body.error.message).toContain(id);
    }
    expect((await svc.call('GET', `${SESSIONS}?limit=100`)).body.data.length).toBe(before);
  });

  it('type or options together with verification_flow are a 400 naming the parameter', async () => {
    const flow = await createFlow();
    const withType = await svc.call('POST', SESSIONS, `verification_flow=${flow.id}&type=document`);
    expect(withType.status).toBe(400);
    expect(withType.body.error).toMatchObject({ code: 'parameters_exclusive', param: 'type' });
    const withOptions = await svc.call('POST', SESSIONS, `verification_flow=${flow.id}&options[document][require_id_number]=true`);
    expect(withOptions.status).toBe(400);
    expect(withOptions.body.error).toMatchObject({ code: 'parameters_exclusive', param: 'options' });
    const neither = await svc.call('POST', SESSIONS, 'metadata[a]=b');
    expect(neither.body.error).toMatchObject({ code: 'parameter_missing', param: 'type' });
  });

  it("an update cannot change a flow session's type or options; metadata it can", async () => {
    const flow = await createFlow();
    const s = (await svc.call('POST', SESSIONS, `verification_flow=${flow.id}`)).body;
    for (const [form, param, says] of [
      ['type=id_number', 'type', 'its type is set by the flow'],
      ['options[document][require_id_number]=true', 'options', 'its options are set by the flow'],
    ] as const) {
      const r = await svc.call('POST', `${SESSIONS}/${s.id}`, form);
      expect(r.status).toBe(400);
      expect(r.body.error.param).toBe(param);
      expect(r.body.error.message).toBe(`This VerificationSession was made from the verification flow ${flow.id}: ${says} and cannot be updated.`);
    }
    const ok = await svc.call('POST', `${SESSIONS}/${s.id}`, 'metadata[step]=2');
    expect(ok.status).toBe(200);
    expect(ok.body).toMatchObject({ type: 'verification_flow', verification_flow: flow.id, metadata: { step: '2' }, options: s.options });
  });

  it('an Idempotency-Key replays a refusal for an unknown flow', async () => {
    const headers = { 'idempotency-key': `vf-missing-${Date.now()}` };
    const first = await svc.call('POST', SESSIONS, 'verification_flow=vf_0000000000000000000000ZZ', { headers });
    const again = await svc.call('POST', SESSIONS, 'verification_flow=vf_0000000000000000000000ZZ', { headers });
    expect(first.status).toBe(400);
    expect(again.status).toBe(400);
    expect(again.body).toEqual(first.body);
    expect(again.headers.get('idempotent-replayed')).toBe('true');
  });
});
