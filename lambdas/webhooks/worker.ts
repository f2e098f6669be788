import type { SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';
import { type EventRecord, renderEvent } from '../domain/event.js';
import { derivedTimeOrderedId } from '../domain/ids.js';
import type { Scope } from '../domain/session.js';
import {
  type AttemptResult,
  type CancelReason,
  type DeliveryRecord,
  cancelDelivery,
  parseDeliveryId,
  pendingWebhooks,
  recordExhausted,
  recordRetry,
  recordSuccess,
  renderDelivery,
} from '../domain/webhook-delivery.js';
import { renderWebhookEndpoint } from '../domain/webhook-endpoint.js';
import type { EventBus } from '../events/bus.js';
import { EVENT_SOURCE, accountResource } from '../events/routing.js';
import { type DeliveryContext, type DeliveryStore, StaleDelivery } from '../store/delivery-store.js';
import type { StoredEndpoint, WebhookEndpointStore } from '../store/webhook-store.js';
import { logLine, recordMetric } from '../observability/powertools.js';
import { METRIC } from '../observability/metric-names.js';
import { deliverOnce } from './deliver.js';
import { type DeliveryQueue, parseDeliveryMessage } from './queue.js';
import {
  DISABLE_AFTER_FAILING_DAYS,
  type RetrySchedule,
  RETRY_SCHEDULE,
  nextAttemptDelay,
  nextVisibilityTimeout,
  retryAfterDelay,
  shouldDisableEndpoint,
} from './schedule.js';
import { activeSecrets, signPayload } from './signing.js';
import type { HostLookup } from './url-policy.js';

/** The detail-type of the event put on the bus when the service disables an endpoint. */
export const ENDPOINT_DISABLED_EVENT = 'webhook_endpoint.disabled';

export interface DeliveryWorkerDeps {
  deliveries: DeliveryStore;
  endpoints: WebhookEndpointStore;
  queue: DeliveryQueue;
  /** Where the endpoint-disabled event goes. */
  bus: EventBus;
  apiVersion: string;
  now?: () => number;
  /** For the retry jitter (Math.random by default). */
  random?: () => number;
  /** The retry schedules (RETRY_SCHEDULE by default; tests compress them). */
  schedule?: RetrySchedule;
  /** Per attempt (DELIVERY_TIMEOUT_MS by default). */
  timeoutMs?: number;
  lookup?: HostLookup;
  /** Test-mode deliveries to loopback: only where the service runs locally. */
  allowLoopback?: boolean;
  log?: (line: string) => void;
}

type Outcome = 'done' | 'keep';

/**
 * The delivery queue's consumer. Each message names a delivery (and the
 * generation it was sent for); the delivery record, not SQS, holds the state:
 *
 * - a delivery that is no longer pending, or of another generation, is done;
 * - a delivery whose endpoint was deleted or disabled, or whose event expired,
 *   is canceled with that reason (so deleting an endpoint stops its retries);
 * - a delivery not yet due is hidden again until it is (at most 12 h a step),
 *   without an attempt;
 * - otherwise one attempt: the stored event, signed now with every active
 *   secret, POSTed once. Success ends it. A failure records the attempt and the
 *   time of the next one (schedule and Retry-After) and hides the message
 *   until then; when the schedule is spent the delivery, with its history,
 *   goes to the dead-letter queue and is marked failed.
 *
 * A kept message is reported in batchItemFailures so that it is not deleted.
 * Attempts are counted in the record, never by SQS's receive count.
 */
export function createDeliveryWorker(deps: DeliveryWorkerDeps) {
  const now = deps.now ?? Date.now;
  const random = deps.random ?? Math.random;
  const schedule = deps.schedule ?? RETRY_SCHEDULE;
  const log = deps.log ?? logLine;

  async function hideUntil(record: SQSRecord, dueMs: number, receivedMs: number): Promise<void> {
    const seconds = nextVisibilityTimeout({ dueAtSeconds: dueMs / 1000, nowSeconds: now() / 1000, receivedAtSeconds: receivedMs / 1000 });
    await deps.queue.hideFor(record.receiptHandle, Math.max(1, seconds));
  }

  async function stop(d: DeliveryRecord, reason: CancelReason): Promise<Outcome> {
    try {
      await deps.deliveries.save(d, cancelDelivery(d, reason, now()));
      log(JSON.stringify({ level: 'info', message: 'webhook delivery canceled', delivery: d.id, reason }));
    } catch (err) {
      if (!(err instanceof StaleDelivery)) throw err;
    }
    return 'done';
  }

  async function announceDisabled(e: StoredEndpoint, nowMs: number): Promise<void> {
    const event = {
      id: derivedTimeOrderedId('evt', nowMs, 0, `${e.id}|${e.version}|${ENDPOINT_DISABLED_EVENT}`),
      object: 'event',
      api_version: deps.apiVersion,
      created: Math.floor(nowMs / 1000),
      data: { object: renderWebhookEndpoint(e) },
      livemode: e.livemode,
      pending_webhooks: 0,
      request: null,
      type: ENDPOINT_DISABLED_EVENT,
    };
    const entry = {
      source: EVENT_SOURCE,
      detailType: ENDPOINT_DISABLED_EVENT,
      detail: JSON.stringify(event),
      time: new Date(nowMs),
      resources: [accountResource(e.account)],
    };
    for (let attempt = 1; ; attempt++) {
      let error: string;
      try {
        const r = await deps.bus.put([entry]);
        if (r.failed.length === 0) return;
        error = `${r.failed[0].code}: ${r.failed[0].message}`;
      } catch (err) {
        error = String(err);
      }
      if (attempt >= 3) {
        log(JSON.stringify({ level: 'error', message: 'could not publish the endpoint-disabled event', endpoint: e.id, event: event.id, error }));
        return;
      }
      await new Promise((r) => setTimeout(r, 100 * 2 ** attempt));
    }
  }

  /** A failed attempt extends the endpoint's failure streak; a streak of DISABLE_AFTER_FAILING_DAYS disables it. */
  async function noteFailure(scope: Scope, endpoint: StoredEndpoint, nowMs: number): Promise<void> {
    try {
      const nowSeconds = Math.floor(nowMs / 1000);
      const since = endpoint.failing_since ?? (await deps.endpoints.markFailing(scope, endpoint.id, nowSeconds));
      if (since === undefined || !shouldDisableEndpoint(since, nowSeconds)) return;
      const reason = `Deliveries to this endpoint failed continuously for ${DISABLE_AFTER_FAILING_DAYS} days, since ${new Date(since * 1000).toISOString()}.`;
      const disabled = await deps.endpoints.disableForFailures(scope, endpoint.id, since, reason);
      if (!disabled) return;
      log(JSON.stringify({ level: 'warn', message: 'webhook endpoint disabled', endpoint: endpoint.id, reason }));
      await announceDisabled(disabled, nowMs);
    } catch (err) {
      log(JSON.stringify({ level: 'error', message: 'could not record the endpoint failure', endpoint: endpoint.id, error: String(err) }));
    }
  }

  async function attempt(
    record: SQSRecord,
    scope: Scope,
    d: DeliveryRecord,
    endpoint: StoredEndpoint,
    event: EventRecord,
    knownPending: number | undefined,
    receivedMs: number,
  ): Promise<Outcome> {
    // The payload's pending_webhooks: counted from the deliveries read with the batch, or (a resend's message) listed now.
    const pending = knownPending ?? pendingWebhooks(await deps.deliveries.listForEvent(scope, event.id));
    const startedMs = now();
    const t = Math.floor(startedMs / 1000);
    const body = JSON.stringify(renderEvent({ ...event, pending_webhooks: pending }));
    const outcome = await deliverOnce({
      url: endpoint.url,
      body,
      headers: { 'Stripe-Signature': signPayload(body, activeSecrets(endpoint, t), t) },
      livemode: scope.livemode,
      timeoutMs: deps.timeoutMs,
      lookup: deps.lookup,
      allowLoopback: deps.allowLoopback,
    });
    const finishedMs = now();
    recordMetric(METRIC.webhookAttempts, 1, { name: 'outcome', value: outcome.ok ? 'succeeded' : 'failed' });
    if (outcome.ok) recordMetric(METRIC.webhookDeliveryLatency, Math.max(0, finishedMs - event.created * 1000));
    const result: AttemptResult = {
      startedMs,
      url: endpoint.url,
      ok: outcome.ok,
      statusCode: outcome.statusCode,
      durationMs: outcome.durationMs,
      responseBody: outcome.responseBody,
      error: outcome.error,
    };

    let next: DeliveryRecord;
    let outcomeOfMessage: Outcome = 'done';
    if (outcome.ok) {
      next = recordSuccess(d, result, finishedMs);
    } else {
      const scheduled = nextAttemptDelay(d.round_attempts + 1, scope.livemode, random, schedule);
      if (scheduled === undefined) {
        next = recordExhausted(d, result, finishedMs);
        // The dead-letter message first: if marking the delivery failed is lost, the next receive tries again.
        await deps.queue.deadLetter({
          reason: next.status_reason,
          account: scope.account,
          delivery: renderDelivery(next),
        });
      } else {
        const dueMs = finishedMs + retryAfterDelay(outcome.retryAfter, scheduled, finishedMs) * 1000;
        next = recordRetry(d, result, dueMs, finishedMs);
        outcomeOfMessage = 'keep';
      }
    }
    try {
      await deps.deliveries.save(d, next);
    } catch (err) {
      // Another copy of this message, or a resend, got there first: it carries on.
      if (err instanceof StaleDelivery) return 'done';
      throw err;
    }
    const last = next.attempts[next.attempts.length - 1];
    log(
      JSON.stringify({
        level: outcome.ok ? 'info' : 'warn',
        message: 'webhook attempt',
        delivery: d.id,
        attempt: last.attempt,
        status: next.status,
        status_code: last.status_code,
        error: last.error,
        duration_ms: last.duration_ms,
        next_attempt: last.next_attempt_ms === null ? null : new Date(last.next_attempt_ms).toISOString(),
      }),
    );
    if (outcomeOfMessage === 'keep') await hideUntil(record, next.next_attempt_ms!, receivedMs);
    if (outcome.ok) {
      if (endpoint.failing_since !== undefined) await deps.endpoints.clearFailing(scope, endpoint.id);
    } else {
      await noteFailure(scope, endpoint, finishedMs);
    }
    return outcomeOfMessage;
  }

  /** A message, read: what it names, or undefined when it cannot be read. */
  function read(record: SQSRecord) {
    const msg = parseDeliveryMessage(record.body);
    const ids = msg && parseDeliveryId(msg.delivery);
    return msg && ids ? { msg, ids, scope: { account: msg.account, livemode: msg.livemode } } : undefined;
  }

  async function handle(record: SQSRecord, named: NonNullable<ReturnType<typeof read>>, context: DeliveryContext, receivedMs: number): Promise<Outcome> {
    const { msg, scope } = named;
    const { delivery: d, endpoint, event, pendingWebhooks: knownPending } = context;
    // Gone (TTL), finished, or superseded by a resend: this message has nothing left to do.
    if (!d || d.status !== 'pending' || d.generation !== msg.generation) return 'done';
    if (!endpoint || endpoint.deleted_at !== undefined) return stop(d, 'endpoint_deleted');
    if (endpoint.status !== 'enabled') return stop(d, 'endpoint_disabled');
    if (!event) return stop(d, 'event_expired');
    if (d.next_attempt_ms !== null && d.next_attempt_ms > now()) {
      // Received before it is due (a wait longer than one visibility step): hide it again, no attempt.
      await hideUntil(record, d.next_attempt_ms, receivedMs);
      return 'keep';
    }
    return attempt(record, scope, d, endpoint, event, knownPending, receivedMs);
  }

  return async (batch: SQSEvent): Promise<SQSBatchResponse> => {
    const receivedMs = now();
    const failures: SQSBatchResponse['batchItemFailures'] = [];
    const fail = (record: SQSRecord, err: unknown) => {
      log(JSON.stringify({ level: 'error', message: 'webhook delivery failed', messageId: record.messageId, error: err instanceof Error ? err.stack : String(err) }));
      failures.push({ itemIdentifier: record.messageId });
    };
    const readable: { record: SQSRecord; named: NonNullable<ReturnType<typeof read>> }[] = [];
    await Promise.all(
      batch.Records.map(async (record) => {
        const named = read(record);
        if (named) return readable.push({ record, named });
        try {
          await deps.queue.deadLetter({ reason: 'The delivery queue message could not be read.', body: record.body });
        } catch (err) {
          fail(record, err);
        }
      }),
    );
    // Every message's delivery, endpoint and event in one read for the whole batch.
    let contexts: DeliveryContext[];
    try {
      contexts = await deps.deliveries.loadManyForAttempts(readable.map(({ named }) => ({ scope: named.scope, ...named.ids, siblings: named.msg.siblings })));
    } catch (err) {
      for (const { record } of readable) fail(record, err);
      return { batchItemFailures: failures };
    }
    await Promise.all(
      readable.map(async ({ record, named }, i) => {
        try {
          if ((await handle(record, named, contexts[i], receivedMs)) === 'keep') failures.push({ itemIdentifier: record.messageId });
        } catch (err) {
          fail(record, err);
        }
      }),
    );
    return { batchItemFailures: failures };
  };
}
