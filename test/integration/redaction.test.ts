import { type Server, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { gunzipSync } from 'node:zlib';
import { GetObjectCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import { ScanCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { marshall } from '@aws-sdk/util-dynamodb';
import { TEST_PERSON } from '../../lambdas/checks/test-provider.js';
import { API_VERSION } from '../../lambdas/domain/api-version.js';
import { type SessionRecord, transition } from '../../lambdas/domain/session.js';
import { createStreamPublisher } from '../../lambdas/events/publisher.js';
import { EventStore } from '../../lambdas/store/event-store.js';
import { SessionStore } from '../../lambdas/store/session-store.js';
import { type TestService, startTestService } from '../support/api.js';
import { until } from '../support/until.js';

/**
 * The promise of a redaction, checked where the data lives: after a redact,
 * no personal value is left in any item of the table (gzipped attributes
 * opened), in any file of the bucket, in the events API, in a replayed
 * Idempotency-Key result, or in a webhook sent after the redaction.
 */
const SESSIONS = '/v1/identity/verification_sessions';
const PNG = Buffer.from('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==', 'base64');

/** Values only this file's sessions hold, so that a hit anywhere is a leak. */
const PERSON = {
  email: 'wilma.quackenbush@example.org',
  phone: '+4915799911122',
  note: 'prefers-contact-after-6pm-8841',
  idNumber: '987-65-4329',
  firstName: 'Wilhelmina',
  lastName: 'Quackenbush',
};
const NEEDLES: string[] = [
  PERSON.email,
  PERSON.phone,
  PERSON.note,
  PERSON.idNumber,
  PERSON.idNumber.replace(/\D/g, ''),
  PERSON.firstName,
  PERSON.lastName,
  // What the test provider reads from the document.
  TEST_PERSON.first_name,
  TEST_PERSON.last_name,
  TEST_PERSON.address.line1!,
  'D1234567',
];

let svc: TestService;
let hook: { url: string; bodies: string[]; server: Server };

beforeAll(async () => {
  // The second deletion of files comes after 3 s here, not after the upload URLs' 15 minutes.
  svc = await startTestService({ filesAgainAfterSeconds: 3 });
  const bodies: string[] = [];
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString('utf8')));
    req.on('end', () => {
      bodies.push(body);
      res.writeHead(200).end('ok');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  hook = { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`, bodies, server };
});
afterAll(async () => {
  hook?.server.closeAllConnections();
  await new Promise((r) => hook?.server.close(r));
  await svc?.stop();
});


/** Every item of the table as text, binary attributes gunzipped where they are gzip. */
async function tableText(): Promise<{ key: string; text: string }[]> {
  const out: { key: string; text: string }[] = [];
  let start: Record<string, unknown> | undefined;
  do {
    const page = await svc.doc.send(new ScanCommand({ TableName: svc.tableName, ExclusiveStartKey: start, ConsistentRead: true }));
    for (const item of page.Items ?? []) {
      const text = JSON.stringify(item, (_k, v) => {
        if (v instanceof Set) return [...v];
        if (v instanceof Uint8Array || (v && v.type === 'Buffer')) {
          const bytes = Buffer.from(v instanceof Uint8Array ? v : (v.data as number[]));
          try {
            return gunzipSync(bytes).toString('utf8');
          } catch {
            return bytes.toString('utf8');
          }
        }
        return v;
      });
      out.push({ key: `${item.pk} ${item.sk}`, text });
    }
    start = page.LastEvaluatedKey;
  } while (start);
  return out;
}

/** Every object of the bucket: its key and its bytes as text. */
async function bucketText(): Promise<{ key: string; text: string }[]> {
  const out: { key: string; text: string }[] = [];
  const listed = await svc.s3.client.send(new ListObjectsV2Command({ Bucket: svc.s3.bucket }));
  for (const o of listed.Contents ?? []) {
    try {
      const got = await svc.s3.client.send(new GetObjectCommand({ Bucket: svc.s3.bucket, Key: o.Key! }));
      out.push({ key: o.Key!, text: Buffer.from(await got.Body!.transformToByteArray()).toString('latin1') });
    } catch (err) {
      // Deleted between the listing and the read (a redaction's delayed deletion): gone, as it should be.
      if ((err as { name?: string }).name !== 'NoSuchKey') throw err;
    }
  }
  return out;
}

/** The session's event types, newest first, once its redacted event is stored. */
async function eventTypes(id: string): Promise<string[]> {
  const events = await until(
    'the redacted event',
    async () => (await svc.call('GET', '/v1/events?limit=100')).body.data.filter((e: any) => e.data.object.id === id),
    (list) => list.some((e: any) => e.type === 'identity.verification_session.redacted'),
  );
  return events.map((e: any) => e.type.replace('identity.verification_session.', ''));
}

const hits = (places: { key: string; text: string }[]) =>
  places.flatMap((p) => NEEDLES.filter((n) => p.text.includes(n)).map((n) => `${n} in ${p.key}`));

/** The presigned uploads the hosted page makes, for whichever form the service hands out. */
async function upload(pageUrl: string, slots: string[]) {
  const res = await fetch(`${pageUrl}/uploads`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
    body: slots.map((s) => `files[${s}]=image/png`).join('&'),
  });
  expect(res.status).toBe(200);
  const { uploads } = (await res.json()) as { uploads: Record<string, { url: string; headers?: Record<string, string>; fields?: Record<string, string> }> };
  for (const slot of slots) {
    const u = uploads[slot];
    let status: number;
    if (u.fields) {
      const form = new FormData();
      for (const [k, v] of Object.entries(u.fields)) form.append(k, v);
      form.append('file', new Blob([PNG], { type: 'image/png' }));
      status = (await fetch(u.url, { method: 'POST', body: form })).status;
    } else {
      status = (await fetch(u.url, { method: 'PUT', body: PNG, headers: u.headers })).status;
    }
    expect(status).toBeLessThan(300);
  }
}

const CREATE = new URLSearchParams({
  type: 'document',
  'options[document][require_id_number]': 'true',
  'options[document][require_matching_selfie]': 'true',
  'provided_details[email]': PERSON.email,
  'provided_details[phone]': PERSON.phone,
  'metadata[note]': PERSON.note,
  return_url: 'https://shop.example.com/done',
}).toString();

const SUBMIT = (extra: string) =>
  `uploaded[]=document_front&uploaded[]=selfie&id_number=${encodeURIComponent(PERSON.idNumber)}&id_number_type=us_ssn` +
  `&first_name=${PERSON.firstName}&last_name=${PERSON.lastName}&dob=1961-02-03${extra}`;

/** A session with every kind of personal data: provided details, metadata, files, an ID number, a report; copies in saved results and events. */
async function personalSession(submitExtra: string) {
  const key = `create-${Math.random()}`;
  const created = await svc.call('POST', SESSIONS, CREATE, { headers: { 'idempotency-key': key } });
  expect(created.status).toBe(200);
  const id = created.body.id as string;
  const updateKey = `update-${id}`;
  const update = `metadata[second_note]=${PERSON.note}`;
  expect((await svc.call('POST', `${SESSIONS}/${id}`, update, { headers: { 'idempotency-key': updateKey } })).status).toBe(200);
  await upload(created.body.url, ['document_front', 'selfie']);
  const submitted = await fetch(`${created.body.url}/submit`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
    body: SUBMIT(submitExtra),
  });
  expect(submitted.status).toBe(200);
  return { id, replays: [{ path: SESSIONS, form: CREATE, key }, { path: `${SESSIONS}/${id}`, form: update, key: updateKey }] };
}

async function expectNothingLeft(sessionId: string, replays: { path: string; form: string; key: string }[]) {
  expect(hits(await tableText())).toEqual([]);
  expect(hits(await bucketText())).toEqual([]);
  expect((await bucketText()).filter((o) => o.key.includes(sessionId))).toEqual([]);
  const events = await svc.call('GET', '/v1/events?limit=100');
  expect(hits([{ key: 'GET /v1/events', text: JSON.stringify(events.body) }])).toEqual([]);
  for (const r of replays) {
    const replay = await svc.call('POST', r.path, r.form, { headers: { 'idempotency-key': r.key } });
    expect(replay.status).toBe(200);
    expect(replay.headers.get('idempotent-replayed')).toBe('true');
    expect(replay.body.client_secret).toBeNull();
    expect(replay.body.url).toBeNull();
    expect(hits([{ key: `replay of ${r.key}`, text: JSON.stringify(replay.body) }])).toEqual([]);
  }
}

describe('a redaction leaves nothing', () => {
  it('after verified: table, bucket, events API, replays and later webhooks hold no personal value', async () => {
    const endpoint = await svc.call('POST', '/v1/webhook_endpoints', {
      url: hook.url,
      'enabled_events[0]': 'identity.verification_session.created',
      'enabled_events[1]': 'identity.verification_session.verified',
      'enabled_events[2]': 'identity.verification_session.redacted',
    });
    expect(endpoint.status).toBe(200);
    const { id, replays } = await personalSession('&test_outcome=verified');
    const verified = await until('verified', () => svc.call('GET', `${SESSIONS}/${id}?expand[]=verified_outputs`), (r) => r.body.status === 'verified');
    expect(verified.body.verified_outputs.id_number).toBe(PERSON.idNumber);
    await until('webhooks for created and verified', () => hook.bodies.filter((b) => b.includes(id)).length, (n) => n >= 2);

    // Before: the scan finds the data in the session, its saved results, its events, its report and its files.
    const before = hits(await tableText());
    for (const needle of [PERSON.email, PERSON.note, PERSON.firstName, TEST_PERSON.first_name]) expect(before.some((h) => h.startsWith(needle))).toBe(true);
    expect((await bucketText()).filter((o) => o.key.includes(id))).toHaveLength(2);
    // Once the checks end, the submission on the session keeps no ID number, names or date of birth
    // (verified_outputs and the report keep what Stripe keeps).
    const sessionItem = JSON.parse((await tableText()).find((p) => p.key.endsWith(`VS#${id}`))!.text);
    expect(sessionItem.submission.id_number).toBeNull();
    expect(sessionItem.submission.files.selfie).toBeDefined();

    const redact = await svc.call('POST', `${SESSIONS}/${id}/redact`, '', { headers: { 'idempotency-key': `redact-${id}` } });
    expect(redact.status).toBe(200);
    expect(redact.body.redaction).toEqual({ status: 'processing' });
    const redactedEvent = await until(
      'the redacted webhook',
      () => hook.bodies.map((b) => JSON.parse(b)).find((e) => e.type === 'identity.verification_session.redacted' && e.data.object.id === id),
      (e) => e !== undefined,
    );
    expect(redactedEvent.data.object.redaction).toEqual({ status: 'redacted' });
    expect(redactedEvent.data.previous_attributes).toEqual({ redaction: { status: 'processing' } });

    // A resend of an event from before the redaction sends its redacted version.
    const created = (await svc.call('GET', '/v1/events?type=identity.verification_session.created&limit=100')).body.data.find((e: any) => e.data.object.id === id);
    const sent = hook.bodies.length;
    expect((await svc.call('POST', `/v1/events/${created.id}/retry`, { webhook_endpoint: endpoint.body.id })).status).toBe(200);
    await until('the resend', () => hook.bodies.length, (n) => n > sent);
    const resent = JSON.parse(hook.bodies[hook.bodies.length - 1]);
    expect(resent.id).toBe(created.id);
    expect(resent.data.object.provided_details).toEqual({ email: '[redacted]', phone: '[redacted]' });
    expect(hits(hook.bodies.slice(sent).map((text, i) => ({ key: `webhook ${i}`, text })))).toEqual([]);

    await expectNothingLeft(id, replays);
  });

  it('asked while processing: accepted as pending, finished when the checks end', async () => {
    const { id, replays } = await personalSession('&test_outcome=verified&test_delay_seconds=3');
    const redact = await svc.call('POST', `${SESSIONS}/${id}/redact`);
    expect(redact.status).toBe(200);
    expect(redact.body).toMatchObject({ status: 'processing', redaction: { status: 'processing' }, metadata: {} });
    const done = await until('redacted', () => svc.call('GET', `${SESSIONS}/${id}?expand[]=verified_outputs`), (r) => r.body.redaction?.status === 'redacted');
    expect(done.body.status).toBe('verified');
    expect(done.body.verified_outputs.id_number).toBe('[redacted]');
    expect((await eventTypes(id)).reverse()).toEqual(['created', 'processing', 'verified', 'redacted']);
    await expectNothingLeft(id, replays);
  });

  it('asked while processing, and the checks fail: the session ends canceled, then redacted', async () => {
    const { id, replays } = await personalSession('&test_outcome=unverified&test_error_code=document_expired&test_delay_seconds=3');
    expect((await svc.call('POST', `${SESSIONS}/${id}/redact`)).body.redaction).toEqual({ status: 'processing' });
    const done = await until('redacted', () => svc.call('GET', `${SESSIONS}/${id}`), (r) => r.body.redaction?.status === 'redacted');
    expect(done.body.status).toBe('canceled');
    expect((await eventTypes(id)).reverse()).toEqual([
      'created',
      'processing',
      'requires_input',
      'canceled',
      'redacted',
    ]);
    await expectNothingLeft(id, replays);
  });

  it('a file uploaded with a URL issued before the redaction does not survive it', async () => {
    const created = (await svc.call('POST', SESSIONS, 'type=document')).body;
    const res = await fetch(`${created.url}/uploads`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
      body: 'files[document_front]=image/png',
    });
    const { uploads } = (await res.json()) as any;
    await svc.call('POST', `${SESSIONS}/${created.id}/redact`);
    await until('redacted', () => svc.call('GET', `${SESSIONS}/${created.id}`), (r) => r.body.redaction?.status === 'redacted');
    // The URL still works until it expires: the upload lands after the redaction finished...
    const form = new FormData();
    for (const [k, v] of Object.entries(uploads.document_front.fields as Record<string, string>)) form.append(k, v);
    form.append('file', new Blob([PNG], { type: 'image/png' }));
    expect((await fetch(uploads.document_front.url, { method: 'POST', body: form })).status).toBeLessThan(300);
    expect((await bucketText()).filter((o) => o.key.includes(created.id))).toHaveLength(1);
    // ...and the second deletion removes it.
    await until('the late file deleted', async () => (await bucketText()).filter((o) => o.key.includes(created.id)).length, (n) => n === 0);
  });

  it('an event of the session stored late (its stream batch retried after the redaction) is stored and published redacted', async () => {
    const created = (await svc.call('POST', SESSIONS, CREATE)).body;
    const before = (await new SessionStore(svc.doc, svc.tableName).get({ account: svc.account, livemode: false }, created.id))!;
    await svc.call('POST', `${SESSIONS}/${created.id}/redact`);
    await until('redacted', () => svc.call('GET', `${SESSIONS}/${created.id}`), (r) => r.body.redaction?.status === 'redacted');
    // A change from before the redaction whose record reaches the publisher only now.
    const late = transition(before, 'submit', { updated_ms: before.updated_ms + 1, last_request: null }, (n) => (n.attempt += 1));
    const sent: string[] = [];
    const publish = createStreamPublisher({
      events: new EventStore(svc.doc, svc.tableName),
      bus: { put: async (entries) => (sent.push(...entries.map((e) => e.detail)), { failed: [] }) },
      apiVersion: API_VERSION,
      redactions: { send: async () => {} },
    });
    const image = (x: SessionRecord) => marshall({ pk: 'x', sk: `VS#${x.id}`, ...x }, { removeUndefinedValues: true }) as never;
    const r = await publish({ Records: [{ eventName: 'MODIFY', dynamodb: { Keys: marshall({ pk: 'x', sk: `VS#${late.id}` }) as never, OldImage: image(before), NewImage: image(late), SequenceNumber: '1' } }] });
    expect(r.batchItemFailures).toEqual([]);
    expect(sent).toHaveLength(1);
    expect(hits(sent.map((text, i) => ({ key: `bus entry ${i}`, text })))).toEqual([]);
    expect(JSON.parse(sent[0]).type).toBe('identity.verification_session.processing');
    expect(hits(await tableText())).toEqual([]);
  });
});
