import { type IncomingMessage, type Server, type ServerResponse, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ReceiveMessageCommand } from '@aws-sdk/client-sqs';
import Stripe from 'stripe';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { newAccountId } from '../../lambdas/domain/ids.js';
import { ApiKeyStore, newSecretKey } from '../../lambdas/store/api-keys.js';
import { DeliveryStore } from '../../lambdas/store/delivery-store.js';
import type { ResolvedAddress } from '../../lambdas/webhooks/url-policy.js';
import { type ApiResult, type TestService, request, startTestService } from '../support/api.js';
import { until } from '../support/until.js';

// The whole pipeline on one machine: API -> table stream -> publisher -> bus ->
// webhooks queue -> fan-out -> delivery queue -> worker -> receivers on 127.0.0.1.
// The test-mode retry schedule is compressed to seconds, without jitter.
const SCHEDULE = { live: [1, 1], test: [1, 2, 1, 2, 1] };
const ATTEMPT_TIMEOUT_MS = 1000;

/** Host names the URL policy resolves in these tests; anything else does not resolve. */
const DNS: Record<string, string> = { 'hooks.example.com': '93.184.215.14', 'rebind.example.com': '127.0.0.1', 'intranet.example.com': '10.1.2.3' };
const lookup = async (host: string): Promise<ResolvedAddress[]> => {
  const address = DNS[host];
  if (!address) throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${host}`), { code: 'ENOTFOUND' });
  return [{ address, family: 4 }];
};

let svc: TestService;
let deliveries: DeliveryStore;

beforeAll(async () => {
  svc = await startTestService({ webhooks: { schedule: SCHEDULE, random: () => 0.5, timeoutMs: ATTEMPT_TIMEOUT_MS, lookup } });
  deliveries = new DeliveryStore(svc.doc, svc.tableName);
});
afterAll(() => svc?.stop());

// ---- helpers ---------------------------------------------------------------

interface Received {
  at: number;
  headers: IncomingMessage['headers'];
  body: string;
}

type Respond = (n: number, req: IncomingMessage, res: ServerResponse) => void;
const servers: Server[] = [];

/** A webhook receiver on 127.0.0.1; `respond` gets the 0-based index of each request. */
async function receiver(respond: Respond = (_n, _req, res) => res.writeHead(200).end('ok')) {
  const received: Received[] = [];
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString('utf8')));
    req.on('end', () => {
      received.push({ at: Date.now(), headers: req.headers, body });
      respond(received.length - 1, req, res);
    });
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    server,
    port,
    url: `http://127.0.0.1:${port}/hook`,
    received,
    events: () => received.map((r) => JSON.parse(r.body) as Stripe.Event),
  };
}

afterEach(async () => {
  for (const s of servers.splice(0)) {
    s.closeAllConnections();
    await new Promise((resolve) => s.close(resolve));
  }
});

/** A fresh account (its own key) so each test sees only its own endpoints and events. */
async function account(livemode = false) {
  const key = newSecretKey(livemode);
  const id = newAccountId();
  await new ApiKeyStore(svc.doc, svc.tableName).register(key, id);
  const stripe = new Stripe(key, { host: '127.0.0.1', port: svc.port, protocol: 'http', maxNetworkRetries: 0 });
  const call = (method: string, path: string, form?: string, headers?: Record<string, string>): Promise<ApiResult> =>
    request(svc.baseUrl, key, method, path, form, headers);
  return { key, account: id, stripe, call };
}


const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function eventOf(call: Awaited<ReturnType<typeof account>>['call'], type: string) {
  const r = await until('the event', () => call('GET', `/v1/events?type=${type}`), (r) => r.body.data.length > 0);
  return r.body.data[0];
}

// ---- endpoints API -----------------------------------------------------------

describe('webhook endpoints API', () => {
  it('works through stripe.webhookEndpoints: create, retrieve, update, list, delete', async () => {
    const { stripe } = await account();
    const created = await stripe.webhookEndpoints.create({
      url: 'http://127.0.0.1:9/a',
      enabled_events: ['identity.verification_session.verified', 'identity.verification_session.requires_input'],
      description: 'outcomes',
      metadata: { team: 'kyc' },
    });
    expect(created).toMatchObject({
      object: 'webhook_endpoint',
      url: 'http://127.0.0.1:9/a',
      status: 'enabled',
      livemode: false,
      description: 'outcomes',
      metadata: { team: 'kyc' },
      enabled_events: ['identity.verification_session.verified', 'identity.verification_session.requires_input'],
    });
    expect(created.id).toMatch(/^we_/);
    expect(created.secret).toMatch(/^whsec_/);

    const got = await stripe.webhookEndpoints.retrieve(created.id);
    expect(got.secret).toBeUndefined();
    const { lastResponse: _got, ...gotFields } = got;
    const { lastResponse: _created, secret: _secret, ...createdFields } = created;
    expect(gotFields).toEqual(createdFields);

    const updated = await stripe.webhookEndpoints.update(created.id, {
      url: 'http://127.0.0.1:9/b',
      enabled_events: ['*'],
      description: '',
      metadata: { team: '', owner: 'ops' },
      disabled: true,
    });
    expect(updated).toMatchObject({ url: 'http://127.0.0.1:9/b', enabled_events: ['*'], description: null, status: 'disabled' });
    expect(updated.metadata).toEqual({ owner: 'ops' }); // `team: ''` unset the key
    expect((await stripe.webhookEndpoints.retrieve(created.id)).metadata).toEqual({ owner: 'ops' });
    expect(updated.secret).toBeUndefined();
    expect((await stripe.webhookEndpoints.update(created.id, { disabled: false })).status).toBe('enabled');

    const second = await stripe.webhookEndpoints.create({ url: 'http://127.0.0.1:9/c', enabled_events: ['*'] });
    const third = await stripe.webhookEndpoints.create({ url: 'http://127.0.0.1:9/d', enabled_events: ['*'] });
    const page = await stripe.webhookEndpoints.list({ limit: 2 });
    expect(page.data.map((e) => e.id)).toEqual([third.id, second.id]);
    expect(page.has_more).toBe(true);
    const all: string[] = [];
    for await (const e of stripe.webhookEndpoints.list({ limit: 2 })) all.push(e.id);
    expect(all).toEqual([third.id, second.id, created.id]);

    const { lastResponse: _deleted, ...deleted } = await stripe.webhookEndpoints.del(second.id);
    expect(deleted).toEqual({ id: second.id, object: 'webhook_endpoint', deleted: true });
    await expect(stripe.webhookEndpoints.retrieve(second.id)).rejects.toMatchObject({ statusCode: 404, code: 'resource_missing', param: 'id' });
    await expect(stripe.webhookEndpoints.del(second.id)).rejects.toMatchObject({ statusCode: 404 });
    await expect(stripe.webhookEndpoints.update(second.id, { description: 'x' })).rejects.toMatchObject({ statusCode: 404 });
    const after: string[] = [];
    for await (const e of stripe.webhookEndpoints.list()) after.push(e.id);
    expect(after).toEqual([third.id, created.id]);
  });

  it('names the parameter at fault', async () => {
    const { stripe } = await account();
    await expect(
      stripe.webhookEndpoints.create({ url: 'http://127.0.0.1:9/x', enabled_events: ['identity.verification_session.verified', 'charge.succeeded' as never] }),
    ).rejects.toMatchObject({ statusCode: 400, param: 'enabled_events[1]', message: expect.stringContaining('identity.verification_session.redacted') });
    await expect(stripe.webhookEndpoints.create({ url: 'http://127.0.0.1:9/x' } as never)).rejects.toMatchObject({ code: 'parameter_missing', param: 'enabled_events' });
    await expect(stripe.webhookEndpoints.create({ url: 'ftp://127.0.0.1/x', enabled_events: ['*'] })).rejects.toMatchObject({ param: 'url' });
    // No Connect here: connect=true is refused by name (connect=false is accepted).
    await expect(stripe.webhookEndpoints.create({ url: 'http://127.0.0.1:9/x', enabled_events: ['*'], connect: true })).rejects.toMatchObject({
      statusCode: 400,
      param: 'connect',
    });
    const off = await stripe.webhookEndpoints.create({ url: 'http://127.0.0.1:9/x', enabled_events: ['*'], connect: false });
    expect(off.object).toBe('webhook_endpoint');
  });

  it('honours Idempotency-Key on create, update and delete', async () => {
    const { call } = await account();
    const form = 'url=http://127.0.0.1:9/idem&enabled_events[]=*';
    const first = await call('POST', '/v1/webhook_endpoints', form, { 'idempotency-key': 'we-create-1' });
    const again = await call('POST', '/v1/webhook_endpoints', form, { 'idempotency-key': 'we-create-1' });
    expect(again.status).toBe(200);
    expect(again.headers.get('idempotent-replayed')).toBe('true');
    expect(again.body).toEqual(first.body);
    expect((await call('GET', '/v1/webhook_endpoints')).body.data).toHaveLength(1);
    const other = await call('POST', '/v1/webhook_endpoints', 'url=http://127.0.0.1:9/other&enabled_events[]=*', { 'idempotency-key': 'we-create-1' });
    expect(other.status).toBe(400);
    expect(other.body.error.type).toBe('idempotency_error');

    const id = first.body.id;
    const upd = await call('POST', `/v1/webhook_endpoints/${id}`, 'description=one', { 'idempotency-key': 'we-upd-1' });
    await call('POST', `/v1/webhook_endpoints/${id}`, 'description=two');
    const updAgain = await call('POST', `/v1/webhook_endpoints/${id}`, 'description=one', { 'idempotency-key': 'we-upd-1' });
    expect(updAgain.body).toEqual(upd.body);
    expect(updAgain.headers.get('idempotent-replayed')).toBe('true');
    expect((await call('GET', `/v1/webhook_endpoints/${id}`)).body.description).toBe('two');

    const del = await call('DELETE', `/v1/webhook_endpoints/${id}`, undefined, { 'idempotency-key': 'we-del-1' });
    const delAgain = await call('DELETE', `/v1/webhook_endpoints/${id}`, undefined, { 'idempotency-key': 'we-del-1' });
    expect(del.body).toEqual({ id, object: 'webhook_endpoint', deleted: true });
    expect(delAgain.status).toBe(200);
    expect(delAgain.headers.get('idempotent-replayed')).toBe('true');
    expect((await call('DELETE', `/v1/webhook_endpoints/${id}`)).status).toBe(404);
  });

  it('allows 16 endpoints per account and mode, also when created all at once, and refuses the 17th', async () => {
    const { stripe, call } = await account();
    const results = await Promise.allSettled(
      Array.from({ length: 20 }, (_, i) => stripe.webhookEndpoints.create({ url: `http://127.0.0.1:9/n${i}`, enabled_events: ['*'] })),
    );
    const made = results.filter((r) => r.status === 'fulfilled').map((r) => (r as PromiseFulfilledResult<Stripe.WebhookEndpoint>).value);
    const refused = results.filter((r) => r.status === 'rejected').map((r) => (r as PromiseRejectedResult).reason);
    expect(made).toHaveLength(16);
    expect(refused).toHaveLength(4);
    for (const err of refused) expect(err).toMatchObject({ statusCode: 400, code: 'webhook_endpoint_limit_reached', message: expect.stringMatching(/maximum of 16/) });
    const r17 = await call('POST', '/v1/webhook_endpoints', 'url=http://127.0.0.1:9/17&enabled_events[]=*');
    expect(r17.status).toBe(400);
    // Deleting one frees a place; another account is not affected at all.
    await stripe.webhookEndpoints.del(made[0]!.id);
    expect((await call('POST', '/v1/webhook_endpoints', 'url=http://127.0.0.1:9/17&enabled_events[]=*')).status).toBe(200);
    expect((await call('POST', '/v1/webhook_endpoints', 'url=http://127.0.0.1:9/18&enabled_events[]=*')).status).toBe(400);
    const other = await account();
    expect((await other.call('POST', '/v1/webhook_endpoints', 'url=http://127.0.0.1:9/x&enabled_events[]=*')).status).toBe(200);
    expect((await other.call('GET', `/v1/webhook_endpoints/${made[1]!.id}`)).status).toBe(404);
  });

  it('refuses live-mode endpoints on loopback, metadata, private addresses or plain http', async () => {
    const live = await account(true);
    const refused = async (url: string, pattern: RegExp) => {
      const r = await live.call('POST', '/v1/webhook_endpoints', `url=${encodeURIComponent(url)}&enabled_events[]=*`);
      expect(r.status, url).toBe(400);
      expect(r.body.error).toMatchObject({ type: 'invalid_request_error', param: 'url' });
      expect(r.body.error.message).toMatch(pattern);
    };
    await refused('https://127.0.0.1/hook', /127\.0\.0\.1 is a loopback address/);
    await refused('https://169.254.169.254/latest/meta-data/', /169\.254\.169\.254 is a link-local address/);
    await refused('https://localhost:8443/hook', /loopback/);
    await refused('https://[::1]/hook', /loopback/);
    await refused('https://10.0.0.8/hook', /private/);
    // A name's refusal never echoes the address it resolved to.
    await refused('https://rebind.example.com/hook', /^(?!.*127\.0\.0\.1).*rebind\.example\.com resolves to a loopback address/);
    await refused('https://intranet.example.com/hook', /^(?!.*10\.1\.2\.3).*intranet\.example\.com resolves to a private address/);
    await refused('https://metadata.google.internal/computeMetadata/v1/', /internal or metadata/);
    await refused('https://nowhere.example.com/hook', /could not be resolved/);
    await refused('http://hooks.example.com/hook', /https/);
    const ok = await live.call('POST', '/v1/webhook_endpoints', 'url=https://hooks.example.com/hook&enabled_events[]=*');
    expect(ok.status).toBe(200);
    expect(ok.body.livemode).toBe(true);
    // An update is checked the same way.
    const upd = await live.call('POST', `/v1/webhook_endpoints/${ok.body.id}`, 'url=https://169.254.169.254/');
    expect(upd.status).toBe(400);
    expect(upd.body.error.param).toBe('url');

    const test = await account(false);
    expect((await test.call('POST', '/v1/webhook_endpoints', 'url=http://169.254.169.254/&enabled_events[]=*')).status).toBe(400);
    expect((await test.call('POST', '/v1/webhook_endpoints', 'url=http://192.168.1.1/&enabled_events[]=*')).status).toBe(400);
    expect((await test.call('POST', '/v1/webhook_endpoints', 'url=http://127.0.0.1:4242/&enabled_events[]=*')).status).toBe(200);
    // Live and test endpoints are separate lists.
    expect((await live.call('GET', '/v1/webhook_endpoints')).body.data).toHaveLength(1);
  });
});

// ---- delivery ----------------------------------------------------------------

describe('delivery', () => {
  it('signs every delivery so that stripe.webhooks.constructEvent accepts it, and rejects a tampered body', async () => {
    const { stripe, call } = await account();
    const r = await receiver();
    const endpoint = await stripe.webhookEndpoints.create({ url: r.url, enabled_events: ['*'] });
    const session = await stripe.identity.verificationSessions.create({ type: 'document' });
    await stripe.identity.verificationSessions.cancel(session.id);
    await until('two deliveries', () => r.received.length, (n) => n >= 2);

    for (const got of r.received) {
      expect(got.headers['content-type']).toBe('application/json');
      expect(got.headers['user-agent']).toMatch(/^verification-sessions-webhooks\//);
      const signature = got.headers['stripe-signature'] as string;
      expect(signature).toMatch(/^t=\d+,v1=[0-9a-f]{64}$/);
      const event = stripe.webhooks.constructEvent(got.body, signature, endpoint.secret!);
      expect(event.data.object).toMatchObject({ id: session.id });
      const tampered = got.body.replace(session.id, `${session.id.slice(0, -1)}${session.id.endsWith('X') ? 'Y' : 'X'}`);
      expect(() => stripe.webhooks.constructEvent(tampered, signature, endpoint.secret!)).toThrow(Stripe.errors.StripeSignatureVerificationError);
      expect(() => stripe.webhooks.constructEvent(got.body, signature, 'whsec_wrong')).toThrow(Stripe.errors.StripeSignatureVerificationError);
    }
    const types = r.events().map((e) => e.type).sort();
    expect(types).toEqual(['identity.verification_session.canceled', 'identity.verification_session.created']);

    // The body is the stored event; once delivered, nothing is pending.
    const created = r.events().find((e) => e.type.endsWith('.created'))!;
    const stored = await until('pending_webhooks 0', () => call('GET', `/v1/events/${created.id}`), (x) => x.body.pending_webhooks === 0);
    expect({ ...created, pending_webhooks: 0 }).toEqual(stored.body);
    const ok = await call('GET', '/v1/events?delivery_success=true');
    expect(ok.body.data.map((e: Stripe.Event) => e.id)).toContain(created.id);
    expect((await call('GET', '/v1/events?delivery_success=false')).body.data).toEqual([]);
  });

  it('retries a receiver that fails with 500, a timeout, a refused connection and a 302, and delivers on attempt 5 on schedule', async () => {
    const { stripe, call, account: accountId } = await account();
    const hanging: ServerResponse[] = [];
    const r = await receiver((n, _req, res) => {
      if (n === 0) res.writeHead(500).end('boom');
      else if (n === 1) {
        hanging.push(res); // never answers: the attempt times out
        r.server.close(); // and nothing listens for attempt 3: connection refused
      } else if (n === 2) res.writeHead(302, { location: 'https://elsewhere.example.com/' }).end();
      else res.writeHead(200).end('finally');
    });
    const endpoint = await stripe.webhookEndpoints.create({ url: r.url, enabled_events: ['identity.verification_session.created'] });
    await stripe.identity.verificationSessions.create({ type: 'document' });
    const event = await eventOf(call, 'identity.verification_session.created');
    const list = () => call('GET', `/v1/events/${event.id}/webhook_deliveries`);

    // While it is retried, the event counts as not delivered.
    const retrying = await until('attempt 1', list, (x) => x.body.data[0]?.attempt_count >= 1);
    expect(retrying.body.data[0]).toMatchObject({ status: 'pending', webhook_endpoint: endpoint.id });
    expect((await call('GET', '/v1/events?delivery_success=false')).body.data.map((e: Stripe.Event) => e.id)).toEqual([event.id]);
    expect((await call('GET', `/v1/events/${event.id}`)).body.pending_webhooks).toBe(1);

    // Listen again on the same port once attempt 3 has been refused.
    await until('attempt 3', list, (x) => x.body.data[0]?.attempt_count >= 3);
    for (const res of hanging) res.destroy();
    await new Promise<void>((resolve) => r.server.listen(r.port, '127.0.0.1', resolve));

    const done = await until('success', list, (x) => x.body.data[0]?.status === 'succeeded');
    const delivery = done.body.data[0];
    const attempts = [...delivery.attempts].reverse();
    expect(attempts.map((a: any) => [a.attempt, a.status_code, a.error, a.succeeded])).toEqual([
      [1, 500, 'HTTP 500', false],
      [2, null, 'timeout', false],
      [3, null, 'connection refused', false],
      [4, 302, 'redirect to https://elsewhere.example.com/', false],
      [5, 200, null, true],
    ]);
    expect(attempts[0].response_body).toBe('boom');
    expect(attempts[4].response_body).toBe('finally');
    expect(r.received).toHaveLength(4); // attempt 3 never reached it

    // Each retry came when the schedule said: the wait after attempt k is SCHEDULE.test[k-1] seconds.
    const record = (await deliveries.get({ account: accountId, livemode: false }, event.id, endpoint.id))!;
    for (let k = 0; k < 4; k++) {
      const a = record.attempts[k]!;
      const next = record.attempts[k + 1]!;
      const wait = a.next_attempt_ms! - (a.started_ms + a.duration_ms);
      // started_ms and duration_ms are each rounded to the millisecond: allow for that.
      expect(wait, `wait after attempt ${k + 1}`).toBeGreaterThanOrEqual(SCHEDULE.test[k]! * 1000 - 2);
      expect(wait, `wait after attempt ${k + 1}`).toBeLessThan(SCHEDULE.test[k]! * 1000 + 100);
      expect(next.started_ms - a.next_attempt_ms!, `attempt ${k + 2} is late`).toBeGreaterThanOrEqual(0);
      // How soon after its time an attempt starts is the local runtime's (SQS emulator, pollers): well under a
      // second on a quiet machine, up to 1.5 s measured on a 2-core machine at a load average of 11.
      expect(next.started_ms - a.next_attempt_ms!, `attempt ${k + 2} is late`).toBeLessThan(2500);
    }
    // Every delivery was signed afresh and verifies.
    const stamps = r.received.map((g) => Number(/t=(\d+)/.exec(g.headers['stripe-signature'] as string)![1]));
    expect(stamps[3]! - stamps[0]!).toBeGreaterThanOrEqual(5);
    for (const g of r.received) expect(stripe.webhooks.constructEvent(g.body, g.headers['stripe-signature'] as string, endpoint.secret!).id).toBe(event.id);

    expect((await call('GET', `/v1/events/${event.id}`)).body.pending_webhooks).toBe(0);
    expect((await call('GET', '/v1/events?delivery_success=false')).body.data).toEqual([]);
    const flat = await call('GET', `/v1/events/${event.id}/webhook_attempts`);
    expect(flat.body.data.map((a: any) => a.attempt)).toEqual([5, 4, 3, 2, 1]);
  });

  it('sends the redacted event only to endpoints that name it, never to * endpoints', async () => {
    const { stripe, call } = await account();
    const all = await receiver();
    const redactedOnly = await receiver();
    const both = await receiver();
    await stripe.webhookEndpoints.create({ url: all.url, enabled_events: ['*'] });
    await stripe.webhookEndpoints.create({ url: redactedOnly.url, enabled_events: ['identity.verification_session.redacted'] });
    await stripe.webhookEndpoints.create({
      url: both.url,
      enabled_events: ['identity.verification_session.canceled', 'identity.verification_session.redacted'],
    });
    const session = await stripe.identity.verificationSessions.create({ type: 'document' });
    await stripe.identity.verificationSessions.redact(session.id);
    await until('deliveries', () => [all.received.length, redactedOnly.received.length, both.received.length], ([a, r, b]) => a >= 2 && r >= 1 && b >= 2);
    // Every event of the session is stored by now; give any stray delivery time to arrive.
    const redacted = await eventOf(call, 'identity.verification_session.redacted');
    await until('the redacted event delivered', () => call('GET', `/v1/events/${redacted.id}`), (x) => x.body.pending_webhooks === 0);
    await sleep(500);
    const types = (r: Awaited<ReturnType<typeof receiver>>) => r.events().map((e) => e.type.replace('identity.verification_session.', '')).sort();
    expect(types(all)).toEqual(['canceled', 'created']);
    expect(types(redactedOnly)).toEqual(['redacted']);
    expect(types(both)).toEqual(['canceled', 'redacted']);
  });

  it('stops retrying when the endpoint is deleted or disabled', async () => {
    const { stripe, call } = await account();
    const down = await receiver((_n, _req, res) => res.writeHead(503).end('down'));
    const deleted = await stripe.webhookEndpoints.create({ url: down.url, enabled_events: ['identity.verification_session.created'] });
    const disabled = await stripe.webhookEndpoints.create({ url: down.url, enabled_events: ['identity.verification_session.created'] });
    await stripe.identity.verificationSessions.create({ type: 'document' });
    const event = await eventOf(call, 'identity.verification_session.created');
    const list = () => call('GET', `/v1/events/${event.id}/webhook_deliveries`);
    await until('a failed attempt to each', list, (x) => x.body.data.length === 2 && x.body.data.every((d: any) => d.attempt_count >= 1));
    expect((await call('GET', `/v1/events/${event.id}`)).body.pending_webhooks).toBe(2);
    await stripe.webhookEndpoints.del(deleted.id);
    await stripe.webhookEndpoints.update(disabled.id, { disabled: true });
    const stopped = await until('both stopped', list, (x) => x.body.data.every((d: any) => d.status === 'canceled'));
    const byEndpoint = Object.fromEntries(stopped.body.data.map((d: any) => [d.webhook_endpoint, d]));
    expect(byEndpoint[deleted.id]).toMatchObject({ status_reason: 'The webhook endpoint was deleted.', attempt_count: 1, next_attempt: null });
    expect(byEndpoint[disabled.id]).toMatchObject({ status_reason: 'The webhook endpoint is disabled.', attempt_count: 1 });
    const received = down.received.length;
    expect(received).toBe(2);
    await sleep(2500); // longer than the next scheduled wait
    expect(down.received.length).toBe(received);
    // The deleted endpoint no longer counts as pending; the disabled one still does (it can be re-enabled and resent).
    expect((await call('GET', `/v1/events/${event.id}`)).body.pending_webhooks).toBe(1);
  });

  it('moves a delivery whose schedule is spent to the dead-letter queue with its history, and resends it on request', async () => {
    const { stripe, call } = await account();
    let up = false;
    const r = await receiver((_n, _req, res) => (up ? res.writeHead(204).end() : res.writeHead(503, { 'retry-after': '1' }).end('down for maintenance')));
    const endpoint = await stripe.webhookEndpoints.create({ url: r.url, enabled_events: ['identity.verification_session.created'] });
    await stripe.identity.verificationSessions.create({ type: 'document' });
    const event = await eventOf(call, 'identity.verification_session.created');
    const list = () => call('GET', `/v1/events/${event.id}/webhook_deliveries`);
    const failed = await until('schedule spent', list, (x) => x.body.data[0]?.status === 'failed', 25_000);
    const attempts = SCHEDULE.test.length + 1;
    expect(failed.body.data[0]).toMatchObject({
      attempt_count: attempts,
      next_attempt: null,
      status_reason: `The retry schedule is spent: ${attempts} attempts failed, the last with HTTP 503.`,
    });
    expect(r.received).toHaveLength(attempts);

    const dead = await until(
      'the dead-letter message',
      async () => {
        const m = await svc.queues.client.send(
          new ReceiveMessageCommand({ QueueUrl: svc.webhooks.deliveryDeadLetterQueueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 0, VisibilityTimeout: 0 }),
        );
        return (m.Messages ?? []).map((x) => JSON.parse(x.Body!)).find((b) => b.delivery?.event === event.id);
      },
      (b) => b !== undefined,
    );
    expect(dead.reason).toBe(failed.body.data[0].status_reason);
    expect(dead.delivery).toMatchObject({ id: failed.body.data[0].id, webhook_endpoint: endpoint.id, status: 'failed' });
    expect(dead.delivery.attempts).toHaveLength(attempts);
    for (const a of dead.delivery.attempts) expect(a).toMatchObject({ status_code: 503, response_body: 'down for maintenance', succeeded: false });
    // Not delivered: still pending for the event.
    expect((await call('GET', '/v1/events?delivery_success=false')).body.data.map((e: Stripe.Event) => e.id)).toEqual([event.id]);

    // Resend (as the Stripe CLI's `stripe events resend` does): a new attempt now, with a fresh schedule.
    up = true;
    const resend = await call('POST', `/v1/events/${event.id}/retry`, `webhook_endpoint=${endpoint.id}`);
    expect(resend.status).toBe(200);
    expect(resend.body).toMatchObject({ object: 'webhook_delivery', status: 'pending', webhook_endpoint: endpoint.id });
    const delivered = await until('resent', list, (x) => x.body.data[0]?.status === 'succeeded');
    expect(delivered.body.data[0].attempt_count).toBe(attempts + 1);
    expect(delivered.body.data[0].attempts[0]).toMatchObject({ attempt: attempts + 1, status_code: 204, succeeded: true });
    expect((await call('GET', `/v1/events/${event.id}`)).body.pending_webhooks).toBe(0);
    expect(r.received).toHaveLength(attempts + 1);

    const missing = await call('POST', `/v1/events/${event.id}/retry`, 'webhook_endpoint=we_0VcOo7DUEH5l9i5xvLMLHHyN');
    expect(missing.status).toBe(404);
    expect(missing.body.error.param).toBe('webhook_endpoint');
    expect((await call('POST', `/v1/events/${event.id}/retry`)).body.error).toMatchObject({ code: 'parameter_missing', param: 'webhook_endpoint' });
  });
});
