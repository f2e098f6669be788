import { ReceiveMessageCommand } from '@aws-sdk/client-sqs';
import { marshall } from '@aws-sdk/util-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Scope, transition } from '../../lambdas/domain/session.js';
import { createStreamPublisher } from '../../lambdas/events/publisher.js';
import { EventStore } from '../../lambdas/store/event-store.js';
import { SessionStore } from '../../lambdas/store/session-store.js';
import { type TestService, startTestService } from '../support/api.js';

const SESSIONS = '/v1/identity/verification_sessions';
const SYSTEM = () => ({ updated_ms: Date.now(), last_request: null });
let svc: TestService;
let store: SessionStore;
let scope: Scope;

/** What the local bus sent where (the service's own workers consume the queues). */
const routed: { type: string; session: string; routes: string[] }[] = [];

beforeAll(async () => {
  // The fan-out would consume the webhooks queue this file inspects.
  svc = await startTestService({ webhooks: { consumers: false } });
  svc.bus.subscribe((env, routes) =>
    routed.push({ type: env['detail-type'], session: (env.detail as { data: { object: { id: string } } }).data.object.id, routes }),
  );
  store = new SessionStore(svc.doc, svc.tableName);
  scope = { account: svc.account, livemode: false };
});
afterAll(() => svc?.stop());

async function systemTransition(id: string, action: 'submit' | 'checks_passed' | 'checks_failed') {
  const s = (await store.get(scope, id))!;
  const next = transition(s, action, SYSTEM(), (n) => {
    if (action === 'submit') n.attempt += 1;
    if (action === 'checks_failed') n.last_error = { code: 'document_expired', reason: 'The document is expired.' };
  });
  await store.commit(next, { action, version: s.version });
}

/** All events of the account, oldest first, once at least `count` exist. */
async function eventsOf(sessionIds: string[], count: number) {
  const deadline = Date.now() + 15_000;
  for (;;) {
    const r = await svc.call('GET', '/v1/events?limit=100');
    const mine = r.body.data.filter((e: any) => sessionIds.includes(e.data.object.id)).reverse();
    if (mine.length >= count || Date.now() > deadline) return mine;
    await new Promise((res) => setTimeout(res, 100));
  }
}

async function drain(queueUrl: string, atLeast: number, client = svc.queues.client) {
  const bodies: any[] = [];
  const deadline = Date.now() + 15_000;
  while (bodies.length < atLeast && Date.now() < deadline) {
    const r = await client.send(new ReceiveMessageCommand({ QueueUrl: queueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 0 }));
    bodies.push(...(r.Messages ?? []).map((m) => JSON.parse(m.Body!)));
    if (!r.Messages?.length) await new Promise((res) => setTimeout(res, 100));
  }
  return bodies;
}

describe('events from the stream', () => {
  let a: string;
  let b: string;
  let c: string;
  beforeAll(async () => {
    a = (await svc.call('POST', SESSIONS, 'type=document', { headers: { 'idempotency-key': `ev-a-${Date.now()}` } })).body.id;
    await svc.call('POST', `${SESSIONS}/${a}`, 'metadata[x]=1'); // no event
    await systemTransition(a, 'submit');
    await systemTransition(a, 'checks_failed');
    await systemTransition(a, 'submit');
    await systemTransition(a, 'checks_passed');
    await svc.call('POST', `${SESSIONS}/${a}/redact`);
    b = (await svc.call('POST', SESSIONS, 'type=id_number')).body.id;
    await svc.call('POST', `${SESSIONS}/${b}/redact`);
    c = (await svc.call('POST', SESSIONS, 'type=document')).body.id;
    await svc.call('POST', `${SESSIONS}/${c}/cancel`);
  });

  it('every transition makes exactly one event of its type, in order per session', async () => {
    const all = await eventsOf([a, b, c], 11);
    const typesOf = (id: string) => all.filter((e: any) => e.data.object.id === id).map((e: any) => e.type.split('.').pop());
    expect(typesOf(a)).toEqual(['created', 'processing', 'requires_input', 'processing', 'verified', 'redacted']);
    expect(typesOf(b)).toEqual(['created', 'canceled', 'redacted']);
    expect(typesOf(c)).toEqual(['created', 'canceled']);
    expect(all).toHaveLength(11);
  });

  it('events name the API request that caused them, and a request of nulls for system transitions', async () => {
    const all = await eventsOf([a], 6);
    expect(all[0].request.id).toMatch(/^req_/);
    expect(all[0].request.idempotency_key).toMatch(/^ev-a-/);
    expect(all[1].request).toEqual({ id: null, idempotency_key: null });
    expect(all[1]).not.toHaveProperty('account');
    expect(all[2].data.object.last_error).toEqual({ code: 'document_expired', reason: 'The document is expired.' });
    expect(all[2].data.previous_attributes).toMatchObject({ status: 'processing', last_error: null });
    expect(all[5].data.object.redaction).toEqual({ status: 'redacted' });
  });

  it('lists by type with a wildcard or types[], and retrieves one event', async () => {
    await eventsOf([a, b, c], 11);
    const canceled = await svc.call('GET', '/v1/events?types[]=identity.verification_session.canceled&limit=100');
    expect(canceled.body.data.map((e: any) => e.data.object.id).sort()).toEqual([b, c].sort());
    const wild = await svc.call('GET', '/v1/events?type=identity.verification_session.*&limit=100');
    expect(wild.body.data.length).toBeGreaterThanOrEqual(11);
    const verified = await svc.call('GET', '/v1/events?type=identity.verification_session.verified');
    expect(verified.body.data).toHaveLength(1);
    const one = await svc.call('GET', `/v1/events/${verified.body.data[0].id}`);
    expect(one.body).toEqual(verified.body.data[0]);
    expect((await svc.call('GET', '/v1/events/evt_0VcOcsy9AWLrEOraAjOXOWqM')).status).toBe(404);
    expect((await svc.call('GET', '/v1/events?type=identity.*.created')).status).toBe(400);
  });

  it('the bus puts processing events on the checks queue and every event on the webhooks queue', async () => {
    await eventsOf([a, b, c], 11);
    const mine = routed.filter((r) => [a, b, c].includes(r.session));
    expect(mine).toHaveLength(11);
    for (const r of mine)
      expect(r.routes, r.type).toEqual(r.type === 'identity.verification_session.processing' ? ['checks', 'webhooks'] : ['webhooks']);
    expect(mine.filter((r) => r.routes.includes('checks')).map((r) => r.session)).toEqual([a, a]);
  });

  it('a queue receives a reference to the event, as the rule target input transformer makes it, never the session', async () => {
    // A queue of our own, fed by a LocalBus with the same routing table.
    const { startLocalQueues } = await import('../../local/sqs.js');
    const { LocalBus } = await import('../../local/bus.js');
    const queues = await startLocalQueues({ prefix: 'probe-' });
    try {
      const bus = new LocalBus(queues.client, queues.urls);
      const event = {
        object: 'event',
        id: 'evt_x',
        type: 'identity.verification_session.processing',
        livemode: false,
        created: 1,
        data: { object: { id: 'vs_1', object: 'identity.verification_session', provided_details: { email: 'jo@example.com' }, metadata: { note: 'private' } } },
      };
      await bus.put([{ source: 'verification-sessions', detailType: event.type, detail: JSON.stringify(event), time: new Date(0), resources: ['acct_1'] }]);
      const checks = await drain(queues.urls.checks.queue, 1, queues.client);
      expect(checks).toHaveLength(1);
      expect(checks[0]).toMatchObject({ version: '0', source: 'verification-sessions', resources: ['acct_1'] });
      expect(checks[0].detail).toEqual({
        id: 'evt_x',
        object: 'event',
        type: 'identity.verification_session.processing',
        livemode: false,
        created: 1,
        data: { object: { id: 'vs_1', object: 'identity.verification_session' } },
      });
      const webhooks = await drain(queues.urls.webhooks.queue, 1, queues.client);
      expect(webhooks).toHaveLength(1);
      expect(JSON.stringify(webhooks[0])).not.toContain('jo@example.com');
    } finally {
      await queues.stop();
    }
  });

  it('replaying the same stream records stores no duplicate', async () => {
    const events = new EventStore(svc.doc, svc.tableName);
    const sent: string[] = [];
    const publish = createStreamPublisher({
      events,
      bus: { put: async (entries) => (sent.push(...entries.map((e) => e.detailType)), { failed: [] }) },
      apiVersion: '2026-10-28.endive',
      redactions: svc.redaction.queue,
    });
    const s = (await store.get(scope, c))!;
    const record = {
      eventName: 'INSERT' as const,
      dynamodb: {
        Keys: marshall({ pk: 'x', sk: `VS#${c}` }) as never,
        NewImage: marshall({ ...s, version: 1, status: 'requires_input', updated_ms: s.created * 1000 }, { removeUndefinedValues: true }) as never,
        SequenceNumber: '1',
      },
    };
    const before = (await eventsOf([c], 2)).length;
    await publish({ Records: [record] });
    await publish({ Records: [record] });
    const after = await svc.call('GET', `/v1/events?limit=100`);
    expect(after.body.data.filter((e: any) => e.data.object.id === c)).toHaveLength(before + 1);
    expect(sent).toHaveLength(2); // published again (at least once), stored once
  });
});
