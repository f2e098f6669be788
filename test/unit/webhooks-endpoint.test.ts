import qs from 'qs';
import { describe, expect, it } from 'vitest';
import { ApiError } from '../../lambdas/domain/errors.js';
import { isTimeOrderedId } from '../../lambdas/domain/ids.js';
import { parseParams } from '../../lambdas/domain/params.js';
import {
  CREATE_ENDPOINT_PARAMS,
  type CreateEndpointParams,
  MAX_ENDPOINTS_PER_ACCOUNT,
  UPDATE_ENDPOINT_PARAMS,
  type UpdateEndpointParams,
  WEBHOOK_EVENT_TYPES,
  applyEndpointUpdate,
  checkEndpointExpand,
  endpointLimitReached,
  endpointWantsEvent,
  newWebhookEndpoint,
  newWebhookEndpointId,
  newWebhookSecret,
  renderDeletedEndpoint,
  renderWebhookEndpoint,
} from '../../lambdas/domain/webhook-endpoint.js';

const createParams = (form: string) => parseParams<CreateEndpointParams>(CREATE_ENDPOINT_PARAMS, qs.parse(form));
const updateParams = (form: string) => parseParams<UpdateEndpointParams>(UPDATE_ENDPOINT_PARAMS, qs.parse(form));
const test = { account: 'acct_1', livemode: false };
const live = { account: 'acct_1', livemode: true };
const create = (form: string, scope = test) => newWebhookEndpoint(createParams(form), { scope, nowSeconds: 1_800_000_000 });

function errorOf(fn: () => unknown): ApiError {
  try {
    fn();
  } catch (err) {
    if (err instanceof ApiError) return err;
    throw err;
  }
  throw new Error('expected an ApiError');
}

const VERIFIED = 'identity.verification_session.verified';
const REDACTED = 'identity.verification_session.redacted';

describe('webhook endpoint parameters', () => {
  it('parses a create request', () => {
    const p = createParams(
      `url=https://example.com/hook&enabled_events[0]=${VERIFIED}&enabled_events[1]=*&description=Orders&metadata[team]=kyc&api_version=2026-10-28.endive`,
    );
    expect(p).toEqual({
      url: 'https://example.com/hook',
      enabled_events: [VERIFIED, '*'],
      description: 'Orders',
      metadata: { team: 'kyc' },
      api_version: '2026-10-28.endive',
    });
  });

  it('names a missing url or enabled_events', () => {
    const noUrl = errorOf(() => createParams('enabled_events[0]=*'));
    expect([noUrl.status, noUrl.code, noUrl.param]).toEqual([400, 'parameter_missing', 'url']);
    expect(errorOf(() => createParams('url=https://example.com/hook')).param).toBe('enabled_events');
  });

  it('names an unknown event type by index and lists the allowed ones', () => {
    const e = errorOf(() => createParams(`url=https://example.com/hook&enabled_events[0]=${VERIFIED}&enabled_events[1]=charge.succeeded`));
    expect(e.param).toBe('enabled_events[1]');
    for (const type of WEBHOOK_EVENT_TYPES) expect(e.message).toContain(type);
    expect(e.message).toContain('or *');
  });

  it('rejects unknown parameters, including disabled on create', () => {
    expect(errorOf(() => createParams('url=https://example.com/hook&enabled_events[0]=*&disabled=true')).code).toBe('parameter_unknown');
    expect(errorOf(() => updateParams('api_version=2020-08-27')).param).toBe('api_version');
    expect(errorOf(() => updateParams('disabled=maybe')).param).toBe('disabled');
  });

  it('refuses an empty event list and a bad url, naming the parameter', () => {
    expect(errorOf(() => create('url=https://example.com/hook&enabled_events=')).param).toBe('enabled_events');
    expect(errorOf(() => create('url=not a url&enabled_events[0]=*')).param).toBe('url');
    const http = errorOf(() => create('url=http://example.com/hook&enabled_events[0]=*', live));
    expect(http.param).toBe('url');
    expect(http.message).toMatch(/https/);
    expect(create('url=http://127.0.0.1:4242/hook&enabled_events[0]=*', test).url).toBe('http://127.0.0.1:4242/hook');
    expect(errorOf(() => create('url=https://user:pw@example.com/&enabled_events[0]=*', live)).param).toBe('url');
  });

  it('accepts connect=false on create and refuses connect=true by name (no Connect here)', () => {
    const off = create('url=https://example.com/hook&enabled_events[0]=*&connect=false');
    expect(off.enabled_events).toEqual(['*']);
    expect(renderWebhookEndpoint(off)).not.toHaveProperty('connect');
    const on = errorOf(() => create('url=https://example.com/hook&enabled_events[0]=*&connect=True'));
    expect(on.status).toBe(400);
    expect(on.param).toBe('connect');
    expect(on.message).toContain('Connect');
    expect(errorOf(() => updateParams('connect=false')).code).toBe('parameter_unknown');
  });

  it('refuses any expand value, naming it', () => {
    expect(() => checkEndpointExpand(undefined)).not.toThrow();
    expect(errorOf(() => checkEndpointExpand(['secret'])).param).toBe('expand[0]');
  });

  it('has the limit and its error', () => {
    expect(MAX_ENDPOINTS_PER_ACCOUNT).toBe(16);
    expect(endpointLimitReached(true).message).toContain('16');
  });
});

describe('a new endpoint', () => {
  it('gets a time-ordered we_ id, a whsec_ secret and the enabled status', () => {
    const e = create(`url=https://example.com/hook&enabled_events[0]=${VERIFIED}&enabled_events[1]=${VERIFIED}`, live);
    expect(isTimeOrderedId(e.id, 'we')).toBe(true);
    expect(e.secrets).toHaveLength(1);
    expect(e.secrets[0].secret).toMatch(/^whsec_[0-9A-Za-z]{32}$/);
    expect(e.secrets[0].expires_at).toBeNull();
    expect(e).toMatchObject({ account: 'acct_1', livemode: true, status: 'enabled', enabled_events: [VERIFIED], description: null, metadata: {}, api_version: null, version: 1 });
    expect(newWebhookSecret()).not.toBe(newWebhookSecret());
    expect(newWebhookEndpointId(2_000_000_000_000) > newWebhookEndpointId(1_000_000_000_000)).toBe(true);
  });
});

describe('rendering', () => {
  const e = create('url=https://example.com/hook&enabled_events[0]=*&metadata[a]=b', live);

  it('has Stripe’s shape and hides the secret unless asked', () => {
    const shown = renderWebhookEndpoint(e);
    expect(Object.keys(shown)).toEqual(['id', 'object', 'api_version', 'application', 'created', 'description', 'enabled_events', 'livemode', 'metadata', 'status', 'url']);
    expect(shown).toMatchObject({ id: e.id, object: 'webhook_endpoint', application: null, created: 1_800_000_000, status: 'enabled', url: 'https://example.com/hook', metadata: { a: 'b' } });
    expect(JSON.stringify(shown)).not.toContain('whsec_');
    expect(renderWebhookEndpoint(e, { withSecret: true }).secret).toBe(e.secrets[0].secret);
  });

  it('renders a deletion', () => {
    expect(renderDeletedEndpoint('we_1')).toEqual({ id: 'we_1', object: 'webhook_endpoint', deleted: true });
  });
});

describe('updates', () => {
  const e = create('url=https://example.com/hook&enabled_events[0]=*&metadata[a]=1&metadata[b]=2&description=first', live);

  it('disable and enable the endpoint without touching the original', () => {
    const off = applyEndpointUpdate(e, updateParams('disabled=true'));
    expect(off.status).toBe('disabled');
    expect(off.version).toBe(e.version + 1);
    expect(e.status).toBe('enabled');
    expect(applyEndpointUpdate(off, updateParams('disabled=false')).status).toBe('enabled');
    expect(applyEndpointUpdate(off, updateParams('description=x')).status).toBe('disabled');
  });

  it('merge metadata, unset with empty values, and change the rest', () => {
    const next = applyEndpointUpdate(
      e,
      updateParams(`metadata[a]=&metadata[c]=3&description=&url=https://example.org/h&enabled_events[0]=${REDACTED}`),
    );
    expect(next.metadata).toEqual({ b: '2', c: '3' });
    expect(next.description).toBeNull();
    expect(next.url).toBe('https://example.org/h');
    expect(next.enabled_events).toEqual([REDACTED]);
    expect(next.secrets).toEqual(e.secrets);
  });

  it('keep the live-mode url rule', () => {
    expect(errorOf(() => applyEndpointUpdate(e, updateParams('url=http://example.com/'))).param).toBe('url');
  });
});

describe('which endpoints want an event', () => {
  const star = create('url=https://example.com/a&enabled_events[0]=*');
  const explicit = create(`url=https://example.com/b&enabled_events[0]=${REDACTED}&enabled_events[1]=${VERIFIED}`);
  const starAndRedacted = create(`url=https://example.com/c&enabled_events[0]=*&enabled_events[1]=${REDACTED}`);

  it('* gets every type except redacted', () => {
    for (const type of WEBHOOK_EVENT_TYPES) expect(endpointWantsEvent(star, type)).toBe(type !== REDACTED);
  });

  it('an explicit list gets exactly its types, redacted included', () => {
    for (const type of WEBHOOK_EVENT_TYPES) expect(endpointWantsEvent(explicit, type)).toBe(type === REDACTED || type === VERIFIED);
    for (const type of WEBHOOK_EVENT_TYPES) expect(endpointWantsEvent(starAndRedacted, type)).toBe(true);
  });

  it('a disabled endpoint gets nothing', () => {
    const off = applyEndpointUpdate(starAndRedacted, { disabled: true });
    for (const type of WEBHOOK_EVENT_TYPES) expect(endpointWantsEvent(off, type)).toBe(false);
  });
});
