import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAX_FILE_BYTES } from '../../lambdas/store/file-store.js';
import { type TestService, settledSession, startTestService } from '../support/api.js';
import { launchChromium } from '../support/browser.js';

// The hosted page as a user meets it: Debian's Chromium, driven by playwright-core.
const SESSIONS = '/v1/identity/verification_sessions';
const PNG = Buffer.from('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==', 'base64');

let svc: TestService;
let browser: Browser;

beforeAll(async () => {
  svc = await startTestService();
  browser = await launchChromium();
});
afterAll(async () => {
  await browser?.close();
  await svc?.stop();
});


describe('the hosted verification page in Chromium', () => {
  it('success: open the url, upload, choose success, submit, and the session is verified with a report', async () => {
    const s = (await svc.call('POST', SESSIONS, 'type=document&options[document][allowed_types][]=passport&options[document][require_matching_selfie]=true&return_url=https://merchant.example/done')).body;
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    page.on('console', (m) => m.type() === 'error' && errors.push(m.text()));
    await page.route('https://merchant.example/**', (route) => route.fulfill({ status: 200, contentType: 'text/html', body: '<h1>Back at the merchant</h1>' }));
    await page.goto(s.url);
    expect(await page.title()).toBe('Verify your identity');
    // Only what the session asks for: a passport and a selfie, no id number.
    expect(await page.getByLabel('Passport', { exact: true }).isChecked()).toBe(true);
    expect(await page.getByLabel("Driver's license").count()).toBe(0);
    expect(await page.getByLabel('Selfie', { exact: true }).count()).toBe(1);
    expect(await page.getByLabel('Number').count()).toBe(0);
    await page.getByLabel('Photo of the front', { exact: true }).setInputFiles({ name: 'front.png', mimeType: 'image/png', buffer: PNG });
    await page.getByLabel('Selfie', { exact: true }).setInputFiles({ name: 'me.png', mimeType: 'image/png', buffer: PNG });
    await page.getByLabel('Verification success').check();
    await page.getByRole('button', { name: 'Submit' }).click();
    await page.waitForURL('https://merchant.example/done');
    expect(errors).toEqual([]);
    const done = await settledSession(svc, s.id);
    expect(done.status).toBe('verified');
    expect(done.last_verification_report).toMatchObject({ object: 'identity.verification_report', verification_session: s.id });
    expect(done.last_verification_report.document.files).toHaveLength(1);
    await page.close();
  });

  it('a file of 10 MB + 1 that is no picture is refused before any upload; storage’s EntityTooLarge is shown; a smaller photo then goes through', { timeout: 90_000 }, async () => {
    const s = (await svc.call('POST', SESSIONS, 'type=document&options[document][allowed_types][]=passport')).body;
    const page = await browser.newPage();
    const storage = new URL(svc.s3.endpoint).origin;
    const posts: string[] = [];
    page.on('request', (r) => r.method() === 'POST' && r.url().startsWith(storage) && posts.push(r.url()));
    await page.goto(s.url);
    await page.getByLabel('Photo of the front', { exact: true }).setInputFiles({ name: 'huge.png', mimeType: 'image/png', buffer: Buffer.alloc(MAX_FILE_BYTES + 1) });
    await page.locator('#document_front-error').getByText('Photo of the front could not be read as a picture').waitFor();
    expect(posts).toEqual([]);

    // A picture re-encoded on the device stays far below 10 MB; what storage says to a larger one (S3's
    // EntityTooLarge, test/integration/uploads.test.ts) is answered here in its place, once.
    let refuse = true;
    await page.route(`${storage}/**`, (route) => {
      if (!refuse || route.request().method() !== 'POST') return route.continue();
      refuse = false;
      return route.fulfill({
        status: 400,
        headers: { 'access-control-allow-origin': '*', 'content-type': 'application/xml' },
        body: `<?xml version="1.0" encoding="UTF-8"?><Error><Code>EntityTooLarge</Code><Message>Your proposed upload exceeds the maximum allowed size</Message></Error>`,
      });
    });
    await page.getByLabel('Photo of the front', { exact: true }).setInputFiles({ name: 'front.png', mimeType: 'image/png', buffer: PNG });
    await page.getByRole('img', { name: 'Preview: Photo of the front' }).waitFor();
    await page.getByLabel('Verification success').check();
    await page.getByRole('button', { name: 'Submit' }).click();
    await page.getByRole('alert').getByText('Photo of the front is larger than 10 MB').waitFor();
    expect(await page.getByRole('button', { name: 'Submit' }).isEnabled()).toBe(true);
    expect((await svc.call('GET', `${SESSIONS}/${s.id}`)).body.status).toBe('requires_input');

    await page.getByRole('button', { name: 'Retake: Photo of the front' }).waitFor();
    await page.getByLabel('Photo of the front', { exact: true }).setInputFiles({ name: 'front.png', mimeType: 'image/png', buffer: PNG });
    await page.getByRole('button', { name: 'Submit' }).click();
    await page.getByText('Your information was submitted').waitFor();
    const done = await settledSession(svc, s.id);
    expect(done.status).toBe('verified');
    expect(done.last_verification_report.document.files).toHaveLength(1);
    await page.close();
  });

  it('failure with a chosen code, then a fresh url from a retrieve, then success', async () => {
    const s = (await svc.call('POST', SESSIONS, 'type=document')).body;
    const page = await browser.newPage();
    await page.goto(s.url);
    await page.getByLabel('Verification failure').check();
    await page.getByLabel('Error to report on failure').selectOption('document_expired');
    await page.getByRole('button', { name: 'Submit' }).click();
    await page.getByText('Your information was submitted').waitFor();
    const failed = await settledSession(svc, s.id);
    expect(failed.status).toBe('requires_input');
    expect(failed.last_error.code).toBe('document_expired');

    // The used link now explains itself; the retrieve's new link works and shows the last error.
    await page.goto(s.url);
    expect(await page.locator('h1').textContent()).toBe('Link not valid');
    const fresh = (await svc.call('GET', `${SESSIONS}/${s.id}`)).body.url;
    await page.goto(fresh);
    expect(await page.getByRole('alert').filter({ hasText: 'could not be verified' }).textContent()).toContain('expired');
    await page.getByLabel('Verification success').check();
    await page.getByRole('button', { name: 'Submit' }).click();
    await page.getByText('Your information was submitted').waitFor();
    expect((await settledSession(svc, s.id)).status).toBe('verified');
    await page.goto(fresh);
    expect(await page.locator('h1').textContent()).toBe('Already verified');
    await page.close();
  });

  it('an id_number session asks for the person and the number', async () => {
    const s = (await svc.call('POST', SESSIONS, 'type=id_number')).body;
    const page = await browser.newPage();
    await page.goto(s.url);
    expect(await page.getByLabel('Photo of the front', { exact: true }).count()).toBe(0);
    await page.getByLabel('First name').fill('Jenny');
    await page.getByLabel('Last name').fill('Rosen');
    await page.getByLabel('Date of birth').fill('1901-01-01');
    await page.getByLabel('Number').fill('000000000');
    await page.getByRole('button', { name: 'Submit' }).click();
    await page.getByText('Your information was submitted').waitFor();
    const done = await settledSession(svc, s.id);
    expect(done.status).toBe('verified');
    expect(done.last_verification_report.id_number.status).toBe('verified');
    await page.close();
  });
});
