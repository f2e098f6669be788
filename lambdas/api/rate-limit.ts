import { LRUCache } from 'lru-cache';
import { ApiError } from '../domain/errors.js';
import type { Scope } from '../domain/session.js';

/**
 * Requests per second an account may make with its secret key, per mode.
 * Stripe's defaults: 100 per second in live mode, 25 in test mode.
 */
export interface RateLimitSettings {
  livePerSecond: number;
  testPerSecond: number;
}

export const DEFAULT_RATE_LIMIT: RateLimitSettings = { livePerSecond: 100, testPerSecond: 25 };

/** How many accounts' buckets one instance keeps; an evicted account starts again with a full bucket. */
const MAX_BUCKETS = 10_000;

/**
 * The per-account request rate limit of the API, counted in the memory of each
 * API function instance: a token bucket per account and mode that holds one
 * second's worth of requests and refills continuously. It costs no request to
 * DynamoDB or anything else; the price is that the count is per instance, so
 * the limit an account sees grows with the instances serving it at once (at
 * most the API function's concurrency).
 */
export class RequestRateLimiter {
  private readonly buckets = new LRUCache<string, { tokens: number; atMs: number }>({ max: MAX_BUCKETS });

  constructor(private readonly settings: RateLimitSettings) {}

  /** Takes one request from the account's bucket; false when it is empty (the request must be refused). */
  take(scope: Scope, nowMs: number): boolean {
    const perSecond = scope.livemode ? this.settings.livePerSecond : this.settings.testPerSecond;
    if (!(perSecond > 0)) return true;
    const key = `${scope.account}:${scope.livemode ? 'live' : 'test'}`;
    const bucket = this.buckets.get(key) ?? { tokens: perSecond, atMs: nowMs };
    bucket.tokens = Math.min(perSecond, bucket.tokens + (Math.max(0, nowMs - bucket.atMs) * perSecond) / 1000);
    bucket.atMs = nowMs;
    const allowed = bucket.tokens >= 1;
    if (allowed) bucket.tokens -= 1;
    this.buckets.set(key, bucket);
    return allowed;
  }
}

/** Stripe's answer to too many requests: HTTP 429, code `rate_limit`. */
export const rateLimited = () =>
  new ApiError(
    429,
    'invalid_request_error',
    'Too many requests hit the API too quickly for this account. Retry after a short, growing pause (exponential backoff).',
    { code: 'rate_limit' },
  );

function perSecondSetting(name: string, value: string | undefined, fallback: number): number {
  if (value === undefined || value === '') return fallback;
  if (value === 'off') return 0;
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) throw new Error(`${name} must be a positive number of requests per second or 'off', got '${value}'`);
  return n;
}

/**
 * The limit from API_RATE_LIMIT_LIVE and API_RATE_LIMIT_TEST (requests per
 * second, or `off`); unset variables take `defaults`.
 */
export function rateLimitFromEnv(env: Record<string, string | undefined>, defaults: RateLimitSettings = DEFAULT_RATE_LIMIT): RateLimitSettings {
  return {
    livePerSecond: perSecondSetting('API_RATE_LIMIT_LIVE', env.API_RATE_LIMIT_LIVE, defaults.livePerSecond),
    testPerSecond: perSecondSetting('API_RATE_LIMIT_TEST', env.API_RATE_LIMIT_TEST, defaults.testPerSecond),
  };
}
