import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RequestRateLimiter, rateLimitFromEnv } from '../../lambdas/api/rate-limit.js';
import { type TestService, startTestService } from '../support/api.js';

const SESSIONS = '/v1/identity/verification_sessions';
let svc: TestService;

beforeAll(async () => {
  // As `API_RATE_LIMIT_TEST=3 npm start` runs it.
  svc = await startTestService({ rateLimit: rateLimitFromEnv({ API_RATE_LIMIT_TEST: '3' }, { livePerSecond: 0, testPerSecond: 0 }) });
});
afterAll(async () => svc?.stop());

const sessionCount = async () => {
  const list = await svc.call('GET', `${SESSIONS}?limit=100`);
  expect(list.status).toBe(200);
  return (list.body.data as unknown[]).length;
};
const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('the per-account request rate limit under the local service', () => {
  it('answers 429 rate_limit past the limit, and a refused request changes nothing', async () => {
    await pause(1100);
    const before = await sessionCount();
    await pause(1100); // a full bucket again
    // More requests than a second's allowance, at once: some must be refused.
    const started = Date.now();
    const results = await Promise.all(
      Array.from({ length: 8 }, (_, i) => svc.call('POST', SESSIONS, { type: 'document', 'metadata[n]': String(i) }, { headers: { 'idempotency-key': `rl-${i}` } })),
    );
    const ok = results.filter((r) => r.status === 200);
    const refused = results.filter((r) => r.status === 429);
    expect(ok.length + refused.length).toBe(8);
    expect(ok.length).toBeGreaterThanOrEqual(1);
    // 3 in the bucket, plus what refilled (3 a second) while the requests arrived.
    expect(ok.length).toBeLessThanOrEqual(3 + Math.ceil((3 * (Date.now() - started)) / 1000));
    expect(refused.length).toBeGreaterThanOrEqual(1);
    expect(refused[0].body).toEqual({
      error: { type: 'invalid_request_error', code: 'rate_limit', message: expect.stringContaining('Too many requests') },
    });
    expect(refused[0].headers.get('request-id')).toMatch(/^req_/);

    // Only the accepted requests made sessions.
    await pause(1100);
    expect(await sessionCount()).toBe(before + ok.length);
    // A refused request's idempotency key was not used: the same request now creates its session.
    const refusedIndex = results.findIndex((r) => r.status === 429);
    await pause(1100);
    const retried = await svc.call('POST', SESSIONS, { type: 'document', 'metadata[n]': String(refusedIndex) }, { headers: { 'idempotency-key': `rl-${refusedIndex}` } });
    expect(retried.status).toBe(200);
    expect(retried.headers.get('idempotent-replayed')).toBeNull();
    expect(retried.body.metadata).toEqual({ n: String(refusedIndex) });
  });

  it('the hosted page is not counted against the account', async () => {
    await pause(1100);
    const created = await svc.call('POST', SESSIONS, { type: 'document' });
    expect(created.status).toBe(200);
    const pages = await Promise.all(Array.from({ length: 6 }, () => fetch(created.body.url)));
    expect(pages.map((p) => p.status)).toEqual([200, 200, 200, 200, 200, 200]);
  });
});

describe('the token bucket', () => {
  const test = { account: 'acct_a', livemode: false };
  const live = { account: 'acct_a', livemode: true };

  it('holds one second of requests, refills continuously, and counts each account and mode apart', () => {
    const limiter = new RequestRateLimiter({ livePerSecond: 4, testPerSecond: 2 });
    const t = 1_000_000;
    expect([limiter.take(test, t), limiter.take(test, t), limiter.take(test, t)]).toEqual([true, true, false]);
    // Another mode and another account have their own buckets.
    expect(Array.from({ length: 5 }, () => limiter.take(live, t))).toEqual([true, true, true, true, false]);
    expect(limiter.take({ account: 'acct_b', livemode: false }, t)).toBe(true);
    // Half a second refills one test request (2 per second); a refused request takes nothing.
    expect(limiter.take(test, t + 499)).toBe(false);
    expect(limiter.take(test, t + 500)).toBe(true);
    expect(limiter.take(test, t + 500)).toBe(false);
    // A long pause refills to the bucket's size, not beyond.
    expect(Array.from({ length: 3 }, () => limiter.take(test, t + 60_000))).toEqual([true, true, false]);
  });

  it('reads its limits from the environment, with Stripe-like defaults, and refuses nonsense', () => {
    expect(rateLimitFromEnv({})).toEqual({ livePerSecond: 100, testPerSecond: 25 });
    expect(rateLimitFromEnv({ API_RATE_LIMIT_LIVE: '50', API_RATE_LIMIT_TEST: 'off' })).toEqual({ livePerSecond: 50, testPerSecond: 0 });
    expect(new RequestRateLimiter(rateLimitFromEnv({ API_RATE_LIMIT_TEST: 'off' })).take(test, 0)).toBe(true);
    expect(() => rateLimitFromEnv({ API_RATE_LIMIT_TEST: 'lots' })).toThrow(/API_RATE_LIMIT_TEST must be a positive number/);
  });
});
