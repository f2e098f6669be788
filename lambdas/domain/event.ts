import { derivedTimeOrderedId } from './ids.js';
import { type SessionRecord, redactRenderedSession, renderSession } from './session.js';
import { type SessionEventName, eventsForChange } from './state-machine.js';

/**
 * Events in Stripe's shape (`object: "event"`), derived from a session's old
 * and new image on the table's stream.
 */
export const SESSION_EVENT_PREFIX = 'identity.verification_session.';
export type SessionEventType = `identity.verification_session.${SessionEventName}`;
export const SESSION_EVENT_TYPES: SessionEventType[] = (
  ['created', 'processing', 'verified', 'requires_input', 'canceled', 'redacted'] as const
).map((n) => `${SESSION_EVENT_PREFIX}${n}` as SessionEventType);

/** Events are kept (and listed) for 30 days. */
export const EVENT_RETENTION_SECONDS = 30 * 24 * 3600;

export interface EventRecord {
  id: string;
  account: string;
  livemode: boolean;
  created: number;
  type: string;
  api_version: string;
  data: { object: Record<string, unknown>; previous_attributes?: Record<string, unknown> };
  request: { id: string | null; idempotency_key: string | null };
  /**
   * Webhook deliveries not yet successful. Not stored on the event: the event
   * store derives it from the event's deliveries when it reads the event (0 in
   * a freshly made event, before any fan-out).
   */
  pending_webhooks: number;
  /** The session the event is about (for lookups; not rendered). */
  session_id: string;
}

/** The session as events carry it: never a usable url or client secret. */
function eventView(s: SessionRecord) {
  return renderSession(s, { nowSeconds: Math.floor(s.updated_ms / 1000), pageBaseUrl: '', withSecrets: false });
}

/** Top-level fields whose value changed, with their old values. */
function previousAttributes(before: Record<string, unknown>, after: Record<string, unknown>) {
  const changed: Record<string, unknown> = {};
  for (const key of Object.keys(after)) {
    if (JSON.stringify(before[key]) !== JSON.stringify(after[key])) changed[key] = before[key];
  }
  return changed;
}

/**
 * The events one write of a session makes: none for a change that is neither a
 * status change nor a redaction. Ids are derived from (session id, version,
 * type), so a redelivered stream record yields the same events.
 */
export function eventsFromChange(
  before: SessionRecord | undefined,
  after: SessionRecord | undefined,
  apiVersion: string,
): EventRecord[] {
  if (!after) return []; // items are never deleted by the API; TTL does not apply to sessions
  const names = eventsForChange(
    before && { status: before.status, redacted: before.redaction?.status === 'redacted' },
    { status: after.status, redacted: after.redaction?.status === 'redacted' },
  );
  const object = eventView(after);
  let previous = before ? previousAttributes(eventView(before), object) : undefined;
  // The old values of a session being redacted are exactly what the redaction removes.
  if (previous && after.redaction !== null) previous = redactRenderedSession(previous);
  return names.map((name, seq) => {
    const type = `${SESSION_EVENT_PREFIX}${name}`;
    const event: EventRecord = {
      id: derivedTimeOrderedId('evt', after.updated_ms, seq, `${after.id}|${after.version}|${type}`),
      account: after.account,
      livemode: after.livemode,
      created: Math.floor(after.updated_ms / 1000),
      type,
      api_version: apiVersion,
      data: { object },
      request: {
        id: after.last_request?.id ?? null,
        idempotency_key: after.last_request?.idempotency_key ?? null,
      },
      pending_webhooks: 0,
      session_id: after.id,
    };
    if (previous && name !== 'created') event.data.previous_attributes = previous;
    return event;
  });
}

/**
 * A stored event of a redacted session: `data.object` and
 * `previous_attributes` redacted as the session is. Webhook attempts, resends
 * and the events API read the stored event, so they all show this version.
 */
export function redactEvent(e: EventRecord): EventRecord {
  const data: EventRecord['data'] = { object: redactRenderedSession(e.data.object) };
  if (e.data.previous_attributes) data.previous_attributes = redactRenderedSession(e.data.previous_attributes);
  return { ...e, data };
}

/** The event as the API and webhooks show it. */
export function renderEvent(e: EventRecord) {
  return {
    id: e.id,
    object: 'event',
    // No `account`: Stripe shows it only on Connect events (the connected account), and this service has no Connect.
    api_version: e.api_version,
    created: e.created,
    data: e.data,
    livemode: e.livemode,
    pending_webhooks: e.pending_webhooks,
    // A change the service made itself (the checks, the redaction finishing) has `{ id: null, idempotency_key: null }`, as in Stripe.
    request: { id: e.request.id, idempotency_key: e.request.idempotency_key },
    type: e.type,
  };
}

/** `type` filter of the events list: an exact type, or a prefix ending in `*`. */
export function typeMatcher(pattern: string): (type: string) => boolean {
  if (pattern.endsWith('*')) {
    const prefix = pattern.slice(0, -1);
    return (t) => t.startsWith(prefix);
  }
  return (t) => t === pattern;
}
