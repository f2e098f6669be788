import { type IncomingMessage, type Server, type ServerResponse, createServer } from 'node:http';
import { type AddressInfo, type Socket, createServer as createTcpServer } from 'node:net';
import Stripe from 'stripe';
import { afterEach, describe, expect, it } from 'vitest';
import { newWebhookSecret } from '../../lambdas/domain/webhook-endpoint.js';
import { RESPONSE_BODY_CHARS, USER_AGENT, closeDeliveryConnections, deliverOnce } from '../../lambdas/webhooks/deliver.js';
import { signPayload } from '../../lambdas/webhooks/signing.js';
import type { HostLookup } from '../../lambdas/webhooks/url-policy.js';

// Real receivers on 127.0.0.1, in test mode (the only mode that may reach loopback).

interface Received {
  method: string;
  url: string;
  headers: IncomingMessage['headers'];
  body: string;
}

const servers: Server[] = [];

async function receiver(handle: (req: IncomingMessage, res: ServerResponse) => void) {
  const received: Received[] = [];
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString('utf8')));
    req.on('end', () => {
      received.push({ method: req.method!, url: req.url!, headers: req.headers, body });
      handle(req, res);
    });
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return { port, url: `http://127.0.0.1:${port}/hook`, received };
}

afterEach(async () => {
  closeDeliveryConnections();
  for (const s of servers.splice(0)) {
    s.closeAllConnections();
    await new Promise((resolve) => s.close(resolve));
  }
});

const body = JSON.stringify({ id: 'evt_1', object: 'event', type: 'identity.verification_session.verified' });

describe('deliverOnce', () => {
  it('posts the JSON with the signature, and a 200 is a success', async () => {
    const r = await receiver((_req, res) => res.writeHead(200, { 'content-type': 'text/plain' }).end('thanks'));
    const secret = newWebhookSecret();
    const signature = signPayload(body, [secret], Math.floor(Date.now() / 1000));
    const out = await deliverOnce({ url: r.url, body, headers: { 'Stripe-Signature': signature }, livemode: false });

    expect(out).toMatchObject({ ok: true, statusCode: 200, responseBody: 'thanks', error: null, retryAfter: null });
    expect(out.durationMs).toBeGreaterThanOrEqual(0);
    expect(r.received).toHaveLength(1);
    const [got] = r.received;
    expect(got.method).toBe('POST');
    expect(got.url).toBe('/hook');
    expect(got.body).toBe(body);
    expect(got.headers['content-type']).toBe('application/json');
    expect(got.headers['user-agent']).toBe(USER_AGENT);
    expect(got.headers['stripe-signature']).toBe(signature);
    expect(new Stripe('sk_test_x').webhooks.constructEvent(got.body, got.headers['stripe-signature']!, secret).id).toBe('evt_1');
  });

  it('does not let extra headers replace the content type', async () => {
    const r = await receiver((_req, res) => res.writeHead(204).end());
    const out = await deliverOnce({ url: r.url, body, headers: { 'content-type': 'text/plain', 'X-Extra': '1' }, livemode: false });
    expect(out.ok).toBe(true);
    expect(r.received[0].headers['content-type']).toBe('application/json');
    expect(r.received[0].headers['x-extra']).toBe('1');
  });

  it('reports a 500 as a failure with the body truncated', async () => {
    const r = await receiver((_req, res) => res.writeHead(500).end('e'.repeat(5000)));
    const out = await deliverOnce({ url: r.url, body, livemode: false });
    expect(out).toMatchObject({ ok: false, statusCode: 500, error: null });
    expect(out.responseBody).toBe('e'.repeat(RESPONSE_BODY_CHARS));
  });

  it('treats a 302 as a failure and does not follow it', async () => {
    const r = await receiver((_req, res) => res.writeHead(302, { location: '/elsewhere' }).end());
    const out = await deliverOnce({ url: r.url, body, livemode: false });
    expect(out).toMatchObject({ ok: false, statusCode: 302, error: 'redirect to /elsewhere' });
    expect(r.received.map((x) => x.url)).toEqual(['/hook']);
  });

  it('captures Retry-After', async () => {
    const r = await receiver((_req, res) => res.writeHead(503, { 'retry-after': '120' }).end('busy'));
    const out = await deliverOnce({ url: r.url, body, livemode: false });
    expect(out).toMatchObject({ ok: false, statusCode: 503, retryAfter: '120', responseBody: 'busy' });
  });

  it('gives up with "timeout" on a receiver that never answers', async () => {
    const r = await receiver(() => {});
    const out = await deliverOnce({ url: r.url, body, livemode: false, timeoutMs: 200 });
    expect(out).toMatchObject({ ok: false, statusCode: null, error: 'timeout' });
    expect(out.durationMs).toBeGreaterThanOrEqual(190);
    expect(out.durationMs).toBeLessThan(2000);
    expect(r.received).toHaveLength(1);
  });

  it('stops reading a large response and does not wait for its end', async () => {
    const r = await receiver((_req, res) => {
      res.writeHead(200);
      res.write('a'.repeat(200 * 1024)); // more than is read, and never ended
    });
    const out = await deliverOnce({ url: r.url, body, livemode: false, timeoutMs: 3000 });
    expect(out).toMatchObject({ ok: true, statusCode: 200, error: null });
    expect(out.responseBody).toHaveLength(RESPONSE_BODY_CHARS);
    expect(out.durationMs).toBeLessThan(2000);
  });

  it('reports a closed port as "connection refused"', async () => {
    const r = await receiver(() => {});
    const closed = servers.pop()!;
    await new Promise((resolve) => closed.close(resolve));
    const out = await deliverOnce({ url: r.url, body, livemode: false });
    expect(out).toMatchObject({ ok: false, statusCode: null, error: 'connection refused' });
  });

  it('reports a TLS failure (https to a plain http server)', async () => {
    const r = await receiver((_req, res) => res.end());
    const out = await deliverOnce({ url: `https://127.0.0.1:${r.port}/hook`, body, livemode: false, timeoutMs: 2000 });
    expect(out.ok).toBe(false);
    expect(out.error).toMatch(/^tls error: \w/);
    expect(out.error).not.toMatch(/openssl|\n/);
  });

  it('refuses a blocked address without connecting', async () => {
    const r = await receiver((_req, res) => res.end());
    const live = await deliverOnce({ url: `https://127.0.0.1:${r.port}/hook`, body, livemode: true });
    expect(live).toMatchObject({ ok: false, statusCode: null });
    expect(live.error).toMatch(/^blocked address: .*loopback/);
    const rebound = await deliverOnce({ url: 'http://hooks.example.invalid/x', body, livemode: false, lookup: async () => [{ address: '169.254.169.254', family: 4 }] });
    expect(rebound.error).toMatch(/^blocked address: hooks\.example\.invalid resolves to a link-local address/);
    expect(rebound.error).not.toContain('169.254.169.254'); // the attempt record is shown to the merchant
    expect(r.received).toHaveLength(0);
  });

  it('connects to the address it checked, sending the original host name', async () => {
    const r = await receiver((_req, res) => res.writeHead(200).end());
    const lookups: string[] = [];
    const lookup: HostLookup = async (host) => {
      lookups.push(host);
      return [{ address: '127.0.0.1', family: 4 }];
    };
    // .invalid never resolves in real DNS: the request can only arrive through the checked address.
    const out = await deliverOnce({ url: `http://hooks.example.invalid:${r.port}/hook`, body, livemode: false, lookup });
    expect(out).toMatchObject({ ok: true, statusCode: 200 });
    expect(lookups).toEqual(['hooks.example.invalid']);
    expect(r.received[0].headers.host).toBe(`hooks.example.invalid:${r.port}`);
  });

  it('keeps the connection for the next attempt to the same endpoint, and checks the address before each', async () => {
    const r = await receiver((_req, res) => res.writeHead(200).end('ok'));
    const connections: Socket[] = [];
    (servers.at(-1) as Server).on('connection', (c: Socket) => connections.push(c));
    let lookups = 0;
    let address = '127.0.0.1';
    const lookup: HostLookup = async () => {
      lookups++;
      return [{ address, family: 4 }];
    };
    const url = `http://hooks.example.invalid:${r.port}/hook`;
    for (let i = 0; i < 3; i++) expect(await deliverOnce({ url, body, livemode: false, lookup })).toMatchObject({ ok: true, statusCode: 200 });
    expect(r.received).toHaveLength(3);
    expect(connections).toHaveLength(1);
    expect(lookups).toBe(3);

    // The name now points at a blocked address: refused, though a connection to the old address is still open.
    address = '169.254.169.254';
    const blocked = await deliverOnce({ url, body, livemode: false, lookup });
    expect(blocked.error).toMatch(/^blocked address/);
    expect(r.received).toHaveLength(3);
  });

  it('sends again on a new connection when the endpoint closed the kept one as the attempt went out', async () => {
    // A receiver that answers the first request of a connection and resets the connection at the second,
    // as a server whose idle timeout ends just when the next request arrives.
    const connections: number[] = [];
    const server = createTcpServer((socket) => {
      const n = connections.push(0) - 1;
      socket.on('data', (chunk: Buffer) => {
        const requests = chunk.toString('latin1').split('POST /').length - 1;
        for (let i = 0; i < requests; i++) {
          connections[n]++;
          if (connections[n] > 1) return socket.resetAndDestroy();
          socket.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: keep-alive\r\n\r\nok');
        }
      });
      socket.on('error', () => {});
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`;
      expect(await deliverOnce({ url, body, livemode: false })).toMatchObject({ ok: true, responseBody: 'ok' });
      expect(await deliverOnce({ url, body, livemode: false })).toMatchObject({ ok: true, responseBody: 'ok', error: null });
      // The first connection served one request and was reset at the second; the second was sent again on a new one.
      expect(connections).toEqual([2, 1]);
    } finally {
      closeDeliveryConnections();
      await new Promise((resolve) => server.close(resolve));
    }
  });
});
