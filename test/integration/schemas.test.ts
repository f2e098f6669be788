import { readFileSync } from 'node:fs';
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type TestService, startTestService } from '../support/api.js';
import { until } from '../support/until.js';

/**
 * Every object the API returns, in every state a session goes through, checked
 * against Stripe's published schemas (test/fixtures/stripe-identity-schemas.json,
 * copied from Stripe's MIT-licensed openapi repository). Stripe's response
 * schemas allow unknown properties; here every object schema is closed
 * (`additionalProperties: false`), so a property Stripe does not have fails
 * too, as does a null where Stripe's schema has no null.
 */
const SESSIONS = '/v1/identity/verification_sessions';
const REPORTS = '/v1/identity/verification_reports';
const SESSION_DEF = 'identity.verification_session';

type Schema = Record<string, any>;
const fixture = JSON.parse(readFileSync(new URL('../fixtures/stripe-identity-schemas.json', import.meta.url), 'utf8')) as {
  $defs: Record<string, Schema>;
};

/** Adds `additionalProperties: false` to every schema that lists its properties and says nothing of others. */
function closed(schema: unknown): unknown {
  if (Array.isArray(schema)) return schema.map(closed);
  if (schema === null || typeof schema !== 'object') return schema;
  const out: Schema = Object.fromEntries(Object.entries(schema).map(([k, v]) => [k, k === 'properties' || k === '$defs' ? mapValues(v, closed) : closed(v)]));
  if (out.properties && out.additionalProperties === undefined) out.additionalProperties = false;
  return out;
}
const mapValues = (o: Record<string, unknown>, f: (v: unknown) => unknown) => Object.fromEntries(Object.entries(o).map(([k, v]) => [k, f(v)]));

const defs = closed(fixture.$defs) as Record<string, Schema>;
// `previous_attributes` holds the changed top-level fields of a session with their old values.
defs.session_previous_attributes = { ...defs[SESSION_DEF], required: [], minProperties: 1 };
const ajv = new Ajv({ allErrors: true, strict: false });
ajv.addSchema({ $id: 'stripe', $defs: defs });
const validators = new Map<string, ValidateFunction>();
const validatorOf = (def: string) => {
  if (!validators.has(def)) validators.set(def, ajv.getSchema(`stripe#/$defs/${def}`)!);
  return validators.get(def)!;
};

const describeErrors = (errors: ErrorObject[] | null | undefined) =>
  (errors ?? []).map((e) => `${e.instancePath || '/'} ${e.message}${e.params ? ` ${JSON.stringify(e.params)}` : ''}`);

/** Fails with ajv's errors (path, rule) when `value` does not match `def`; events are also checked inside. */
function expectSchema(def: string, value: unknown, what: string) {
  const validate = validatorOf(def);
  expect(validate, `no schema ${def}`).toBeTypeOf('function');
  validate(value);
  expect(describeErrors(validate.errors), `${what} as ${def}`).toEqual([]);
  if (def === 'event') expectEventData(value as any, what);
  if (def === 'event_list') for (const e of (value as any).data) expectEventData(e, `${what}: ${e.type}`);
}

/** An event's `data.object` is a session, and its `previous_attributes` old values of session fields. */
function expectEventData(e: { type: string; data: { object: unknown; previous_attributes?: unknown } }, what: string) {
  expectSchema(SESSION_DEF, e.data.object, `${what} data.object`);
  if (e.data.previous_attributes !== undefined) expectSchema('session_previous_attributes', e.data.previous_attributes, `${what} previous_attributes`);
}

let svc: TestService;
beforeAll(async () => {
  svc = await startTestService();
});
afterAll(() => svc?.stop());

async function ok(method: string, path: string, form?: string) {
  const r = await svc.call(method, path, form);
  expect(r.status, `${method} ${path}: ${JSON.stringify(r.body)}`).toBe(200);
  return r.body;
}

/** Submits on the hosted page as its script does. */
async function submit(pageUrl: string, form: string) {
  const res = await fetch(`${pageUrl}/submit`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
    body: form,
  });
  expect(res.status).toBe(200);
}

const EXPAND_ALL = 'expand[]=last_verification_report&expand[]=verified_outputs';
const settled = (id: string) =>
  until('the checks', () => svc.call('GET', `${SESSIONS}/${id}?${EXPAND_ALL}`), (r) => r.status === 200 && r.body.status !== 'processing');

describe("every object matches Stripe's schema", () => {
  const FULL = 'type=document&options[document][require_matching_selfie]=true&options[document][require_id_number]=true';
  let verifiedId: string;
  let failedId: string;

  it('a session: fresh, with and without optional fields, updated', async () => {
    const plain = await ok('POST', SESSIONS, 'type=document');
    expectSchema(SESSION_DEF, plain, 'fresh session');
    expect(plain).not.toHaveProperty('related_person');
    const full = await ok(
      'POST',
      SESSIONS,
      `${FULL}&options[document][allowed_types][]=passport&metadata[order]=42&client_reference_id=user_1&provided_details[email]=a@example.com` +
        '&related_customer=cus_1&related_person[account]=acct_1&related_person[person]=person_1&return_url=https://example.com/done',
    );
    expectSchema(SESSION_DEF, full, 'fresh session with every field');
    expect(full.related_person).toEqual({ account: 'acct_1', person: 'person_1' });
    expectSchema(SESSION_DEF, await ok('GET', `${SESSIONS}/${plain.id}?${EXPAND_ALL}`), 'fresh session, expanded');
    expectSchema(SESSION_DEF, await ok('POST', `${SESSIONS}/${plain.id}`, 'metadata[a]=b&options[document][require_live_capture]=true'), 'updated session');
    expectSchema(SESSION_DEF, await ok('POST', `${SESSIONS}/${plain.id}`, 'type=id_number&options='), 'updated to id_number');
    expectSchema(SESSION_DEF, await ok('POST', `${SESSIONS}/${plain.id}/cancel`), 'canceled session');
  });

  it('a session processing, then verified with its report and outputs', async () => {
    const s = await ok('POST', SESSIONS, `${FULL}&client_reference_id=schema_user`);
    await submit(s.url, 'test_outcome=verified&test_delay_seconds=2');
    const processing = await ok('GET', `${SESSIONS}/${s.id}?${EXPAND_ALL}`);
    expect(processing.status).toBe('processing');
    expectSchema(SESSION_DEF, processing, 'processing session');
    const verified = (await settled(s.id)).body;
    expect(verified.status).toBe('verified');
    expect(verified.last_verification_report.object).toBe('identity.verification_report');
    expectSchema(SESSION_DEF, verified, 'verified session, expanded');
    expectSchema('identity.verification_report', await ok('GET', `${REPORTS}/${verified.last_verification_report.id}`), 'verified report');
    verifiedId = s.id;
  });

  it('a failed session (requires_input with last_error), with a session-level code in its report', async () => {
    const s = await ok('POST', SESSIONS, FULL);
    await submit(s.url, 'test_outcome=unverified&test_error_code=under_supported_age');
    const failed = (await settled(s.id)).body;
    expect(failed).toMatchObject({ status: 'requires_input', last_error: { code: 'under_supported_age' } });
    expectSchema(SESSION_DEF, failed, 'failed session, expanded');
    expect(failed.last_verification_report.document.error.code).toBe('document_unverified_other');
    expectSchema('identity.verification_report', failed.last_verification_report, 'failed report');
    failedId = s.id;
  });

  it('a session made from a verification flow, verified, with its report', async () => {
    const flow = await ok('POST', '/v1/identity/verification_flows', 'type=document&options[document][require_matching_selfie]=true');
    const s = await ok('POST', SESSIONS, `verification_flow=${flow.id}`);
    expect(s).toMatchObject({ type: 'verification_flow', verification_flow: flow.id });
    expectSchema(SESSION_DEF, s, 'session from a flow');
    await submit(s.url, 'test_outcome=verified');
    const verified = (await settled(s.id)).body;
    expectSchema(SESSION_DEF, verified, 'verified session from a flow, expanded');
    expectSchema('identity.verification_report', verified.last_verification_report, 'report of a flow session');
    expect(verified.last_verification_report.verification_flow).toBe(flow.id);
  });

  it('reports: retrieve and list', async () => {
    const list = await ok('GET', `${REPORTS}?limit=100`);
    expect(list.data.length).toBeGreaterThanOrEqual(2);
    expectSchema('identity.verification_report_list', list, 'report list');
    expectSchema('identity.verification_report_list', await ok('GET', `${REPORTS}?client_reference_id=schema_user`), 'report list by client_reference_id');
  });

  it('a redacted session, its report and its events', async () => {
    await ok('POST', `${SESSIONS}/${verifiedId}/redact`);
    const redacted = await until('redacted', () => svc.call('GET', `${SESSIONS}/${verifiedId}?${EXPAND_ALL}`), (r) => r.body.redaction?.status === 'redacted');
    expectSchema(SESSION_DEF, redacted.body, 'redacted session, expanded');
    expectSchema('identity.verification_report', await ok('GET', `${REPORTS}/${redacted.body.last_verification_report.id}`), 'redacted report');
    await ok('POST', `${SESSIONS}/${failedId}/redact`);
    const canceled = await until('redacted', () => svc.call('GET', `${SESSIONS}/${failedId}?${EXPAND_ALL}`), (r) => r.body.redaction?.status === 'redacted');
    expect(canceled.body.status).toBe('canceled');
    expectSchema(SESSION_DEF, canceled.body, 'redacted from requires_input');
  });

  it('session lists, plain and expanded', async () => {
    expectSchema('identity.verification_session_list', await ok('GET', `${SESSIONS}?limit=100`), 'session list');
    expectSchema(
      'identity.verification_session_list',
      await ok('GET', `${SESSIONS}?limit=100&expand[]=data.last_verification_report&expand[]=data.verified_outputs`),
      'session list, expanded',
    );
  });

  it('events: retrieve and list, with and without previous_attributes, from the API and from the checks', async () => {
    const all = await until(
      'the redacted events',
      async () => (await ok('GET', '/v1/events?limit=100')) as { data: any[] },
      (l) => l.data.filter((e) => e.type === 'identity.verification_session.redacted').length >= 2,
    );
    expectSchema('event_list', all, 'event list');
    const created = all.data.find((e) => e.type.endsWith('.created'));
    const fromApi = all.data.find((e) => e.type.endsWith('.canceled'));
    const fromChecks = all.data.find((e) => e.type.endsWith('.verified'));
    expect(created.data).not.toHaveProperty('previous_attributes');
    expect(fromApi.data.previous_attributes).toBeDefined();
    expect(fromApi.request.id).toMatch(/^req_/);
    expect(fromChecks.data.previous_attributes).toBeDefined();
    expect(fromChecks.request).toEqual({ id: null, idempotency_key: null });
    for (const e of [created, fromApi, fromChecks]) expectSchema('event', await ok('GET', `/v1/events/${e.id}`), `event ${e.type}`);
    expectSchema('event_list', await ok('GET', '/v1/events?type=identity.verification_session.*'), 'event list by type');
  });

  it('webhook endpoints: create (with its secret), retrieve, update, list, delete', async () => {
    const created = await ok('POST', '/v1/webhook_endpoints', 'url=http://127.0.0.1:9/hook&enabled_events[]=*&description=d&metadata[a]=b&connect=false');
    expect(created.secret).toMatch(/^whsec_/);
    expectSchema('webhook_endpoint', created, 'created endpoint');
    const plain = await ok('POST', '/v1/webhook_endpoints', 'url=http://127.0.0.1:9/other&enabled_events[]=identity.verification_session.verified');
    expectSchema('webhook_endpoint', plain, 'created endpoint without optional fields');
    expectSchema('webhook_endpoint', await ok('GET', `/v1/webhook_endpoints/${created.id}`), 'retrieved endpoint');
    expectSchema('webhook_endpoint', await ok('POST', `/v1/webhook_endpoints/${created.id}`, 'disabled=true&description='), 'updated endpoint');
    expectSchema('webhook_endpoint_list', await ok('GET', '/v1/webhook_endpoints'), 'endpoint list');
    expectSchema('deleted_webhook_endpoint', await ok('DELETE', `/v1/webhook_endpoints/${created.id}`), 'deleted endpoint');
  });

  it('errors: 400, 401, 404', async () => {
    const bad = await svc.call('POST', SESSIONS, 'type=passport');
    expect(bad.status).toBe(400);
    expectSchema('error', bad.body, '400');
    const unknown = await svc.call('POST', '/v1/webhook_endpoints', 'url=https://example.com/x&enabled_events[]=*&connect=true');
    expect(unknown).toMatchObject({ status: 400, body: { error: { param: 'connect' } } });
    expectSchema('error', unknown.body, '400 connect');
    const unauth = await svc.call('GET', SESSIONS, undefined, { key: null });
    expect(unauth.status).toBe(401);
    expectSchema('error', unauth.body, '401');
    const missing = await svc.call('GET', `${SESSIONS}/vs_0VcOcsy9AWLrEOraAjOXOWqM`);
    expect(missing.status).toBe(404);
    expectSchema('error', missing.body, '404');
    const missingReport = await svc.call('GET', `${REPORTS}/vr_0VcOcsy9AWLrEOraAjOXOWqM`);
    expect(missingReport.status).toBe(404);
    expectSchema('error', missingReport.body, '404 report');
  });
});

describe('the schema check itself', () => {
  it('refuses a null where the schema has none, a property Stripe lacks, and a code outside a check', () => {
    const session = { id: 'vs_1', object: SESSION_DEF, created: 1, livemode: false, metadata: {}, status: 'requires_input', type: 'document' };
    expect(validatorOf(SESSION_DEF)(session)).toBe(true);
    expect(validatorOf(SESSION_DEF)({ ...session, related_person: null })).toBe(false);
    expect(validatorOf(SESSION_DEF)({ ...session, colour: 'red' })).toBe(false);
    const report = { id: 'vr_1', object: 'identity.verification_report', created: 1, livemode: false, type: 'document' };
    expect(validatorOf('identity.verification_report')({ ...report, document: { status: 'unverified', error: { code: 'under_supported_age', reason: 'x' } } })).toBe(false);
    expect(validatorOf('event')({ id: 'evt_1', object: 'event', created: 1, data: { object: {} }, livemode: false, pending_webhooks: 0, type: 't', account: null })).toBe(false);
  });
});
