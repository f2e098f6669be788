/**
 * The routing table: the EventBridge rules of the service, written once. The
 * CDK stack creates a rule, a queue and a dead-letter queue for each route; the
 * local runtime's bus delivers each published event to the queues whose
 * pattern matches, with the same queue settings.
 */
export const EVENT_SOURCE = 'verification-sessions';

/** The subset of EventBridge's pattern syntax our rules use: exact values and prefixes. */
export type PatternValue = string | { prefix: string };
export interface EventPattern {
  source: PatternValue[];
  'detail-type': PatternValue[];
}

export interface QueueSettings {
  /** How long a received message stays invisible (should exceed the consumer's timeout). */
  visibilityTimeoutSeconds: number;
  retentionSeconds: number;
  /** Receives before a message moves to the dead-letter queue. */
  maxReceiveCount: number;
  dlqRetentionSeconds: number;
  /** Messages a consumer Lambda receives at once. */
  batchSize: number;
}

export interface Route {
  name: string;
  description: string;
  pattern: EventPattern;
  queue: QueueSettings;
}

const DAY = 24 * 3600;

export const ROUTES = {
  /** Submitted sessions: the checks worker runs the checks. */
  checks: {
    name: 'checks',
    description: 'Sessions the user submitted: run the verification checks',
    pattern: { source: [EVENT_SOURCE], 'detail-type': ['identity.verification_session.processing'] },
    queue: { visibilityTimeoutSeconds: 6 * 60, retentionSeconds: 4 * DAY, maxReceiveCount: 5, dlqRetentionSeconds: 14 * DAY, batchSize: 5 },
  },
  /** Every session event: fanned out to the merchant's webhook endpoints. */
  webhooks: {
    name: 'webhooks',
    description: 'Every session event: fan out to webhook endpoints',
    pattern: { source: [EVENT_SOURCE], 'detail-type': [{ prefix: 'identity.verification_session.' }] },
    queue: { visibilityTimeoutSeconds: 2 * 60, retentionSeconds: 4 * DAY, maxReceiveCount: 5, dlqRetentionSeconds: 14 * DAY, batchSize: 10 },
  },
} as const satisfies Record<string, Route>;

export type RouteName = keyof typeof ROUTES;

/**
 * The webhook delivery queue: not a rule of the bus but the queue the fan-out
 * fills, one message per (event, webhook endpoint). A message waits between
 * attempts by visibility changes (at most 12 h a step), so it lives as long as
 * the live retry schedule (about 3 days) plus margin: 14 days, SQS's maximum.
 * Every receive counts towards maxReceiveCount, including those that only find
 * the job not yet due (and, on the local emulator, every visibility change), so
 * the count is high: the redrive only catches messages the worker keeps
 * crashing on. The worker itself moves a job whose schedule is spent to the
 * dead-letter queue, with its attempt history. The visibility timeout is six
 * times the delivery function's timeout, as AWS advises for SQS event sources.
 */
export const WEBHOOK_DELIVERY_QUEUE = {
  name: 'webhook-delivery',
  description: 'One message per (event, webhook endpoint): signed POST, retried by visibility changes',
  /** The delivery function's timeout: a batch's attempts run in parallel, each at most DELIVERY_TIMEOUT_MS. */
  functionTimeoutSeconds: 60,
  queue: { visibilityTimeoutSeconds: 6 * 60, retentionSeconds: 14 * DAY, maxReceiveCount: 100, dlqRetentionSeconds: 14 * DAY, batchSize: 10 },
} as const satisfies { name: string; description: string; functionTimeoutSeconds: number; queue: QueueSettings };

/**
 * Each event on the bus names the account it belongs to in `resources`, so
 * consumers (the webhook fan-out, and any rule a customer adds, e.g.
 * `"resources": ["acct_..."]`) can tell the accounts of one deployment apart.
 */
export const accountResource = (account: string) => account;

/** The account an envelope belongs to, from its `resources`. */
export function accountFromResources(resources: readonly string[] | undefined): string | undefined {
  return resources?.find((r) => /^acct_[0-9A-Za-z]+$/.test(r));
}

/** What EventBridge delivers to a target (an SQS message body is this JSON). */
export interface BusEnvelope {
  version: '0';
  id: string;
  'detail-type': string;
  source: string;
  account: string;
  time: string;
  region: string;
  resources: string[];
  detail: unknown;
}

/** A JSON path into the EventBridge envelope (`$.detail.id`), or an object of them. */
export type MessageShape = string | { readonly [key: string]: MessageShape };

/**
 * What the service's own route queues receive: the envelope with a reference
 * to the event (its id, type, mode, and the session's id), never a copy of the
 * session. The stored event, which redaction rewrites, stays the one copy; a
 * message left in a dead-letter queue for 14 days holds no personal data.
 * The stack turns this into each rule target's input transformer; the local
 * bus applies it with `routeMessage`. Rules a customer adds get whole events.
 */
export const ROUTE_MESSAGE = {
  version: '$.version',
  id: '$.id',
  // (no `detail-type`: it is `detail.type`, and the stack's input transformer
  // would name both paths `detail-type`)
  source: '$.source',
  account: '$.account',
  time: '$.time',
  region: '$.region',
  resources: '$.resources',
  detail: {
    id: '$.detail.id',
    object: '$.detail.object',
    type: '$.detail.type',
    livemode: '$.detail.livemode',
    created: '$.detail.created',
    data: { object: { id: '$.detail.data.object.id', object: '$.detail.data.object.object' } },
  },
} as const satisfies MessageShape;

/** The message a route queue receives for an envelope, as EventBridge's input transformer makes it. */
export function routeMessage(envelope: BusEnvelope, shape: MessageShape = ROUTE_MESSAGE): unknown {
  if (typeof shape === 'string') {
    let value: unknown = envelope;
    for (const key of shape.replace(/^\$\./, '').split('.')) value = value === null || typeof value !== 'object' ? undefined : (value as Record<string, unknown>)[key];
    return value ?? null;
  }
  return Object.fromEntries(Object.entries(shape).map(([k, v]) => [k, routeMessage(envelope, v)]));
}

function matchesValue(allowed: readonly PatternValue[], value: string): boolean {
  return allowed.some((a) => (typeof a === 'string' ? a === value : value.startsWith(a.prefix)));
}

/** EventBridge's matching, for the parts of a pattern this table uses. */
export function matchesPattern(pattern: EventPattern, envelope: Pick<BusEnvelope, 'source' | 'detail-type'>): boolean {
  return matchesValue(pattern.source, envelope.source) && matchesValue(pattern['detail-type'], envelope['detail-type']);
}
