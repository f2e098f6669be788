import { invalidRequest } from './errors.js';
import { randomChars, timeOrderedId } from './ids.js';
import { arrayOf, bool, metadata, obj, oneOf, str } from './params.js';
import { mergeMetadata, type Scope } from './session.js';

/**
 * Webhook endpoints in Stripe's shape (`object: "webhook_endpoint"`): what a
 * merchant registers, which events it receives, and the signing secrets.
 * Pure: no AWS, no network. The address rules that need DNS live in
 * lambdas/webhooks/url-policy.ts, which builds on `endpointUrlProblem` here.
 */

export const WEBHOOK_EVENT_TYPES = [
  'identity.verification_session.created',
  'identity.verification_session.processing',
  'identity.verification_session.verified',
  'identity.verification_session.requires_input',
  'identity.verification_session.canceled',
  'identity.verification_session.redacted',
] as const;
export type WebhookEventType = (typeof WEBHOOK_EVENT_TYPES)[number];

/** `*` in enabled_events: every type except those in EXPLICIT_ONLY_EVENT_TYPES. */
export const ALL_EVENTS = '*';
/** Types an endpoint receives only when it names them (as Stripe does for redaction). */
export const EXPLICIT_ONLY_EVENT_TYPES: readonly string[] = ['identity.verification_session.redacted'];
export const ENABLED_EVENT_VALUES: readonly string[] = [...WEBHOOK_EVENT_TYPES, ALL_EVENTS];

export const MAX_ENDPOINTS_PER_ACCOUNT = 16;
export const MAX_URL_LENGTH = 5000;

export type EndpointStatus = 'enabled' | 'disabled';

export interface WebhookSecret {
  /** `whsec_...`; the whole string is the HMAC key. */
  secret: string;
  /** Unix seconds after which a rolled secret no longer signs; null for the current one. */
  expires_at: number | null;
}

/** An endpoint as stored: the API object's fields plus the secrets and the write version. */
export interface WebhookEndpointRecord {
  id: string;
  account: string;
  livemode: boolean;
  created: number;
  url: string;
  enabled_events: string[];
  description: string | null;
  metadata: Record<string, string>;
  status: EndpointStatus;
  api_version: string | null;
  /** The current secret first; a rolled one follows with its expiry. */
  secrets: WebhookSecret[];
  /** Incremented by every write; conditional writes compare it. */
  version: number;
}

// ---- parameters ------------------------------------------------------------

// The enum schema names the offending item (`enabled_events[1]`) and lists the allowed values.
const enabledEventsParam = arrayOf(oneOf(ENABLED_EVENT_VALUES), 100);
const expandParam = arrayOf(str(5000, false), 20);

export const CREATE_ENDPOINT_PARAMS = obj(
  {
    url: str(MAX_URL_LENGTH, false),
    enabled_events: enabledEventsParam,
    description: str(5000),
    metadata: metadata(),
    api_version: str(100),
    connect: bool(),
    expand: expandParam,
  },
  { required: ['url', 'enabled_events'] },
);

export const UPDATE_ENDPOINT_PARAMS = obj({
  url: str(MAX_URL_LENGTH, false),
  enabled_events: enabledEventsParam,
  description: str(5000),
  metadata: metadata(),
  disabled: bool(),
  expand: expandParam,
});

type Nullable<T> = T | null | undefined;

export interface CreateEndpointParams {
  url: string;
  enabled_events: string[];
  description?: Nullable<string>;
  metadata?: Nullable<Record<string, string | null>>;
  api_version?: Nullable<string>;
  connect?: boolean;
  expand?: string[];
}

export interface UpdateEndpointParams {
  url?: string;
  enabled_events?: string[];
  description?: Nullable<string>;
  metadata?: Nullable<Record<string, string | null>>;
  disabled?: boolean;
  expand?: string[];
}

/** Webhook endpoints have nothing to expand; any `expand[]` value is refused by name. */
export function checkEndpointExpand(expand: string[] | undefined): void {
  const [first] = expand ?? [];
  if (first !== undefined)
    throw invalidRequest(`This property cannot be expanded (${first}). Webhook endpoints have no expandable properties.`, {
      param: 'expand[0]',
    });
}

/**
 * The checks on an endpoint URL that need no network: it parses as an http(s)
 * URL without credentials, and live mode requires https. Returns the problem,
 * or undefined when there is none.
 */
export function endpointUrlProblem(url: string, livemode: boolean): string | undefined {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return 'it is not a valid URL';
  }
  if (parsed.protocol !== 'https:' && parsed.protocol !== 'http:') return 'it must use https (or http in test mode)';
  if (livemode && parsed.protocol !== 'https:') return 'live-mode endpoints must use https';
  if (parsed.username !== '' || parsed.password !== '') return 'it must not contain a username or password';
  if (parsed.hostname === '') return 'it has no host';
  return undefined;
}

function checkUrl(url: string, livemode: boolean): void {
  const problem = endpointUrlProblem(url, livemode);
  if (problem) throw invalidRequest(`Invalid url: ${problem}.`, { param: 'url' });
}

/** Drops duplicates (first occurrence wins) and refuses an empty list. */
function cleanEnabledEvents(events: string[]): string[] {
  if (events.length === 0)
    throw invalidRequest(
      `Invalid enabled_events: pass at least one event type, e.g. enabled_events[0]=${WEBHOOK_EVENT_TYPES[2]}, or ${ALL_EVENTS} for all except the redacted event.`,
      { param: 'enabled_events' },
    );
  return [...new Set(events)];
}

/** The error for the 17th endpoint; the store decides when the limit is reached. */
export const endpointLimitReached = (livemode: boolean) =>
  invalidRequest(
    `You have reached the maximum of ${MAX_ENDPOINTS_PER_ACCOUNT} webhook endpoints in ${livemode ? 'live' : 'test'} mode. Delete one before creating another.`,
    { code: 'webhook_endpoint_limit_reached' },
  );

export const newWebhookSecret = () => `whsec_${randomChars(32)}`;

/** Time-ordered, so an account's endpoints list newest-first by id. */
export const newWebhookEndpointId = (ms: number = Date.now()) => timeOrderedId('we', ms);

// ---- behaviour -------------------------------------------------------------

export function newWebhookEndpoint(
  params: CreateEndpointParams,
  ctx: { scope: Scope; nowSeconds: number; id?: string; secret?: string },
): WebhookEndpointRecord {
  // Stripe's `connect=true` listens to connected accounts; this service has no Connect, so
  // only `connect=false` (the default, what Stripe's clients may send) is accepted.
  if (params.connect === true)
    throw invalidRequest('Invalid connect: this service has no Connect accounts, so an endpoint can only receive events of its own account. Pass connect=false or leave it out.', {
      param: 'connect',
    });
  checkUrl(params.url, ctx.scope.livemode);
  return {
    id: ctx.id ?? newWebhookEndpointId(),
    account: ctx.scope.account,
    livemode: ctx.scope.livemode,
    created: ctx.nowSeconds,
    url: params.url,
    enabled_events: cleanEnabledEvents(params.enabled_events),
    description: params.description ?? null,
    metadata: mergeMetadata({}, params.metadata),
    status: 'enabled',
    api_version: params.api_version ?? null,
    secrets: [{ secret: ctx.secret ?? newWebhookSecret(), expires_at: null }],
    version: 1,
  };
}

export function applyEndpointUpdate(rec: WebhookEndpointRecord, params: UpdateEndpointParams): WebhookEndpointRecord {
  const next = structuredClone(rec);
  if (params.url !== undefined) {
    checkUrl(params.url, rec.livemode);
    next.url = params.url;
  }
  if (params.enabled_events !== undefined) next.enabled_events = cleanEnabledEvents(params.enabled_events);
  if (params.description !== undefined) next.description = params.description;
  next.metadata = mergeMetadata(rec.metadata, params.metadata);
  if (params.disabled !== undefined) next.status = params.disabled ? 'disabled' : 'enabled';
  next.version = rec.version + 1;
  return next;
}

/**
 * Rolls the signing secret: a new current secret, and the previous one keeps
 * signing until `nowSeconds + graceSeconds` so receivers can switch over.
 * Secrets that have already expired are dropped.
 */
export function rollEndpointSecret(
  rec: WebhookEndpointRecord,
  opts: { nowSeconds: number; graceSeconds: number; secret?: string },
): WebhookEndpointRecord {
  const previous = rec.secrets
    .map((s) => (s.expires_at === null ? { ...s, expires_at: opts.nowSeconds + opts.graceSeconds } : s))
    .filter((s) => s.expires_at! > opts.nowSeconds);
  return {
    ...structuredClone(rec),
    secrets: [{ secret: opts.secret ?? newWebhookSecret(), expires_at: null }, ...previous],
    version: rec.version + 1,
  };
}

/** Whether `rec` receives events of `eventType`. */
export function endpointWantsEvent(rec: Pick<WebhookEndpointRecord, 'status' | 'enabled_events'>, eventType: string): boolean {
  if (rec.status !== 'enabled') return false;
  if (rec.enabled_events.includes(eventType)) return true;
  return rec.enabled_events.includes(ALL_EVENTS) && !EXPLICIT_ONLY_EVENT_TYPES.includes(eventType);
}

// ---- rendering -------------------------------------------------------------

/** The endpoint as the API shows it; the secret only in the create response. */
export function renderWebhookEndpoint(rec: WebhookEndpointRecord, opts: { withSecret?: boolean } = {}) {
  const out: Record<string, unknown> = {
    id: rec.id,
    object: 'webhook_endpoint',
    api_version: rec.api_version,
    application: null,
    created: rec.created,
    description: rec.description,
    enabled_events: rec.enabled_events,
    livemode: rec.livemode,
    metadata: rec.metadata,
  };
  if (opts.withSecret) out.secret = rec.secrets[0]?.secret;
  out.status = rec.status;
  out.url = rec.url;
  return out;
}

export const renderDeletedEndpoint = (id: string) => ({ id, object: 'webhook_endpoint', deleted: true }) as const;
