import Stripe from 'stripe';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newAccountId } from '../../lambdas/domain/ids.js';
import { ApiKeyStore, newSecretKey } from '../../lambdas/store/api-keys.js';
import SHAPES from '../fixtures/stripe/file-shapes.json' with { type: 'json' };
import { type TestService, startTestService } from '../support/api.js';
import { until } from '../support/until.js';

const SESSIONS = '/v1/identity/verification_sessions';
const PNG = Buffer.from('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==', 'base64');
/** Different bytes for the selfie, so a download of the wrong file shows. */
const JPEG = Buffer.concat([Buffer.from([0xff, 0xd8, 0xff, 0xe0]), Buffer.from('selfie bytes of this test'), Buffer.from([0xff, 0xd9])]);

let svc: TestService;
let otherKey: string;

beforeAll(async () => {
  svc = await startTestService({ filesAgainAfterSeconds: 3 });
  otherKey = newSecretKey(false);
  await new ApiKeyStore(svc.doc, svc.tableName).register(otherKey, newAccountId());
});
afterAll(async () => {
  await svc?.stop();
});

/** Checks an object against the fields and JSON types stripe-node's type definitions give it. */
function expectShape(kind: 'file' | 'file_link', body: Record<string, unknown>) {
  const shape = SHAPES[kind] as { fields: Record<string, string[]>; optional: string[]; object: string };
  const required = Object.keys(shape.fields).filter((f) => !shape.optional.includes(f));
  expect(Object.keys(body).sort()).toEqual(expect.arrayContaining(required.sort()));
  for (const [field, value] of Object.entries(body)) {
    expect(shape.fields[field], `${kind}.${field} is not in stripe-node's type`).toBeDefined();
    const type = value === null ? 'null' : typeof value;
    expect(shape.fields[field], `${kind}.${field}: ${type}`).toContain(type);
  }
  expect(body.object).toBe(shape.object);
}

/** The hosted page's uploads: presigned POSTs, fields first, the file last. */
async function upload(pageUrl: string, files: Record<string, { type: string; bytes: Buffer }>) {
  const res = await fetch(`${pageUrl}/uploads`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
    body: Object.entries(files)
      .map(([slot, f]) => `files[${slot}]=${encodeURIComponent(f.type)}`)
      .join('&'),
  });
  expect(res.status).toBe(200);
  const { uploads } = (await res.json()) as { uploads: Record<string, { url: string; fields: Record<string, string> }> };
  for (const [slot, f] of Object.entries(files)) {
    const form = new FormData();
    for (const [k, v] of Object.entries(uploads[slot].fields)) form.append(k, v);
    form.append('file', new Blob([f.bytes], { type: f.type }));
    expect((await fetch(uploads[slot].url, { method: 'POST', body: form })).status).toBeLessThan(300);
  }
}

/** An API GET that does not follow redirects. */
const getRaw = (path: string, key = svc.secretKey) => fetch(svc.baseUrl + path, { headers: { authorization: `Bearer ${key}` }, redirect: 'manual' });
const download = async (url: string) => {
  const res = await fetch(url);
  return { status: res.status, bytes: Buffer.from(await res.arrayBuffer()) };
};

/** Submits a session's uploaded front and selfie with a chosen success; its report once verified. */
async function submitVerified(s: { id: string; url: string }) {
  const submitted = await fetch(`${s.url}/submit`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
    body: 'uploaded[]=document_front&uploaded[]=selfie&test_outcome=verified',
  });
  expect(submitted.status).toBe(200);
  const done = await until('verified', () => svc.call('GET', `${SESSIONS}/${s.id}?expand[]=last_verification_report`), (r) => r.body.status === 'verified');
  return done.body.last_verification_report;
}

describe('Files API for the images of a verification', () => {
  let sessionId: string;
  let front: string;
  let selfie: string;
  let contentsLocation: string;
  let link: { id: string; url: string };

  it('a verified document session names its uploaded files, and each is a retrievable file object', async () => {
    const s = (await svc.call('POST', SESSIONS, 'type=document&options[document][require_matching_selfie]=true')).body;
    sessionId = s.id;
    await upload(s.url, { document_front: { type: 'image/png', bytes: PNG }, selfie: { type: 'image/jpeg', bytes: JPEG } });
    const report = await submitVerified(s);
    expect(report.document.files).toHaveLength(1);
    [front] = report.document.files;
    expect(report.selfie.document).toBe(front);
    selfie = report.selfie.selfie;
    expect(selfie).toMatch(/^file_/);

    const now = Math.floor(Date.now() / 1000);
    for (const [id, purpose, type, size] of [
      [front, 'identity_document_downloadable', 'png', PNG.length],
      [selfie, 'selfie', 'jpg', JPEG.length],
    ] as const) {
      const r = await svc.call('GET', `/v1/files/${id}`);
      expect(r.status).toBe(200);
      expectShape('file', r.body);
      expect(r.body).toMatchObject({ id, purpose, type, size, title: null, url: `${svc.baseUrl}/v1/files/${id}/contents` });
      expect(SHAPES.file.purposes_of_identity_images).toContain(r.body.purpose);
      expect(Math.abs(r.body.created - now)).toBeLessThan(120);
      expect(r.body.expires_at).toBe(r.body.created + 30 * 86400);
      expect(r.body.links).toEqual({ object: 'list', data: [], has_more: false, url: `/v1/file_links?file=${id}` });
    }
  });

  it('the type comes from the stored bytes, not the content type the upload named: a PDF sent as image/jpeg has none', async () => {
    const s = (await svc.call('POST', SESSIONS, 'type=document&options[document][require_matching_selfie]=true')).body;
    const PDF = Buffer.from('%PDF-1.4\n1 0 obj << >> endobj\ntrailer << >>\n%%EOF\n');
    // A PNG named as JPEG is a PNG.
    await upload(s.url, { document_front: { type: 'image/jpeg', bytes: PDF }, selfie: { type: 'image/jpeg', bytes: PNG } });
    const report = await submitVerified(s);
    const pdf = await svc.call('GET', `/v1/files/${report.document.files[0]}`);
    expectShape('file', pdf.body);
    expect(pdf.body).toMatchObject({ type: null, filename: 'document_front', size: PDF.length });
    expect((await svc.call('GET', `/v1/files/${report.selfie.selfie}`)).body).toMatchObject({ type: 'png', filename: 'selfie.png' });
  });

  it('/contents redirects to a short-lived download of the same bytes', async () => {
    for (const [id, bytes] of [
      [front, PNG],
      [selfie, JPEG],
    ] as const) {
      const res = await getRaw(`/v1/files/${id}/contents`);
      expect(res.status).toBe(302);
      const location = res.headers.get('location')!;
      expect(new URL(location).searchParams.get('X-Amz-Expires')).toBe('60');
      const got = await download(location);
      expect(got.status).toBe(200);
      expect(got.bytes.equals(bytes)).toBe(true);
      if (id === front) contentsLocation = location;
    }
  });

  it('stripe-node retrieves a file and creates a file link', async () => {
    const port = Number(new URL(svc.baseUrl).port);
    const stripe = new Stripe(svc.secretKey, { host: '127.0.0.1', port, protocol: 'http' });
    const file = await stripe.files.retrieve(front);
    expect(file).toMatchObject({ id: front, object: 'file', purpose: 'identity_document_downloadable', size: PNG.length, type: 'png' });
    const l = await stripe.fileLinks.create({ file: selfie, metadata: { reason: 'review' } });
    expect(l).toMatchObject({ object: 'file_link', file: selfie, expired: false, expires_at: null, metadata: { reason: 'review' } });
  });

  it('another account gets 404 for the file, its contents and a link to it', async () => {
    for (const path of [`/v1/files/${front}`, `/v1/files/${front}/contents`]) {
      const r = await svc.call('GET', path, undefined, { key: otherKey });
      expect(r.status, path).toBe(404);
      expect(r.body.error).toMatchObject({ type: 'invalid_request_error', code: 'resource_missing', param: 'id' });
    }
    const r = await svc.call('POST', '/v1/file_links', { file: front }, { key: otherKey });
    expect(r.status).toBe(404);
    expect(r.body.error).toMatchObject({ code: 'resource_missing', param: 'file' });
  });

  it('file links: created with a future expires_at, their URL downloads the file; a past expires_at is refused', async () => {
    const past = await svc.call('POST', '/v1/file_links', { file: front, expires_at: String(Math.floor(Date.now() / 1000) - 10) });
    expect(past.status).toBe(400);
    expect(past.body.error.param).toBe('expires_at');
    expect((await svc.call('POST', '/v1/file_links', { file: 'file_doesnotexist' })).body.error.param).toBe('file');

    const expiresAt = Math.floor(Date.now() / 1000) + 3600;
    const created = await svc.call('POST', '/v1/file_links', { file: front, expires_at: String(expiresAt), 'metadata[case]': '42' });
    expect(created.status).toBe(200);
    expectShape('file_link', created.body);
    expect(created.body).toMatchObject({ file: front, expired: false, expires_at: expiresAt, livemode: false, metadata: { case: '42' } });
    link = created.body;
    const got = await download(link.url); // no API key: the URL is the credential
    expect(got.status).toBe(200);
    expect(got.bytes.equals(PNG)).toBe(true);
    expect(await download(link.url.slice(0, -1) + (link.url.endsWith('a') ? 'b' : 'a'))).toMatchObject({ status: 404 });

    const retrieved = await svc.call('GET', `/v1/file_links/${link.id}`);
    expect(retrieved.body).toEqual(created.body);
    const file = await svc.call('GET', `/v1/files/${front}`);
    expect(file.body.links.data.map((l: { id: string }) => l.id)).toEqual([link.id]);
    expect((await svc.call('GET', `/v1/file_links/${link.id}`, undefined, { key: otherKey })).status).toBe(404);
  });

  it('after a redact, every file, contents URL and file link is 404', async () => {
    expect((await svc.call('POST', `${SESSIONS}/${sessionId}/redact`)).status).toBe(200);
    await until('redacted', () => svc.call('GET', `${SESSIONS}/${sessionId}`), (r) => r.body.redaction?.status === 'redacted');
    for (const id of [front, selfie]) {
      for (const path of [`/v1/files/${id}`, `/v1/files/${id}/contents`]) {
        const r = await svc.call('GET', path);
        expect(r.status, path).toBe(404);
        expect(r.body.error).toMatchObject({ code: 'resource_missing', param: 'id' });
      }
    }
    expect((await svc.call('GET', `/v1/file_links/${link.id}`)).status).toBe(404);
    expect((await svc.call('POST', '/v1/file_links', { file: front })).status).toBe(404);
    expect((await download(link.url)).status).toBe(404);
    // A download URL handed out before the redaction finds nothing: the image is deleted.
    expect((await download(contentsLocation)).status).toBe(404);
  });
});
