import { ApiError, invalidRequest } from './errors.js';
import { type VerifiedOutputs, redactRenderedReport, redactVerifiedOutputs } from './report.js';
import { METADATA_LIMITS, arrayOf, bool, metadata, obj, oneOf, str, url } from './params.js';
import { clientSecretFor, newSecretSeed, pageUrlFor } from './secrets.js';
import { type ReplayEntry, carrySavedResults } from './saved-results.js';
import { INITIAL_STATUS, REFUSED_WHILE_REDACTING, type Action, type Status, nextStatus, refusalMessage } from './state-machine.js';

export const SESSION_TYPES = ['document', 'id_number'] as const;
/** A type whose checks run: a session's own, or its verification flow's. */
export type CheckType = (typeof SESSION_TYPES)[number];
/** Every type a session or report can show: a session made from a verification flow has `verification_flow`. */
export const ALL_SESSION_TYPES = [...SESSION_TYPES, 'verification_flow'] as const;
export const DOCUMENT_TYPES = ['driving_license', 'id_card', 'passport'] as const;
export const LAST_ERROR_CODES = [
  'abandoned', 'consent_declined', 'country_not_supported', 'device_not_supported', 'document_expired',
  'document_type_not_supported', 'document_unverified_other', 'email_unverified_other',
  'email_verification_declined', 'id_number_insufficient_document_data', 'id_number_mismatch',
  'id_number_unverified_other', 'phone_unverified_other', 'phone_verification_declined',
  'selfie_document_missing_photo', 'selfie_face_mismatch', 'selfie_manipulated', 'selfie_unverified_other',
  'under_supported_age',
] as const;

export const REDACTED = '[redacted]';

export interface DocumentOptions {
  allowed_types?: string[];
  require_id_number?: boolean;
  require_live_capture?: boolean;
  require_matching_selfie?: boolean;
}
export interface SessionOptions {
  document?: DocumentOptions;
}
export interface ProvidedDetails {
  email?: string;
  phone?: string;
}

/** Who owns an item: an account in test or live mode. */
export interface Scope {
  account: string;
  livemode: boolean;
}

/** A session as stored: the API object's fields plus the bookkeeping the API never shows. */
export interface SessionRecord {
  id: string;
  account: string;
  livemode: boolean;
  created: number;
  status: Status;
  type: string;
  options: SessionOptions;
  metadata: Record<string, string>;
  provided_details: ProvidedDetails | null;
  return_url: string | null;
  client_reference_id: string | null;
  related_customer: string | null;
  related_customer_account: string | null;
  related_person: { account: string; person: string } | null;
  /** The flow (`vf_`) a `verification_flow` session was made from, and the flow's type; absent otherwise. */
  verification_flow?: string;
  flow_type?: CheckType;
  last_error: { code: string; reason: string } | null;
  last_verification_report: string | null;
  redaction: { status: 'processing' | 'redacted' } | null;
  verified_outputs: Record<string, unknown> | null;
  /** Incremented by every write; conditional writes compare it. */
  version: number;
  /** Incremented by every submission: invalidates the url and client secret issued before. */
  attempt: number;
  /** Key for the url and client secret; null once redacted. */
  secret_seed: string | null;
  /** When the last write happened (ms); events are dated by it. */
  updated_ms: number;
  /**
   * When the session entered its status and redaction status (ms): what the
   * sweeps measure age by. Absent on sessions stored before it existed.
   */
  state_since_ms?: number;
  /** The API request that made the last write; null for changes the system made (checks). */
  last_request: RequestRef | null;
  /**
   * What the user submitted for the current attempt; null before it. Once the
   * checks end it keeps no ID number, names or date of birth; null once redacted.
   */
  submission: Submission | null;
  /** Upload URLs issued for the current attempt (absent: none); a submission starts the count again. */
  uploads_issued?: number;
  /**
   * The Idempotency-Keys whose saved result is a copy of this session, until
   * they expire: redaction rewrites exactly these, without a scan.
   */
  saved_keys?: SavedKeyRef[];
  /**
   * Results of keyed changes of this session, by the key's hash, and the
   * previous values later writes overwrote (see domain/saved-results.ts).
   * Absent on sessions stored before results moved onto the item.
   */
  replays?: Record<string, ReplayEntry>;
  undo?: Record<string, unknown>;
  /** Every report of this session (one per attempt): redaction rewrites exactly these. */
  report_ids?: string[];
  /** Every recorded file of this session (the Files API's `file_...`): redaction deletes exactly these. */
  file_ids?: string[];
}

/** An Idempotency-Key whose saved result shows a session, and when the saved result expires (unix seconds). */
export interface SavedKeyRef {
  key: string;
  expires_at: number;
}

/** Files are stored under keys of the session's own prefix (see lambdas/store/file-store.ts). */
export type FileSlot = 'document_front' | 'document_back' | 'selfie';
export const FILE_SLOTS: readonly FileSlot[] = ['document_front', 'document_back', 'selfie'];

export interface Submission {
  submitted_ms: number;
  document_type: string | null;
  files: Partial<Record<FileSlot, string>>;
  id_number: { number: string; type?: string; first_name?: string; last_name?: string; dob?: { day: number; month: number; year: number } } | null;
  /** Test mode only: the outcome the tester chose, and how long the session stays processing first. */
  test: { outcome: 'verified' | 'unverified'; code?: string; delay_seconds: number } | null;
}

/** An API request as events name it. */
export interface RequestRef {
  id: string;
  idempotency_key: string | null;
}

/** Who made a change, and when: written with every change of a session. */
export interface ChangeStamp {
  updated_ms: number;
  last_request: RequestRef | null;
}

// ---- parameters ------------------------------------------------------------

const documentOptions = obj(
  {
    allowed_types: arrayOf(oneOf(DOCUMENT_TYPES), DOCUMENT_TYPES.length),
    require_id_number: bool(),
    require_live_capture: bool(),
    require_matching_selfie: bool(),
  },
  { unsettable: true },
);
export const optionsParam = obj({ document: documentOptions }, { unsettable: true });
const providedDetailsParam = obj({ email: str(800), phone: str(50) }, { unsettable: true });
const expandParam = arrayOf(str(5000, false), 20);

export const CREATE_PARAMS = obj({
  type: oneOf(SESSION_TYPES),
  verification_flow: str(5000),
  options: optionsParam,
  metadata: metadata(),
  return_url: url(5000),
  client_reference_id: str(5000),
  provided_details: providedDetailsParam,
  related_customer: str(5000),
  related_customer_account: str(5000),
  related_person: obj({ account: str(5000, false), person: str(5000, false) }, { required: ['account', 'person'] }),
  expand: expandParam,
});

export const UPDATE_PARAMS = obj({
  type: oneOf(SESSION_TYPES),
  options: optionsParam,
  metadata: metadata(),
  provided_details: providedDetailsParam,
  expand: expandParam,
});

export const EXPAND_ONLY_PARAMS = obj({ expand: expandParam });

type Nullable<T> = T | null | undefined;

export interface CreateParams {
  type?: Nullable<string>;
  verification_flow?: Nullable<string>;
  options?: Nullable<{ document?: Nullable<DocumentOptions> }>;
  metadata?: Nullable<Record<string, string | null>>;
  return_url?: Nullable<string>;
  client_reference_id?: Nullable<string>;
  provided_details?: Nullable<{ email?: Nullable<string>; phone?: Nullable<string> }>;
  related_customer?: Nullable<string>;
  related_customer_account?: Nullable<string>;
  related_person?: Nullable<{ account: string; person: string }>;
  expand?: string[];
}

export interface UpdateParams {
  type?: Nullable<string>;
  options?: CreateParams['options'];
  metadata?: CreateParams['metadata'];
  provided_details?: CreateParams['provided_details'];
  expand?: string[];
}

export const EXPANDABLE = ['verified_outputs', 'last_verification_report'] as const;

/** Checks `expand[]` values; returns the set of fields to expand. */
export function parseExpand(expand: string[] | undefined): Set<string> {
  const out = new Set<string>();
  for (const [i, field] of (expand ?? []).entries()) {
    if (!(EXPANDABLE as readonly string[]).includes(field))
      throw invalidRequest(
        `This property cannot be expanded (${field}). You can expand: ${EXPANDABLE.join(', ')}.`,
        { param: `expand[${i}]` },
      );
    out.add(field);
  }
  return out;
}

// ---- behaviour -------------------------------------------------------------

export function cleanOptions(options: CreateParams['options']): SessionOptions {
  if (!options || !options.document) return {};
  const doc: DocumentOptions = {};
  for (const [k, v] of Object.entries(options.document)) if (v !== undefined && v !== null) (doc as Record<string, unknown>)[k] = v;
  return { document: doc };
}

function cleanDetails(details: CreateParams['provided_details']): ProvidedDetails | null {
  if (!details) return null;
  const out: ProvidedDetails = {};
  if (details.email) out.email = details.email;
  if (details.phone) out.phone = details.phone;
  return out;
}

/** Applies a metadata patch: null unsets everything, a null value unsets one key. */
export function mergeMetadata(current: Record<string, string>, patch: CreateParams['metadata']): Record<string, string> {
  if (patch === undefined) return current;
  if (patch === null) return {};
  const next = { ...current };
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete next[k];
    else next[k] = v;
  }
  if (Object.keys(next).length > METADATA_LIMITS.keys)
    throw invalidRequest(
      `Invalid metadata: an object can have at most ${METADATA_LIMITS.keys} metadata keys; this update would leave ${Object.keys(next).length}.`,
      { param: 'metadata' },
    );
  return next;
}

/** The type whose checks a session (or its report) runs: a `verification_flow` session's is its flow's. */
export function checkTypeOf(s: { type: string; flow_type?: CheckType }): CheckType {
  return s.type === 'verification_flow' ? (s.flow_type ?? 'document') : (s.type as CheckType);
}

/**
 * The create parameters that decide the session's type: `type`, or
 * `verification_flow` (whose flow then supplies the type and the options, so
 * neither may be given with it).
 */
export function checkTypeParams(params: CreateParams): void {
  if (params.verification_flow) {
    for (const param of ['type', 'options'] as const)
      if (params[param] !== undefined)
        throw invalidRequest(
          `You cannot pass \`${param}\` together with \`verification_flow\`: a session made from a verification flow takes its type and options from the flow.`,
          { code: 'parameters_exclusive', param },
        );
  } else if (!params.type)
    throw invalidRequest('Missing required param: type.', { code: 'parameter_missing', param: 'type' });
}

/** What a session takes from its verification flow (lambdas/domain/verification-flow.ts). */
export interface FlowPreset {
  id: string;
  type: CheckType;
  options: SessionOptions;
}

export function newSession(
  params: CreateParams,
  ctx: { id: string; scope: Scope; nowMs: number; request: RequestRef | null; flow?: FlowPreset },
): SessionRecord {
  checkTypeParams(params);
  const flow = ctx.flow;
  if (params.verification_flow && flow?.id !== params.verification_flow)
    throw new Error('newSession: the verification flow named by the request was not supplied');
  return {
    id: ctx.id,
    account: ctx.scope.account,
    livemode: ctx.scope.livemode,
    created: Math.floor(ctx.nowMs / 1000),
    status: INITIAL_STATUS,
    type: flow ? 'verification_flow' : params.type!,
    ...(flow && { verification_flow: flow.id, flow_type: flow.type }),
    options: flow ? structuredClone(flow.options) : cleanOptions(params.options),
    metadata: mergeMetadata({}, params.metadata),
    provided_details: cleanDetails(params.provided_details),
    return_url: params.return_url ?? null,
    client_reference_id: params.client_reference_id ?? null,
    related_customer: params.related_customer ?? null,
    related_customer_account: params.related_customer_account ?? null,
    related_person: params.related_person ?? null,
    last_error: null,
    last_verification_report: null,
    redaction: null,
    verified_outputs: null,
    version: 1,
    attempt: 0,
    secret_seed: newSecretSeed(),
    updated_ms: ctx.nowMs,
    state_since_ms: ctx.nowMs,
    last_request: ctx.request,
    submission: null,
    replays: {},
    undo: {},
  };
}

/** A change refused because the session is redacted (or being redacted). */
export function redactedRefusal(action: Action): ApiError {
  return invalidRequest(`You cannot ${action} this VerificationSession because it has been redacted.`, { code: 'session_status_invalid' });
}

/** A refused transition: 400 with the current status in the message. */
export function refusal(action: Action, current: Status): ApiError {
  return invalidRequest(refusalMessage(action, current), { code: 'session_status_invalid' });
}

/** Runs `action` on `session` in memory: the next record, or a refusal. */
export function transition(
  session: SessionRecord,
  action: Action,
  stamp: ChangeStamp,
  change: (s: SessionRecord) => void = () => {},
): SessionRecord {
  const to = nextStatus(action, session.status);
  if (to === undefined) throw refusal(action, session.status);
  if (session.redaction && REFUSED_WHILE_REDACTING.includes(action)) throw redactedRefusal(action);
  const next: SessionRecord = structuredClone(session);
  change(next);
  next.status = to;
  next.version = session.version + 1;
  next.updated_ms = stamp.updated_ms;
  if (next.status !== session.status || next.redaction?.status !== session.redaction?.status) next.state_since_ms = stamp.updated_ms;
  next.last_request = stamp.last_request;
  carrySavedResults(session, next, stamp.updated_ms);
  return next;
}

export function applyUpdate(session: SessionRecord, params: UpdateParams, stamp: ChangeStamp): SessionRecord {
  if (session.verification_flow) refuseFlowSessionChange(session.verification_flow, params);
  return transition(session, 'update', stamp, (s) => {
    if (params.type) s.type = params.type;
    if (params.options !== undefined) s.options = cleanOptions(params.options);
    if (params.provided_details !== undefined) s.provided_details = cleanDetails(params.provided_details);
    s.metadata = mergeMetadata(s.metadata, params.metadata);
  });
}

/** A session made from a verification flow keeps the flow's type and options. */
function refuseFlowSessionChange(flowId: string, params: UpdateParams): void {
  for (const param of ['type', 'options'] as const)
    if (params[param] !== undefined)
      throw invalidRequest(
        `This VerificationSession was made from the verification flow ${flowId}: its ${param === 'type' ? 'type is' : 'options are'} set by the flow and cannot be updated.`,
        { param },
      );
}

export const applyCancel = (session: SessionRecord, stamp: ChangeStamp) => transition(session, 'cancel', stamp);

/**
 * The personal data the session item itself holds, replaced: metadata emptied,
 * provided details and verified outputs `[redacted]`, the secret seed deleted
 * (no url or client secret works again), the submission dropped unless the
 * checks still need it.
 */
function scrubSession(s: SessionRecord, keepSubmission: boolean) {
  s.metadata = {};
  s.secret_seed = null;
  if (!keepSubmission) s.submission = null;
  if (s.provided_details) s.provided_details = redactValues(s.provided_details) as ProvidedDetails;
  // Dates stay integers-or-null and enums stay valid, as Stripe's schema requires.
  if (s.verified_outputs) s.verified_outputs = redactVerifiedOutputs(s.verified_outputs as VerifiedOutputs) as Record<string, unknown>;
}

/**
 * The merchant's redact: the session item loses its personal data at once and
 * `redaction.status` is `processing` until every other copy (events, saved
 * Idempotency-Key results, reports, files) is redacted too, which
 * `applyFinishRedaction` records. From `requires_input` it also cancels the
 * session; while `processing` the submission stays until the checks end.
 */
export function applyRedact(session: SessionRecord, stamp: ChangeStamp): SessionRecord {
  return transition(session, 'redact', stamp, (s) => {
    scrubSession(s, s.status === 'processing');
    s.redaction = { status: 'processing' };
  });
}

/** Every copy is redacted: `redaction.status: redacted` (and a session the checks sent back to requires_input is canceled). */
export function applyFinishRedaction(session: SessionRecord, stamp: ChangeStamp): SessionRecord {
  if (session.redaction?.status !== 'processing')
    throw invalidRequest('This VerificationSession has no redaction in progress.', { code: 'session_status_invalid' });
  return transition(session, 'finish_redaction', stamp, (s) => {
    scrubSession(s, false);
    s.redaction = { status: 'redacted' };
  });
}

function redactValues(value: unknown): unknown {
  if (value === null || value === undefined) return value;
  if (typeof value === 'object') {
    return Object.fromEntries(Object.entries(value as Record<string, unknown>).map(([k, v]) => [k, redactValues(v)]));
  }
  return REDACTED;
}

// ---- rendering -------------------------------------------------------------

export interface RenderContext {
  nowSeconds: number;
  /** Base URL of the hosted verification page. */
  pageBaseUrl: string;
  expand?: Set<string>;
  /** Events and stored copies must never carry a usable url or client secret. */
  withSecrets?: boolean;
}

/** The session as the API shows it (Stripe's `identity.verification_session`). */
export function renderSession(s: SessionRecord, ctx: RenderContext) {
  const live = s.status === 'requires_input' && s.secret_seed !== null && ctx.withSecrets !== false;
  const out: Record<string, unknown> = {
    id: s.id,
    object: 'identity.verification_session',
    client_reference_id: s.client_reference_id,
    client_secret: live ? clientSecretFor(s, ctx.nowSeconds) : null,
    created: s.created,
    last_error: s.last_error,
    last_verification_report: s.last_verification_report,
    livemode: s.livemode,
    // In key order: a stored map comes back in any order, and a replayed response must equal the first byte for byte.
    metadata: sortKeysDeep(s.metadata),
    options: sortKeysDeep(s.options),
    provided_details: sortKeysDeep(s.provided_details),
    redaction: s.redaction,
    related_customer: s.related_customer,
    related_customer_account: s.related_customer_account,
    // Neither required nor nullable in Stripe's schema: omitted when unset, never null.
    ...(s.related_person ? { related_person: s.related_person } : {}),
    status: s.status,
    type: s.type,
    url: live ? pageUrlFor(ctx.pageBaseUrl, s, ctx.nowSeconds) : null,
  };
  // Optional, not nullable, in Stripe's schema: absent unless the session was made from a flow.
  if (s.verification_flow) out.verification_flow = s.verification_flow;
  if (ctx.expand?.has('verified_outputs')) out.verified_outputs = sortKeysDeep(s.verified_outputs);
  return out;
}

/** Fields of the rendered session that hold personal data. */
const PERSONAL_SESSION_FIELDS = ['metadata', 'provided_details', 'verified_outputs', 'client_secret', 'url'] as const;

/**
 * A copy of a rendered session (in a stored event, in `previous_attributes`,
 * in a saved Idempotency-Key result) with its personal data redacted as the
 * session itself is: the same shape, `[redacted]` values, no url or client
 * secret, an expanded report redacted too. Other fields are kept.
 */
export function redactRenderedSession(obj: Record<string, unknown>): Record<string, unknown> {
  const out = { ...obj };
  for (const field of PERSONAL_SESSION_FIELDS) {
    if (!(field in out) || out[field] === null) continue;
    if (field === 'metadata') out.metadata = {};
    else if (field === 'client_secret' || field === 'url') out[field] = null;
    else if (field === 'verified_outputs') out.verified_outputs = redactVerifiedOutputs(out.verified_outputs as VerifiedOutputs);
    else out[field] = redactValues(out[field]);
  }
  const report = out.last_verification_report;
  if (report && typeof report === 'object') out.last_verification_report = redactRenderedReport(report as Record<string, unknown>);
  return out;
}

/** Stripe's objects list their fields alphabetically; stored maps come back in any order. */
function sortKeysDeep(value: unknown): unknown {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return value;
  return Object.fromEntries(
    Object.keys(value as object)
      .sort()
      .map((k) => [k, sortKeysDeep((value as Record<string, unknown>)[k])]),
  );
}
