/**
 * When a failed delivery is tried again. The schedules are data so that the
 * README can publish them and tests can assert them exactly.
 *
 * `RETRY_SCHEDULE.live[i]` is the base wait in seconds after attempt i+1 has
 * failed, before attempt i+2. Both start with a retry within seconds (most
 * failures are a deploy or a blip), then back off exponentially; live mode's
 * waits level off at 12 h (one SQS visibility step) and total about three
 * days, test mode gives up after a few hours so a developer sees the outcome
 * the same day.
 */
/** Waits in seconds after each failed attempt, per mode (the production ones are RETRY_SCHEDULE). */
export type RetrySchedule = Readonly<Record<'live' | 'test', readonly number[]>>;

export const RETRY_SCHEDULE = {
  // 10 s, 1 min, 5 min, 30 min, 1 h, 2 h, 4 h, 8 h, then 12 h five times: 272,170 s ≈ 3.15 days, 14 attempts.
  live: [10, 60, 300, 1800, 3600, 7200, 14400, 28800, 43200, 43200, 43200, 43200, 43200],
  // 10 s, 1 min, 10 min, 1 h, 3 h: 15,070 s ≈ 4.2 hours, 6 attempts.
  test: [10, 60, 600, 3600, 10800],
} as const satisfies Record<'live' | 'test', readonly number[]>;

/** Each wait is spread by ±20% so endpoints that failed together do not retry together. */
export const JITTER = 0.2;

/** SQS's ceiling for a message's visibility timeout, counted from when it was received. */
export const MAX_SQS_VISIBILITY_SECONDS = 43200;

/** Kept free of the 12 h ceiling: SQS counts from its own receipt time, a little before ours. */
export const VISIBILITY_SAFETY_SECONDS = 60;

/** A Retry-After longer than this is not honoured beyond it. */
export const MAX_RETRY_AFTER_SECONDS = 43200;

/** An endpoint whose deliveries have failed continuously for this long is disabled. */
export const DISABLE_AFTER_FAILING_DAYS = 5;

export const scheduleFor = (livemode: boolean, schedule: RetrySchedule = RETRY_SCHEDULE): readonly number[] =>
  livemode ? schedule.live : schedule.test;

/** Attempts a job gets in total: the first one plus one per scheduled wait. */
export const maxAttempts = (livemode: boolean, schedule: RetrySchedule = RETRY_SCHEDULE) => scheduleFor(livemode, schedule).length + 1;

/**
 * Seconds to wait before the next attempt, after `attemptsMade` attempts (at
 * least 1) have failed; undefined when the schedule is spent. `random` returns
 * a number in [0, 1), as Math.random does.
 */
export function nextAttemptDelay(
  attemptsMade: number,
  livemode: boolean,
  random: () => number = Math.random,
  schedule: RetrySchedule = RETRY_SCHEDULE,
): number | undefined {
  if (!Number.isInteger(attemptsMade) || attemptsMade < 1)
    throw new RangeError(`nextAttemptDelay counts attempts already made (1 or more), got ${attemptsMade}`);
  const base = scheduleFor(livemode, schedule)[attemptsMade - 1];
  if (base === undefined) return undefined;
  const factor = 1 + JITTER * (2 * random() - 1);
  return Math.max(1, Math.round(base * factor));
}

/**
 * The wait after a response that carried `Retry-After` (delay-seconds or an
 * HTTP-date): the receiver's wish is a lower bound on the scheduled wait, but a
 * wish beyond 12 h counts as 12 h, so a receiver cannot park its events for
 * longer than one step. An unparsable header is ignored.
 */
export function retryAfterDelay(retryAfterHeader: string | null | undefined, scheduled: number, nowMs: number = Date.now()): number {
  const asked = parseRetryAfter(retryAfterHeader, nowMs);
  if (asked === undefined) return scheduled;
  return Math.max(scheduled, Math.min(asked, MAX_RETRY_AFTER_SECONDS));
}

/** Retry-After in seconds from `nowMs`, or undefined when absent or unparsable. */
export function parseRetryAfter(value: string | null | undefined, nowMs: number): number | undefined {
  const text = value?.trim();
  if (!text) return undefined;
  if (/^\d+$/.test(text)) return Number(text);
  const at = Date.parse(text);
  if (Number.isNaN(at)) return undefined;
  return Math.max(0, Math.ceil((at - nowMs) / 1000));
}

/** A wait split into visibility timeouts of at most `maxStep` seconds each (e.g. 30 h → 12 h, 12 h, 6 h). */
export function splitVisibilityWait(totalSeconds: number, maxStep: number = MAX_SQS_VISIBILITY_SECONDS): number[] {
  if (maxStep < 1) throw new RangeError(`maxStep must be at least 1 s, got ${maxStep}`);
  const steps: number[] = [];
  for (let left = Math.ceil(totalSeconds); left > 0; left -= maxStep) steps.push(Math.min(left, maxStep));
  return steps;
}

/**
 * The visibility timeout to set now for a job due at `dueAtSeconds`, on a
 * message received at `receivedAtSeconds`: the time left, but no more than the
 * receive's remaining 12 h budget (less a safety margin). When the message
 * reappears before it is due, the worker calls this again and hides it anew.
 */
export function nextVisibilityTimeout(opts: { dueAtSeconds: number; nowSeconds: number; receivedAtSeconds?: number }): number {
  const remaining = Math.max(0, Math.ceil(opts.dueAtSeconds - opts.nowSeconds));
  const elapsed = Math.max(0, opts.nowSeconds - (opts.receivedAtSeconds ?? opts.nowSeconds));
  const budget = Math.max(0, Math.floor(MAX_SQS_VISIBILITY_SECONDS - VISIBILITY_SAFETY_SECONDS - elapsed));
  return Math.min(remaining, budget);
}

/** True when an endpoint failing since `failingSinceSeconds` (null: not failing) should be disabled. */
export function shouldDisableEndpoint(failingSinceSeconds: number | null, nowSeconds: number): boolean {
  return failingSinceSeconds !== null && nowSeconds - failingSinceSeconds >= DISABLE_AFTER_FAILING_DAYS * 86400;
}
