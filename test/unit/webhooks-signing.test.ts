import Stripe from 'stripe';
import { describe, expect, it } from 'vitest';
import { newWebhookEndpoint, newWebhookSecret, rollEndpointSecret } from '../../lambdas/domain/webhook-endpoint.js';
import { activeSecrets, signPayload } from '../../lambdas/webhooks/signing.js';

// The official client's verifier is the judge of the header format.
const stripe = new Stripe('sk_test_x');
const { StripeSignatureVerificationError } = Stripe.errors;

const body = JSON.stringify({
  id: 'evt_1',
  object: 'event',
  type: 'identity.verification_session.verified',
  data: { object: { id: 'vs_1', object: 'identity.verification_session', status: 'verified' } },
});
const nowSeconds = () => Math.floor(Date.now() / 1000);

describe('signPayload', () => {
  it('is accepted by stripe.webhooks.constructEvent for each of two active secrets (a roll)', () => {
    const current = newWebhookSecret();
    const rolled = newWebhookSecret();
    const header = signPayload(body, [current, rolled], nowSeconds());
    expect(header).toMatch(/^t=\d+,v1=[0-9a-f]{64},v1=[0-9a-f]{64}$/);
    expect(stripe.webhooks.constructEvent(body, header, current).id).toBe('evt_1');
    expect(stripe.webhooks.constructEvent(body, header, rolled).id).toBe('evt_1');
  });

  it('matches the header the client itself generates for one secret', () => {
    const secret = newWebhookSecret();
    const t = nowSeconds();
    expect(signPayload(body, [secret], t)).toBe(stripe.webhooks.generateTestHeaderString({ payload: body, secret, timestamp: t }));
  });

  it('is rejected for a tampered body, a wrong secret and a stale timestamp', () => {
    const secret = newWebhookSecret();
    const header = signPayload(body, [secret], nowSeconds());
    const tampered = body.replace('"verified"', '"canceled"');
    expect(tampered).not.toBe(body);
    expect(() => stripe.webhooks.constructEvent(tampered, header, secret)).toThrow(StripeSignatureVerificationError);
    expect(() => stripe.webhooks.constructEvent(body, header, newWebhookSecret())).toThrow(StripeSignatureVerificationError);
    const stale = signPayload(body, [secret], nowSeconds() - 3600);
    expect(() => stripe.webhooks.constructEvent(body, stale, secret)).toThrow(/tolerance/);
  });

  it('keys the HMAC with the whole whsec_ string', () => {
    const secret = newWebhookSecret();
    const withoutPrefix = secret.slice('whsec_'.length);
    const header = signPayload(body, [secret], nowSeconds());
    expect(stripe.webhooks.constructEvent(body, header, secret).id).toBe('evt_1');
    // A signer that dropped the prefix would be accepted by a verifier holding the shorter string.
    expect(() => stripe.webhooks.constructEvent(body, header, withoutPrefix)).toThrow(StripeSignatureVerificationError);
  });

  it('refuses no secrets and fractional timestamps', () => {
    expect(() => signPayload(body, [], nowSeconds())).toThrow(/at least one secret/);
    expect(() => signPayload(body, [newWebhookSecret()], 1700000000.5)).toThrow(RangeError);
  });
});

describe('activeSecrets', () => {
  it('lists the current secret first and drops a rolled one once it expires', () => {
    const t = 1_700_000_000;
    const created = newWebhookEndpoint(
      { url: 'https://example.com/hook', enabled_events: ['*'] },
      { scope: { account: 'acct_1', livemode: true }, nowSeconds: t, secret: 'whsec_old' },
    );
    const rolled = rollEndpointSecret(created, { nowSeconds: t + 10, graceSeconds: 3600, secret: 'whsec_new' });
    expect(rolled.secrets).toEqual([
      { secret: 'whsec_new', expires_at: null },
      { secret: 'whsec_old', expires_at: t + 10 + 3600 },
    ]);
    expect(activeSecrets(rolled, t + 20)).toEqual(['whsec_new', 'whsec_old']);
    expect(activeSecrets(rolled, t + 10 + 3600)).toEqual(['whsec_new']);
    // Rolling again drops what has expired by then.
    expect(rollEndpointSecret(rolled, { nowSeconds: t + 7200, graceSeconds: 60, secret: 'whsec_3' }).secrets.map((s) => s.secret)).toEqual([
      'whsec_3',
      'whsec_new',
    ]);
  });
});
