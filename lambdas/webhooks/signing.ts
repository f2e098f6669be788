import { createHmac } from 'node:crypto';
import type { WebhookEndpointRecord } from '../domain/webhook-endpoint.js';

/**
 * The `Stripe-Signature` header: `t=<unix seconds>,v1=<hex>[,v1=<hex>...]`,
 * each v1 the lowercase hex HMAC-SHA256 of `<t>.<payload>` keyed by the whole
 * `whsec_...` string (not a decoded form of it), one per active secret so that
 * a receiver holding either the old or the new secret accepts the delivery
 * during a roll. Stripe's verifier accepts when any v1 matches.
 */
export function signPayload(payload: string, secrets: readonly string[], timestampSeconds: number): string {
  if (secrets.length === 0) throw new Error('signPayload needs at least one secret');
  if (!Number.isSafeInteger(timestampSeconds) || timestampSeconds < 0)
    throw new RangeError(`signPayload needs a timestamp in whole unix seconds, got ${timestampSeconds}`);
  const signed = `${timestampSeconds}.${payload}`;
  const v1 = secrets.map((secret) => `v1=${createHmac('sha256', secret).update(signed, 'utf8').digest('hex')}`);
  return [`t=${timestampSeconds}`, ...v1].join(',');
}

/** The secrets that still sign at `nowSeconds`, the current one first. */
export function activeSecrets(rec: Pick<WebhookEndpointRecord, 'secrets'>, nowSeconds: number): string[] {
  return rec.secrets.filter((s) => s.expires_at === null || s.expires_at > nowSeconds).map((s) => s.secret);
}
