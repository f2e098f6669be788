/**
 * The operator console at /console: server-rendered pages over the same use
 * cases the API runs (lambdas/api/*), called with the scope of the secret key
 * the operator signed in with. So the console shows and accepts exactly what
 * that key's API would, and a refusal is the API's own message.
 *
 * Authentication is a console sign-in (lambdas/store/console-store.ts): the
 * cookie holds a random value, never the key. Every POST must come from this
 * origin (Sec-Fetch-Site, else Origin) and carry the sign-in's CSRF token.
 * The hosted page's tokens and the API's Authorization header open nothing here.
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { errorForLog, logger } from '../observability/powertools.js';
import type { APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { ApiError } from '../domain/errors.js';
import type { Scope } from '../domain/session.js';
import { isTimeOrderedId } from '../domain/ids.js';
import type { ApiDeps } from '../api/app.js';
import { listEvents } from '../api/events.js';
import { fileContents } from '../api/files.js';
import { type HttpRequest, maskPath, parseForm } from '../api/http.js';
import { type CallContext, cancelSession, listSessions, redactSession, retrieveSession } from '../api/sessions.js';
import {
  createWebhookEndpoint,
  deleteWebhookEndpoint,
  listEventDeliveries,
  listWebhookEndpoints,
  resendEvent,
  updateWebhookEndpoint,
} from '../api/webhooks.js';
import { renderAttempt } from '../domain/webhook-delivery.js';
import { renderEvent } from '../domain/event.js';
import { CONSOLE_SIGN_IN_SECONDS, type ConsoleStore } from '../store/console-store.js';
import { consoleAsset } from './assets.js';
import {
  type DailyCounts,
  type EndpointStats,
  type PageContext,
  type TimelineItem,
  eventRows,
  eventsPage,
  messagePage,
  sessionPage,
  sessionsPage,
  signInPage,
  webhooksPage,
} from './views.js';

/* eslint-disable @typescript-eslint/no-explicit-any */
type Json = Record<string, any>;

export const CONSOLE_COOKIE = 'console_session';
export const isConsolePath = (path: string) => path === '/console' || path.startsWith('/console/');

export type ConsoleDeps = ApiDeps & { console?: ConsoleStore };

interface Response {
  status: number;
  headers?: Record<string, string>;
  html?: string;
  text?: { type: string; body: string };
  json?: unknown;
}

interface Signed {
  scope: Scope;
  csrfToken: string;
  cookieValue: string;
}

const WRONG_KEY = 'That secret key was not accepted. Check that you copied the whole key, and that it has not been revoked.';

const redirect = (location: string, headers: Record<string, string> = {}): Response => ({ status: 303, headers: { location, ...headers } });

function cookieOf(cookies: string[] | undefined, name: string): string | undefined {
  for (const c of cookies ?? []) {
    const i = c.indexOf('=');
    if (i > 0 && c.slice(0, i).trim() === name) return c.slice(i + 1).trim();
  }
  return undefined;
}

/** Served over https (API Gateway, a custom domain): the cookie is Secure. */
function isHttps(deps: ApiDeps, req: HttpRequest): boolean {
  if (req.headers['x-forwarded-proto']) return req.headers['x-forwarded-proto'] === 'https';
  return (deps.pageBaseUrl ?? req.baseUrl).startsWith('https:');
}

function sessionCookie(value: string, maxAge: number, secure: boolean): string {
  return `${CONSOLE_COOKIE}=${value}; Path=/console; HttpOnly; SameSite=Strict; Max-Age=${maxAge}${secure ? '; Secure' : ''}`;
}

/** A state-changing request must come from a console page of this origin. */
function fromThisOrigin(req: HttpRequest): boolean {
  const site = req.headers['sec-fetch-site'];
  if (site !== undefined) return site === 'same-origin';
  const origin = req.headers.origin;
  if (!origin) return false;
  try {
    return new URL(origin).host === req.headers.host;
  } catch {
    return false;
  }
}

function sameToken(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/** A path segment decoded, or undefined when it is not valid percent-encoding (it names nothing). */
function decodedSegment(segment: string): string | undefined {
  try {
    return decodeURIComponent(segment);
  } catch {
    return undefined;
  }
}

const firstString = (v: unknown) => (typeof v === 'string' ? v : Array.isArray(v) && typeof v[0] === 'string' ? v[0] : '');

/** Calendar date (YYYY-MM-DD, UTC) to unix seconds; the end of the day when `endOfDay`. */
function dayToSeconds(day: string, endOfDay: boolean): number | undefined {
  if (!/^\d{4}-\d{2}-\d{2}$/.test(day)) return undefined;
  const ms = Date.parse(`${day}T00:00:00Z`);
  if (Number.isNaN(ms)) return undefined;
  return Math.floor(ms / 1000) + (endOfDay ? 86399 : 0);
}

const CHART_DAYS = 30;
const CHART_MAX_SESSIONS = 2000;

/** Sessions created per day over the last 30 days, by their status now, through the API's own list. */
async function dailyCounts(deps: ApiDeps, ctx: CallContext): Promise<DailyCounts> {
  const todayMs = Math.floor(ctx.nowMs / 86_400_000) * 86_400_000;
  const firstMs = todayMs - (CHART_DAYS - 1) * 86_400_000;
  const days = Array.from({ length: CHART_DAYS }, (_, i) => new Date(firstMs + i * 86_400_000).toISOString().slice(0, 10));
  const byStatus: Record<string, number[]> = {};
  for (const s of ['requires_input', 'processing', 'verified', 'canceled']) byStatus[s] = days.map(() => 0);
  let cursor: string | undefined;
  let seen = 0;
  let capped = false;
  for (;;) {
    const page = (await listSessions(deps, ctx, { limit: '100', created: { gte: String(firstMs / 1000) }, ...(cursor ? { starting_after: cursor } : {}) })).body as Json;
    for (const s of page.data) {
      const day = Math.floor((s.created * 1000 - firstMs) / 86_400_000);
      if (day >= 0 && day < CHART_DAYS && byStatus[s.status]) byStatus[s.status][day]++;
    }
    seen += page.data.length;
    if (!page.has_more || !page.data.length) break;
    if (seen >= CHART_MAX_SESSIONS) {
      capped = true;
      break;
    }
    cursor = page.data[page.data.length - 1].id;
  }
  return { days, byStatus, capped };
}

async function sessionsList(deps: ApiDeps, ctx: CallContext, pc: PageContext, req: HttpRequest): Promise<Response> {
  const q = parseForm(req.rawQuery, 'query string');
  const filters: Record<string, string> = {};
  for (const k of ['q', 'status', 'client_reference_id', 'created_from', 'created_to', 'starting_after', 'ending_before']) {
    const v = firstString(q[k]).trim();
    if (v) filters[k] = v;
  }
  // A search by id opens the session (or says it is not there).
  if (filters.q) {
    if (isTimeOrderedId(filters.q, 'vs')) return redirect(`/console/sessions/${encodeURIComponent(filters.q)}`);
    return page(400, sessionsPage(pc, { filters, chart: await dailyCounts(deps, ctx), error: `No such session: ${filters.q} is not a session id (vs_…).` }));
  }
  const params: Json = { limit: '20' };
  for (const k of ['status', 'client_reference_id', 'starting_after', 'ending_before']) if (filters[k]) params[k] = filters[k];
  const created: Record<string, string> = {};
  let error: string | undefined;
  if (filters.created_from) {
    const s = dayToSeconds(filters.created_from, false);
    if (s === undefined) error = 'Created from must be a date (YYYY-MM-DD).';
    else created.gte = String(s);
  }
  if (filters.created_to) {
    const s = dayToSeconds(filters.created_to, true);
    if (s === undefined) error = 'Created until must be a date (YYYY-MM-DD).';
    else created.lte = String(s);
  }
  if (Object.keys(created).length) params.created = created;
  const chart = await dailyCounts(deps, ctx);
  if (error) return page(400, sessionsPage(pc, { filters, chart, error }));
  try {
    const list = (await listSessions(deps, ctx, params)).body as Json;
    const data = list.data as Json[];
    const backwards = !!filters.ending_before;
    const olderCursor = data.length && (backwards || list.has_more) ? data[data.length - 1].id : undefined;
    const newerCursor = data.length && (filters.starting_after || (backwards && list.has_more)) ? data[0].id : undefined;
    return page(200, sessionsPage(pc, { list, filters, chart, olderCursor, newerCursor }));
  } catch (err) {
    if (err instanceof ApiError) return page(err.status, sessionsPage(pc, { filters, chart, error: err.message }));
    throw err;
  }
}

async function sessionDetail(
  deps: ApiDeps,
  ctx: CallContext,
  pc: PageContext,
  id: string,
  opts: { revealed?: boolean; notice?: string; error?: string; status?: number } = {},
): Promise<Response> {
  let s: Json;
  try {
    s = (await retrieveSession(deps, ctx, id, { expand: ['verified_outputs', 'last_verification_report'] })).body as Json;
  } catch (err) {
    if (err instanceof ApiError && err.status === 404) return page(404, messagePage(pc, 'Session not found', err.message));
    throw err;
  }
  const report = (s.last_verification_report as Json | null) ?? null;
  const images: { label: string; fileId: string }[] = [];
  if (report) {
    const [front, back] = (report.document?.files ?? []) as string[];
    if (front) images.push({ label: 'Document front', fileId: front });
    if (back) images.push({ label: 'Document back', fileId: back });
    if (report.selfie?.selfie) images.push({ label: 'Selfie', fileId: report.selfie.selfie });
  }
  const eventIds = await deps.events.linkedIds(ctx.scope, id);
  const events = (eventIds.length ? await deps.events.getMany(ctx.scope, eventIds) : []).map(renderEvent).sort((a, b) => (a.id < b.id ? -1 : 1));
  const timeline: TimelineItem[] = [];
  for (const event of events) {
    const deliveries = deps.webhooks ? (((await listEventDeliveries(deps, ctx, event.id, {})).body as Json).data as Json[]) : [];
    timeline.push({ event, deliveries });
  }
  const endpoints = deps.webhooks ? (((await listWebhookEndpoints(deps, ctx, { limit: '100' })).body as Json).data as Json[]) : [];
  return page(
    opts.status ?? 200,
    sessionPage(pc, { session: s, report, timeline, endpoints, images, revealed: !!opts.revealed, notice: opts.notice, error: opts.error }),
  );
}

const NOTICES: Record<string, string> = {
  canceled: 'The session was canceled.',
  redacted: 'Redaction started: the personal data is being deleted.',
  resent: 'The event was sent again; the new attempt appears below once made.',
  created: 'Endpoint created.',
  enabled: 'Endpoint enabled.',
  disabled: 'Endpoint disabled.',
  deleted: 'Endpoint deleted.',
};

async function sessionAction(deps: ApiDeps, ctx: CallContext, pc: PageContext, id: string, action: string, form: Json): Promise<Response> {
  try {
    if (action === 'cancel') await cancelSession(deps, ctx, id, {});
    else if (action === 'redact') await redactSession(deps, ctx, id, {});
    else if (action === 'resend') {
      const event = firstString(form.event);
      // The event must be one of this session's: the console acts on the session it shows.
      const ids = await deps.events.linkedIds(ctx.scope, id);
      if (!ids.includes(event)) throw new ApiError(404, 'invalid_request_error', `No such event: '${event}' on session ${id}.`, { param: 'event' });
      await resendEvent(deps, ctx, event, { webhook_endpoint: firstString(form.webhook_endpoint) });
    } else if (action === 'reveal') {
      // Who looked, and at which session: never what they saw.
      logger.info('console reveal of verified outputs', { request_id: ctx.request.id, account: ctx.scope.account, livemode: ctx.scope.livemode, session_id: id });
      return sessionDetail(deps, ctx, pc, id, { revealed: true });
    } else return page(404, messagePage(pc, 'Not found', 'This console page does not exist.'));
  } catch (err) {
    if (err instanceof ApiError) return sessionDetail(deps, ctx, pc, id, { error: err.message, status: err.status });
    throw err;
  }
  const done = action === 'cancel' ? 'canceled' : action === 'redact' ? 'redacted' : 'resent';
  return redirect(`/console/sessions/${encodeURIComponent(id)}?done=${done}`);
}

const WEBHOOK_STATS_HOURS = 24;

async function webhooksView(deps: ApiDeps, ctx: CallContext, pc: PageContext, extra: { created?: Json; error?: string; notice?: string; form?: Record<string, string>; status?: number } = {}) {
  const endpoints = deps.webhooks ? (((await listWebhookEndpoints(deps, ctx, { limit: '100' })).body as Json).data as Json[]) : [];
  const stats = new Map<string, EndpointStats>();
  const since = ctx.nowMs - WEBHOOK_STATS_HOURS * 3600_000;
  // Deliveries of events from the last 3 days, attempts of the last 24 hours.
  const deliveries = deps.console ? await deps.console.deliveriesSince(ctx.scope, ctx.nowMs - 3 * 86_400_000) : [];
  for (const d of deliveries) {
    const st = stats.get(d.endpoint_id) ?? { attempts: [], total: 0, failed: 0 };
    for (const a of d.attempts) {
      if (a.started_ms < since) continue;
      st.total++;
      if (!a.succeeded) st.failed++;
      st.attempts.push(renderAttempt(d, a));
    }
    stats.set(d.endpoint_id, st);
  }
  for (const st of stats.values()) st.attempts = st.attempts.sort((a, b) => b.created - a.created).slice(0, 10);
  return page(extra.status ?? 200, webhooksPage(pc, { endpoints, stats, ...extra }));
}

async function webhookAction(deps: ApiDeps, ctx: CallContext, pc: PageContext, id: string | undefined, action: string, form: Json): Promise<Response> {
  try {
    if (!id) {
      const params: Json = { url: firstString(form.url), enabled_events: [firstString(form.enabled_events) || '*'] };
      const description = firstString(form.description);
      if (description) params.description = description;
      const created = (await createWebhookEndpoint(deps, ctx, params)).body as Json;
      return webhooksView(deps, ctx, pc, { created });
    }
    if (action === 'enable' || action === 'disable') await updateWebhookEndpoint(deps, ctx, id, { disabled: action === 'disable' ? 'true' : 'false' });
    else if (action === 'delete') await deleteWebhookEndpoint(deps, ctx, id, {});
    else return page(404, messagePage(pc, 'Not found', 'This console page does not exist.'));
  } catch (err) {
    if (err instanceof ApiError)
      return webhooksView(deps, ctx, pc, { error: err.message, status: err.status, form: id ? undefined : { url: firstString(form.url), description: firstString(form.description) } });
    throw err;
  }
  return redirect(`/console/webhooks?done=${action === 'delete' ? 'deleted' : action === 'enable' ? 'enabled' : 'disabled'}`);
}

async function recentEvents(deps: ApiDeps, ctx: CallContext, type: string) {
  const params: Record<string, string> = { limit: '50' };
  if (type) params.type = type;
  return ((await listEvents(deps, ctx, params)).body as Json).data as Json[];
}

function page(status: number, html: string): Response {
  return { status, html };
}

async function signIn(deps: ConsoleDeps, req: HttpRequest, pc: PageContext, nowMs: number): Promise<Response> {
  const form = parseForm(req.body, 'form');
  const key = firstString(form.secret_key).trim();
  const scope = key ? await deps.apiKeys.lookup(key, nowMs) : undefined;
  if (!scope || !deps.console) return page(401, signInPage(pc, WRONG_KEY));
  const s = await deps.console.signIn(key, scope, nowMs);
  return redirect('/console/sessions', { 'set-cookie': sessionCookie(s.cookieValue, CONSOLE_SIGN_IN_SECONDS, isHttps(deps, req)) });
}

async function route(deps: ConsoleDeps, req: HttpRequest, cookies: string[] | undefined, nonce: string): Promise<Response> {
  const nowMs = (deps.now ?? Date.now)();
  const path = req.path.replace(/\/+$/, '') || '/console';
  const pc: PageContext = { nonce };
  const asset = /^\/console\/assets\/([a-z.]+)$/.exec(path);
  if (asset && req.method === 'GET') {
    const a = consoleAsset(asset[1]);
    return a ? { status: 200, text: a, headers: { 'cache-control': 'public, max-age=300' } } : page(404, messagePage(pc, 'Not found', 'No such file.'));
  }
  if (req.method === 'POST' && !fromThisOrigin(req))
    return page(403, messagePage(pc, 'Request refused', 'The console accepts changes only from its own pages. Reload the page and try again.'));

  if (path === '/console/sign-in') {
    if (req.method === 'GET') return page(200, signInPage(pc));
    if (req.method === 'POST') return signIn(deps, req, pc, nowMs);
  }

  const cookieValue = cookieOf(cookies, CONSOLE_COOKIE);
  const current = cookieValue && deps.console ? await deps.console.current(cookieValue, nowMs) : undefined;
  const signed: Signed | undefined = current && cookieValue ? { scope: current.scope, csrfToken: current.csrfToken, cookieValue } : undefined;
  if (!signed) {
    if (path === '/console/events.json') return { status: 401, json: { error: 'signed out' } };
    return redirect('/console/sign-in');
  }
  pc.signedIn = { account: signed.scope.account, livemode: signed.scope.livemode, csrfToken: signed.csrfToken };
  const ctx: CallContext = { scope: signed.scope, nowMs, request: { id: req.requestId, idempotency_key: null }, pageBaseUrl: deps.pageBaseUrl ?? req.baseUrl };

  let form: Json = {};
  if (req.method === 'POST') {
    form = parseForm(req.body, 'form');
    if (!sameToken(firstString(form.csrf_token), signed.csrfToken))
      return page(403, messagePage(pc, 'Request refused', 'This form has expired or did not come from the console. Reload the page and try again.'));
  }

  if (req.method === 'POST' && path === '/console/sign-out') {
    await deps.console!.signOut(signed.cookieValue);
    return redirect('/console/sign-in', { 'set-cookie': sessionCookie('', 0, isHttps(deps, req)) });
  }
  if (req.method === 'GET' && path === '/console') return redirect('/console/sessions');
  if (req.method === 'GET' && path === '/console/sessions') return sessionsList(deps, ctx, pc, req);

  const session = /^\/console\/sessions\/([^/]+)(?:\/(cancel|redact|resend|reveal))?$/.exec(path);
  const sessionId = session ? decodedSegment(session[1]) : undefined;
  if (session && sessionId === undefined) return page(404, messagePage(pc, 'Session not found', 'No such session.'));
  if (session && sessionId !== undefined) {
    const id = sessionId;
    if (req.method === 'GET' && !session[2]) {
      const done = firstString(parseForm(req.rawQuery, 'query string').done);
      return sessionDetail(deps, ctx, pc, id, { notice: NOTICES[done] });
    }
    if (req.method === 'POST' && session[2]) return sessionAction(deps, ctx, pc, id, session[2], form);
  }

  const file = /^\/console\/files\/([^/]+)$/.exec(path);
  if (file && req.method === 'GET') {
    // The Files API's own redirect to a short-lived presigned GET, for this key's files only.
    try {
      const r = await fileContents(deps, ctx, file[1], {});
      return { status: r.status, headers: r.headers };
    } catch (err) {
      if (err instanceof ApiError) return { status: err.status, text: { type: 'text/plain; charset=utf-8', body: err.message } };
      throw err;
    }
  }

  if (path === '/console/webhooks') {
    if (req.method === 'GET') return webhooksView(deps, ctx, pc, { notice: NOTICES[firstString(parseForm(req.rawQuery, 'query string').done)] });
    if (req.method === 'POST') return webhookAction(deps, ctx, pc, undefined, 'create', form);
  }
  const endpoint = /^\/console\/webhooks\/([^/]+)\/(enable|disable|delete)$/.exec(path);
  if (endpoint && req.method === 'POST') return webhookAction(deps, ctx, pc, decodedSegment(endpoint[1]) ?? '', endpoint[2], form);

  if (path === '/console/events' || path === '/console/events.json') {
    const type = firstString(parseForm(req.rawQuery, 'query string').type);
    let events: Json[] = [];
    let error: string | undefined;
    try {
      events = await recentEvents(deps, ctx, type);
    } catch (err) {
      if (!(err instanceof ApiError)) throw err;
      error = err.message;
    }
    if (path === '/console/events.json') return error ? { status: 400, json: { error } } : { status: 200, json: { rows: eventRows(events) } };
    return page(error ? 400 : 200, eventsPage(pc, { events, type, error }));
  }
  return page(404, messagePage(pc, 'Not found', 'This console page does not exist.'));
}

/** Answers a request under /console. */
export async function consoleRequest(
  deps: ConsoleDeps,
  req: HttpRequest,
  cookies: string[] | undefined,
): Promise<APIGatewayProxyStructuredResultV2> {
  const nonce = randomBytes(16).toString('base64');
  const started = Date.now();
  let res: Response;
  try {
    res = await route(deps, req, cookies, nonce);
  } catch (err) {
    if (err instanceof ApiError) res = page(err.status, messagePage({ nonce }, 'Request refused', err.message));
    else {
      logger.error('console request failed', { request_id: req.requestId, path: maskPath(req.path), error: errorForLog(err) });
      res = page(500, messagePage({ nonce }, 'Something went wrong', `The console could not answer. Request id: ${req.requestId}.`));
    }
  }
  if (process.env.API_ACCESS_LOG !== 'off')
    logger.info('console request', { request_id: req.requestId, method: req.method, path: maskPath(req.path), status: res.status, ms: Date.now() - started });
  const storage = deps.files ? await deps.files.uploadOrigin() : '';
  const headers: Record<string, string> = {
    'request-id': req.requestId,
    'cache-control': 'no-store',
    'x-content-type-options': 'nosniff',
    'referrer-policy': 'same-origin',
    ...res.headers,
  };
  if (res.html !== undefined) {
    headers['content-type'] = 'text/html; charset=utf-8';
    headers['content-security-policy'] =
      `default-src 'none'; script-src 'nonce-${nonce}'; style-src 'nonce-${nonce}'; img-src 'self' ${storage}; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'`;
    headers['x-frame-options'] = 'DENY';
    return { statusCode: res.status, headers, body: res.html };
  }
  if (res.text) return { statusCode: res.status, headers: { ...headers, 'content-type': res.text.type }, body: res.text.body };
  if (res.json !== undefined) return { statusCode: res.status, headers: { ...headers, 'content-type': 'application/json' }, body: JSON.stringify(res.json) };
  return { statusCode: res.status, headers, body: '' };
}
