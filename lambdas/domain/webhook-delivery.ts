import type { Scope } from './session.js';

/**
 * A webhook delivery: one event to one endpoint, with every attempt made. Pure:
 * the worker (lambdas/webhooks/worker.ts) decides when to attempt, the store
 * writes each change conditionally on `version`.
 *
 * The id is derived from the event and endpoint ids, so a redelivered fan-out
 * message finds the delivery it already made instead of making another.
 *
 * `generation` grows with each resend; a queue message names the generation it
 * was sent for, so a message of an earlier generation (or a second copy of one)
 * is recognised and dropped.
 */
export type DeliveryStatus = 'pending' | 'succeeded' | 'failed' | 'canceled';

export interface DeliveryAttempt {
  /** 1, 2, ... over the delivery's whole life (resends continue the count). */
  attempt: number;
  /** When the POST started (ms). */
  started_ms: number;
  url: string;
  status_code: number | null;
  duration_ms: number;
  /** The start of the response body (RESPONSE_BODY_CHARS). */
  response_body: string;
  /** Why it failed without a 2xx: "timeout", "connection refused", "redirect to ...", "HTTP 500"; null on success. */
  error: string | null;
  succeeded: boolean;
  /** When the next attempt is due (ms); null when there is none. */
  next_attempt_ms: number | null;
}

export interface DeliveryRecord {
  id: string;
  account: string;
  livemode: boolean;
  event_id: string;
  event_type: string;
  endpoint_id: string;
  created_ms: number;
  updated_ms: number;
  status: DeliveryStatus;
  /** Why the delivery stopped (failed or canceled); null otherwise. */
  status_reason: string | null;
  generation: number;
  /** Attempts made in the current generation: the position in the retry schedule. */
  round_attempts: number;
  /** Attempts made in all generations. */
  attempt_count: number;
  next_attempt_ms: number | null;
  /** Some attempt succeeded. */
  delivered: boolean;
  /** Counted in the event's pending_webhooks (not delivered, and its endpoint not deleted); see pendingWebhooks. */
  counted_pending: boolean;
  /** The latest MAX_KEPT_ATTEMPTS attempts, oldest first. */
  attempts: DeliveryAttempt[];
  /** Incremented by every write; writes compare it. */
  version: number;
}

/** Attempts kept on a delivery (a live schedule has 14; resends add more). */
export const MAX_KEPT_ATTEMPTS = 40;

const EVENT_ID_CHARS = 24;

/** `whd_` + the event id's and the endpoint id's characters: deterministic and reversible. */
export function deliveryId(eventId: string, endpointId: string): string {
  return `whd_${eventId.slice('evt_'.length)}${endpointId.slice('we_'.length)}`;
}

export function parseDeliveryId(id: string): { eventId: string; endpointId: string } | undefined {
  const m = new RegExp(`^whd_([0-9A-Za-z]{${EVENT_ID_CHARS}})([0-9A-Za-z]{24})$`).exec(id);
  return m ? { eventId: `evt_${m[1]}`, endpointId: `we_${m[2]}` } : undefined;
}

export function newDelivery(
  scope: Scope,
  event: { id: string; type: string },
  endpointId: string,
  nowMs: number,
): DeliveryRecord {
  return {
    id: deliveryId(event.id, endpointId),
    account: scope.account,
    livemode: scope.livemode,
    event_id: event.id,
    event_type: event.type,
    endpoint_id: endpointId,
    created_ms: nowMs,
    updated_ms: nowMs,
    status: 'pending',
    status_reason: null,
    generation: 1,
    round_attempts: 0,
    attempt_count: 0,
    next_attempt_ms: nowMs,
    delivered: false,
    counted_pending: true,
    attempts: [],
    version: 1,
  };
}

/** What one attempt ended with, as the worker saw it. */
export interface AttemptResult {
  startedMs: number;
  url: string;
  ok: boolean;
  statusCode: number | null;
  durationMs: number;
  responseBody: string;
  error: string | null;
}

const describeFailure = (r: AttemptResult) => r.error ?? `HTTP ${r.statusCode}`;

function withAttempt(d: DeliveryRecord, r: AttemptResult, nextAttemptMs: number | null, nowMs: number): DeliveryRecord {
  const attempt: DeliveryAttempt = {
    attempt: d.attempt_count + 1,
    started_ms: r.startedMs,
    url: r.url,
    status_code: r.statusCode,
    duration_ms: r.durationMs,
    response_body: r.responseBody,
    error: r.ok ? null : describeFailure(r),
    succeeded: r.ok,
    next_attempt_ms: nextAttemptMs,
  };
  return {
    ...d,
    attempts: [...d.attempts, attempt].slice(-MAX_KEPT_ATTEMPTS),
    attempt_count: d.attempt_count + 1,
    round_attempts: d.round_attempts + 1,
    next_attempt_ms: nextAttemptMs,
    updated_ms: nowMs,
    version: d.version + 1,
  };
}

/** A 2xx: delivered. */
export function recordSuccess(d: DeliveryRecord, r: AttemptResult, nowMs: number): DeliveryRecord {
  return { ...withAttempt(d, r, null, nowMs), status: 'succeeded', status_reason: null, delivered: true, counted_pending: false };
}

/** A failure with another attempt due at `nextAttemptMs`. */
export function recordRetry(d: DeliveryRecord, r: AttemptResult, nextAttemptMs: number, nowMs: number): DeliveryRecord {
  return withAttempt(d, r, nextAttemptMs, nowMs);
}

/** A failure after which the schedule is spent. */
export function recordExhausted(d: DeliveryRecord, r: AttemptResult, nowMs: number): DeliveryRecord {
  const next = withAttempt(d, r, null, nowMs);
  return {
    ...next,
    status: 'failed',
    status_reason: `The retry schedule is spent: ${next.round_attempts} attempt${next.round_attempts === 1 ? '' : 's'} failed, the last with ${describeFailure(r)}.`,
  };
}

export type CancelReason = 'endpoint_deleted' | 'endpoint_disabled' | 'event_expired';

const CANCEL_REASONS: Record<CancelReason, string> = {
  endpoint_deleted: 'The webhook endpoint was deleted.',
  endpoint_disabled: 'The webhook endpoint is disabled.',
  event_expired: 'The event is no longer stored (events are kept 30 days).',
};

/** Stops a pending delivery without an attempt. A deleted endpoint no longer counts as pending. */
export function cancelDelivery(d: DeliveryRecord, reason: CancelReason, nowMs: number): DeliveryRecord {
  return {
    ...d,
    status: 'canceled',
    status_reason: CANCEL_REASONS[reason],
    next_attempt_ms: null,
    counted_pending: reason === 'endpoint_deleted' ? false : d.counted_pending,
    updated_ms: nowMs,
    version: d.version + 1,
  };
}

/** A resend: a new generation, due now, with a fresh retry schedule. */
export function resendDelivery(d: DeliveryRecord, nowMs: number): DeliveryRecord {
  return {
    ...d,
    status: 'pending',
    status_reason: null,
    generation: d.generation + 1,
    round_attempts: 0,
    next_attempt_ms: nowMs,
    updated_ms: nowMs,
    version: d.version + 1,
  };
}

/**
 * An event's `pending_webhooks`: how many of its deliveries are counted as
 * pending. The count is derived from the deliveries whenever an event is read
 * (see EventStore), never stored: each attempt writes its delivery alone.
 */
export const pendingWebhooks = (deliveries: Iterable<Pick<DeliveryRecord, 'counted_pending'>>) => {
  let n = 0;
  for (const d of deliveries) if (d.counted_pending === true) n++;
  return n;
};

// ---- rendering -------------------------------------------------------------

const seconds = (ms: number | null) => (ms === null ? null : Math.floor(ms / 1000));

export function renderAttempt(d: DeliveryRecord, a: DeliveryAttempt) {
  return {
    object: 'webhook_attempt',
    delivery: d.id,
    event: d.event_id,
    webhook_endpoint: d.endpoint_id,
    attempt: a.attempt,
    created: seconds(a.started_ms),
    url: a.url,
    succeeded: a.succeeded,
    status_code: a.status_code,
    duration_ms: a.duration_ms,
    response_body: a.response_body,
    error: a.error,
    next_attempt: seconds(a.next_attempt_ms),
    livemode: d.livemode,
  };
}

/** The delivery as the API shows it: status, why it stopped, the next attempt, and its attempts (newest first). */
export function renderDelivery(d: DeliveryRecord) {
  return {
    id: d.id,
    object: 'webhook_delivery',
    event: d.event_id,
    event_type: d.event_type,
    webhook_endpoint: d.endpoint_id,
    created: seconds(d.created_ms),
    livemode: d.livemode,
    status: d.status,
    status_reason: d.status_reason,
    attempt_count: d.attempt_count,
    next_attempt: d.status === 'pending' ? seconds(d.next_attempt_ms) : null,
    attempts: [...d.attempts].reverse().map((a) => renderAttempt(d, a)),
  };
}
