import { HeadObjectCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAX_UPLOADS_PER_ATTEMPT, UPLOADS_PER_SLOT } from '../../lambdas/api/verify.js';
import { MAX_FILE_BYTES } from '../../lambdas/store/file-store.js';
import { type TestService, startTestService } from '../support/api.js';

// Presigned POST uploads under the local service: s3rver behind the front that
// evaluates each upload's signed policy as S3 does.
const SESSIONS = '/v1/identity/verification_sessions';
const BUCKET = 'verification-files';
let svc: TestService;
let s3: S3Client;
const dynamoOps: { op: string; consumed: any; failed: boolean }[] = [];

beforeAll(async () => {
  svc = await startTestService({ observeDynamo: (op, consumed, failed) => dynamoOps.push({ op, consumed, failed }) });
});
afterAll(async () => {
  s3?.destroy();
  await svc?.stop();
});

interface Upload {
  url: string;
  fields: Record<string, string>;
}

async function create(form = 'type=document&options[document][require_matching_selfie]=true') {
  const r = await svc.call('POST', SESSIONS, form);
  expect(r.status).toBe(200);
  return r.body as { id: string; url: string };
}

/** POST /verify/{id}/{token}/uploads, as the page's script asks. */
async function askUploads(pageUrl: string, files: Record<string, string>) {
  const form = new URLSearchParams(Object.entries(files).map(([slot, type]): [string, string] => [`files[${slot}]`, type]));
  const res = await fetch(`${pageUrl}/uploads`, { method: 'POST', headers: { accept: 'application/json' }, body: form });
  return { status: res.status, body: (await res.json()) as any };
}

/** The multipart form POST the page sends: the signed fields first, the file last. */
async function post(u: Upload, bytes: number, fields: Record<string, string> = {}) {
  const form = new FormData();
  for (const [k, v] of Object.entries({ ...u.fields, ...fields })) form.append(k, v);
  form.append('file', new Blob([new Uint8Array(bytes)], { type: 'image/png' }), 'photo.png');
  const res = await fetch(u.url, { method: 'POST', body: form });
  return { status: res.status, text: await res.text() };
}

function bucketClient(u: Upload) {
  s3 ??= new S3Client({ endpoint: new URL(u.url).origin, forcePathStyle: true, region: 'us-east-1', credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' } });
  return s3;
}
const stored = async (u: Upload) => (await bucketClient(u).send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: u.fields.key }))).KeyCount ?? 0;

describe('the size cap, from the signed policy', () => {
  it('stores a file of exactly 10 MB and refuses one byte more with S3 EntityTooLarge; refuses an empty file', async () => {
    const s = await create();
    const up = await askUploads(s.url, { document_front: 'image/png', selfie: 'image/png' });
    expect(up.status).toBe(200);
    const front: Upload = up.body.uploads.document_front;
    const selfie: Upload = up.body.uploads.selfie;
    // The URL points at the local front of s3rver, the origin the page's CSP allows.
    const page = await fetch(s.url);
    expect(page.headers.get('content-security-policy')).toContain(`connect-src 'self' ${new URL(front.url).origin}`);

    const tooLarge = await post(front, MAX_FILE_BYTES + 1);
    expect(tooLarge.status).toBe(400);
    expect(tooLarge.text).toContain('<Code>EntityTooLarge</Code>');
    expect(tooLarge.text).toContain(`<ProposedSize>${MAX_FILE_BYTES + 1}</ProposedSize><MaxSizeAllowed>${MAX_FILE_BYTES}</MaxSizeAllowed>`);
    expect(await stored(front)).toBe(0);

    const empty = await post(front, 0);
    expect(empty.status).toBe(400);
    expect(empty.text).toContain('<Code>EntityTooSmall</Code>');

    const atCap = await post(front, MAX_FILE_BYTES);
    expect(atCap.status).toBe(204);
    const head = await bucketClient(front).send(new HeadObjectCommand({ Bucket: BUCKET, Key: front.fields.key }));
    expect(head.ContentLength).toBe(MAX_FILE_BYTES);
    expect(head.ContentType).toBe('image/png');

    const small = await post(selfie, 67);
    expect(small.status).toBe(204);
    expect(await stored(selfie)).toBe(1);
  });

  it('refuses a content type, key or size range other than the signed one, and stores nothing', async () => {
    const s = await create();
    const { body } = await askUploads(s.url, { document_front: 'image/png' });
    const front: Upload = body.uploads.document_front;

    const otherType = await post(front, 100, { 'Content-Type': 'image/jpeg' });
    expect(otherType.status).toBe(403);
    expect(otherType.text).toContain('<Code>AccessDenied</Code>');
    expect(otherType.text).toContain('Policy Condition failed: [&#34;eq&#34;,&#34;$Content-Type&#34;,&#34;image/png&#34;]');

    const otherKey = front.fields.key!.replace('document_front', 'selfie');
    expect((await post(front, 100, { key: otherKey })).status).toBe(403);
    expect(await stored({ ...front, fields: { ...front.fields, key: otherKey } })).toBe(0);

    // A policy edited to allow more no longer matches its signature.
    const policy = JSON.parse(Buffer.from(front.fields.Policy!, 'base64').toString());
    policy.conditions = policy.conditions.filter((c: unknown) => !(Array.isArray(c) && c[0] === 'content-length-range'));
    const edited = await post(front, MAX_FILE_BYTES + 1, { Policy: Buffer.from(JSON.stringify(policy)).toString('base64') });
    expect(edited.status).toBe(403);
    expect(edited.text).toContain('<Code>SignatureDoesNotMatch</Code>');
    expect(await stored(front)).toBe(0);
  });

  it('asks for a listed image type: another one is a 400 naming the file slot', async () => {
    const s = await create();
    const r = await askUploads(s.url, { document_front: 'image/gif' });
    expect(r.status).toBe(400);
    expect(r.body.error.param).toBe('files[document_front]');
  });
});

describe('upload URLs per attempt', () => {
  it(`issues at most ${MAX_UPLOADS_PER_ATTEMPT} per attempt, then a 400 naming files; a new attempt starts again`, async () => {
    const s = await create();
    const three = { document_front: 'image/png', document_back: 'image/png', selfie: 'image/png' };
    // Each photo UPLOADS_PER_SLOT times: room for page reloads on a bad connection (retries reuse a URL).
    expect(MAX_UPLOADS_PER_ATTEMPT).toBe(3 * UPLOADS_PER_SLOT);
    expect(UPLOADS_PER_SLOT).toBeGreaterThanOrEqual(8);
    for (let i = 0; i < UPLOADS_PER_SLOT; i++) expect((await askUploads(s.url, three)).status).toBe(200);
    const over = await askUploads(s.url, { selfie: 'image/png' });
    expect(over.status).toBe(400);
    expect(over.body.error).toMatchObject({ type: 'invalid_request_error', param: 'files' });
    expect(over.body.error.message).toContain(`at most ${MAX_UPLOADS_PER_ATTEMPT} upload URLs`);
    // What the person can do, truthfully: a fresh link to the same attempt does not reset the count.
    expect(over.body.error.message).toContain('a new link to this one does not reset the count');
    // (The url is derived from its expiry second: within the same second a retrieve gives the same one.)
    const retrieved = (await svc.call('GET', `${SESSIONS}/${s.id}`)).body;
    expect((await askUploads(retrieved.url, { selfie: 'image/png' })).status).toBe(400);
    const german = await fetch(`${retrieved.url}/uploads?locale=de`, { method: 'POST', headers: { accept: 'application/json' }, body: 'files[selfie]=image/png' });
    expect(((await german.json()) as any).error.message).toContain('den Link erneut zu öffnen hilft nicht');

    // A failed attempt sends the user back with a new link, and a new allowance.
    const submitted = await fetch(`${s.url}/submit`, {
      method: 'POST',
      headers: { accept: 'application/json' },
      body: new URLSearchParams({ test_outcome: 'unverified', test_error_code: 'document_expired' }),
    });
    expect(submitted.status).toBe(200);
    // Uploads stop with the submission: the link's session is no longer waiting for input.
    const afterSubmit = await askUploads(s.url, { selfie: 'image/png' });
    expect(afterSubmit.status).toBe(400);
    expect(afterSubmit.body.error.code).toBe('session_not_usable');
    const deadline = Date.now() + 15_000;
    let again: any;
    do {
      await new Promise((r) => setTimeout(r, 100));
      again = (await svc.call('GET', `${SESSIONS}/${s.id}`)).body;
    } while (again.status === 'processing' && Date.now() < deadline);
    expect(again.status).toBe('requires_input');
    for (let i = 0; i < UPLOADS_PER_SLOT; i++) expect((await askUploads(again.url, three)).status).toBe(200);
    expect((await askUploads(again.url, three)).status).toBe(400);
  });

  it(`counts concurrent requests exactly: of ${UPLOADS_PER_SLOT + 3} racing requests for 3 URLs, ${UPLOADS_PER_SLOT} get them`, async () => {
    const s = await create();
    const three = { document_front: 'image/png', document_back: 'image/png', selfie: 'image/png' };
    const results = await Promise.all(Array.from({ length: UPLOADS_PER_SLOT + 3 }, () => askUploads(s.url, three)));
    expect(results.filter((r) => r.status === 200)).toHaveLength(UPLOADS_PER_SLOT);
    expect(results.filter((r) => r.status === 400)).toHaveLength(3);
  });

  it('issues none for a canceled session', async () => {
    const s = await create();
    expect((await svc.call('POST', `${SESSIONS}/${s.id}/cancel`)).status).toBe(200);
    const r = await askUploads(s.url, { selfie: 'image/png' });
    expect(r.status).toBe(400);
    expect(r.body.error).toMatchObject({ code: 'session_not_usable', message: expect.stringContaining('canceled') });
  });

  it('costs one consistent read and one conditional write of the session', async () => {
    const s = await create();
    dynamoOps.length = 0;
    expect((await askUploads(s.url, { document_front: 'image/png', selfie: 'image/png' })).status).toBe(200);
    expect(dynamoOps.map((o) => `${o.op}${o.failed ? ' (failed)' : ''}`)).toEqual(['GetItemCommand', 'UpdateItemCommand']);
    const [read, write] = dynamoOps.map((o) => o.consumed);
    expect(read).toMatchObject({ CapacityUnits: 1 });
    // A small session item; the write is billed by the item's size (26 units at the metadata maximum).
    expect(write).toMatchObject({ CapacityUnits: 1 });
  });
});
