import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { checkCursors } from './list-cursors.js';
import { ApiError, invalidRequest, resourceMissing } from '../domain/errors.js';
import { isTimeOrderedId } from '../domain/ids.js';
import { int, obj, parseParams, str } from '../domain/params.js';
import { newDelivery, renderAttempt, renderDelivery, resendDelivery } from '../domain/webhook-delivery.js';
import {
  CREATE_ENDPOINT_PARAMS,
  type CreateEndpointParams,
  UPDATE_ENDPOINT_PARAMS,
  type UpdateEndpointParams,
  type WebhookEndpointRecord,
  applyEndpointUpdate,
  checkEndpointExpand,
  endpointLimitReached,
  newWebhookEndpoint,
  newWebhookEndpointId,
  renderDeletedEndpoint,
  renderWebhookEndpoint,
} from '../domain/webhook-endpoint.js';
import { DeliveryStore, StaleDelivery } from '../store/delivery-store.js';
import type { EventStore } from '../store/event-store.js';
import { type IdempotencyStore, IdempotencyKeyTaken } from '../store/idempotency.js';
import { EndpointLimitReached, StaleEndpoint, WebhookEndpointStore } from '../store/webhook-store.js';
import type { DeliveryQueue } from '../webhooks/queue.js';
import { type HostLookup, checkEndpointUrl } from '../webhooks/url-policy.js';
import type { HttpResponse } from './http.js';
import { answerFromSaved, replayIfSaved, saveRefusal, saveResultAfter } from './idempotent.js';
import type { CallContext } from './sessions.js';

/**
 * Webhook endpoints in Stripe's shape (`/v1/webhook_endpoints`), and what this
 * service adds for its deliveries (not Stripe endpoints):
 *   GET  /v1/events/{id}/webhook_deliveries   one delivery per endpoint, with its attempts
 *   GET  /v1/events/{id}/webhook_attempts     every attempt, newest first
 *   POST /v1/events/{id}/retry                resend the event to `webhook_endpoint` (as the Stripe CLI's `events resend` calls it)
 */
export interface WebhookApiDeps {
  endpoints: WebhookEndpointStore;
  deliveries: DeliveryStore;
  queue: DeliveryQueue;
  /** How endpoint URLs are checked at create and update (DNS, loopback). */
  urlPolicy?: { lookup?: HostLookup; allowLoopback?: boolean };
}

export interface WebhookRouteDeps {
  events: EventStore;
  idempotency: IdempotencyStore;
  /** Absent where webhooks are not wired (some unit tests): their routes answer 500. */
  webhooks?: WebhookApiDeps;
}

export interface WebhookRoute {
  method: 'GET' | 'POST' | 'DELETE';
  pattern: RegExp;
  handler: (deps: WebhookRouteDeps, ctx: CallContext, params: unknown, id: string) => Promise<HttpResponse>;
}

/** The webhook parts of the API's dependencies, on one table. */
export function webhookApiDeps(
  doc: DynamoDBDocumentClient,
  table: string,
  queue: DeliveryQueue,
  urlPolicy?: WebhookApiDeps['urlPolicy'],
): WebhookApiDeps {
  return { endpoints: new WebhookEndpointStore(doc, table), deliveries: new DeliveryStore(doc, table), queue, urlPolicy };
}

const ENDPOINTS_URL = '/v1/webhook_endpoints';
const MAX_WRITE_ATTEMPTS = 6;

function wired(deps: WebhookRouteDeps): WebhookApiDeps {
  if (!deps.webhooks) throw new Error('webhooks are not configured for this API handler');
  return deps.webhooks;
}

const endpointMissing = (id: string, param = 'id') => resourceMissing('webhook endpoint', id, param);
const render = (rec: WebhookEndpointRecord) => renderWebhookEndpoint(rec);

/** The address checks that need DNS (the rest is in the domain); a refusal names `url`. */
async function checkUrl(deps: WebhookApiDeps, url: string, livemode: boolean): Promise<void> {
  const check = await checkEndpointUrl(url, livemode, deps.urlPolicy?.lookup, { allowLoopback: deps.urlPolicy?.allowLoopback });
  if (!check.ok) throw invalidRequest(`Invalid url: ${check.reason}.`, { param: 'url' });
}

export async function createWebhookEndpoint(deps: WebhookRouteDeps, ctx: CallContext, raw: unknown): Promise<HttpResponse> {
  const w = wired(deps);
  const params = parseParams<CreateEndpointParams>(CREATE_ENDPOINT_PARAMS, raw);
  checkEndpointExpand(params.expand);
  const replay = await replayIfSaved(deps, ctx);
  if (replay) return replay;
  const rec = newWebhookEndpoint(params, { scope: ctx.scope, nowSeconds: Math.floor(ctx.nowMs / 1000), id: newWebhookEndpointId(ctx.nowMs) });
  await checkUrl(w, rec.url, rec.livemode);
  // The secret is in this response only (and in its saved copy, replayed for the same key).
  const body = renderWebhookEndpoint(rec, { withSecret: true });
  try {
    await w.endpoints.create(rec, ctx.idempotency && { req: ctx.idempotency, status: 200, body, nowMs: ctx.nowMs });
  } catch (err) {
    if (err instanceof IdempotencyKeyTaken) return answerFromSaved(err.saved, ctx.idempotency!);
    if (err instanceof EndpointLimitReached) return saveRefusal(deps, ctx, endpointLimitReached(ctx.scope.livemode));
    throw err;
  }
  return { status: 200, body };
}

export async function retrieveWebhookEndpoint(deps: WebhookRouteDeps, ctx: CallContext, id: string, raw: unknown): Promise<HttpResponse> {
  const w = wired(deps);
  const { expand } = parseParams<{ expand?: string[] }>(obj({ expand: UPDATE_ENDPOINT_PARAMS.fields.expand }), raw);
  checkEndpointExpand(expand);
  const rec = isTimeOrderedId(id, 'we') ? await w.endpoints.get(ctx.scope, id) : undefined;
  if (!rec) throw endpointMissing(id);
  return { status: 200, body: render(rec) };
}

export async function updateWebhookEndpoint(deps: WebhookRouteDeps, ctx: CallContext, id: string, raw: unknown): Promise<HttpResponse> {
  const w = wired(deps);
  const params = parseParams<UpdateEndpointParams>(UPDATE_ENDPOINT_PARAMS, raw);
  checkEndpointExpand(params.expand);
  const replay = await replayIfSaved(deps, ctx);
  if (replay) return replay;
  // A refused url is a validation error, like a bad parameter: it saves nothing under the key.
  if (params.url !== undefined) await checkUrl(w, params.url, ctx.scope.livemode);
  if (!isTimeOrderedId(id, 'we')) return saveRefusal(deps, ctx, endpointMissing(id));
  for (let attempt = 0; attempt < MAX_WRITE_ATTEMPTS; attempt++) {
    const current = await w.endpoints.get(ctx.scope, id);
    if (!current) return saveRefusal(deps, ctx, endpointMissing(id));
    const next = applyEndpointUpdate(current, params);
    const body = render(next);
    try {
      // Re-enabled, or pointed elsewhere: the failure streak that may have disabled it no longer applies.
      const resetHealth = (current.status === 'disabled' && next.status === 'enabled') || next.url !== current.url;
      await w.endpoints.update(next, current.version, ctx.idempotency && { req: ctx.idempotency, status: 200, body, nowMs: ctx.nowMs }, { resetHealth });
      return { status: 200, body };
    } catch (err) {
      if (err instanceof IdempotencyKeyTaken) return answerFromSaved(err.saved, ctx.idempotency!);
      if (!(err instanceof StaleEndpoint)) throw err;
      if (!err.current) return saveRefusal(deps, ctx, endpointMissing(id));
      // Changed by someone else (another update, the worker disabling it) since the read: read again.
    }
  }
  throw new ApiError(409, 'invalid_request_error', 'This webhook endpoint is being changed by other requests at the same time. Retry the request.', {
    code: 'lock_timeout',
    shouldRetry: true,
  });
}

export async function deleteWebhookEndpoint(deps: WebhookRouteDeps, ctx: CallContext, id: string, raw: unknown): Promise<HttpResponse> {
  const w = wired(deps);
  parseParams(obj({}), raw);
  const replay = await replayIfSaved(deps, ctx);
  if (replay) return replay;
  if (!isTimeOrderedId(id, 'we')) return saveRefusal(deps, ctx, endpointMissing(id));
  const body = renderDeletedEndpoint(id);
  try {
    await w.endpoints.delete(ctx.scope, id, Math.floor(ctx.nowMs / 1000), ctx.idempotency && { req: ctx.idempotency, status: 200, body, nowMs: ctx.nowMs });
  } catch (err) {
    if (err instanceof IdempotencyKeyTaken) return answerFromSaved(err.saved, ctx.idempotency!);
    if (err instanceof StaleEndpoint) return saveRefusal(deps, ctx, endpointMissing(id));
    throw err;
  }
  return { status: 200, body };
}

const LIST_PARAMS = obj({
  limit: int(1, 100),
  starting_after: str(5000, false),
  ending_before: str(5000, false),
  expand: UPDATE_ENDPOINT_PARAMS.fields.expand,
});

export async function listWebhookEndpoints(deps: WebhookRouteDeps, ctx: CallContext, raw: unknown): Promise<HttpResponse> {
  const w = wired(deps);
  const p = parseParams<{ limit?: number; starting_after?: string; ending_before?: string; expand?: string[] }>(LIST_PARAMS, raw);
  checkCursors(p, 'we', endpointMissing);
  if (p.expand?.length) checkEndpointExpand(p.expand.map((e) => e.replace(/^data\./, '')));
  const page = await w.endpoints.list(ctx.scope, { limit: p.limit ?? 10, starting_after: p.starting_after, ending_before: p.ending_before });
  return { status: 200, body: { object: 'list', data: page.data.map(render), has_more: page.has_more, url: ENDPOINTS_URL } };
}

// ---- an event's deliveries -------------------------------------------------

async function eventOrMissing(deps: WebhookRouteDeps, ctx: CallContext, id: string) {
  const event = isTimeOrderedId(id, 'evt') ? await deps.events.get(ctx.scope, id) : undefined;
  if (!event) throw resourceMissing('event', id);
  return event;
}

const DELIVERY_LIST_PARAMS = obj({ webhook_endpoint: str(5000, false) });

async function deliveriesOf(deps: WebhookRouteDeps, ctx: CallContext, id: string, raw: unknown) {
  const w = wired(deps);
  const p = parseParams<{ webhook_endpoint?: string }>(DELIVERY_LIST_PARAMS, raw);
  await eventOrMissing(deps, ctx, id);
  const all = await w.deliveries.listForEvent(ctx.scope, id);
  return all.filter((d) => p.webhook_endpoint === undefined || d.endpoint_id === p.webhook_endpoint);
}

/** GET /v1/events/{id}/webhook_deliveries: the event's delivery to each endpoint, with status and attempts. */
export async function listEventDeliveries(deps: WebhookRouteDeps, ctx: CallContext, id: string, raw: unknown): Promise<HttpResponse> {
  const deliveries = await deliveriesOf(deps, ctx, id, raw);
  return {
    status: 200,
    body: { object: 'list', data: deliveries.map(renderDelivery), has_more: false, url: `/v1/events/${id}/webhook_deliveries` },
  };
}

/** GET /v1/events/{id}/webhook_attempts: every attempt to deliver the event, newest first. */
export async function listEventAttempts(deps: WebhookRouteDeps, ctx: CallContext, id: string, raw: unknown): Promise<HttpResponse> {
  const deliveries = await deliveriesOf(deps, ctx, id, raw);
  const attempts = deliveries
    .flatMap((d) => d.attempts.map((a) => ({ started: a.started_ms, body: renderAttempt(d, a) })))
    .sort((a, b) => b.started - a.started)
    .map((a) => a.body);
  return { status: 200, body: { object: 'list', data: attempts, has_more: false, url: `/v1/events/${id}/webhook_attempts` } };
}

const RESEND_PARAMS = obj({ webhook_endpoint: str(5000, false) }, { required: ['webhook_endpoint'] });

/**
 * POST /v1/events/{id}/retry with webhook_endpoint=we_...: sends the event to
 * the endpoint again now, with a fresh retry schedule, whatever became of
 * earlier attempts (pending retries are replaced). Answers with the delivery.
 */
export async function resendEvent(deps: WebhookRouteDeps, ctx: CallContext, id: string, raw: unknown): Promise<HttpResponse> {
  const w = wired(deps);
  const { webhook_endpoint: endpointId } = parseParams<{ webhook_endpoint: string }>(RESEND_PARAMS, raw);
  const replay = await replayIfSaved(deps, ctx);
  if (replay) return replay;
  let event;
  try {
    event = await eventOrMissing(deps, ctx, id);
  } catch (err) {
    return saveRefusal(deps, ctx, err);
  }
  const endpoint = isTimeOrderedId(endpointId, 'we') ? await w.endpoints.get(ctx.scope, endpointId) : undefined;
  if (!endpoint) return saveRefusal(deps, ctx, endpointMissing(endpointId, 'webhook_endpoint'));
  if (endpoint.status !== 'enabled')
    return saveRefusal(
      deps,
      ctx,
      invalidRequest(`Webhook endpoint ${endpointId} is disabled. Enable it (disabled=false) before sending events to it.`, { param: 'webhook_endpoint' }),
    );
  for (let attempt = 0; attempt < MAX_WRITE_ATTEMPTS; attempt++) {
    const current = await w.deliveries.get(ctx.scope, id, endpointId);
    let next;
    try {
      if (current) {
        next = resendDelivery(current, ctx.nowMs);
        await w.deliveries.save(current, next);
      } else {
        next = newDelivery(ctx.scope, event, endpointId, ctx.nowMs);
        const r = await w.deliveries.create(next);
        if (!r.created) continue; // made concurrently: resend that one
      }
    } catch (err) {
      if (err instanceof StaleDelivery) continue;
      throw err;
    }
    await w.queue.enqueue([{ delivery: next.id, account: next.account, livemode: next.livemode, generation: next.generation }]);
    return saveResultAfter(deps, ctx, renderDelivery(next));
  }
  throw new ApiError(409, 'invalid_request_error', 'This delivery is being changed by other requests at the same time. Retry the request.', {
    code: 'lock_timeout',
    shouldRetry: true,
  });
}

const ID = '([^/]+)';
export const WEBHOOK_ROUTES: WebhookRoute[] = [
  { method: 'POST', pattern: new RegExp(`^${ENDPOINTS_URL}$`), handler: (d, c, p) => createWebhookEndpoint(d, c, p) },
  { method: 'GET', pattern: new RegExp(`^${ENDPOINTS_URL}$`), handler: (d, c, p) => listWebhookEndpoints(d, c, p) },
  { method: 'GET', pattern: new RegExp(`^${ENDPOINTS_URL}/${ID}$`), handler: (d, c, p, id) => retrieveWebhookEndpoint(d, c, id, p) },
  { method: 'POST', pattern: new RegExp(`^${ENDPOINTS_URL}/${ID}$`), handler: (d, c, p, id) => updateWebhookEndpoint(d, c, id, p) },
  { method: 'DELETE', pattern: new RegExp(`^${ENDPOINTS_URL}/${ID}$`), handler: (d, c, p, id) => deleteWebhookEndpoint(d, c, id, p) },
  { method: 'GET', pattern: new RegExp(`^/v1/events/${ID}/webhook_deliveries$`), handler: (d, c, p, id) => listEventDeliveries(d, c, id, p) },
  { method: 'GET', pattern: new RegExp(`^/v1/events/${ID}/webhook_attempts$`), handler: (d, c, p, id) => listEventAttempts(d, c, id, p) },
  { method: 'POST', pattern: new RegExp(`^/v1/events/${ID}/retry$`), handler: (d, c, p, id) => resendEvent(d, c, id, p) },
];
