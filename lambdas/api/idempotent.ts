import { ApiError } from '../domain/errors.js';
import { type SavedKeyRef, type SessionRecord, redactRenderedSession } from '../domain/session.js';
import { type ReplayEntry, sessionAsOf, shortFingerprint } from '../domain/saved-results.js';
import { IDEMPOTENCY_TTL_SECONDS, type IdempotentRequest, type IdempotencyStore, IdempotencyKeyTaken, resolve, type SavedResult } from '../store/idempotency.js';
import type { HttpResponse } from './http.js';
import type { CallContext } from './sessions.js';

/**
 * The API side of Idempotency-Key, shared by every use case that writes: a
 * saved result becomes the replayed response (or the refusal for other
 * parameters or a request still in flight), and a refusal the use case decided
 * is saved before it is raised. Successful results are saved by each store in
 * the same transaction as the change they describe.
 */

const keyMismatch = (req: IdempotentRequest) =>
  new ApiError(
    400,
    'idempotency_error',
    `Keys for idempotent requests can only be used with the same parameters they were first used with. Try using a key other than '${req.key}' if you meant to execute a different request.`,
    { shouldRetry: false },
  );

const keyInFlight = (req: IdempotentRequest) =>
  new ApiError(
    409,
    'idempotency_error',
    `There is currently another in-progress request using the idempotency key '${req.key}'. Retry this request in a moment to get its result.`,
    { code: 'idempotency_key_in_use', shouldRetry: true },
  );

const replayed = (status: number, body: unknown): HttpResponse => ({ status, body, headers: { 'idempotent-replayed': 'true' } });

/** Turns a saved result into the response for a repeated key, or its refusal. */
export function answerFromSaved(saved: SavedResult, req: IdempotentRequest): HttpResponse {
  const r = resolve(saved, req);
  if (r.kind === 'mismatch') throw keyMismatch(req);
  if (r.kind === 'in_flight') throw keyInFlight(req);
  return replayed(r.status, r.body);
}

/**
 * Turns a result saved on the session item into the response for a repeated
 * key: other parameters are refused, a result saved after this request began
 * belongs to a concurrent request (409, its retry gets the replay), a refusal
 * is given as it was, and a change's response is the session as that change
 * left it (`sessionAsOf`), rendered by `render` at the time it was first given.
 * Once the session is redacted, the replay holds no personal data.
 */
export async function answerFromEntry(
  entry: ReplayEntry,
  req: IdempotentRequest,
  session: SessionRecord,
  render: (s: SessionRecord, atMs: number) => Promise<Record<string, unknown>>,
  savedElsewhere: () => Promise<SavedResult | undefined>,
): Promise<HttpResponse> {
  if (entry.f !== shortFingerprint(req.fingerprint)) throw keyMismatch(req);
  if (entry.t >= req.startedMs) throw keyInFlight(req);
  if (entry.e !== undefined) return replayed(entry.s, JSON.parse(entry.e));
  if (entry.i) {
    const saved = await savedElsewhere();
    if (saved) return answerFromSaved(saved, req);
  }
  const body = await render(sessionAsOf(session, entry.t), entry.t);
  return replayed(entry.s, session.redaction ? redactRenderedSession(body) : body);
}

/** Saves a refusal (4xx that the endpoint decided) under the key, then raises it. */
export async function saveRefusal(deps: { idempotency: IdempotencyStore }, ctx: CallContext, err: unknown): Promise<HttpResponse> {
  if (err instanceof ApiError && ctx.idempotency) {
    try {
      await deps.idempotency.save(ctx.idempotency, err.status, err.toBody(), ctx.nowMs);
    } catch (saveErr) {
      // A concurrent request with the same key saved its result first.
      if (saveErr instanceof IdempotencyKeyTaken) return answerFromSaved(saveErr.saved, ctx.idempotency);
      throw saveErr;
    }
  }
  throw err;
}

/** The saved result for the request's key, if there is one: the response to give instead of doing anything. */
export async function replayIfSaved(deps: { idempotency: IdempotencyStore }, ctx: CallContext): Promise<HttpResponse | undefined> {
  if (!ctx.idempotency) return undefined;
  const saved = await deps.idempotency.get(ctx.scope, ctx.idempotency.key, ctx.nowMs);
  return saved ? answerFromSaved(saved, ctx.idempotency) : undefined;
}

/**
 * The session's list of saved results that show it, with this request's key
 * added and expired ones dropped: written with the change, so redaction knows
 * exactly which saved results to rewrite.
 */
export function withSavedKey(refs: SavedKeyRef[] | undefined, req: IdempotentRequest | undefined, nowMs: number): SavedKeyRef[] | undefined {
  if (!req) return refs;
  const now = Math.floor(nowMs / 1000);
  const kept = (refs ?? []).filter((r) => r.expires_at > now && r.key !== req.key);
  return [...kept, { key: req.key, expires_at: now + IDEMPOTENCY_TTL_SECONDS }];
}

/**
 * For a change whose saved result cannot be written in its own transaction:
 * saves the 200 result under the request's key after the change, and answers
 * with it (or with the result a concurrent request with the same key saved first).
 */
export async function saveResultAfter(deps: { idempotency: IdempotencyStore }, ctx: CallContext, body: unknown): Promise<HttpResponse> {
  if (ctx.idempotency) {
    try {
      await deps.idempotency.save(ctx.idempotency, 200, body, ctx.nowMs);
    } catch (err) {
      if (err instanceof IdempotencyKeyTaken) return answerFromSaved(err.saved, ctx.idempotency);
      throw err;
    }
  }
  return { status: 200, body };
}
