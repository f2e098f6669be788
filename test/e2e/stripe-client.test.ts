import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { type AddressInfo, connect } from 'node:net';
import { join } from 'node:path';
import Stripe from 'stripe';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../../local/dynamodb.js';
import { newSecretKey } from '../../lambdas/store/api-keys.js';

// The official client against `npm start`, as a user would run it: only host, port and protocol change.
const root = join(import.meta.dirname, '..', '..');
let child: ChildProcess;
let output = '';
let port: number;
const secretKey = newSecretKey(false);
let stripe: Stripe;

function waitFor(text: string, ms = 90_000): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`npm start did not print "${text}" in time:\n${output}`)), ms);
    const check = () => {
      if (output.includes(text)) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.stdout!.on('data', check);
    child.on('exit', (code) => reject(new Error(`npm start exited with ${code}:\n${output}`)));
    check();
  });
}

const portOpen = (p: number) =>
  new Promise<boolean>((resolve) => {
    const s = connect(p, '127.0.0.1');
    s.once('connect', () => (s.destroy(), resolve(true)));
    s.once('error', () => resolve(false));
  });

beforeAll(async () => {
  port = await freePort();
  child = spawn('npm', ['start'], {
    cwd: root,
    env: { ...process.env, PORT: String(port), LOCAL_SECRET_KEY: secretKey },
    stdio: ['ignore', 'pipe', 'pipe'],
    // Its own process group: npm runs node, which runs Java (DynamoDB Local, in a group of its own, ending with node); teardown stops them all.
    detached: true,
  });
  process.once('exit', stopGroup);
  child.stdout!.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (output += d.toString()));
  await waitFor('Ready.');
  stripe = new Stripe(secretKey, { host: '127.0.0.1', port, protocol: 'http' });
});

/** SIGKILL to the whole process group of `npm start`, whether or not npm itself is still running. */
function stopGroup() {
  if (child?.pid === undefined) return;
  try {
    process.kill(-child.pid, 'SIGKILL');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err; // ESRCH: the group is already gone
  }
}

afterAll(() => {
  stopGroup();
  process.removeListener('exit', stopGroup);
});

describe('stripe-node against npm start', () => {
  it('prints the base URL, the test key and a snippet that works as printed', async () => {
    expect(output).toContain(`http://127.0.0.1:${port}/v1/identity/verification_sessions`);
    expect(output).toContain(secretKey);
    const start = output.indexOf("import Stripe from 'stripe';");
    const end = output.indexOf('console.log(session.id, session.status, session.url);', start);
    const snippet = output.slice(start, end + 'console.log(session.id, session.status, session.url);'.length);
    const dir = join(root, 'node_modules', '.snippet-test');
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'snippet.mjs'), snippet.split('\n').map((l) => l.trim()).join('\n'));
    const result = await new Promise<{ code: number | null; out: string }>((resolve) => {
      const p = spawn(process.execPath, [join(dir, 'snippet.mjs')], { stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      p.stdout.on('data', (d: Buffer) => (out += d));
      p.stderr.on('data', (d: Buffer) => (out += d));
      p.on('exit', (code) => resolve({ code, out }));
    });
    rmSync(dir, { recursive: true, force: true });
    expect(result.out).toMatch(/^vs_\w+ requires_input http:\/\/127\.0\.0\.1:\d+\/verify\//);
    expect(result.code).toBe(0);
  });

  it('create, retrieve, update, cancel, redact', async () => {
    const created = await stripe.identity.verificationSessions.create({
      type: 'document',
      metadata: { order: '1001' },
      options: { document: { allowed_types: ['passport', 'id_card'], require_matching_selfie: true } },
      client_reference_id: 'user_7',
    });
    expect(created.status).toBe('requires_input');
    expect(created.livemode).toBe(false);
    expect(created.client_secret).toMatch(/_secret_/);

    const retrieved = await stripe.identity.verificationSessions.retrieve(created.id, { expand: ['verified_outputs'] });
    expect(retrieved.id).toBe(created.id);
    expect(retrieved.verified_outputs).toBeNull();

    const updated = await stripe.identity.verificationSessions.update(created.id, { metadata: { order: '', step: '2' } });
    expect(updated.metadata).toEqual({ step: '2' });

    const canceled = await stripe.identity.verificationSessions.cancel(created.id);
    expect(canceled.status).toBe('canceled');
    expect(canceled.url).toBeNull();

    const redacted = await stripe.identity.verificationSessions.redact(created.id);
    expect(redacted.redaction).toEqual({ status: 'processing' });
    expect(redacted.metadata).toEqual({});
    // Every other copy is redacted in the background; then the status says so.
    let finished = redacted;
    for (let i = 0; i < 100 && finished.redaction?.status !== 'redacted'; i++) {
      await new Promise((r) => setTimeout(r, 50));
      finished = await stripe.identity.verificationSessions.retrieve(created.id);
    }
    expect(finished.redaction).toEqual({ status: 'redacted' });
  });

  it('lists with auto-pagination over more than one page', async () => {
    const ref = `page-${Date.now()}`;
    const ids: string[] = [];
    for (let i = 0; i < 12; i++) ids.push((await stripe.identity.verificationSessions.create({ type: 'id_number', client_reference_id: ref })).id);
    const all = await stripe.identity.verificationSessions.list({ limit: 5, client_reference_id: ref }).autoPagingToArray({ limit: 100 });
    expect(all.map((s) => s.id)).toEqual(ids.reverse());
    const firstPage = await stripe.identity.verificationSessions.list({ limit: 5, client_reference_id: ref });
    expect(firstPage.has_more).toBe(true);
  });

  it('raises the error classes Stripe users catch', async () => {
    const badParam = await stripe.identity.verificationSessions.create({ type: 'selfie' as 'document' }).catch((e) => e);
    expect(badParam).toBeInstanceOf(Stripe.errors.StripeInvalidRequestError);
    expect(badParam.statusCode).toBe(400);
    expect(badParam.param).toBe('type');

    const missing = await stripe.identity.verificationSessions.retrieve('vs_0VcOcsy9AWLrEOraAjOXOWqM').catch((e) => e);
    expect(missing).toBeInstanceOf(Stripe.errors.StripeInvalidRequestError);
    expect(missing.statusCode).toBe(404);
    expect(missing.code).toBe('resource_missing');

    const unauth = await new Stripe(newSecretKey(false), { host: '127.0.0.1', port, protocol: 'http' }).identity.verificationSessions
      .list()
      .catch((e) => e);
    // The wire type is invalid_request_error, as Stripe sends it; stripe-node picks its class from the 401.
    expect(unauth).toBeInstanceOf(Stripe.errors.StripeAuthenticationError);
    expect(unauth.statusCode).toBe(401);
    expect(unauth.type).toBe('StripeAuthenticationError');
    expect(unauth.raw.type).toBe('invalid_request_error');

    const key = `e2e-${Date.now()}`;
    await stripe.identity.verificationSessions.create({ type: 'document' }, { idempotencyKey: key });
    const reused = await stripe.identity.verificationSessions.create({ type: 'id_number' }, { idempotencyKey: key }).catch((e) => e);
    expect(reused).toBeInstanceOf(Stripe.errors.StripeIdempotencyError);

    const s = await stripe.identity.verificationSessions.create({ type: 'document' });
    await stripe.identity.verificationSessions.cancel(s.id);
    const refused = await stripe.identity.verificationSessions.cancel(s.id).catch((e) => e);
    expect(refused).toBeInstanceOf(Stripe.errors.StripeInvalidRequestError);
    expect(refused.message).toContain('`canceled`');
  });

  it('replays a create for the same idempotency key', async () => {
    const key = `replay-${Date.now()}`;
    const a = await stripe.identity.verificationSessions.create({ type: 'document' }, { idempotencyKey: key });
    const b = await stripe.identity.verificationSessions.create({ type: 'document' }, { idempotencyKey: key });
    expect(b.id).toBe(a.id);
  });

  it('lists and retrieves the events of a session with stripe.events', async () => {
    const s = await stripe.identity.verificationSessions.create({ type: 'document' });
    await stripe.identity.verificationSessions.cancel(s.id);
    let mine: Stripe.Event[] = [];
    for (let i = 0; i < 100 && mine.length < 2; i++) {
      const page = await stripe.events.list({ type: 'identity.verification_session.*', limit: 100 });
      mine = page.data.filter((e) => (e.data.object as { id: string }).id === s.id);
      if (mine.length < 2) await new Promise((r) => setTimeout(r, 100));
    }
    expect(mine.map((e) => e.type)).toEqual(['identity.verification_session.canceled', 'identity.verification_session.created']);
    const one = await stripe.events.retrieve(mine[0].id);
    expect(one.data.previous_attributes).toEqual({ status: 'requires_input' });
    expect(one.request?.id).toMatch(/^req_/);
    const none = await stripe.events.list({ types: ['identity.verification_session.verified'] });
    expect(none.data.filter((e) => (e.data.object as { id: string }).id === s.id)).toEqual([]);
  });

  it('delivers signed webhooks to a receiver on 127.0.0.1 out of the box', async () => {
    const received: { body: string; signature: string }[] = [];
    const receiver = createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString('utf8')));
      req.on('end', () => {
        received.push({ body, signature: String(req.headers['stripe-signature']) });
        res.writeHead(200).end();
      });
    });
    await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
    try {
      const url = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`;
      const endpoint = await stripe.webhookEndpoints.create({ url, enabled_events: ['identity.verification_session.canceled'] });
      const s = await stripe.identity.verificationSessions.create({ type: 'document' });
      await stripe.identity.verificationSessions.cancel(s.id);
      const mine = () => received.filter((r) => r.body.includes(s.id));
      for (let i = 0; i < 300 && mine().length === 0; i++) await new Promise((r) => setTimeout(r, 50));
      expect(mine()).toHaveLength(1);
      const event = stripe.webhooks.constructEvent(mine()[0]!.body, mine()[0]!.signature, endpoint.secret!);
      expect(event.type).toBe('identity.verification_session.canceled');
      expect((event.data.object as { id: string }).id).toBe(s.id);
      expect((await stripe.webhookEndpoints.del(endpoint.id)).deleted).toBe(true);
    } finally {
      receiver.closeAllConnections();
      await new Promise((resolve) => receiver.close(resolve));
    }
  });

  it('creates a session from a verification flow (the flow itself through a raw request: stripe-node has no flows resource)', async () => {
    const res = await fetch(`http://127.0.0.1:${port}/v1/identity/verification_flows`, {
      method: 'POST',
      headers: { authorization: `Bearer ${secretKey}`, 'content-type': 'application/x-www-form-urlencoded' },
      body: 'type=document&options[document][require_matching_selfie]=true',
    });
    expect(res.status).toBe(200);
    const flow = (await res.json()) as { id: string; object: string };
    expect(flow.object).toBe('identity.verification_flow');
    const s = await stripe.identity.verificationSessions.create({ verification_flow: flow.id, client_reference_id: 'flow-user' });
    expect(s.type).toBe('verification_flow');
    expect(s.verification_flow).toBe(flow.id);
    expect(s.options).toEqual({ document: { require_matching_selfie: true } });
    expect((await stripe.identity.verificationSessions.retrieve(s.id)).verification_flow).toBe(flow.id);
    await expect(stripe.identity.verificationSessions.create({ verification_flow: 'vf_0000000000000000000000ZZ' })).rejects.toMatchObject({
      type: 'StripeInvalidRequestError',
      param: 'verification_flow',
    });
  });

  it('lists reports by client_reference_id with stripe.identity.verificationReports', async () => {
    const ref = `report-user-${Date.now()}`;
    const s = await stripe.identity.verificationSessions.create({ type: 'id_number', client_reference_id: ref });
    const submitted = await fetch(`${s.url}/submit`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
      body: 'id_number=000000000&test_outcome=verified',
    });
    expect(submitted.status).toBe(200);
    let reports = await stripe.identity.verificationReports.list({ client_reference_id: ref });
    for (let i = 0; i < 100 && reports.data.length === 0; i++) {
      await new Promise((r) => setTimeout(r, 50));
      reports = await stripe.identity.verificationReports.list({ client_reference_id: ref });
    }
    expect(reports.data.map((r) => [r.verification_session, r.client_reference_id])).toEqual([[s.id, ref]]);
    expect((await stripe.identity.verificationReports.list({ client_reference_id: 'nobody' })).data).toEqual([]);
  });

  it('Ctrl-C stops the service and DynamoDB Local with it, quietly', async () => {
    const dynamoPort = Number(/DynamoDB Local: http:\/\/127\.0\.0\.1:(\d+)/.exec(output)![1]);
    expect(await portOpen(dynamoPort)).toBe(true);
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    const before = output.length;
    // As a terminal sends it: to the whole foreground group, npm, node and DynamoDB Local's JVM alike.
    process.kill(-child.pid!, 'SIGINT');
    expect(await exited).toBe(0);
    // Stopping prints that it stops, and no error: the JVM may go before the workers that read from it.
    expect(output.slice(before).trim()).toBe('SIGINT: stopping...');
    // The JVM may need a moment after its parent is gone.
    for (let i = 0; i < 50 && (await portOpen(dynamoPort)); i++) await new Promise((r) => setTimeout(r, 100));
    expect(await portOpen(dynamoPort)).toBe(false);
    expect(await portOpen(port)).toBe(false);
  });
});
