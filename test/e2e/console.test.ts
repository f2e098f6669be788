import { mkdirSync } from 'node:fs';
import { type Server, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import AxeBuilder from '@axe-core/playwright';
import { UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { type Browser, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiKeyStore, hashKey, newSecretKey } from '../../lambdas/store/api-keys.js';
import { newAccountId } from '../../lambdas/domain/ids.js';
import { type TestService, request, settledSession, startTestService } from '../support/api.js';
import { launchChromium } from '../support/browser.js';
import { until } from '../support/until.js';

// The operator console as an operator meets it: Debian's Chromium against the local service.
const SESSIONS = '/v1/identity/verification_sessions';
/** An image as the page scripts below read it (this project's TypeScript has no DOM library). */
type Img = { complete: boolean; naturalWidth: number; getAttribute(name: string): string | null };
// A 24x16 PNG (so a decoded image has a width), made once below.
let PNG: Buffer;

let svc: TestService;
let browser: Browser;
let receiver: Server;
let receiverUrl: string;
const received: string[] = [];

beforeAll(async () => {
  svc = await startTestService({ webhooks: { schedule: { live: [1, 1], test: [1, 1] }, random: () => 0.5, timeoutMs: 2000 } });
  browser = await launchChromium();
  receiver = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString('utf8')));
    req.on('end', () => {
      received.push(body);
      res.writeHead(200).end('ok');
    });
  });
  await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
  receiverUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`;
  // Draw the test image with the browser itself: a real PNG of 24x16 pixels.
  const page = await browser.newPage();
  const dataUrl = await page.evaluate(() => {
    const c = (globalThis as any).document.createElement('canvas'); // eslint-disable-line @typescript-eslint/no-explicit-any
    c.width = 24;
    c.height = 16;
    const g = c.getContext('2d');
    g.fillStyle = '#3056c9';
    g.fillRect(0, 0, 24, 16);
    return c.toDataURL('image/png');
  });
  PNG = Buffer.from(dataUrl.split(',')[1], 'base64');
  await page.close();
});
afterAll(async () => {
  await browser?.close();
  receiver?.closeAllConnections();
  await new Promise((r) => receiver?.close(r));
  await svc?.stop();
});

async function newContext(): Promise<BrowserContext> {
  // axe injects its script: the console's nonce CSP would (rightly) refuse it.
  return browser.newContext({ bypassCSP: true, viewport: { width: 1200, height: 900 } });
}

async function noAxeViolations(page: Page) {
  const result = await new AxeBuilder({ page }).analyze();
  expect(result.violations.map((v) => `${v.id}: ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`)).toEqual([]);
}

async function signIn(page: Page, key: string) {
  await page.goto(`${svc.baseUrl}/console`);
  expect(new URL(page.url()).pathname).toBe('/console/sign-in');
  await page.getByLabel('Secret key').fill(key);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.waitForURL(/\/console\/sessions$/);
}


/** Verifies a session through its hosted page, with front, back and selfie. */
async function verifyThroughHostedPage(url: string) {
  const page = await browser.newPage();
  await page.route('https://merchant.example/**', (route) => route.fulfill({ status: 200, contentType: 'text/html', body: '<h1>Back</h1>' }));
  await page.goto(url);
  await page.getByLabel('Identity card', { exact: true }).check();
  await page.getByLabel('Photo of the front', { exact: true }).setInputFiles({ name: 'front.png', mimeType: 'image/png', buffer: PNG });
  await page.getByLabel('Photo of the back (not needed for a passport)', { exact: true }).setInputFiles({ name: 'back.png', mimeType: 'image/png', buffer: PNG });
  await page.getByLabel('Selfie', { exact: true }).setInputFiles({ name: 'me.png', mimeType: 'image/png', buffer: PNG });
  await page.getByLabel('Verification success').check();
  await page.getByRole('button', { name: 'Submit' }).click();
  await page.waitForURL('https://merchant.example/done');
  await page.close();
}

/** Signs in without a browser: the cookie and the page's CSRF token. */
async function signInByFetch(key: string) {
  const r = await fetch(`${svc.baseUrl}/console/sign-in`, {
    method: 'POST',
    redirect: 'manual',
    headers: { 'content-type': 'application/x-www-form-urlencoded', origin: svc.baseUrl },
    body: new URLSearchParams({ secret_key: key }),
  });
  expect(r.status).toBe(303);
  const setCookie = r.headers.get('set-cookie') ?? '';
  const cookie = setCookie.split(';')[0];
  const pageHtml = await (await fetch(`${svc.baseUrl}/console/sessions`, { headers: { cookie } })).text();
  const csrf = /name="csrf_token" value="([^"]+)"/.exec(pageHtml)?.[1] ?? '';
  return { cookie, csrf, setCookie };
}

const consoleGet = (path: string, cookie: string) => fetch(`${svc.baseUrl}${path}`, { headers: { cookie }, redirect: 'manual' });
const consolePost = (path: string, cookie: string, form: Record<string, string>, headers: Record<string, string> = {}) =>
  fetch(`${svc.baseUrl}${path}`, {
    method: 'POST',
    redirect: 'manual',
    headers: { cookie, 'content-type': 'application/x-www-form-urlencoded', origin: svc.baseUrl, ...headers },
    body: new URLSearchParams(form),
  });

describe('the operator console in Chromium', { timeout: 180_000 }, () => {
  it('refuses a wrong key with one message that does not say which part was wrong', async () => {
    const context = await newContext();
    const page = await context.newPage();
    await page.goto(`${svc.baseUrl}/console/sign-in`);
    await noAxeViolations(page);
    for (const key of ['sk_test_nope', newSecretKey(false), `${svc.secretKey}x`]) {
      await page.getByLabel('Secret key').fill(key);
      await page.getByRole('button', { name: 'Sign in' }).click();
      await expect(page.getByRole('alert').textContent()).resolves.toBe(
        'That secret key was not accepted. Check that you copied the whole key, and that it has not been revoked.',
      );
    }
    await noAxeViolations(page);
    await context.close();
  });

  it('signs in; lists, filters and finds sessions; shows timeline, images, deliveries; resends, redacts; signs out', async () => {
    // An endpoint pointing at a local receiver, and sessions in several states.
    const endpoint = (await svc.call('POST', '/v1/webhook_endpoints', { url: receiverUrl, 'enabled_events[]': '*' })).body;
    expect(endpoint.id).toMatch(/^we_/);
    const waiting = (await svc.call('POST', SESSIONS, { type: 'document', client_reference_id: 'order-waiting' })).body;
    const canceled = (await svc.call('POST', SESSIONS, { type: 'document', client_reference_id: 'order-canceled' })).body;
    await svc.call('POST', `${SESSIONS}/${canceled.id}/cancel`);
    const verified = (
      await svc.call('POST', SESSIONS, { type: 'document', 'options[document][require_matching_selfie]': 'true', client_reference_id: 'order-verified', return_url: 'https://merchant.example/done' })
    ).body;
    await verifyThroughHostedPage(verified.url);
    expect((await settledSession(svc, verified.id)).status).toBe('verified');

    const context = await newContext();
    const page = await context.newPage();
    await signIn(page, svc.secretKey);
    const cookies = await context.cookies();
    const c = cookies.find((k) => k.name === 'console_session')!;
    expect(c).toMatchObject({ httpOnly: true, sameSite: 'Strict', path: '/console' });
    expect(c.value).not.toContain(svc.secretKey);
    expect(c.expires - Date.now() / 1000).toBeLessThanOrEqual(3600);

    // The list: newest first, with badges; the chart draws.
    const rows = page.locator('table.list tbody tr');
    await expect(rows.first().textContent()).resolves.toContain(verified.id);
    for (const s of [waiting, canceled, verified]) await page.getByRole('link', { name: s.id }).waitFor();
    await expect(page.locator('table.list .badge.canceled').count()).resolves.toBe(1);
    await page.locator('#chart canvas').waitFor();
    await noAxeViolations(page);
    mkdirSync('docs', { recursive: true });
    await page.screenshot({ path: 'docs/console-list.png', fullPage: true });

    // Filters as the API's: status, client_reference_id.
    await page.getByLabel('Status').selectOption('canceled');
    await page.getByRole('button', { name: 'Search' }).click();
    await page.waitForURL(/status=canceled/);
    await expect(rows.count()).resolves.toBe(1);
    await expect(rows.first().textContent()).resolves.toContain(canceled.id);
    await page.goto(`${svc.baseUrl}/console/sessions?client_reference_id=order-waiting`);
    await expect(rows.count()).resolves.toBe(1);
    await expect(rows.first().textContent()).resolves.toContain(waiting.id);

    // Find one by id: its page, its timeline.
    await page.getByLabel('Session id').fill(verified.id);
    await page.getByRole('button', { name: 'Search' }).click();
    await page.waitForURL(new RegExp(`/console/sessions/${verified.id}$`));
    await until(
      'the timeline',
      async () => {
        await page.reload();
        return page.locator('.timeline .event-type').allTextContents();
      },
      (types) => types.join(',') === 'created,processing,verified',
    );
    // Each event went to the receiver: one succeeded attempt with its status code.
    await until(
      'the deliveries',
      async () => {
        await page.reload();
        return page.locator('.timeline table.attempts tbody tr').count();
      },
      (n) => n === 3,
    );
    await expect(page.locator('.timeline table.attempts tbody tr').first().textContent()).resolves.toContain('200');

    // The images load through the Files API: the bytes arrive and decode.
    const images = page.locator('.images img');
    await expect(images.count()).resolves.toBe(3);
    await until('the images to decode', () => images.evaluateAll((imgs) => (imgs as unknown as Img[]).map((i) => i.complete && i.naturalWidth)), (w) => w.every((x) => x === 24));
    const srcs = await images.evaluateAll((imgs) => (imgs as unknown as Img[]).map((i) => i.getAttribute('src')));
    for (const src of srcs) expect(src).toMatch(/^\/console\/files\/file_/);

    // Verified outputs are masked until revealed.
    const outputs = page.locator('.outputs');
    await expect(outputs.textContent()).resolves.toContain('••••••');
    await page.getByRole('button', { name: 'Reveal verified outputs' }).click();
    await expect(outputs.textContent()).resolves.not.toContain('••••••');
    await noAxeViolations(page);
    await page.goto(`${svc.baseUrl}/console/sessions/${verified.id}`);
    await page.screenshot({ path: 'docs/console-session.png', fullPage: true });

    // Cancel is refused by the state machine, with the API's message.
    const apiRefusal = await svc.call('POST', `${SESSIONS}/${verified.id}/cancel`);
    await page.getByRole('button', { name: 'Cancel session' }).click();
    await expect(page.getByRole('alert').textContent()).resolves.toBe(apiRefusal.body.error.message);

    // Resend the verified event to the receiver: a new attempt appears.
    const before = received.length;
    const verifiedEvent = page.locator('.timeline > li').filter({ hasText: 'verified' });
    await verifiedEvent.getByRole('button', { name: 'Resend' }).click();
    await page.getByText('The event was sent again').waitFor();
    await until('the resent webhook', () => received.length, (n) => n === before + 1);
    await until(
      'the new attempt',
      async () => {
        await page.reload();
        return page.locator('.timeline > li').filter({ hasText: 'verified' }).locator('table.attempts tbody tr').count();
      },
      (n) => n === 2,
    );

    // Redact: the confirmation says what will be lost; afterwards the images are gone.
    await page.getByText('Redact…').click();
    await expect(page.locator('#redact-warning').textContent()).resolves.toContain('document and selfie images');
    await page.getByRole('button', { name: 'Redact permanently' }).click();
    await page.getByText('Redaction started').waitFor();
    await until(
      'the images to go',
      async () => {
        await page.reload();
        return page.locator('.images img').count();
      },
      (n) => n === 0,
    );
    for (const src of srcs) expect((await page.request.get(`${svc.baseUrl}${src}`, { maxRedirects: 0 })).status()).toBe(404);

    // Webhooks and events pages.
    await page.getByRole('link', { name: 'Webhooks' }).click();
    await page.getByText(receiverUrl).first().waitFor();
    await expect(page.locator('.endpoint').textContent()).resolves.toMatch(/Failure rate, 24 h0% \(0 of \d+\)/);
    await noAxeViolations(page);
    await page.getByRole('link', { name: 'Events' }).click();
    await page.locator('#events-body tr').first().waitFor();
    await noAxeViolations(page);

    // Sign out: the console then sends to the sign-in page.
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.waitForURL(/\/console\/sign-in$/);
    await page.goto(`${svc.baseUrl}/console/sessions/${verified.id}`);
    expect(new URL(page.url()).pathname).toBe('/console/sign-in');
    await context.close();
  });

  it('webhook endpoints: create (secret shown once), disable, enable, delete', async () => {
    const context = await newContext();
    const page = await context.newPage();
    await signIn(page, svc.secretKey);
    await page.goto(`${svc.baseUrl}/console/webhooks`);
    await page.getByLabel('Endpoint URL').fill('http://127.0.0.1:9/console-hook');
    await page.getByRole('button', { name: 'Add endpoint' }).click();
    const secret = await page.locator('#new-secret').textContent();
    expect(secret).toMatch(/^whsec_/);
    await expect(page.getByRole('button', { name: 'Copy secret' }).isVisible()).resolves.toBe(true);
    await noAxeViolations(page);
    // (A reload would post the form again: open the page anew.)
    await page.goto(`${svc.baseUrl}/console/webhooks`);
    await expect(page.content()).resolves.not.toContain(secret!);
    const card = page.locator('.endpoint').filter({ hasText: 'console-hook' });
    await card.getByRole('button', { name: 'Disable' }).click();
    await page.locator('.endpoint').filter({ hasText: 'console-hook' }).getByText('Disabled').waitFor();
    await page.locator('.endpoint').filter({ hasText: 'console-hook' }).getByRole('button', { name: 'Enable' }).click();
    await page.locator('.endpoint').filter({ hasText: 'console-hook' }).getByText('Enabled').waitFor();
    await page.locator('.endpoint').filter({ hasText: 'console-hook' }).getByRole('button', { name: 'Delete' }).click();
    await page.getByText('Endpoint deleted.').waitFor();
    await expect(page.locator('.endpoint').filter({ hasText: 'console-hook' }).count()).resolves.toBe(0);
    // A URL the API refuses: the API's message.
    await page.getByLabel('Endpoint URL').fill('ftp://example.com/x');
    await page.getByRole('button', { name: 'Add endpoint' }).click();
    await expect(page.getByRole('alert').textContent()).resolves.toMatch(/^Invalid url/);
    await context.close();
  });

  it('the events view updates live and filters by type', async () => {
    const context = await newContext();
    const page = await context.newPage();
    await signIn(page, svc.secretKey);
    await page.goto(`${svc.baseUrl}/console/events?type=identity.verification_session.canceled`);
    const fresh = (await svc.call('POST', SESSIONS, { type: 'document' })).body;
    await svc.call('POST', `${SESSIONS}/${fresh.id}/cancel`);
    // No reload: the page polls.
    await page.locator('#events-body').getByText(fresh.id).waitFor({ timeout: 20_000 });
    const types = await page.locator('#events-body tr td:nth-child(2)').allTextContents();
    expect(new Set(types)).toEqual(new Set(['identity.verification_session.canceled']));
    await context.close();
  });

  it('works at a phone width', async () => {
    const context = await browser.newContext({ bypassCSP: true, viewport: { width: 375, height: 740 } });
    const page = await context.newPage();
    await signIn(page, svc.secretKey);
    const overflow = await page.evaluate(() => { const d = (globalThis as any).document.documentElement; return d.scrollWidth - d.clientWidth; }) // eslint-disable-line @typescript-eslint/no-explicit-any;
    expect(overflow).toBeLessThanOrEqual(0);
    await noAxeViolations(page);
    await context.close();
  });
});

describe('console sign-ins', { timeout: 60_000 }, () => {
  it('a missing or forged CSRF token, or a cross-site request, is refused and changes nothing', async () => {
    const s = (await svc.call('POST', SESSIONS, { type: 'document' })).body;
    const { cookie, csrf, setCookie } = await signInByFetch(svc.secretKey);
    expect(setCookie).toMatch(/HttpOnly/);
    expect(setCookie).toMatch(/SameSite=Strict/);
    expect(setCookie).not.toMatch(/Secure/); // plain http on 127.0.0.1
    expect(csrf.length).toBeGreaterThan(20);
    expect((await consolePost(`/console/sessions/${s.id}/cancel`, cookie, {})).status).toBe(403);
    expect((await consolePost(`/console/sessions/${s.id}/cancel`, cookie, { csrf_token: `${csrf.slice(0, -2)}xx` })).status).toBe(403);
    expect((await consolePost(`/console/sessions/${s.id}/cancel`, cookie, { csrf_token: csrf }, { origin: 'https://evil.example' })).status).toBe(403);
    expect((await consolePost(`/console/sessions/${s.id}/cancel`, cookie, { csrf_token: csrf }, { 'sec-fetch-site': 'cross-site' })).status).toBe(403);
    // Another sign-in's token does not fit this one.
    const other = await signInByFetch(svc.secretKey);
    expect((await consolePost(`/console/sessions/${s.id}/cancel`, cookie, { csrf_token: other.csrf })).status).toBe(403);
    expect((await svc.call('GET', `${SESSIONS}/${s.id}`)).body.status).toBe('requires_input');
    // The real token works.
    const ok = await consolePost(`/console/sessions/${s.id}/cancel`, cookie, { csrf_token: csrf });
    expect(ok.status).toBe(303);
    expect((await svc.call('GET', `${SESSIONS}/${s.id}`)).body.status).toBe('canceled');
  });

  it("another account's key sees none of this account's sessions, files or endpoints", async () => {
    const mine = (await svc.call('POST', SESSIONS, { type: 'document', client_reference_id: 'mine-only' })).body;
    const otherKey = newSecretKey(false);
    await new ApiKeyStore(svc.doc, svc.tableName).register(otherKey, newAccountId());
    const { cookie, csrf } = await signInByFetch(otherKey);
    const list = await (await consoleGet('/console/sessions', cookie)).text();
    expect(list).toContain('No sessions match.');
    expect(list).not.toContain(mine.id);
    expect((await consoleGet(`/console/sessions/${mine.id}`, cookie)).status).toBe(404);
    expect((await consolePost(`/console/sessions/${mine.id}/cancel`, cookie, { csrf_token: csrf })).status).toBe(404);
    expect((await svc.call('GET', `${SESSIONS}/${mine.id}`)).body.status).toBe('requires_input');
    expect(await (await consoleGet('/console/webhooks', cookie)).text()).toContain('No webhook endpoints yet.');
  });

  it('pages through sessions with cursors, filters by created date, and explains last_error in words', async () => {
    const key = newSecretKey(false);
    await new ApiKeyStore(svc.doc, svc.tableName).register(key, newAccountId());
    const created: string[] = [];
    for (let i = 0; i < 23; i++) created.push((await request(svc.baseUrl, key, 'POST', SESSIONS, { type: 'document' })).body.id);
    const newestFirst = [...created].reverse();
    const { cookie } = await signInByFetch(key);
    const idsOn = (html: string) => [...html.matchAll(/<tr><td><a href="\/console\/sessions\/(vs_[0-9A-Za-z]+)">/g)].map((m) => m[1]);
    const link = (html: string, rel: string) => /<a rel="(?:next|prev)"/.test(html) ? new RegExp(`<a rel="${rel}" href="([^"]+)"`).exec(html)?.[1]?.replace(/&amp;/g, '&') : undefined;
    const first = await (await consoleGet('/console/sessions', cookie)).text();
    expect(idsOn(first)).toEqual(newestFirst.slice(0, 20));
    expect(link(first, 'prev')).toBeUndefined();
    const second = await (await consoleGet(link(first, 'next')!, cookie)).text();
    expect(idsOn(second)).toEqual(newestFirst.slice(20));
    expect(link(second, 'next')).toBeUndefined();
    const back = await (await consoleGet(link(second, 'prev')!, cookie)).text();
    expect(idsOn(back)).toEqual(newestFirst.slice(0, 20));

    const tomorrow = new Date(Date.now() + 86_400_000).toISOString().slice(0, 10);
    const today = new Date().toISOString().slice(0, 10);
    expect(idsOn(await (await consoleGet(`/console/sessions?created_from=${tomorrow}`, cookie)).text())).toEqual([]);
    expect(idsOn(await (await consoleGet(`/console/sessions?created_from=${today}&created_to=${today}`, cookie)).text())).toHaveLength(20);
    expect((await consoleGet('/console/sessions?created_from=yesterday', cookie)).status).toBe(400);

    // A failed verification: the code, and what it means.
    const s = (await request(svc.baseUrl, key, 'POST', SESSIONS, { type: 'document' })).body;
    await request(svc.baseUrl, null, 'POST', `${SESSIONS}/${s.id}/submit`, { client_secret: s.client_secret, test_outcome: 'unverified', test_error_code: 'document_expired' });
    await until('the checks', () => request(svc.baseUrl, key, 'GET', `${SESSIONS}/${s.id}`), (r) => r.body.status === 'requires_input' && r.body.last_error !== null);
    const detail = await (await consoleGet(`/console/sessions/${s.id}`, cookie)).text();
    expect(detail).toContain('<strong>document_expired</strong>: The document has expired.');
  });

  it('a test-mode sign-in does not open live objects of the same account', async () => {
    const liveKey = newSecretKey(true);
    await new ApiKeyStore(svc.doc, svc.tableName).register(liveKey, svc.account);
    const live = (await request(svc.baseUrl, liveKey, 'POST', SESSIONS, { type: 'document' })).body;
    expect(live.livemode).toBe(true);
    const test = await signInByFetch(svc.secretKey);
    expect((await consoleGet(`/console/sessions/${live.id}`, test.cookie)).status).toBe(404);
    expect(await (await consoleGet('/console/sessions', test.cookie)).text()).not.toContain(live.id);
    // The live key's own sign-in sees it, marked as live.
    const liveSignIn = await signInByFetch(liveKey);
    const html = await (await consoleGet(`/console/sessions/${live.id}`, liveSignIn.cookie)).text();
    expect(html).toContain('Live mode');
  });

  it('only a console sign-in opens the console: not an API key, not a page token; a revoked key closes it', async () => {
    const s = (await svc.call('POST', SESSIONS, { type: 'document' })).body;
    const pageToken = new URL(s.url).pathname.split('/').pop()!;
    const byKey = await fetch(`${svc.baseUrl}/console/sessions`, { headers: { authorization: `Bearer ${svc.secretKey}` }, redirect: 'manual' });
    expect(byKey.status).toBe(303);
    expect(byKey.headers.get('location')).toBe('/console/sign-in');
    expect((await consoleGet('/console/sessions', `console_session=${pageToken}`)).headers.get('location')).toBe('/console/sign-in');

    const key = newSecretKey(false);
    await new ApiKeyStore(svc.doc, svc.tableName).register(key, newAccountId());
    const { cookie } = await signInByFetch(key);
    expect((await consoleGet('/console/sessions', cookie)).status).toBe(200);
    expect((await consoleGet('/console/sessions/%E0%A4%A', cookie)).status).toBe(404);
    await svc.doc.send(new UpdateCommand({ TableName: svc.tableName, Key: { pk: `KEY#${hashKey(key)}`, sk: 'KEY' }, UpdateExpression: 'SET revoked = :t', ExpressionAttributeValues: { ':t': true } }));
    expect((await consoleGet('/console/sessions', cookie)).headers.get('location')).toBe('/console/sign-in');
  });
});
