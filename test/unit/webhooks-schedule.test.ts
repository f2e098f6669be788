import { describe, expect, it } from 'vitest';
import {
  DISABLE_AFTER_FAILING_DAYS,
  MAX_SQS_VISIBILITY_SECONDS,
  RETRY_SCHEDULE,
  maxAttempts,
  nextAttemptDelay,
  nextVisibilityTimeout,
  retryAfterDelay,
  shouldDisableEndpoint,
  splitVisibilityWait,
} from '../../lambdas/webhooks/schedule.js';

const sum = (xs: readonly number[]) => xs.reduce((a, b) => a + b, 0);
const HOUR = 3600;
const DAY = 24 * HOUR;

describe('the published retry schedules', () => {
  it('are exactly these waits', () => {
    expect(RETRY_SCHEDULE.live).toEqual([10, 60, 300, 1800, 3600, 7200, 14400, 28800, 43200, 43200, 43200, 43200, 43200]);
    expect(RETRY_SCHEDULE.test).toEqual([10, 60, 600, 3600, 10800]);
    expect(maxAttempts(true)).toBe(14);
    expect(maxAttempts(false)).toBe(6);
  });

  it('span about three days in live mode and a few hours in test mode', () => {
    expect(sum(RETRY_SCHEDULE.live)).toBe(272_170);
    expect(sum(RETRY_SCHEDULE.live)).toBeGreaterThanOrEqual(2.5 * DAY);
    expect(sum(RETRY_SCHEDULE.live)).toBeLessThanOrEqual(3.5 * DAY);
    expect(sum(RETRY_SCHEDULE.test)).toBeLessThanOrEqual(6 * HOUR);
    expect(sum(RETRY_SCHEDULE.test)).toBeGreaterThanOrEqual(2 * HOUR);
  });

  it('start with a retry within seconds and never shrink', () => {
    for (const schedule of [RETRY_SCHEDULE.live, RETRY_SCHEDULE.test]) {
      expect(schedule[0]).toBeLessThan(60);
      for (let i = 1; i < schedule.length; i++) expect(schedule[i]).toBeGreaterThanOrEqual(schedule[i - 1]);
      expect(Math.max(...schedule)).toBeLessThanOrEqual(MAX_SQS_VISIBILITY_SECONDS);
    }
  });
});

describe('nextAttemptDelay', () => {
  it('follows the schedule with ±20% jitter', () => {
    RETRY_SCHEDULE.live.forEach((base, i) => {
      expect(nextAttemptDelay(i + 1, true, () => 0.5)).toBe(base);
      expect(nextAttemptDelay(i + 1, true, () => 0)).toBe(Math.round(base * 0.8));
      expect(nextAttemptDelay(i + 1, true, () => 0.999999)).toBe(Math.round(base * 1.2));
    });
    expect(nextAttemptDelay(1, false, () => 0.25)).toBe(9); // 10 s × 0.9
    expect(nextAttemptDelay(4, false, () => 0.75)).toBe(3960); // 1 h × 1.1
  });

  it('stays within the bounds for any random value', () => {
    for (let i = 0; i < 200; i++) {
      const d = nextAttemptDelay(3, true)!;
      expect(d).toBeGreaterThanOrEqual(240);
      expect(d).toBeLessThanOrEqual(360);
    }
  });

  it('is undefined once the schedule is spent', () => {
    expect(nextAttemptDelay(13, true)).toBeDefined();
    expect(nextAttemptDelay(14, true)).toBeUndefined();
    expect(nextAttemptDelay(5, false)).toBeDefined();
    expect(nextAttemptDelay(6, false)).toBeUndefined();
  });

  it('counts attempts already made, starting at 1', () => {
    expect(() => nextAttemptDelay(0, true)).toThrow(RangeError);
  });
});

describe('retryAfterDelay', () => {
  const now = Date.UTC(2026, 0, 15, 12, 0, 0);

  it('treats Retry-After seconds as a lower bound', () => {
    expect(retryAfterDelay('120', 10, now)).toBe(120);
    expect(retryAfterDelay('5', 60, now)).toBe(60);
    expect(retryAfterDelay(null, 60, now)).toBe(60);
    expect(retryAfterDelay('soon', 60, now)).toBe(60);
  });

  it('understands an HTTP-date', () => {
    expect(retryAfterDelay(new Date(now + 2 * HOUR * 1000).toUTCString(), 10, now)).toBe(2 * HOUR);
    expect(retryAfterDelay(new Date(now - HOUR * 1000).toUTCString(), 10, now)).toBe(10);
  });

  it('caps the wish at 12 hours', () => {
    expect(retryAfterDelay('999999', 10, now)).toBe(12 * HOUR);
    expect(retryAfterDelay(new Date(now + 3 * DAY * 1000).toUTCString(), 10, now)).toBe(12 * HOUR);
  });
});

describe('SQS visibility steps', () => {
  it('split a long wait into steps of at most 12 hours', () => {
    expect(MAX_SQS_VISIBILITY_SECONDS).toBe(12 * HOUR);
    expect(splitVisibilityWait(30 * HOUR)).toEqual([12 * HOUR, 12 * HOUR, 6 * HOUR]);
    expect(splitVisibilityWait(12 * HOUR)).toEqual([12 * HOUR]);
    expect(splitVisibilityWait(10)).toEqual([10]);
    expect(splitVisibilityWait(0)).toEqual([]);
    // The longest jittered live wait takes two steps.
    expect(splitVisibilityWait(nextAttemptDelay(13, true, () => 0.999999)!)).toEqual([12 * HOUR, 7200 + 1440]);
  });

  it('set the next timeout within the receive’s 12-hour budget', () => {
    const now = 1_800_000_000;
    expect(nextVisibilityTimeout({ dueAtSeconds: now + 10, nowSeconds: now })).toBe(10);
    expect(nextVisibilityTimeout({ dueAtSeconds: now - 5, nowSeconds: now })).toBe(0);
    expect(nextVisibilityTimeout({ dueAtSeconds: now + 30 * HOUR, nowSeconds: now })).toBe(12 * HOUR - 60);
    expect(nextVisibilityTimeout({ dueAtSeconds: now + 30 * HOUR, nowSeconds: now, receivedAtSeconds: now - HOUR })).toBe(11 * HOUR - 60);
  });
});

describe('disabling a failing endpoint', () => {
  it('happens after five days of continuous failure', () => {
    const since = 1_800_000_000;
    expect(DISABLE_AFTER_FAILING_DAYS).toBe(5);
    expect(shouldDisableEndpoint(null, since + 10 * DAY)).toBe(false);
    expect(shouldDisableEndpoint(since, since + 5 * DAY - 1)).toBe(false);
    expect(shouldDisableEndpoint(since, since + 5 * DAY)).toBe(true);
  });
});
