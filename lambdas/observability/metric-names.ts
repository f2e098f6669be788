/**
 * The metrics the functions publish (CloudWatch embedded metric format, through
 * Powertools Metrics) and the dashboard and alarms read. One list, so the
 * names a function emits and the names an alarm watches cannot drift.
 *
 * Every metric carries the default dimension `service` = METRICS_SERVICE; the
 * ones marked below carry one more dimension.
 */
export const METRICS_NAMESPACE = 'VerificationSessions';
export const METRICS_SERVICE = 'verification-sessions';

export const METRIC = {
  /** Count. A session was created (API). */
  sessionsCreated: 'SessionsCreated',
  /** Count. A session went requires_input -> processing (stream publisher). */
  sessionsSubmitted: 'SessionsSubmitted',
  /** Count. A session became verified (stream publisher). */
  sessionsVerified: 'SessionsVerified',
  /** Count, with dimension `error_code` = last_error.code. A session went processing -> requires_input. */
  sessionsRequiresInput: 'SessionsRequiresInput',
  /** Count. A session was canceled. */
  sessionsCanceled: 'SessionsCanceled',
  /** Count. A session's redaction finished. */
  sessionsRedacted: 'SessionsRedacted',
  /** Count, with dimension `outcome` = succeeded | failed. One webhook delivery attempt. */
  webhookAttempts: 'WebhookAttempts',
  /** Milliseconds from the event's creation to a successful delivery. */
  webhookDeliveryLatency: 'WebhookDeliveryLatency',
  /** Milliseconds the checks of one submission took. */
  checksDuration: 'ChecksDuration',
  /** Count, with dimension `outcome` = verified | requires_input | error. One run of the checks. */
  checksRuns: 'ChecksRuns',
  /** Milliseconds from a stream record's write to its event being published. */
  streamPublisherLag: 'StreamPublisherLag',
  /** Count. Requests refused with 429 by the per-account rate limit. */
  rateLimited: 'RateLimited',
} as const;

export type MetricName = (typeof METRIC)[keyof typeof METRIC];
