import { describe, expect, it } from 'vitest';
import {
  type AttemptResult,
  type DeliveryRecord,
  MAX_KEPT_ATTEMPTS,
  cancelDelivery,
  deliveryId,
  newDelivery,
  parseDeliveryId,
  pendingWebhooks,
  recordExhausted,
  recordRetry,
  recordSuccess,
  renderDelivery,
  resendDelivery,
} from '../../lambdas/domain/webhook-delivery.js';

const scope = { account: 'acct_0123456789abcdef', livemode: false };
const EVT = 'evt_0VcOo7Xv097rgnTyUQH5AL97';
const WE = 'we_0VcOo7DUEH5l9i5xvLMLHHyN';
const failure = (at: number): AttemptResult => ({ startedMs: at, url: 'http://127.0.0.1/h', ok: false, statusCode: 500, durationMs: 12, responseBody: 'no', error: null });
const success = (at: number): AttemptResult => ({ ...failure(at), ok: true, statusCode: 200, responseBody: 'ok' });

describe('webhook deliveries', () => {
  it('have an id derived from the event and the endpoint, and back', () => {
    const id = deliveryId(EVT, WE);
    expect(id).toBe('whd_0VcOo7Xv097rgnTyUQH5AL970VcOo7DUEH5l9i5xvLMLHHyN');
    expect(parseDeliveryId(id)).toEqual({ eventId: EVT, endpointId: WE });
    expect(parseDeliveryId('whd_short')).toBeUndefined();
    expect(newDelivery(scope, { id: EVT, type: 't' }, WE, 1).id).toBe(id);
  });

  it('count in pending_webhooks until delivered, or until their endpoint is deleted', () => {
    const d = newDelivery(scope, { id: EVT, type: 't' }, WE, 1000);
    const counted = (ds: DeliveryRecord[]) => pendingWebhooks(ds);
    expect(counted([d])).toBe(1);
    const retry = recordRetry(d, failure(1000), 11_000, 1012);
    expect(counted([retry])).toBe(1);
    const done = recordSuccess(retry, success(11_000), 11_020);
    expect(counted([done])).toBe(0);
    // A resend of a delivered event does not count it again.
    expect(counted([resendDelivery(done, 20_000)])).toBe(0);
    expect(counted([cancelDelivery(retry, 'endpoint_deleted', 2000)])).toBe(0);
    // A disabled endpoint can be enabled and the event resent; a spent schedule too: both still pending.
    expect(counted([cancelDelivery(retry, 'endpoint_disabled', 2000)])).toBe(1);
    expect(counted([recordExhausted(retry, failure(3000), 3012)])).toBe(1);
    // An event's count is over its deliveries, one per endpoint.
    expect(counted([d, done, retry, cancelDelivery(retry, 'endpoint_deleted', 2000)])).toBe(2);
    expect(counted([])).toBe(0);
  });

  it('number attempts over their whole life, restart the schedule on resend, and say why they stopped', () => {
    let d = newDelivery(scope, { id: EVT, type: 't' }, WE, 0);
    d = recordRetry(d, failure(0), 10_000, 12);
    d = recordExhausted(d, { ...failure(10_000), statusCode: null, error: 'timeout' }, 10_020);
    expect(d).toMatchObject({ status: 'failed', attempt_count: 2, round_attempts: 2, next_attempt_ms: null });
    expect(d.status_reason).toBe('The retry schedule is spent: 2 attempts failed, the last with timeout.');
    expect(d.attempts.map((a) => [a.attempt, a.error])).toEqual([
      [1, 'HTTP 500'],
      [2, 'timeout'],
    ]);
    d = resendDelivery(d, 50_000);
    expect(d).toMatchObject({ status: 'pending', status_reason: null, generation: 2, round_attempts: 0, attempt_count: 2, next_attempt_ms: 50_000 });
    d = recordSuccess(d, success(50_000), 50_010);
    expect(d.attempts.at(-1)).toMatchObject({ attempt: 3, succeeded: true, error: null });
    const shown = renderDelivery(d);
    expect(shown).toMatchObject({ object: 'webhook_delivery', status: 'succeeded', attempt_count: 3, next_attempt: null });
    expect(shown.attempts.map((a) => a.attempt)).toEqual([3, 2, 1]);
  });

  it('keep the latest attempts only', () => {
    let d = newDelivery(scope, { id: EVT, type: 't' }, WE, 0);
    for (let i = 0; i < MAX_KEPT_ATTEMPTS + 5; i++) d = recordRetry(d, failure(i), i + 1, i);
    expect(d.attempts).toHaveLength(MAX_KEPT_ATTEMPTS);
    expect(d.attempts[0]!.attempt).toBe(6);
    expect(d.attempt_count).toBe(MAX_KEPT_ATTEMPTS + 5);
  });
});
