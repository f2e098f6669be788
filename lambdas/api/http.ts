import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import qs from 'qs';
import { ApiError, invalidRequest } from '../domain/errors.js';

import { API_VERSION } from '../domain/api-version.js';

export { API_VERSION };
/** Form bodies larger than this are refused before parsing. */
export const MAX_BODY_BYTES = 64 * 1024;

export interface HttpRequest {
  method: string;
  path: string;
  /** Lower-cased header names. */
  headers: Record<string, string | undefined>;
  rawQuery: string;
  body: string;
  requestId: string;
  /** Where the service is reachable, e.g. https://abc.execute-api.eu-west-1.amazonaws.com */
  baseUrl: string;
}

export interface HttpResponse {
  status: number;
  body: unknown;
  headers?: Record<string, string>;
  /** An HTML page instead of a JSON body (the hosted verification page). */
  html?: string;
}

export function requestFromEvent(event: APIGatewayProxyEventV2, requestId: string, baseUrl?: string): HttpRequest {
  const headers: Record<string, string | undefined> = {};
  for (const [k, v] of Object.entries(event.headers ?? {})) headers[k.toLowerCase()] = v;
  const body = event.body ? (event.isBase64Encoded ? Buffer.from(event.body, 'base64').toString('utf8') : event.body) : '';
  return {
    method: event.requestContext.http.method.toUpperCase(),
    path: event.rawPath,
    headers,
    rawQuery: event.rawQueryString ?? '',
    body,
    requestId,
    baseUrl: baseUrl ?? `https://${event.requestContext.domainName}`,
  };
}

/**
 * qs options. `plainObjects` keeps keys that Object.prototype also has
 * (`constructor`, `toString`) as data in null-prototype objects, so that
 * validation sees them and refuses them by name instead of qs dropping them.
 * `throwOnLimitExceeded` refuses a body past `parameterLimit` parameters or an
 * array index past `arrayLimit`, where qs would otherwise drop the rest.
 */
const QS_OPTIONS = { depth: 6, strictDepth: true, arrayLimit: 100, parameterLimit: 1000, plainObjects: true, throwOnLimitExceeded: true } as const;

/**
 * The first key in a form string with a `__proto__` segment, as a bracketed
 * name (`metadata[__proto__]`). qs drops such keys whatever its options, so
 * they are looked for in the raw text.
 */
function protoKey(text: string): string | undefined {
  for (const part of text.split('&', QS_OPTIONS.parameterLimit + 1)) {
    const raw = part.split('=', 1)[0].replace(/\+/g, ' ');
    let key: string;
    try {
      key = decodeURIComponent(raw);
    } catch {
      key = raw; // qs keeps undecodable text as it is
    }
    const m = /(^|\[)__proto__(\]|$)/.exec(key);
    if (m) return key.slice(0, m.index + m[0].length);
  }
  return undefined;
}

/** Parses a Stripe-style bracketed form string (`metadata[a]=b`, `expand[]=x`, `%5B0%5D`). */
export function parseForm(text: string, what: string): Record<string, unknown> {
  // Most GETs have no query string and many POSTs no body: nothing to scan or parse.
  if (text === '') return Object.create(null) as Record<string, unknown>;
  if (text.length > MAX_BODY_BYTES / 3 && Buffer.byteLength(text) > MAX_BODY_BYTES)
    throw new ApiError(413, 'invalid_request_error', `The ${what} is larger than ${MAX_BODY_BYTES} bytes.`);
  const proto = protoKey(text);
  if (proto !== undefined) throw invalidRequest(`Invalid ${proto}: '__proto__' cannot be used as a parameter name or key.`, { param: proto });
  try {
    return qs.parse(text, QS_OPTIONS) as Record<string, unknown>;
  } catch (err) {
    if (err instanceof RangeError && /^Parameter limit/.test(err.message))
      throw invalidRequest(`The ${what} has more than ${QS_OPTIONS.parameterLimit} parameters.`);
    if (err instanceof RangeError && /^Array limit/.test(err.message))
      throw invalidRequest(`The ${what} has an array with an index past ${QS_OPTIONS.arrayLimit - 1}: arrays may have at most ${QS_OPTIONS.arrayLimit} items.`);
    throw invalidRequest(`The ${what} could not be parsed: parameters may be nested at most ${QS_OPTIONS.depth} levels deep.`);
  }
}

/**
 * A request path as it may be logged: the hosted page's token
 * (`/verify/{id}/{token}/...`), a file link's token (`/links/{id}/{token}`)
 * and anything shaped like a client secret are masked, since each lets its
 * holder act on the session or read its images.
 */
export function maskPath(path: string): string {
  return path
    .replace(/^(\/(?:verify|links)\/[^/]+\/)[^/]+/, '$1***')
    .replace(/_secret_[^/]*/g, '_secret_***');
}

/** POST parameters: a form body (Stripe's clients send form bodies only). */
export function bodyParams(req: HttpRequest): Record<string, unknown> {
  const type = req.headers['content-type'] ?? '';
  if (req.body.trim() !== '' && /json/i.test(type))
    throw invalidRequest(
      'Request bodies must be form-encoded (Content-Type: application/x-www-form-urlencoded), with nested parameters written as metadata[key]=value.',
    );
  return parseForm(req.body, 'request body');
}

export const queryParams = (req: HttpRequest) => parseForm(req.rawQuery, 'query string');

export function toResult(res: HttpResponse, req: Pick<HttpRequest, 'requestId' | 'headers'>): APIGatewayProxyStructuredResultV2 {
  const headers: Record<string, string> = {
    'content-type': 'application/json',
    'cache-control': 'no-cache, no-store',
    'request-id': req.requestId,
    'stripe-version': req.headers['stripe-version'] ?? API_VERSION,
    ...res.headers,
  };
  if (res.html !== undefined) {
    delete headers['stripe-version'];
    return { statusCode: res.status, headers: { ...headers, 'content-type': 'text/html; charset=utf-8' }, body: res.html };
  }
  return { statusCode: res.status, headers, body: JSON.stringify(res.body, null, 2) };
}

export function errorResponse(err: ApiError): HttpResponse {
  const headers: Record<string, string> = {};
  if (err.shouldRetry !== undefined) headers['stripe-should-retry'] = String(err.shouldRetry);
  return { status: err.status, body: err.toBody(), headers };
}
