import { ApiError, invalidRequest, resourceMissing } from '../domain/errors.js';
import { checkCursors } from './list-cursors.js';
import { isTimeOrderedId, timeOrderedId } from '../domain/ids.js';
import { arrayOf, int, obj, oneOf, parseParams, range, str } from '../domain/params.js';
import {
  CREATE_PARAMS,
  EXPAND_ONLY_PARAMS,
  UPDATE_PARAMS,
  type CreateParams,
  type ChangeStamp,
  type RequestRef,
  type Scope,
  type SessionRecord,
  type UpdateParams,
  applyCancel,
  applyRedact,
  applyUpdate,
  checkTypeParams,
  newSession,
  parseExpand,
  renderSession,
} from '../domain/session.js';
import { type Action, STATUSES } from '../domain/state-machine.js';
import { type IdempotentRequest, type IdempotencyStore, IdempotencyKeyTaken } from '../store/idempotency.js';
import { type KeyedWrite, type ListQuery, type SessionStore, StaleSession } from '../store/session-store.js';
import { type ReplayEntry, replayName, shortFingerprint } from '../domain/saved-results.js';
import type { FileStore } from '../store/file-store.js';
import type { ReportStore } from '../store/report-store.js';
import { type ReportRecord, redactReport, renderReport } from '../domain/report.js';
import type { HttpResponse } from './http.js';
import { answerFromEntry, answerFromSaved, saveRefusal, withSavedKey } from './idempotent.js';
import { flowForSession } from './flows.js';
import type { FlowStore } from '../store/flow-store.js';
import { presetOf } from '../domain/verification-flow.js';

/** Everything a use case needs about the caller and the request. */
export interface CallContext {
  scope: Scope;
  nowMs: number;
  /** The API request, as the events it causes will name it. */
  request: RequestRef;
  pageBaseUrl: string;
  /** Present on a POST that carried an Idempotency-Key. */
  idempotency?: IdempotentRequest;
}

export interface SessionDeps {
  sessions: SessionStore;
  idempotency: IdempotencyStore;
  reports: ReportStore;
  files: FileStore;
  flows: FlowStore;
}

const SESSIONS_URL = '/v1/identity/verification_sessions';
const MAX_WRITE_ATTEMPTS = 6;

const sessionMissing = (id: string) => resourceMissing('verification session', id);

const stampOf = (ctx: CallContext): ChangeStamp => ({ updated_ms: ctx.nowMs, last_request: ctx.request });

/** The session as the API returns it; `expand[]=last_verification_report` reads the report. */
async function render(deps: SessionDeps, s: SessionRecord, ctx: CallContext, expand: Set<string>, reports?: Map<string, ReportRecord>) {
  const body = renderSession(s, { nowSeconds: Math.floor(ctx.nowMs / 1000), pageBaseUrl: ctx.pageBaseUrl, expand });
  if (expand.has('last_verification_report') && s.last_verification_report) {
    const report = reports ? reports.get(s.last_verification_report) : await deps.reports.get(ctx.scope, s.last_verification_report);
    // Until the redaction worker reaches the report, show it as it will be.
    body.last_verification_report = report ? renderReport(s.redaction ? redactReport(report) : report) : null;
  }
  return body;
}

export async function createSession(deps: SessionDeps, ctx: CallContext, raw: unknown): Promise<HttpResponse> {
  const params = parseParams<CreateParams>(CREATE_PARAMS, raw);
  const expand = parseExpand(params.expand);
  checkTypeParams(params);
  let flow;
  if (params.verification_flow) {
    try {
      flow = presetOf(await flowForSession(deps, ctx, params.verification_flow));
    } catch (err) {
      // Saved under the key (or, for a key already used, its saved result answers).
      return saveRefusal(deps, ctx, err);
    }
  }
  const session = newSession(params, {
    id: timeOrderedId('vs', ctx.nowMs),
    scope: ctx.scope,
    nowMs: ctx.nowMs,
    request: ctx.request,
    flow,
  });
  session.saved_keys = withSavedKey(undefined, ctx.idempotency, ctx.nowMs);
  // The key is named on the item too (its result is in its own record), so that
  // reusing it for a change of this session is seen as a reuse.
  if (ctx.idempotency)
    session.replays = { [replayName(ctx.idempotency.key)]: { f: shortFingerprint(ctx.idempotency.fingerprint), s: 200, t: ctx.nowMs, i: 1 } };
  const body = await render(deps, session, ctx, expand);
  try {
    await deps.sessions.commit(
      session,
      'create',
      ctx.idempotency && { req: ctx.idempotency, status: 200, body, nowMs: ctx.nowMs },
    );
  } catch (err) {
    if (err instanceof IdempotencyKeyTaken) return answerFromSaved(err.saved, ctx.idempotency!);
    throw err;
  }
  return { status: 200, body };
}

export async function retrieveSession(deps: SessionDeps, ctx: CallContext, id: string, raw: unknown): Promise<HttpResponse> {
  const { expand } = parseParams<{ expand?: string[] }>(EXPAND_ONLY_PARAMS, raw);
  const expandSet = parseExpand(expand);
  const session = isTimeOrderedId(id, 'vs') ? await deps.sessions.get(ctx.scope, id) : undefined;
  if (!session) throw sessionMissing(id);
  return { status: 200, body: await render(deps, session, ctx, expandSet) };
}

/**
 * A change of an existing session. `fastPath` (one UpdateItem, no read) does
 * it when it can; with an Idempotency-Key the same UpdateItem saves the result
 * on the session item (domain/saved-results.ts), and a refused condition
 * returns the item, which tells a replay, a mismatch or a refused transition
 * apart. Otherwise it is a read (the session and the key's separate saved
 * result in one BatchGetItem), the change computed by the domain, and one
 * conditional write, retried from the read if another writer won.
 */
async function changeSession(
  deps: SessionDeps,
  ctx: CallContext,
  id: string,
  action: Action,
  expand: Set<string>,
  compute: (s: SessionRecord, stamp: ChangeStamp) => SessionRecord,
  fastPath?: (keyed?: KeyedWrite) => Promise<SessionRecord>,
): Promise<HttpResponse> {
  const key = ctx.idempotency;
  if (!isTimeOrderedId(id, 'vs')) return saveRefusal(deps, ctx, sessionMissing(id));
  const name = key && replayName(key.key);
  // An expanded report is read from its own item: such a response is saved whole, in a separate record.
  const savedWhole = expand.has('last_verification_report');
  const entryOf = (status: number, extra: Partial<ReplayEntry> = {}): ReplayEntry => ({
    f: shortFingerprint(key!.fingerprint),
    s: status,
    t: ctx.nowMs,
    ...extra,
  });
  const fromEntry = (entry: ReplayEntry, session: SessionRecord) =>
    answerFromEntry(
      entry,
      key!,
      session,
      (s, atMs) => render(deps, s, { ...ctx, nowMs: atMs }, expand),
      () => deps.idempotency.get(ctx.scope, key!.key, ctx.nowMs),
    );
  /** A refusal, saved on the item when the item keeps results, else in a record of its own; then raised. */
  const refuse = async (err: unknown, session: SessionRecord | undefined): Promise<HttpResponse> => {
    if (!(key && err instanceof ApiError && session?.replays !== undefined)) return saveRefusal(deps, ctx, err);
    try {
      await deps.sessions.saveEntry(ctx.scope, id, name!, entryOf(err.status, { e: JSON.stringify(err.toBody()) }));
    } catch (saveErr) {
      const saved = saveErr instanceof StaleSession ? saveErr.current?.replays?.[name!] : undefined;
      if (saved) return fromEntry(saved, saveErr instanceof StaleSession ? saveErr.current! : session); // a concurrent request with the key
      throw saveErr;
    }
    throw err;
  };
  if (fastPath && !(key && savedWhole)) {
    try {
      const next = await fastPath(key && { name: name!, entry: entryOf(200) });
      return { status: 200, body: await render(deps, next, ctx, expand) };
    } catch (err) {
      if (!(err instanceof StaleSession)) throw err;
      const current = err.current;
      if (!current) return refuse(sessionMissing(id), undefined);
      const saved = name ? current.replays?.[name] : undefined;
      if (saved) return fromEntry(saved, current);
      try {
        compute(current, stampOf(ctx));
      } catch (refused) {
        return refuse(refused, current);
      }
      // Allowed, but the fast path's condition failed (metadata limit near, saved results to keep,
      // a session stored before results moved onto the item): read-modify-write.
    }
  }
  for (let attempt = 0; attempt < MAX_WRITE_ATTEMPTS; attempt++) {
    let session: SessionRecord | undefined;
    if (key) {
      const read = await deps.sessions.getWithSavedResult(ctx.scope, id, key.key, ctx.nowMs);
      if (read.saved) return answerFromSaved(read.saved, key);
      session = read.session;
      const saved = session?.replays?.[name!];
      if (saved && session) return fromEntry(saved, session);
    } else {
      session = await deps.sessions.get(ctx.scope, id);
    }
    let next: SessionRecord;
    try {
      if (!session) throw sessionMissing(id);
      next = compute(session, stampOf(ctx));
    } catch (err) {
      return refuse(err, session);
    }
    // Results are kept on the item when it keeps them; a response with the report expanded is saved whole beside it.
    const onItem = key && next.replays !== undefined;
    if (onItem) next.replays![name!] = entryOf(200, savedWhole ? { i: 1 } : {});
    if (!onItem || savedWhole) next.saved_keys = withSavedKey(session.saved_keys, key, ctx.nowMs);
    const body = await render(deps, next, ctx, expand);
    try {
      await deps.sessions.commit(
        next,
        { action, version: session.version },
        key && (!onItem || savedWhole) ? { req: key, status: 200, body, nowMs: ctx.nowMs } : undefined,
      );
      return { status: 200, body };
    } catch (err) {
      if (err instanceof IdempotencyKeyTaken) return answerFromSaved(err.saved, key!);
      if (!(err instanceof StaleSession)) throw err;
      // Another writer changed the session since the read: read again and recompute,
      // after a short random pause so that racing writers spread out.
      await new Promise((r) => setTimeout(r, Math.random() * 10 * 2 ** attempt));
    }
  }
  throw new ApiError(409, 'invalid_request_error', 'This VerificationSession is being changed by other requests at the same time. Retry the request.', {
    code: 'lock_timeout',
    shouldRetry: true,
  });
}

export async function updateSession(deps: SessionDeps, ctx: CallContext, id: string, raw: unknown): Promise<HttpResponse> {
  const params = parseParams<UpdateParams>(UPDATE_PARAMS, raw);
  const expand = parseExpand(params.expand);
  return changeSession(deps, ctx, id, 'update', expand, (s, stamp) => applyUpdate(s, params, stamp), (keyed) =>
    deps.sessions.updateFields(ctx.scope, id, params, stampOf(ctx), keyed),
  );
}

export async function cancelSession(deps: SessionDeps, ctx: CallContext, id: string, raw: unknown): Promise<HttpResponse> {
  const { expand } = parseParams<{ expand?: string[] }>(EXPAND_ONLY_PARAMS, raw);
  return changeSession(deps, ctx, id, 'cancel', parseExpand(expand), applyCancel, (keyed) => deps.sessions.cancel(ctx.scope, id, stampOf(ctx), keyed));
}

/**
 * Redaction, as Stripe does it: the session loses its personal data at once
 * and answers with `redaction.status: processing`; the redaction worker then
 * redacts every other copy (events, saved results, reports, files) and sets
 * `redacted`, which sends the redacted event. Asked again, it answers with the
 * session as it is.
 */
export async function redactSession(deps: SessionDeps, ctx: CallContext, id: string, raw: unknown): Promise<HttpResponse> {
  const { expand } = parseParams<{ expand?: string[] }>(EXPAND_ONLY_PARAMS, raw);
  const expandSet = parseExpand(expand);
  return changeSession(deps, ctx, id, 'redact', expandSet, (s, stamp) => {
    if (s.redaction) throw new AlreadyRedacted(s);
    return applyRedact(s, stamp);
  }).catch(async (err) => {
    if (err instanceof AlreadyRedacted) return { status: 200, body: await render(deps, err.session, ctx, expandSet) };
    throw err;
  });
}

class AlreadyRedacted extends Error {
  constructor(readonly session: SessionRecord) {
    super('already redacted');
  }
}

const LIST_PARAMS = obj({
  limit: int(1, 100),
  starting_after: str(5000, false),
  ending_before: str(5000, false),
  status: oneOf(STATUSES),
  created: range(),
  client_reference_id: str(5000, false),
  related_customer: str(5000, false),
  related_customer_account: str(5000, false),
  expand: arrayOf(str(5000, false), 20),
});

export async function listSessions(deps: SessionDeps, ctx: CallContext, raw: unknown): Promise<HttpResponse> {
  const p = parseParams<Omit<ListQuery, 'limit'> & { limit?: number; expand?: string[] }>(LIST_PARAMS, raw);
  checkCursors(p, 'vs', (id, param) => resourceMissing('verification session', id, param));
  // In lists, expansions name fields of `data`: expand[]=data.verified_outputs.
  const expand = parseExpand(
    (p.expand ?? []).map((e, i) => {
      if (!e.startsWith('data.'))
        throw invalidRequest(`In a list, expand fields of its items as data.<field>, e.g. expand[]=data.verified_outputs.`, { param: `expand[${i}]` });
      return e.slice('data.'.length);
    }),
  );
  const { expand: _e, ...query } = p;
  const page = await deps.sessions.list(ctx.scope, { ...query, limit: p.limit ?? 10 });
  // The page's reports in one BatchGetItem, not one read per session.
  let reports: Map<string, ReportRecord> | undefined;
  if (expand.has('last_verification_report')) {
    const ids = [...new Set(page.data.map((s) => s.last_verification_report).filter((id): id is string => id !== null))];
    reports = new Map((ids.length ? await deps.reports.getMany(ctx.scope, ids) : []).map((r) => [r.id, r]));
  }
  return {
    status: 200,
    body: { object: 'list', data: await Promise.all(page.data.map((s) => render(deps, s, ctx, expand, reports))), has_more: page.has_more, url: SESSIONS_URL },
  };
}
