import middy from '@middy/core';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { ApiError, authenticationFailed, internalError, invalidRequest } from '../domain/errors.js';
import { newRequestId } from '../domain/ids.js';
import type { Scope } from '../domain/session.js';
import type { ApiKeyStore } from '../store/api-keys.js';
import type { ConsoleStore } from '../store/console-store.js';
import { consoleRequest, isConsolePath } from '../console/router.js';
import { MAX_IDEMPOTENCY_KEY_LENGTH, requestFingerprint } from '../store/idempotency.js';
import { type EventDeps, listEvents, retrieveEvent } from './events.js';
import { createFlow, listFlows, retrieveFlow } from './flows.js';
import { WEBHOOK_ROUTES, type WebhookRouteDeps } from './webhooks.js';
import { type ReportDeps, listReports, retrieveReport } from './reports.js';
import { type FileDeps, createFileLink, fileContents, followFileLink, retrieveFile, retrieveFileLink } from './files.js';
import { type VerifyDeps, createUploads, pageRequest, showPage, strayPageLink, submitWithClientSecret, submitWithUrlToken } from './verify.js';
import { type SettingsDeps, retrieveSettings, updateSettings } from './settings.js';
import { type HttpRequest, type HttpResponse, bodyParams, errorResponse, maskPath, queryParams, requestFromEvent, toResult } from './http.js';
import { errorForLog, logger, observe, recordMetric, withMetricsFlushed } from '../observability/powertools.js';
import { METRIC } from '../observability/metric-names.js';
import { type RequestRateLimiter, rateLimited } from './rate-limit.js';
import {
  type CallContext,
  type SessionDeps,
  cancelSession,
  createSession,
  listSessions,
  redactSession,
  retrieveSession,
  updateSession,
} from './sessions.js';

export interface ApiDeps extends SessionDeps, EventDeps, VerifyDeps, ReportDeps, WebhookRouteDeps, FileDeps, SettingsDeps {
  apiKeys: ApiKeyStore;
  /** Console sign-ins (the operator console at /console); without it the console refuses every sign-in. */
  console?: ConsoleStore;
  /** Base URL of the hosted page; default: https:// + the request's domain. */
  pageBaseUrl?: string;
  now?: () => number;
  /** The per-account request rate limit (rate-limit.ts); none when absent. */
  rateLimiter?: RequestRateLimiter;
}

type RouteHandler = (deps: ApiDeps, ctx: CallContext, params: unknown, id: string) => Promise<HttpResponse>;
interface Route {
  method: 'GET' | 'POST' | 'DELETE';
  pattern: RegExp;
  handler: RouteHandler;
}

const ID = '([^/]+)';
const SESSIONS = '/v1/identity/verification_sessions';
const FLOWS = '/v1/identity/verification_flows';
const ROUTES: Route[] = [
  { method: 'POST', pattern: new RegExp(`^${SESSIONS}$`), handler: (d, c, p) => createSession(d, c, p) },
  { method: 'GET', pattern: new RegExp(`^${SESSIONS}$`), handler: (d, c, p) => listSessions(d, c, p) },
  { method: 'GET', pattern: new RegExp(`^${SESSIONS}/${ID}$`), handler: (d, c, p, id) => retrieveSession(d, c, id, p) },
  { method: 'POST', pattern: new RegExp(`^${SESSIONS}/${ID}$`), handler: (d, c, p, id) => updateSession(d, c, id, p) },
  { method: 'POST', pattern: new RegExp(`^${SESSIONS}/${ID}/cancel$`), handler: (d, c, p, id) => cancelSession(d, c, id, p) },
  { method: 'POST', pattern: new RegExp(`^${SESSIONS}/${ID}/redact$`), handler: (d, c, p, id) => redactSession(d, c, id, p) },
  // An extension of this service: verification flows (Stripe makes them in its Dashboard).
  { method: 'POST', pattern: new RegExp(`^${FLOWS}$`), handler: (d, c, p) => createFlow(d, c, p) },
  { method: 'GET', pattern: new RegExp(`^${FLOWS}$`), handler: (d, c, p) => listFlows(d, c, p) },
  { method: 'GET', pattern: new RegExp(`^${FLOWS}/${ID}$`), handler: (d, c, p, id) => retrieveFlow(d, c, id, p) },
  // An extension of this service: the account's branding on the hosted page.
  { method: 'GET', pattern: /^\/v1\/identity\/settings$/, handler: (d, c, p) => retrieveSettings(d, c, p) },
  { method: 'POST', pattern: /^\/v1\/identity\/settings$/, handler: (d, c, p) => updateSettings(d, c, p) },
  { method: 'GET', pattern: /^\/v1\/identity\/verification_reports$/, handler: (d, c, p) => listReports(d, c, p) },
  { method: 'GET', pattern: new RegExp(`^/v1/identity/verification_reports/${ID}$`), handler: (d, c, p, id) => retrieveReport(d, c, id, p) },
  { method: 'GET', pattern: new RegExp(`^/v1/files/${ID}$`), handler: (d, c, p, id) => retrieveFile(d, c, id, p) },
  { method: 'GET', pattern: new RegExp(`^/v1/files/${ID}/contents$`), handler: (d, c, p, id) => fileContents(d, c, id, p) },
  { method: 'POST', pattern: /^\/v1\/file_links$/, handler: (d, c, p) => createFileLink(d, c, p) },
  { method: 'GET', pattern: new RegExp(`^/v1/file_links/${ID}$`), handler: (d, c, p, id) => retrieveFileLink(d, c, id, p) },
  { method: 'GET', pattern: /^\/v1\/events$/, handler: (d, c, p) => listEvents(d, c, p) },
  { method: 'GET', pattern: new RegExp(`^/v1/events/${ID}$`), handler: (d, c, p, id) => retrieveEvent(d, c, id, p) },
  ...WEBHOOK_ROUTES,
];

/** The secret key from `Authorization: Bearer sk_...` or Basic auth with the key as user name. */
export function secretKeyFrom(authorization: string | undefined): string | undefined {
  if (!authorization) return undefined;
  const [scheme, value = ''] = authorization.trim().split(/\s+/, 2);
  if (/^bearer$/i.test(scheme)) return value;
  if (/^basic$/i.test(scheme)) return Buffer.from(value, 'base64').toString('utf8').split(':')[0];
  return undefined;
}

async function authenticate(deps: ApiDeps, req: HttpRequest, nowMs: number): Promise<Scope> {
  const key = secretKeyFrom(req.headers.authorization);
  if (!key)
    throw authenticationFailed(
      "You did not provide an API key. Provide your secret key in the Authorization header, using Bearer auth (e.g. 'Authorization: Bearer sk_test_...').",
    );
  const scope = await deps.apiKeys.lookup(key, nowMs);
  if (!scope) throw authenticationFailed('Invalid API Key provided.');
  return scope;
}

/**
 * Routes for the user, not the merchant: the hosted page and the submission,
 * authenticated by the session's url token or client secret.
 */
type PublicHandler = (deps: ApiDeps, req: HttpRequest, m: RegExpExecArray, nowMs: number) => Promise<HttpResponse>;
const TOKEN = '([0-9A-Za-z]+)';
const PUBLIC_ROUTES: { method: string; pattern: RegExp; handler: PublicHandler }[] = [
  {
    method: 'GET',
    pattern: new RegExp(`^/verify/${ID}/${TOKEN}$`),
    handler: async (d, req, m, now) => showPage(d, m[1], m[2], now, await d.files.uploadOrigin(), pageRequest(req)),
  },
  {
    method: 'POST',
    pattern: new RegExp(`^/verify/${ID}/${TOKEN}/uploads$`),
    handler: (d, req, m, now) => createUploads(d, m[1], m[2], bodyParams(req), now, pageRequest(req)),
  },
  {
    method: 'POST',
    pattern: new RegExp(`^/verify/${ID}/${TOKEN}/submit$`),
    handler: (d, req, m, now) => submitWithUrlToken(d, m[1], m[2], bodyParams(req), now, req.headers.accept, pageRequest(req)),
  },
  {
    // A file link's public URL (lambdas/domain/file.ts fileLinkUrl): the link's secret is the credential.
    method: 'GET',
    pattern: new RegExp(`^/links/(link_[0-9A-Za-z]+)/${TOKEN}$`),
    handler: (d, _req, m, now) => followFileLink(d, m[1], m[2], now),
  },
  {
    method: 'POST',
    pattern: new RegExp(`^${SESSIONS}/${ID}/submit$`),
    handler: (d, req, m, now) => submitWithClientSecret(d, m[1], bodyParams(req), now),
  },
  {
    // Last: any other GET under /verify/ is a browser opening a page link that is not one (trailing
    // punctuation from a chat, no token): a page in the person's language, not the API's JSON 404.
    method: 'GET',
    pattern: /^\/verify(\/|$)/,
    handler: async (_d, req) => strayPageLink(req.path, req.rawQuery, pageRequest(req)),
  },
];

function decodedSegment(segment: string): string | undefined {
  try {
    return decodeURIComponent(segment);
  } catch {
    return undefined;
  }
}

async function route(deps: ApiDeps, req: HttpRequest, seen: { scope?: Scope }): Promise<HttpResponse> {
  const nowMs = (deps.now ?? Date.now)();
  for (const r of PUBLIC_ROUTES) {
    const m = r.method === req.method ? r.pattern.exec(req.path) : null;
    if (m) return r.handler(deps, req, m, nowMs);
  }
  let match: { route: Route; id: string } | undefined;
  let pathKnown = false;
  for (const r of ROUTES) {
    const m = r.pattern.exec(req.path);
    if (!m) continue;
    const id = decodedSegment(m[1] ?? '');
    // An id that is not valid percent-encoding names nothing: the URL is not one of ours.
    if (id === undefined) {
      pathKnown = false;
      break;
    }
    pathKnown = true;
    if (r.method === req.method) {
      match = { route: r, id };
      break;
    }
  }
  if (!match)
    throw new ApiError(
      404,
      'invalid_request_error',
      `Unrecognized request URL (${req.method}: ${req.path}).${pathKnown ? ' This path does not accept that method.' : ''}`,
      { shouldRetry: false },
    );
  const scope = await authenticate(deps, req, nowMs);
  seen.scope = scope;
  // On every log line of this request from here on (the Lambda runs one request at a time).
  logger.appendKeys({ account: scope.account, livemode: scope.livemode });
  if (deps.rateLimiter && !deps.rateLimiter.take(scope, nowMs)) {
    recordMetric(METRIC.rateLimited);
    throw rateLimited();
  }
  // Stripe's clients send DELETE parameters in the query string; curl users may send a body.
  const params = req.method === 'GET' ? queryParams(req) : req.method === 'DELETE' ? { ...queryParams(req), ...bodyParams(req) } : bodyParams(req);
  const key = req.method === 'POST' || req.method === 'DELETE' ? req.headers['idempotency-key'] : undefined;
  const ctx: CallContext = {
    scope,
    nowMs,
    request: { id: req.requestId, idempotency_key: key ?? null },
    pageBaseUrl: deps.pageBaseUrl ?? req.baseUrl,
  };
  if (key !== undefined) {
    if (key.length === 0 || key.length > MAX_IDEMPOTENCY_KEY_LENGTH)
      throw invalidRequest(`Idempotency-Key must be 1 to ${MAX_IDEMPOTENCY_KEY_LENGTH} characters long.`);
    ctx.idempotency = { scope, key, fingerprint: requestFingerprint(req.method, req.path, params), startedMs: nowMs };
  }
  return match.route.handler(deps, ctx, params, match.id);
}

/** The API Lambda handler: one function serves every route of the HTTP API. */
export function createApiHandler(deps: ApiDeps) {
  const handler = middy<APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2>().handler((event) => withMetricsFlushed(async () => {
    const req = requestFromEvent(event, newRequestId());
    logger.appendKeys({ request_id: req.requestId });
    // The operator console: its own router, cookie sign-ins, HTML pages (lambdas/console).
    if (isConsolePath(req.path)) return consoleRequest(deps, req, event.cookies);
    const started = Date.now();
    const seen: { scope?: Scope } = {};
    let res: HttpResponse;
    try {
      res = await route(deps, req, seen);
    } catch (err) {
      if (err instanceof ApiError) {
        res = errorResponse(err);
      } else {
        // Details go to the log, never to the caller.
        logger.error('request failed', { request_id: req.requestId, path: maskPath(req.path), error: errorForLog(err) });
        res = errorResponse(internalError());
      }
    }
    const sessionId = sessionIdOf(req.path, res);
    if (process.env.API_ACCESS_LOG !== 'off')
      logger.info('request', {
        request_id: req.requestId,
        ...(seen.scope && { account: seen.scope.account }),
        ...(sessionId && { session_id: sessionId }),
        method: req.method,
        path: maskPath(req.path),
        status: res.status,
        ms: Date.now() - started,
      });
    return toResult(res, req);
  }));
  return observe(handler);
}

/** The session a request was about: the one in its path, or the one its answer holds. */
function sessionIdOf(path: string, res: HttpResponse): string | undefined {
  const inPath = /\/(?:verification_sessions|verify)\/(vs_[0-9A-Za-z]+)/.exec(path)?.[1];
  if (inPath) return inPath;
  const body = res.body as { object?: unknown; id?: unknown } | undefined;
  return body?.object === 'identity.verification_session' && typeof body.id === 'string' ? body.id : undefined;
}
