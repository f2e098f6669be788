import { ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import type { SQSRecord } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CheckProvider } from '../../lambdas/checks/provider.js';
import { TestProvider } from '../../lambdas/checks/test-provider.js';
import { createChecksWorker } from '../../lambdas/checks/worker.js';
import { issueToken } from '../../lambdas/domain/secrets.js';
import type { Scope } from '../../lambdas/domain/session.js';
import { FileStore } from '../../lambdas/store/file-store.js';
import { ReportStore } from '../../lambdas/store/report-store.js';
import { SessionStore } from '../../lambdas/store/session-store.js';
import { type TestService, startTestService } from '../support/api.js';

const SESSIONS = '/v1/identity/verification_sessions';
let svc: TestService;
let store: SessionStore;
let scope: Scope;

beforeAll(async () => {
  svc = await startTestService();
  store = new SessionStore(svc.doc, svc.tableName);
  scope = { account: svc.account, livemode: false };
});
afterAll(() => svc?.stop());

const PNG = Buffer.from('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==', 'base64');

async function create(form = 'type=document') {
  const r = await svc.call('POST', SESSIONS, form);
  expect(r.status).toBe(200);
  return r.body as { id: string; url: string; client_secret: string };
}

/** POSTs to the hosted page's endpoints as its script does. */
async function pagePost(url: string, path: 'submit' | 'uploads', form: string) {
  const res = await fetch(`${url}/${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
    body: form,
  });
  return { status: res.status, body: (await res.json()) as any };
}

async function until<T>(fn: () => Promise<T>, ok: (v: T) => boolean, ms = 15_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (ok(v) || Date.now() > deadline) return v;
    await new Promise((r) => setTimeout(r, 50));
  }
}
const settled = (id: string) =>
  until(
    () => svc.call('GET', `${SESSIONS}/${id}?expand[]=last_verification_report&expand[]=verified_outputs`),
    (r) => r.body.status !== 'processing',
  );

describe('submission through the url token, checks by the worker', () => {
  it('a chosen success verifies the session, with a report and verified outputs', async () => {
    const s = await create('type=document&options[document][require_matching_selfie]=true');
    const r = await pagePost(s.url, 'submit', 'test_outcome=verified&document_type=passport');
    expect(r).toEqual({ status: 200, body: { status: 'processing', redirect_url: null } });
    const done = await settled(s.id);
    expect(done.body.status).toBe('verified');
    expect(done.body.verified_outputs).toMatchObject({ first_name: 'Jenny', last_name: 'Rosen' });
    const report = done.body.last_verification_report;
    expect(report).toMatchObject({ object: 'identity.verification_report', verification_session: s.id, type: 'document' });
    expect(report.document.status).toBe('verified');
    // The type chosen at submission, not the first the session accepts (driving_license).
    expect(report.document.type).toBe('passport');
    expect(report.selfie.status).toBe('verified');
    const again = await svc.call('GET', `/v1/identity/verification_reports/${report.id}`);
    expect(again.body).toEqual(report);
  });

  it('a chosen failure returns to requires_input with that code; a retrieve hands out a fresh url; a second attempt verifies', async () => {
    const s = await create('type=document&options[document][require_matching_selfie]=true');
    await pagePost(s.url, 'submit', 'test_outcome=unverified&test_error_code=selfie_face_mismatch');
    const failed = await settled(s.id);
    expect(failed.body.status).toBe('requires_input');
    expect(failed.body.last_error.code).toBe('selfie_face_mismatch');
    expect(failed.body.last_verification_report.selfie.error.code).toBe('selfie_face_mismatch');
    // the old url is spent; the retrieve gave a new one
    expect((await pagePost(s.url, 'submit', 'test_outcome=verified')).status).toBe(400);
    expect(failed.body.url).not.toBe(s.url);
    expect((await pagePost(failed.body.url, 'submit', 'test_outcome=verified')).status).toBe(200);
    expect((await settled(s.id)).body.status).toBe('verified');
    const reports = await svc.call('GET', `/v1/identity/verification_reports?verification_session=${s.id}`);
    expect(reports.body.data).toHaveLength(2);
  });

  it('reports can be listed by client_reference_id, which each report copies from its session', async () => {
    const ref = `user_${Date.now()}`;
    const mine = await create(`type=document&client_reference_id=${ref}`);
    const other = await create('type=document&client_reference_id=someone_else');
    await pagePost(mine.url, 'submit', 'test_outcome=verified');
    await pagePost(other.url, 'submit', 'test_outcome=verified');
    await settled(mine.id);
    await settled(other.id);
    const listed = await svc.call('GET', `/v1/identity/verification_reports?client_reference_id=${ref}`);
    expect(listed.status).toBe(200);
    expect(listed.body.data.map((r: any) => [r.verification_session, r.client_reference_id])).toEqual([[mine.id, ref]]);
    const none = await svc.call('GET', '/v1/identity/verification_reports?client_reference_id=nobody');
    expect(none.body.data).toEqual([]);
  });

  it('a used, expired, foreign or forged secret is refused and changes nothing', async () => {
    const a = await create();
    const b = await create();
    const before = (await store.get(scope, b.id))!;
    // a's token on b's page
    const foreign = `${svc.baseUrl}/verify/${b.id}/${a.url.split('/').pop()}`;
    const f = await pagePost(foreign, 'submit', 'test_outcome=verified');
    expect(f.status).toBe(400);
    expect(f.body.error.message).toContain('not valid');
    const expired = `${svc.baseUrl}/verify/${b.id}/${issueToken('url', before, Math.floor(Date.now() / 1000) - 49 * 3600)}`;
    const exp = await pagePost(expired, 'submit', 'test_outcome=verified');
    expect(exp.status).toBe(400);
    expect(exp.body.error.message).toContain('expired');
    expect((await fetch(expired)).status).toBe(400);
    expect((await store.get(scope, b.id))!).toEqual(before);
    // client secret: once, then refused
    const ok = await svc.call('POST', `${SESSIONS}/${b.id}/submit`, { client_secret: b.client_secret, test_outcome: 'verified' }, { key: null });
    expect(ok.status).toBe(200);
    const reused = await svc.call('POST', `${SESSIONS}/${b.id}/submit`, { client_secret: b.client_secret, test_outcome: 'verified' }, { key: null });
    expect(reused.status).toBe(400);
    const wrong = await svc.call('POST', `${SESSIONS}/${a.id}/submit`, { client_secret: b.client_secret }, { key: null });
    expect(wrong.status).toBe(404);
  });

  it('a canceled session refuses submissions; its page says so', async () => {
    const s = await create();
    await svc.call('POST', `${SESSIONS}/${s.id}/cancel`);
    const r = await pagePost(s.url, 'submit', 'test_outcome=verified');
    expect(r.status).toBe(400);
    expect(r.body.error.message).toContain('canceled');
    const page = await fetch(s.url);
    expect(page.status).toBe(400);
    expect(await page.text()).toContain('Verification canceled');
  });

  it('two submissions at once: exactly one is taken', async () => {
    const s = await create();
    const results = await Promise.all(Array.from({ length: 5 }, () => pagePost(s.url, 'submit', 'test_outcome=verified')));
    expect(results.filter((r) => r.status === 200)).toHaveLength(1);
    expect((await store.get(scope, s.id))!.attempt).toBe(1);
  });

  it('the async test outcome stays in processing for the chosen time first', async () => {
    const s = await create();
    const t0 = Date.now();
    await pagePost(s.url, 'submit', 'test_outcome=verified&test_delay_seconds=2');
    await new Promise((r) => setTimeout(r, 1000));
    expect((await svc.call('GET', `${SESSIONS}/${s.id}`)).body.status).toBe('processing');
    const done = await settled(s.id);
    expect(done.body.status).toBe('verified');
    expect(Date.now() - t0).toBeGreaterThanOrEqual(2000);
  });

  it('test choices are not parameters in a submission they do not fit', async () => {
    const s = await create();
    const r = await pagePost(s.url, 'submit', 'test_outcome=unverified');
    expect(r.status).toBe(400);
    expect(r.body.error.param).toBe('test_error_code');
    const bad = await pagePost(s.url, 'submit', 'test_error_code=not_a_code&test_outcome=unverified');
    expect(bad.body.error.param).toBe('test_error_code');
  });
});

describe('files', () => {
  it('uploads go to storage through presigned POSTs; redaction deletes them and redacts the report', async () => {
    const s = await create('type=document&options[document][require_matching_selfie]=true');
    const up = await pagePost(s.url, 'uploads', 'files[document_front]=image/png&files[selfie]=image/png');
    expect(up.status).toBe(200);
    for (const slot of ['document_front', 'selfie']) {
      // The page's multipart form POST: the signed fields first, the file last.
      const form = new FormData();
      for (const [k, v] of Object.entries(up.body.uploads[slot].fields as Record<string, string>)) form.append(k, v);
      form.append('file', new Blob([PNG], { type: 'image/png' }), `${slot}.png`);
      const posted = await fetch(up.body.uploads[slot].url, { method: 'POST', body: form });
      expect(posted.status).toBe(204);
    }
    await pagePost(s.url, 'submit', 'uploaded[]=document_front&uploaded[]=selfie&test_outcome=verified');
    const done = await settled(s.id);
    expect(done.body.last_verification_report.document.files).toHaveLength(1);
    expect(done.body.last_verification_report.document.files[0]).toMatch(/^file_/);
    const s3 = new S3Client({ endpoint: up.body.uploads.selfie.url.split('/verification-files')[0], forcePathStyle: true, region: 'us-east-1', credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' } });
    const listed = async () => (await s3.send(new ListObjectsV2Command({ Bucket: 'verification-files', Prefix: `${svc.account}/test/${s.id}/` }))).KeyCount;
    expect(await listed()).toBe(2);

    const redacted = await svc.call('POST', `${SESSIONS}/${s.id}/redact?`, 'expand[]=verified_outputs&expand[]=last_verification_report');
    expect(redacted.status).toBe(200);
    expect(redacted.body.verified_outputs.first_name).toBe('[redacted]');
    expect(redacted.body.verified_outputs.dob).toEqual({ day: null, month: null, year: null });
    // The response already shows the report as redaction will leave it.
    expect(redacted.body.last_verification_report.document.first_name).toBe('[redacted]');
    expect(redacted.body.redaction).toEqual({ status: 'processing' });
    const finished = await until(() => svc.call('GET', `${SESSIONS}/${s.id}`), (r) => r.body.redaction?.status === 'redacted');
    expect(finished.body.redaction).toEqual({ status: 'redacted' });
    expect(await listed()).toBe(0);
    const report = await svc.call('GET', `/v1/identity/verification_reports/${done.body.last_verification_report.id}`);
    expect(report.body.document.first_name).toBe('[redacted]');
    expect(report.body.document.files).toBeNull();
    s3.destroy();
  });

  it('refuses uploads of other content types', async () => {
    const s = await create();
    const r = await pagePost(s.url, 'uploads', 'files[document_front]=application/pdf');
    expect(r.status).toBe(400);
    expect(r.body.error.param).toBe('files[document_front]');
  });
});

describe('the checks worker under faults', () => {
  /** A processing session, submitted through the page, whose queue message the test delivers itself. */
  async function submitted() {
    const s = await create();
    // Submit through the store so that the local worker does not take it first: a session of a
    // fresh account whose events the local worker will also see is fine, the worker is idempotent.
    const rec = (await store.get(scope, s.id))!;
    return { id: s.id, rec };
  }
  const message = (id: string): SQSRecord =>
    ({
      messageId: `m-${id}`,
      receiptHandle: 'r',
      body: JSON.stringify({ resources: [svc.account], detail: { livemode: false, data: { object: { id } } } }),
    }) as SQSRecord;

  it('a redact asked for while the checks run keeps their outcome: verified, written redacted, then redacted', async () => {
    const { id, rec } = await submitted();
    const { transition } = await import('../../lambdas/domain/session.js');
    // Due in 10 minutes, so that the service's own worker postpones it; this test's worker runs it now.
    const next = transition(rec, 'submit', { updated_ms: Date.now(), last_request: null }, (n) => {
      n.attempt += 1;
      n.submission = { submitted_ms: Date.now(), document_type: 'passport', files: {}, id_number: null, test: { outcome: 'verified', delay_seconds: 600 } };
    });
    await store.commit(next, { action: 'submit', version: rec.version });
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    let started!: () => void;
    const running = new Promise<void>((r) => (started = r));
    const slow: CheckProvider = {
      name: 'test',
      check: async (input, required) => {
        started();
        await gate;
        return new TestProvider().check(input, required);
      },
    };
    const worker = createChecksWorker({
      sessions: store,
      files: new FileStore(new S3Client({ region: 'us-east-1' }), 'unused'),
      providers: { test: slow, live: slow },
      postpone: async () => {},
      now: () => Date.now() + 700_000,
      log: () => {},
    });
    const run = worker({ Records: [message(id)] });
    await running;
    const redact = await svc.call('POST', `${SESSIONS}/${id}/redact`);
    expect(redact.body).toMatchObject({ status: 'processing', redaction: { status: 'processing' } });
    release();
    expect((await run).batchItemFailures).toEqual([]);
    const after = (await store.get(scope, id))!;
    expect(after.status).toBe('verified');
    // Written redacted at once: the outputs and the report never hold the person while the redaction waits.
    expect((after.verified_outputs as any).first_name).toBe('[redacted]');
    const report = await new ReportStore(svc.doc, svc.tableName).get(scope, after.last_verification_report!);
    expect(report!.document!.first_name).toBe('[redacted]');
    const done = await until(() => svc.call('GET', `${SESSIONS}/${id}`), (r) => r.body.redaction?.status === 'redacted');
    expect(done.body).toMatchObject({ status: 'verified', redaction: { status: 'redacted' } });
  });

  it('a worker that dies between reading and writing leaves a session the redelivery finishes exactly once', async () => {
    const { id, rec } = await submitted();
    // Move it to processing directly, with a delay long enough that the service's own worker waits.
    const { transition } = await import('../../lambdas/domain/session.js');
    const next = transition(rec, 'submit', { updated_ms: Date.now(), last_request: null }, (n) => {
      n.attempt += 1;
      n.submission = { submitted_ms: Date.now() - 60_000, document_type: 'passport', files: {}, id_number: null, test: { outcome: 'verified', delay_seconds: 0 } };
    });
    await store.commit(next, { action: 'submit', version: rec.version });

    let calls = 0;
    const dying: CheckProvider = {
      name: 'test',
      check: async (input, required) => {
        calls++;
        if (calls === 1) throw new Error('worker killed');
        return new TestProvider().check(input, required);
      },
    };
    const worker = createChecksWorker({
      sessions: store,
      files: new FileStore(new S3Client({ region: 'us-east-1' }), 'unused'),
      providers: { test: dying, live: dying },
      postpone: async () => {},
      log: () => {},
    });
    const first = await worker({ Records: [message(id)] });
    expect(first.batchItemFailures).toHaveLength(1); // stays on the queue
    const [second, third] = await Promise.all([worker({ Records: [message(id)] }), worker({ Records: [message(id)] })]);
    expect(second.batchItemFailures).toEqual([]);
    expect(third.batchItemFailures).toEqual([]);
    const after = (await store.get(scope, id))!;
    expect(after.status).toBe('verified');
    expect(after.version).toBe(next.version + 1);
    const reports = await new ReportStore(svc.doc, svc.tableName).list(scope, { limit: 10, verification_session: id });
    expect(reports.data).toHaveLength(1);
    // a late duplicate changes nothing
    await worker({ Records: [message(id)] });
    expect((await store.get(scope, id))!.version).toBe(after.version);
  });

  it('storage failing the read that labels a file does not fail the checks: the file is recorded without a type', async () => {
    const { id, rec } = await submitted();
    const { transition } = await import('../../lambdas/domain/session.js');
    const key = `${svc.account}/test/${id}/1/document_front`;
    const next = transition(rec, 'submit', { updated_ms: Date.now(), last_request: null }, (n) => {
      n.attempt += 1;
      n.submission = { submitted_ms: Date.now() - 60_000, document_type: 'passport', files: { document_front: key }, id_number: null, test: { outcome: 'verified', delay_seconds: 0 } };
    });
    await store.commit(next, { action: 'submit', version: rec.version });
    class FailingReads extends FileStore {
      async head() {
        return { size: 1234, contentType: 'image/jpeg', uploadedMs: Date.now() };
      }
      async readStart(): Promise<Uint8Array | undefined> {
        throw Object.assign(new Error('Please reduce your request rate.'), { name: 'SlowDown' });
      }
    }
    const logged: string[] = [];
    const worker = createChecksWorker({
      sessions: store,
      files: new FailingReads(new S3Client({ region: 'us-east-1' }), 'unused'),
      providers: { test: new TestProvider(), live: new TestProvider() },
      postpone: async () => {},
      log: (line) => logged.push(line),
    });
    expect((await worker({ Records: [message(id)] })).batchItemFailures).toEqual([]);
    const after = (await store.get(scope, id))!;
    expect(after.status).toBe('verified');
    const report = (await svc.call('GET', `/v1/identity/verification_reports/${after.last_verification_report}`)).body;
    const file = await svc.call('GET', `/v1/files/${report.document.files[0]}`);
    expect(file.body).toMatchObject({ type: null, size: 1234 });
    expect(logged.some((l) => l.includes('recorded without a type'))).toBe(true);
  });
});
