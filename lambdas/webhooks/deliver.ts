import http from 'node:http';
import https from 'node:https';
import type { LookupFunction } from 'node:net';
import { type HostLookup, type ResolvedAddress, type UrlCheck, checkEndpointUrl } from './url-policy.js';

/**
 * One delivery attempt: a POST of the event JSON, success only for a 2xx
 * within the timeout. Redirects are not followed (a redirect could lead past
 * the address policy, and Stripe treats them as failures too). Nothing here
 * retries (except sending once more on a new connection when a kept-alive one
 * turns out closed before any answer) or records; the caller decides what an
 * outcome means.
 */

export const DELIVERY_TIMEOUT_MS = 15_000;
/** Read at most this much of a response, so a huge or endless body cannot hold a worker. */
export const MAX_RESPONSE_BYTES = 64 * 1024;
/** The part of the response body kept in the attempt record. */
export const RESPONSE_BODY_CHARS = 1000;
export const USER_AGENT = 'verification-sessions-webhooks/1.0 (self-hosted Stripe-compatible VerificationSession service)';

export interface DeliveryRequest {
  url: string;
  /** The exact bytes that were signed. */
  body: string;
  /** Extra headers, e.g. Stripe-Signature; Content-Type, Content-Length and User-Agent are set here. */
  headers?: Record<string, string>;
  timeoutMs?: number;
  livemode: boolean;
  /** Host resolution for the address check; node:dns by default. */
  lookup?: HostLookup;
  /** Whether test-mode deliveries may go to loopback (see UrlPolicyOptions); default true. */
  allowLoopback?: boolean;
}

export interface DeliveryOutcome {
  ok: boolean;
  statusCode: number | null;
  durationMs: number;
  /** The first RESPONSE_BODY_CHARS characters of the response body. */
  responseBody: string;
  /** Why the attempt failed without an HTTP status, or a redirect; null otherwise. */
  error: string | null;
  /** The response's Retry-After header, as sent. */
  retryAfter: string | null;
}

const RESERVED_HEADERS = new Set(['content-type', 'content-length', 'user-agent', 'host', 'connection', 'transfer-encoding']);

/** Sends `body` to `url` once and describes what happened; never throws for network or HTTP failures. */
export async function deliverOnce(req: DeliveryRequest): Promise<DeliveryOutcome> {
  const started = performance.now();
  const timeoutMs = req.timeoutMs ?? DELIVERY_TIMEOUT_MS;
  const elapsed = () => Math.round(performance.now() - started);
  const failed = (error: string): DeliveryOutcome => ({
    ok: false,
    statusCode: null,
    durationMs: elapsed(),
    responseBody: '',
    error,
    retryAfter: null,
  });

  // Resolve and check now, not only when the endpoint was saved: the name may point elsewhere today.
  const check = await withinTime(checkEndpointUrl(req.url, req.livemode, req.lookup, { allowLoopback: req.allowLoopback }), timeoutMs);
  if (check === undefined) return failed('timeout');
  if (!check.ok) return failed(`blocked address: ${check.reason}`);
  const remainingMs = timeoutMs - (performance.now() - started);
  if (remainingMs <= 0) return failed('timeout');
  const outcome = await post(check, req, remainingMs);
  return { ...outcome, durationMs: elapsed() };
}

function withinTime(check: Promise<UrlCheck>, ms: number): Promise<UrlCheck | undefined> {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<undefined>((resolve) => {
    timer = setTimeout(() => resolve(undefined), ms);
  });
  return Promise.race([check, expired]).finally(() => clearTimeout(timer));
}

/**
 * A lookup for http.request that answers with the addresses already checked,
 * so the connection goes where the policy looked and DNS is not asked again.
 * The host name itself still goes out as Host and as TLS SNI, so certificates
 * are verified against it.
 */
function pinnedLookup(addresses: ResolvedAddress[]): LookupFunction {
  return (_hostname, options, callback) => {
    const wanted = options.family === 4 || options.family === 'IPv4' ? 4 : options.family === 6 || options.family === 'IPv6' ? 6 : 0;
    const usable = addresses.filter((a) => wanted === 0 || a.family === wanted);
    if (usable.length === 0) {
      const err: NodeJS.ErrnoException = new Error(`no checked IPv${wanted} address`);
      err.code = 'ENOTFOUND';
      callback(err, '');
    } else if (options.all) callback(null, usable);
    else callback(null, usable[0].address, usable[0].family);
  };
}

/** Idle keep-alive connections are closed after this long (below the 5 s keep-alive timeout of Node's servers). */
export const IDLE_CONNECTION_MS = 4000;
/** Connection pools kept at once, one per (scheme, host, port, checked addresses); the least recently used goes first. */
const MAX_POOLS = 64;
const pools = new Map<string, http.Agent>();

/**
 * The keep-alive pool for a checked URL. The key holds the addresses the policy
 * checked this time, so a connection is only reused towards an address checked
 * now: when the name resolves elsewhere, the key differs and a new connection is
 * made through the pinned lookup. Reusing connections saves a TCP (and TLS)
 * handshake per attempt to the same endpoint.
 */
function poolFor(check: Extract<UrlCheck, { ok: true }>): http.Agent {
  const addresses = check.addresses.map((a) => `${a.family}/${a.address}`).sort().join(',');
  const key = `${check.url.protocol}//${check.url.host}|${addresses}`;
  let agent = pools.get(key);
  if (agent) pools.delete(key); // re-inserted last: the map's order is the use order
  else {
    const options = { keepAlive: true, timeout: IDLE_CONNECTION_MS, maxFreeSockets: 16, scheduling: 'lifo' as const };
    agent = check.url.protocol === 'https:' ? new https.Agent(options) : new http.Agent(options);
    if (pools.size >= MAX_POOLS) {
      const [oldest, old] = pools.entries().next().value!;
      pools.delete(oldest);
      old.destroy();
    }
  }
  pools.set(key, agent);
  return agent;
}

/** Closes every pooled connection (tests, shutdown). */
export function closeDeliveryConnections(): void {
  for (const agent of pools.values()) agent.destroy();
  pools.clear();
}

async function post(check: Extract<UrlCheck, { ok: true }>, req: DeliveryRequest, timeoutMs: number): Promise<Omit<DeliveryOutcome, 'durationMs'>> {
  const started = performance.now();
  const first = await postOn(check, req, timeoutMs);
  // A pooled connection the endpoint closed while it was idle fails before any answer: once, on a new connection.
  if (!first.staleConnection) return first.outcome;
  return (await postOn(check, req, timeoutMs - (performance.now() - started))).outcome;
}

function postOn(
  check: Extract<UrlCheck, { ok: true }>,
  req: DeliveryRequest,
  timeoutMs: number,
): Promise<{ outcome: Omit<DeliveryOutcome, 'durationMs'>; staleConnection: boolean }> {
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(req.headers ?? {})) if (!RESERVED_HEADERS.has(name.toLowerCase())) headers[name] = value;
  headers['Content-Type'] = 'application/json';
  headers['Content-Length'] = String(Buffer.byteLength(req.body));
  headers['User-Agent'] = USER_AGENT;

  return new Promise((resolve) => {
    let settled = false;
    let statusCode: number | null = null;
    let retryAfter: string | null = null;
    const chunks: Buffer[] = [];
    let received = 0;
    const bodyText = () => Buffer.concat(chunks).toString('utf8').slice(0, RESPONSE_BODY_CHARS);

    /** `reusable`: the response was read to its end, so the connection may serve the next attempt. */
    const finish = (ok: boolean, error: string | null, reusable = false, staleConnection = false) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve({ outcome: { ok, statusCode, responseBody: bodyText(), error, retryAfter }, staleConnection });
      if (!reusable) request.destroy();
    };

    const client = check.url.protocol === 'https:' ? https : http;
    const request = client.request(
      check.url,
      // The pool's new connections are made through the pinned lookup: to an address just checked.
      { method: 'POST', headers, agent: poolFor(check), lookup: pinnedLookup(check.addresses) },
      (res) => {
        statusCode = res.statusCode ?? null;
        retryAfter = res.headers['retry-after'] ?? null;
        const done = (reusable: boolean) => {
          const code = statusCode ?? 0;
          if (code >= 300 && code < 400) finish(false, `redirect to ${res.headers.location ?? '(no Location header)'}`, reusable);
          else finish(code >= 200 && code < 300, null, reusable);
        };
        res.on('data', (chunk: Buffer) => {
          if (received < MAX_RESPONSE_BYTES) chunks.push(chunk.subarray(0, MAX_RESPONSE_BYTES - received));
          received += chunk.length;
          if (received >= MAX_RESPONSE_BYTES) done(false); // enough read; finish() closes the connection
        });
        res.on('end', () => done(true));
        res.on('error', (err) => finish(false, describeError(err)));
      },
    );
    const timer = setTimeout(() => finish(false, 'timeout'), Math.max(1, timeoutMs));
    request.on('error', (err: NodeJS.ErrnoException) =>
      finish(false, describeError(err), false, request.reusedSocket && statusCode === null && (err.code === 'ECONNRESET' || err.code === 'EPIPE')),
    );
    request.end(req.body);
  });
}

/** A short, stable description of a network failure for the attempt record. */
export function describeError(err: NodeJS.ErrnoException): string {
  const code = err.code ?? '';
  if (code === 'ECONNREFUSED') return 'connection refused';
  if (code === 'ECONNRESET' || code === 'EPIPE') return `connection reset (${err.message})`;
  if (code === 'ETIMEDOUT') return 'timeout';
  if (code === 'EHOSTUNREACH' || code === 'ENETUNREACH') return 'host unreachable';
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') return `dns error: ${err.message}`;
  if (/^(ERR_TLS_|ERR_SSL_|ERR_OSSL_|EPROTO$)|CERT|SELF_SIGNED|UNABLE_TO_VERIFY/.test(code)) return `tls error: ${tlsReason(err.message)}`;
  return `connection error: ${code || err.message}`;
}

/** OpenSSL's reason ("wrong version number") out of its error line; other TLS messages are already short. */
function tlsReason(message: string): string {
  const openssl = /error:[0-9A-F]+:[^:]*:[^:]*:([^:]+)/.exec(message);
  return (openssl ? openssl[1] : message).trim();
}
