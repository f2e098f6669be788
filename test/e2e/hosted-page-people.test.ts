import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { GetObjectCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import AxeBuilder from '@axe-core/playwright';
import { type Browser, type BrowserContext, type BrowserContextOptions, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { GetCommand } from '@aws-sdk/lib-dynamodb';
import { sessionPrefix } from '../../lambdas/store/file-store.js';
import { sessionKey } from '../../lambdas/store/session-store.js';
import { type TestService, settledSession, startTestService } from '../support/api.js';
import { launchChromium } from '../support/browser.js';

// Browser globals inside page.evaluate callbacks (the project compiles without the DOM library).
declare const document: any;
declare const getComputedStyle: (el: unknown) => { outlineStyle: string; outlineWidth: string; backgroundColor: string };
declare const matchMedia: (q: string) => { matches: boolean };
type HTMLElement = any;
type HTMLImageElement = any;

// The hosted page for the people who use it: their language, their phone, small uploads, accessibility, the operator's brand.
const SESSIONS = '/v1/identity/verification_sessions';
const DOCS = join(import.meta.dirname, '../../docs');
/** A 1x1 PNG. */
const PNG_1X1 = Buffer.from('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==', 'base64');

/** Google Pixel 7, as Chrome's device toolbar describes it. */
const PIXEL_7: BrowserContextOptions = {
  viewport: { width: 412, height: 915 },
  screen: { width: 412, height: 915 },
  deviceScaleFactor: 2.625,
  isMobile: true,
  hasTouch: true,
  userAgent: 'Mozilla/5.0 (Linux; Android 14; Pixel 7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36',
};
const DESKTOP: BrowserContextOptions = { viewport: { width: 1280, height: 900 } };
/** The page has a nonce CSP; axe injects its own script. */
const GERMAN: BrowserContextOptions = { locale: 'de-DE', extraHTTPHeaders: { 'accept-language': 'de-DE,de;q=0.9,en;q=0.5' }, bypassCSP: true };

// Chromium on a shared machine: a page with a 12-megapixel photo takes its time.
vi.setConfig({ testTimeout: 120_000 });

let svc: TestService;
let browser: Browser;
/** A 12-megapixel phone photo: JPEG, EXIF with orientation 6 (turned 90° clockwise) and GPS. */
let fixture: Buffer;
const sizes: Record<string, number> = {};

// --- JPEG and EXIF, by hand -------------------------------------------------------------------------------

/** A minimal big-endian EXIF APP1 segment: IFD0 (Orientation, GPSInfo) and a GPS IFD (latitude, longitude). */
function exifSegment(orientation: number): Buffer {
  const tiff = Buffer.alloc(140);
  tiff.write('MM', 0, 'latin1');
  tiff.writeUInt16BE(42, 2);
  tiff.writeUInt32BE(8, 4);
  const entry = (at: number, tag: number, type: number, count: number, value: (b: Buffer, at: number) => void) => {
    tiff.writeUInt16BE(tag, at);
    tiff.writeUInt16BE(type, at + 2);
    tiff.writeUInt32BE(count, at + 4);
    value(tiff, at + 8);
  };
  // IFD0 at 8: 2 entries, then the next-IFD offset (none).
  tiff.writeUInt16BE(2, 8);
  entry(10, 0x0112, 3, 1, (b, at) => b.writeUInt16BE(orientation, at));
  entry(22, 0x8825, 4, 1, (b, at) => b.writeUInt32BE(38, at));
  tiff.writeUInt32BE(0, 34);
  // GPS IFD at 38: 4 entries; the rationals follow at 92 (latitude) and 116 (longitude).
  tiff.writeUInt16BE(4, 38);
  entry(40, 0x0001, 2, 2, (b, at) => b.write('N\0', at, 'latin1'));
  entry(52, 0x0002, 5, 3, (b, at) => b.writeUInt32BE(92, at));
  entry(64, 0x0003, 2, 2, (b, at) => b.write('E\0', at, 'latin1'));
  entry(76, 0x0004, 5, 3, (b, at) => b.writeUInt32BE(116, at));
  tiff.writeUInt32BE(0, 88);
  [52, 1, 31, 1, 1234, 100].forEach((v, i) => tiff.writeUInt32BE(v, 92 + 4 * i)); // 52° 31' 12.34" N (Berlin)
  [13, 1, 24, 1, 3456, 100].forEach((v, i) => tiff.writeUInt32BE(v, 116 + 4 * i)); // 13° 24' 34.56" E
  const payload = Buffer.concat([Buffer.from('Exif\0\0', 'latin1'), tiff]);
  const head = Buffer.alloc(4);
  head.writeUInt16BE(0xffe1, 0);
  head.writeUInt16BE(payload.length + 2, 2);
  return Buffer.concat([head, payload]);
}

/** The JPEG with an EXIF segment right after its start-of-image marker. */
const withExif = (jpeg: Buffer, orientation: number) => Buffer.concat([jpeg.subarray(0, 2), exifSegment(orientation), jpeg.subarray(2)]);

/** The markers of a JPEG's header segments (up to the scan) and its frame size. */
function jpegInfo(buf: Buffer) {
  expect(buf.readUInt16BE(0)).toBe(0xffd8);
  const markers: number[] = [];
  let width = 0;
  let height = 0;
  let at = 2;
  while (at < buf.length) {
    if (buf[at] !== 0xff) throw new Error(`not a marker at ${at}`);
    const marker = buf[at + 1];
    if (marker === 0xff) {
      at += 1;
      continue;
    }
    const length = buf.readUInt16BE(at + 2);
    markers.push(marker);
    if (marker >= 0xc0 && marker <= 0xcf && ![0xc4, 0xc8, 0xcc].includes(marker)) {
      height = buf.readUInt16BE(at + 5);
      width = buf.readUInt16BE(at + 7);
    }
    if (marker === 0xda) break;
    at += 2 + length;
  }
  return { markers, width, height };
}

// --- the service and the browser ----------------------------------------------------------------------------

beforeAll(async () => {
  mkdirSync(DOCS, { recursive: true });
  svc = await startTestService();
  browser = await launchChromium();
  // A 4000x3000 picture with gradients and grain (as a phone's sensor makes), encoded by Chromium at 0.92.
  const page = await browser.newPage();
  const base64 = await page.evaluate(async () => {
    const w = 4000;
    const h = 3000;
    const canvas = document.createElement('canvas');
    canvas.width = w;
    canvas.height = h;
    const g = canvas.getContext('2d')!;
    const img = g.createImageData(w, h);
    const d = img.data;
    let seed = 7;
    for (let p = 0, i = 0; p < w * h; p++, i += 4) {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      const grain = (seed >> 16) & 31;
      const x = p % w;
      const y = (p / w) | 0;
      d[i] = (x / 16 + grain) & 255;
      d[i + 1] = (y / 12 + grain) & 255;
      d[i + 2] = ((x + y) / 28 + grain) & 255;
      d[i + 3] = 255;
    }
    g.putImageData(img, 0, 0);
    const blob = await new Promise<Blob>((r) => canvas.toBlob((b: Blob | null) => r(b!), 'image/jpeg', 0.92));
    const bytes = new Uint8Array(await blob.arrayBuffer());
    let s = '';
    for (let i = 0; i < bytes.length; i += 0x8000) s += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
    return btoa(s);
  });
  await page.close();
  fixture = withExif(Buffer.from(base64, 'base64'), 6);
  sizes.fixture_bytes = fixture.length;
}, 180_000);

afterAll(async () => {
  if (Object.keys(sizes).length) console.log(`upload sizes: ${JSON.stringify(sizes)}`);
  await browser?.close();
  await svc?.stop();
});


async function newSession(form = 'type=document&options[document][allowed_types][]=id_card&options[document][allowed_types][]=passport') {
  const r = await svc.call('POST', SESSIONS, form);
  expect(r.status).toBe(200);
  return r.body as { id: string; url: string };
}

/** axe-core's findings on the page as it is now: rule id and the first offending element, for a readable failure. */
async function axeViolations(page: Page) {
  const result = await new AxeBuilder({ page }).analyze();
  return result.violations.map((v) => `${v.id}: ${v.nodes[0]?.target.join(' ')} (${v.help})`);
}

/** The stored image of one slot of the session, read back from the local S3 stand-in. */
async function storedImage(sessionId: string, slot: string): Promise<Buffer> {
  const prefix = sessionPrefix({ account: svc.account, livemode: false }, sessionId);
  const list = await svc.s3.client.send(new ListObjectsV2Command({ Bucket: svc.s3.bucket, Prefix: prefix }));
  const key = (list.Contents ?? []).map((o) => o.Key!).find((k) => k.endsWith(`/${slot}`));
  expect(key, `no ${slot} stored under ${prefix}`).toBeDefined();
  const obj = await svc.s3.client.send(new GetObjectCommand({ Bucket: svc.s3.bucket, Key: key }));
  return Buffer.from(await obj.Body!.transformToByteArray());
}

async function withContext<T>(opts: BrowserContextOptions, run: (page: Page, context: BrowserContext) => Promise<T>): Promise<T> {
  const context = await browser.newContext(opts);
  const page = await context.newPage();
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  page.on('console', (m) => m.type() === 'error' && !/Failed to load resource/.test(m.text()) && errors.push(m.text()));
  try {
    const out = await run(page, context);
    expect(errors).toEqual([]);
    return out;
  } finally {
    await context.close();
  }
}

/** Every control a finger can hit, smaller than 44x44 CSS px: none expected. */
async function smallTouchTargets(page: Page) {
  return page.evaluate(() => {
    const small: string[] = [];
    const targets = document.querySelectorAll('a, button, select, input:not([type=radio]):not([type=checkbox]), label.choice');
    for (const el of Array.from(targets) as HTMLElement[]) {
      const r = el.getBoundingClientRect();
      if (r.width === 0 && r.height === 0) continue; // not shown
      const tooSmall = r.height < 44 || r.width < 44;
      if (tooSmall) small.push(`${el.tagName.toLowerCase()}#${el.id || el.textContent?.trim().slice(0, 20)} ${Math.round(r.width)}x${Math.round(r.height)}`);
    }
    return small;
  });
}

describe('the page in the person’s language', () => {
  it('German from Accept-Language de-DE: <html lang>, the form, the test panel; the switcher keeps the link and changes the language', async () => {
    const s = await newSession();
    await withContext({ ...DESKTOP, ...GERMAN }, async (page) => {
      await page.goto(s.url);
      expect(await page.getAttribute('html', 'lang')).toBe('de');
      expect(await page.title()).toBe('Identität bestätigen');
      expect(await page.locator('h1').textContent()).toBe('Bestätigen Sie Ihre Identität');
      expect(await page.getByLabel('Personalausweis').isChecked()).toBe(true);
      expect(await page.getByLabel('Foto der Vorderseite', { exact: true }).count()).toBe(1);
      expect(await page.getByRole('group', { name: 'Testmodus: Ergebnis wählen' }).count()).toBe(1);
      expect(await page.getByRole('button', { name: 'Absenden' }).count()).toBe(1);
      expect(await axeViolations(page)).toEqual([]);

      // The switcher: plain links to the same path (token included), on our origin.
      const nav = page.getByRole('navigation', { name: 'Sprache' });
      expect(await nav.getByRole('link').allTextContents()).toEqual(['English', 'Deutsch', 'Français', 'Español', 'Italiano']);
      expect(await nav.getByRole('link', { name: 'Deutsch' }).getAttribute('aria-current')).toBe('true');
      await nav.getByRole('link', { name: 'Italiano' }).click();
      await page.waitForURL(`${s.url}?locale=it`);
      expect(await page.getAttribute('html', 'lang')).toBe('it');
      expect(await page.locator('h1').textContent()).toBe('Verifichi la sua identità');
      await page.goto(`${s.url}?locale=fr`);
      expect(await page.getByRole('button', { name: 'Envoyer' }).count()).toBe(1);
      await page.goto(`${s.url}?locale=es`);
      expect(await page.getByRole('button', { name: 'Enviar' }).count()).toBe(1);
    });
  });

  it('?locale=en wins over a German browser; the used link and the thank-you page speak the same language', async () => {
    const s = await newSession('type=document');
    await withContext({ ...DESKTOP, ...GERMAN }, async (page) => {
      await page.goto(`${s.url}?locale=en`);
      expect(await page.getAttribute('html', 'lang')).toBe('en');
      expect(await page.locator('h1').textContent()).toBe('Verify your identity');
      await page.getByLabel('Verification success').check();
      await page.getByRole('button', { name: 'Submit' }).click();
      await page.getByRole('status').getByText('Your information was submitted').waitFor();
      expect(await axeViolations(page)).toEqual([]); // success
      // The link is used now: the page says so, in German for this browser, in English when asked.
      await settledSession(svc, s.id);
      await page.goto(s.url);
      expect(await page.locator('h1').textContent()).toBe('Bereits bestätigt');
      expect(await page.getAttribute('html', 'lang')).toBe('de');
      expect(await axeViolations(page)).toEqual([]); // used link
      await page.goto(`${s.url}?locale=en`);
      expect(await page.locator('h1').textContent()).toBe('Already verified');
    });
  });

  it('a failed verification shows the reason in German on the fresh link, announced as an alert', async () => {
    const s = await newSession('type=document');
    await withContext({ ...DESKTOP, ...GERMAN }, async (page) => {
      await page.goto(s.url);
      await page.getByLabel('Verifizierung fehlgeschlagen').check();
      await page.getByLabel('Fehler, der bei Misserfolg gemeldet wird').selectOption('document_expired');
      await page.getByRole('button', { name: 'Absenden' }).click();
      await page.getByRole('status').getByText('Ihre Angaben wurden übermittelt').waitFor();
      expect((await settledSession(svc, s.id)).last_error.code).toBe('document_expired');
      const fresh = (await svc.call('GET', `${SESSIONS}/${s.id}`)).body.url;
      await page.goto(fresh);
      expect(await page.getByRole('alert').filter({ hasText: 'abgelaufen' }).textContent()).toBe(
        'Ihr letzter Versuch konnte nicht bestätigt werden: Das Dokument ist abgelaufen. Bitte versuchen Sie es noch einmal.',
      );
      expect(await axeViolations(page)).toEqual([]); // failure
    });
  });
});

describe('links as people paste them', () => {
  it('a link with trailing punctuation (from a chat) opens its page; a /verify/ link without a token says “link not valid” in German, not JSON', async () => {
    const s = await newSession('type=document');
    const origin = new URL(s.url).origin;
    await withContext({ ...PIXEL_7, ...GERMAN }, async (page) => {
      for (const tail of ['.', ')', '/', ').', ',', '%22', "'"]) {
        const res = await page.goto(`${s.url}${tail}`);
        expect(page.url(), tail).toBe(s.url);
        expect(res!.status(), tail).toBe(200);
        expect(await page.locator('h1').textContent()).toBe('Bestätigen Sie Ihre Identität');
      }
      // The language asked for stays.
      await page.goto(`${s.url}).?locale=fr`);
      expect(page.url()).toBe(`${s.url}?locale=fr`);
      expect(await page.getAttribute('html', 'lang')).toBe('fr');
      for (const path of ['/verify', '/verify/', `/verify/${s.id}`, `/verify/${s.id}/`, `/verify/${s.id}.`, `${new URL(s.url).pathname}/nothing`]) {
        const res = await page.goto(origin + path);
        expect(res!.status(), path).toBe(404);
        expect(res!.headers()['content-type'], path).toMatch(/^text\/html/);
        expect(await page.locator('h1').textContent(), path).toBe('Link ungültig');
        expect(await page.getAttribute('html', 'lang')).toBe('de');
      }
      expect(await page.locator('p').textContent()).toBe('Dieser Verifizierungslink ist ungültig. Fordern Sie einen neuen an.');
      expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(412);
      expect(await axeViolations(page)).toEqual([]); // link not valid
    });
    // The merchants' API is unchanged: a path it does not know is still its JSON 404.
    const api = await svc.call('GET', `${SESSIONS}/${s.id}/nothing`);
    expect(api.status).toBe(404);
    expect(api.body.error.message).toContain('Unrecognized request URL');
    // And the page's own POST routes answer as before.
    const post = await fetch(`${s.url}./submit`, { method: 'POST', headers: { accept: 'application/json' }, body: '' });
    expect(post.status).toBe(404);
    expect(((await post.json()) as any).error.message).toContain('Unrecognized request URL');
  });
});

describe('on a phone (Pixel 7, touch)', () => {
  it('a 12-megapixel photo with GPS is previewed, retaken, downscaled to under 1.5 MB without EXIF, and verified', { timeout: 180_000 }, async () => {
    const s = await newSession('type=document&options[document][allowed_types][]=id_card');
    await withContext({ ...PIXEL_7, ...GERMAN }, async (page) => {
      await page.goto(s.url);
      expect(await page.evaluate(() => matchMedia('(pointer: coarse)').matches)).toBe(true);
      // Narrow layout: nothing wider than the screen.
      expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(412);
      const front = page.getByLabel('Foto der Vorderseite', { exact: true });
      expect(await front.getAttribute('capture')).toBe('environment');
      expect(await smallTouchTargets(page)).toEqual([]);

      const uploads: number[] = []; // POSTs to storage
      page.on('request', (r) => {
        if (r.method() === 'POST' && r.url().startsWith(new URL(svc.s3.endpoint).origin)) uploads.push(1);
      });
      await front.setInputFiles({ name: 'IMG_1234.jpg', mimeType: 'image/jpeg', buffer: fixture });
      const preview = page.getByRole('img', { name: 'Vorschau: Foto der Vorderseite' });
      await preview.waitFor();
      // Upright: EXIF orientation 6 turns the 4000x3000 sensor image into a portrait.
      const shown = await preview.evaluate((img: HTMLImageElement) => img.decode().then(() => [img.naturalWidth, img.naturalHeight]));
      expect(shown).toEqual([1500, 2000]);
      expect(await smallTouchTargets(page)).toEqual([]);

      // Retake: the camera (a file chooser here) opens again, and the new photo replaces the preview.
      const firstSrc = await preview.getAttribute('src');
      const chooser = page.waitForEvent('filechooser');
      await page.getByRole('button', { name: 'Neu aufnehmen: Foto der Vorderseite' }).tap();
      await (await chooser).setFiles({ name: 'IMG_1235.jpg', mimeType: 'image/jpeg', buffer: fixture });
      await page.waitForFunction((src) => document.querySelector('.preview img')?.getAttribute('src') !== src, firstSrc);
      await page.screenshot({ path: join(DOCS, 'page-phone-de.png'), fullPage: true });

      // The bar's last value (the form, bar included, gives way to the thank-you message once submitted).
      await page.evaluate(() => {
        const bar = document.querySelector('progress');
        new (globalThis as any).MutationObserver(() => ((globalThis as any).lastProgress = bar.getAttribute('value'))).observe(bar, { attributes: true });
      });
      await page.getByLabel('Verifizierung erfolgreich').tap();
      await page.getByRole('button', { name: 'Absenden' }).tap();
      await page.getByRole('status').getByText('Ihre Angaben wurden übermittelt').waitFor();
      expect(await page.evaluate(() => (globalThis as any).lastProgress)).toBe('100');
      expect(uploads).toHaveLength(1);
    });
    const done = await settledSession(svc, s.id);
    expect(done.status).toBe('verified');
    const stored = await storedImage(s.id, 'document_front');
    sizes.stored_bytes = stored.length;
    const info = jpegInfo(stored);
    expect(stored.length).toBeLessThan(1.5 * 1024 * 1024);
    expect(Math.max(info.width, info.height)).toBeLessThanOrEqual(2000);
    expect([info.width, info.height]).toEqual([1500, 2000]);
    // No APP1 (EXIF, XMP) segment, and nothing of the GPS position left anywhere in the file.
    expect(info.markers).not.toContain(0xe1);
    expect(stored.includes(Buffer.from('Exif\0\0', 'latin1'))).toBe(false);
    expect(fixture.includes(Buffer.from('Exif\0\0', 'latin1'))).toBe(true);
    expect(jpegInfo(fixture).markers).toContain(0xe1);
    expect(fixture.length).toBeGreaterThan(3 * 1024 * 1024);
  });
});

describe('upload errors and accessibility', () => {
  it('a failed upload is shown, announced and retried alone: the other photo is not sent again', { timeout: 120_000 }, async () => {
    const s = await newSession('type=document&options[document][allowed_types][]=passport&options[document][require_matching_selfie]=true');
    await withContext({ ...DESKTOP, ...GERMAN }, async (page) => {
      await page.goto(s.url);
      // Every POST to storage, by the slot its signed key names; the first selfie upload fails as a dropped connection would.
      const storage = new URL(svc.s3.endpoint).origin;
      const slotOf = (body: string | null) => /name="key"\r\n\r\n[^\r]*\/(\w+)\r\n/.exec(body ?? '')?.[1] ?? '?';
      const posts: string[] = [];
      page.on('request', (r) => {
        if (r.method() === 'POST' && r.url().startsWith(storage)) posts.push(slotOf(r.postData()));
      });
      let failNext = false;
      await page.route(`${storage}/**`, async (route) => {
        if (failNext && route.request().method() === 'POST' && slotOf(route.request().postData()) === 'selfie') {
          failNext = false;
          return route.abort('connectionreset');
        }
        return route.continue();
      });
      const small = (await page.evaluate(async () => {
        const c = document.createElement('canvas');
        c.width = 640;
        c.height = 480;
        const g = c.getContext('2d')!;
        g.fillStyle = '#4a7';
        g.fillRect(0, 0, 640, 480);
        const b = await new Promise<Blob>((r) => c.toBlob((x: Blob | null) => r(x!), 'image/jpeg', 0.9));
        return Array.from(new Uint8Array(await b.arrayBuffer()));
      })) as number[];
      const photo = Buffer.from(small);
      failNext = true;
      await page.getByLabel('Foto der Vorderseite', { exact: true }).setInputFiles({ name: 'front.jpg', mimeType: 'image/jpeg', buffer: photo });
      await page.getByLabel('Selfie', { exact: true }).setInputFiles({ name: 'me.jpg', mimeType: 'image/jpeg', buffer: photo });
      await page.getByRole('img', { name: 'Vorschau: Selfie' }).waitFor();
      await page.getByRole('button', { name: 'Absenden' }).click();
      const alert = page.locator('#alert');
      await alert.getByText('Selfie konnte nicht hochgeladen werden').waitFor();
      expect(await page.locator('#selfie-error').textContent()).toContain('Ihre anderen Fotos bleiben erhalten');
      // The polite status line does not go on saying 'Wird hochgeladen: Selfie' against the alert.
      expect(await page.getByRole('status').textContent()).toBe('');
      expect(posts).toEqual(['document_front', 'selfie']);
      expect((await svc.call('GET', `${SESSIONS}/${s.id}`)).body.status).toBe('requires_input');
      expect(await axeViolations(page)).toEqual([]); // upload error

      await page.getByRole('button', { name: 'Hochladen erneut versuchen: Selfie' }).click();
      // Exact: by default the text would also match the status before it, 'Wird hochgeladen: Selfie', and the test
      // would read the count while the upload was still under way.
      await page.getByRole('status').getByText('Hochgeladen: Selfie', { exact: true }).waitFor();
      // The retry reused the selfie's upload URL (no new one asked for), and the front was not sent again.
      const item = await svc.doc.send(new GetCommand({ TableName: svc.tableName, Key: sessionKey({ account: svc.account, livemode: false }, s.id), ConsistentRead: true }));
      expect(item.Item?.uploads_issued).toBe(2);
      expect(posts).toEqual(['document_front', 'selfie', 'selfie']);
      await page.getByLabel('Verifizierung erfolgreich').check();
      await page.getByRole('button', { name: 'Absenden' }).click();
      await page.getByRole('status').getByText('Ihre Angaben wurden übermittelt').waitFor();
    });
    const done = await settledSession(svc, s.id);
    expect(done.status).toBe('verified');
    expect(done.last_verification_report.document.files).toHaveLength(1);
    expect(done.last_verification_report.selfie.selfie).toMatch(/^file_/);
  });

  it('a bad connection: ten failed tries of one photo use one upload URL, and the eleventh goes through', { timeout: 120_000 }, async () => {
    const s = await newSession('type=document&options[document][allowed_types][]=passport');
    await withContext({ ...DESKTOP, ...GERMAN }, async (page) => {
      await page.goto(s.url);
      const storage = new URL(svc.s3.endpoint).origin;
      let down = true;
      let tries = 0;
      let urlRequests = 0;
      page.on('request', (r) => {
        if (r.method() === 'POST' && new URL(r.url()).pathname.endsWith('/uploads')) urlRequests++;
      });
      await page.route(`${storage}/**`, async (route) => {
        if (route.request().method() !== 'POST') return route.continue();
        tries++;
        return down ? route.abort('connectionreset') : route.continue();
      });
      await page.getByLabel('Foto der Vorderseite', { exact: true }).setInputFiles({ name: 'front.png', mimeType: 'image/png', buffer: PNG_1X1 });
      await page.getByRole('img', { name: 'Vorschau: Foto der Vorderseite' }).waitFor();
      await page.getByLabel('Verifizierung erfolgreich').check();
      await page.getByRole('button', { name: 'Absenden' }).click();
      const retry = page.getByRole('button', { name: 'Hochladen erneut versuchen: Foto der Vorderseite' });
      const error = page.locator('#document_front-error');
      for (let i = 1; i <= 10; i++) {
        // The try reached storage (the script cleared the last error before it), and failed.
        await expect.poll(() => tries, { timeout: 10_000 }).toBe(i);
        await error.waitFor({ state: 'visible', timeout: 10_000 });
        expect(await error.textContent()).toContain('Prüfen Sie Ihre Verbindung');
        expect(await page.getByRole('status').textContent()).toBe('');
        if (i < 10) await retry.click();
      }
      // Never the "too many uploads" refusal: one upload URL served all ten tries.
      expect(await page.locator('#alert').textContent()).not.toContain('keine weiteren Fotos');
      expect(urlRequests).toBe(1);
      down = false;
      await retry.click();
      await page.getByRole('status').getByText('Hochgeladen: Foto der Vorderseite', { exact: true }).waitFor();
      await page.getByRole('button', { name: 'Absenden' }).click();
      await page.getByText('Ihre Angaben wurden übermittelt').first().waitFor();
      expect(tries).toBe(11);
      expect(urlRequests).toBe(1);
    });
    const done = await settledSession(svc, s.id);
    expect(done.status).toBe('verified');
    expect(done.last_verification_report.document.files).toHaveLength(1);
  });

  it('after the submission (script, no return_url) the form gives way to the thank-you message: on screen, focused, announced, nothing left to press', { timeout: 90_000 }, async () => {
    const s = await newSession('type=document&options[document][allowed_types][]=passport');
    // A 390x844 phone (iPhone 12 to 14 size), touch.
    const phone: BrowserContextOptions = { ...PIXEL_7, viewport: { width: 390, height: 844 }, screen: { width: 390, height: 844 } };
    await withContext({ ...phone, ...GERMAN }, async (page) => {
      await page.goto(s.url);
      await page.getByLabel('Verifizierung erfolgreich').tap();
      await page.getByRole('button', { name: 'Absenden' }).tap();
      const heading = page.getByRole('heading', { name: 'Vielen Dank', level: 1 });
      await heading.waitFor();
      // The same words as the thank-you page without JavaScript, the message in the (kept) status region.
      expect(await page.getByRole('status').textContent()).toBe('Ihre Angaben wurden übermittelt und werden jetzt geprüft. Sie können diese Seite schließen.');
      expect(await page.title()).toBe('Vielen Dank');
      expect(await heading.evaluate((h: HTMLElement) => document.activeElement === h)).toBe(true);
      // Nothing left to press: no form, no photo picker, no Retake, no submit, no language link to the used link.
      expect(await page.locator('form, button, input, select, a').count()).toBe(0);
      // Both on the first screen.
      for (const el of [heading, page.getByRole('status')]) {
        const box = (await el.boundingBox())!;
        expect(box.y).toBeGreaterThanOrEqual(0);
        expect(box.y + box.height).toBeLessThanOrEqual(844);
      }
      expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(390);
      expect(await axeViolations(page)).toEqual([]);
    });
    expect((await settledSession(svc, s.id)).status).toBe('verified');
  });

  it('a file that is not a picture (PDF, text, damaged JPEG, HEIC) is refused on its photo at once and never uploaded', { timeout: 120_000 }, async () => {
    const s = await newSession('type=document&options[document][allowed_types][]=passport');
    await withContext({ ...DESKTOP, ...GERMAN }, async (page) => {
      await page.goto(s.url);
      const storage = new URL(svc.s3.endpoint).origin;
      const sent: string[] = []; // upload URLs asked for, and POSTs to storage
      page.on('request', (r) => {
        if (r.method() !== 'POST') return;
        if (r.url().startsWith(storage)) sent.push('storage');
        else if (new URL(r.url()).pathname.endsWith('/uploads')) sent.push('uploads');
      });
      const front = page.getByLabel('Foto der Vorderseite', { exact: true });
      const error = page.locator('#document_front-error');
      const NOT_IMAGE = 'Foto der Vorderseite konnte nicht als Bild gelesen werden. Wählen Sie ein Foto im Format JPEG, PNG oder WebP.';
      const heic = Buffer.concat([Buffer.from([0, 0, 0, 0x18]), Buffer.from('ftypheic\0\0\0\0mif1heic', 'latin1'), Buffer.alloc(200, 7)]);
      const damaged = Buffer.concat([Buffer.from([0xff, 0xd8, 0xff, 0xe0, 0x00, 0x10]), Buffer.from('JFIF\0'), Buffer.alloc(500, 0x5a)]);
      for (const file of [
        { name: 'scan.pdf', mimeType: 'application/pdf', buffer: Buffer.from('%PDF-1.4\n1 0 obj << >> endobj\ntrailer << >>\n%%EOF\n') },
        { name: 'notes.txt', mimeType: 'text/plain', buffer: Buffer.from('not a photo') },
        { name: 'IMG_0001.jpg', mimeType: 'image/jpeg', buffer: damaged },
        { name: 'IMG_0002.heic', mimeType: 'image/heic', buffer: heic },
      ]) {
        // Another file first, so each bad one is a change of its own.
        await front.setInputFiles({ name: 'ok.png', mimeType: 'image/png', buffer: PNG_1X1 });
        await page.getByRole('img', { name: 'Vorschau: Foto der Vorderseite' }).waitFor();
        await page.getByRole('button', { name: 'Neu aufnehmen: Foto der Vorderseite' }).waitFor();
        const chooser = page.waitForEvent('filechooser');
        await page.getByRole('button', { name: 'Neu aufnehmen: Foto der Vorderseite' }).click();
        await (await chooser).setFiles(file);
        // At once, on that photo (the input describes itself by it) and in the alert; no preview.
        await error.waitFor({ state: 'visible' });
        expect(await error.textContent(), file.name).toBe(NOT_IMAGE);
        expect(await front.getAttribute('aria-describedby')).toBe('document_front-error');
        await page.locator('#alert').getByText(NOT_IMAGE).waitFor();
        expect(await page.getByRole('img', { name: 'Vorschau: Foto der Vorderseite' }).isVisible()).toBe(false);
        expect(await front.isVisible()).toBe(true);
      }
      expect(await axeViolations(page)).toEqual([]); // not a picture
      // Submitting does not leave the photo out silently: the error again, the focus on the photo, nothing sent.
      await page.getByLabel('Verifizierung erfolgreich').check();
      await page.getByRole('button', { name: 'Absenden' }).click();
      await page.waitForFunction(() => document.activeElement?.id === 'document_front');
      expect(await page.locator('#alert').textContent()).toBe(NOT_IMAGE);
      expect(sent).toEqual([]);
      expect((await svc.call('GET', `${SESSIONS}/${s.id}`)).body.status).toBe('requires_input');

      // A picture then goes through as usual.
      await front.setInputFiles({ name: 'ok.png', mimeType: 'image/png', buffer: PNG_1X1 });
      await page.getByRole('img', { name: 'Vorschau: Foto der Vorderseite' }).waitFor();
      expect(await error.isVisible()).toBe(false);
      await page.getByRole('button', { name: 'Absenden' }).click();
      await page.getByRole('status').getByText('Ihre Angaben wurden übermittelt').waitFor();
      expect(sent).toEqual(['uploads', 'storage']);
    });
    const done = await settledSession(svc, s.id);
    expect(done.status).toBe('verified');
    const file = (await svc.call('GET', `/v1/files/${done.last_verification_report.document.files[0]}`)).body;
    expect(file.type).toBe('jpg'); // re-encoded on the device
  });

  it('a browser that cannot decode photos (no createImageBitmap) sends a PNG as it is and still refuses a PDF', { timeout: 120_000 }, async () => {
    const s = await newSession('type=document&options[document][allowed_types][]=passport');
    await withContext({ ...DESKTOP, ...GERMAN }, async (page) => {
      await page.addInitScript(() => {
        delete (globalThis as { createImageBitmap?: unknown }).createImageBitmap;
      });
      await page.goto(s.url);
      const front = page.getByLabel('Foto der Vorderseite', { exact: true });
      await front.setInputFiles({ name: 'scan.pdf', mimeType: 'application/pdf', buffer: Buffer.from('%PDF-1.4\n%%EOF\n') });
      await page.locator('#document_front-error').getByText('konnte nicht als Bild gelesen werden', { exact: false }).waitFor();
      await front.setInputFiles({ name: 'ok.png', mimeType: 'image/png', buffer: PNG_1X1 });
      await page.getByRole('img', { name: 'Vorschau: Foto der Vorderseite' }).waitFor();
      await page.getByLabel('Verifizierung erfolgreich').check();
      await page.getByRole('button', { name: 'Absenden' }).click();
      await page.getByRole('status').getByText('Ihre Angaben wurden übermittelt').waitFor();
    });
    const done = await settledSession(svc, s.id);
    expect(done.status).toBe('verified');
    const file = (await svc.call('GET', `/v1/files/${done.last_verification_report.document.files[0]}`)).body;
    expect(file.type).toBe('png'); // sent as it was: not re-encoded on the device
  });

  it('keyboard only, in English: Tab to each control, Space opens the photo chooser, Enter submits; focus is always visible', { timeout: 120_000 }, async () => {
    const s = await newSession('type=document&options[document][allowed_types][]=passport');
    await withContext({ ...DESKTOP, bypassCSP: true }, async (page) => {
      await page.goto(`${s.url}?locale=en`);
      const focusedIs = (id: string) => page.evaluate((want) => document.activeElement?.id === want, id);
      /** Tab until the element with this id has focus, checking that each stop shows a focus ring. */
      async function tabTo(id: string) {
        for (let i = 0; i < 40; i++) {
          await page.keyboard.press('Tab');
          const ring = await page.evaluate(() => {
            const el = document.activeElement as HTMLElement;
            const cs = getComputedStyle(el);
            return { id: el.id || el.textContent?.trim(), style: cs.outlineStyle, width: parseFloat(cs.outlineWidth) };
          });
          expect(ring.style, `focus ring on ${ring.id}`).not.toBe('none');
          expect(ring.width, `focus ring on ${ring.id}`).toBeGreaterThanOrEqual(2);
          if (await focusedIs(id)) return;
        }
        throw new Error(`Tab never reached #${id}`);
      }
      await tabTo('document_front');
      // Headless Chromium on a loaded machine now and then drops the chooser of the first key press: one more
      // Space, with the focus still on the input, then it must open.
      let chooser = page.waitForEvent('filechooser', { timeout: 10_000 }).catch(() => undefined);
      await page.keyboard.press('Space');
      let opened = await chooser;
      if (!opened) {
        expect(await focusedIs('document_front')).toBe(true);
        chooser = page.waitForEvent('filechooser', { timeout: 30_000 });
        await page.keyboard.press('Space');
        opened = await chooser;
      }
      await opened!.setFiles({ name: 'IMG.jpg', mimeType: 'image/jpeg', buffer: fixture });
      await page.getByRole('img', { name: 'Preview: Photo of the front' }).waitFor();
      // Focus moved from the (now hidden) file input to its Retake button, so the keyboard is not lost.
      expect(await page.evaluate(() => document.activeElement?.getAttribute('aria-label'))).toBe('Retake: Photo of the front');
      await tabTo('submit');
      await page.keyboard.press('Enter');
      await page.getByRole('status').getByText('Your information was submitted').waitFor();
    });
    expect((await settledSession(svc, s.id)).status).toBe('verified');
  });

  it('without JavaScript the form still submits (test mode), and the thank-you page is in the browser’s language', { timeout: 90_000 }, async () => {
    const s = await newSession('type=document');
    let thanks = '';
    await withContext({ ...DESKTOP, ...GERMAN, javaScriptEnabled: false }, async (page) => {
      await page.goto(s.url);
      await page.getByLabel('Verifizierung erfolgreich').check();
      await page.getByRole('button', { name: 'Absenden' }).click();
      await page.locator('h1', { hasText: 'Vielen Dank' }).waitFor();
      expect(await page.getAttribute('html', 'lang')).toBe('de');
      thanks = await page.content();
    });
    // axe runs as a script: check the same thank-you page in a context that runs scripts.
    await withContext({ ...DESKTOP, bypassCSP: true }, async (page) => {
      await page.setContent(thanks);
      expect(await axeViolations(page)).toEqual([]);
    });
    expect((await settledSession(svc, s.id)).status).toBe('verified');
  });
});

describe('operator branding (POST /v1/identity/settings, an extension)', () => {
  const LOGO = PNG_1X1.toString('base64');

  it('refuses an accent with too little contrast and a logo that is not PNG or JPEG, naming the parameter', async () => {
    const pale = await svc.call('POST', '/v1/identity/settings', { accent_color: '#7fb3ff' });
    expect(pale.status).toBe(400);
    expect(pale.body.error).toMatchObject({ type: 'invalid_request_error', param: 'accent_color' });
    expect(pale.body.error.message).toMatch(/contrast ratio of 2\.\d\d:1/);
    const svg = await svc.call('POST', '/v1/identity/settings', { logo: Buffer.from('<svg xmlns="http://www.w3.org/2000/svg"/>').toString('base64') });
    expect(svg.status).toBe(400);
    expect(svg.body.error.param).toBe('logo');
    const big = await svc.call('POST', '/v1/identity/settings', { logo: Buffer.alloc(40 * 1024, 1).toString('base64') });
    expect(big.status).toBe(400);
    expect(big.body.error.param).toBe('logo');
    expect((await svc.call('GET', '/v1/identity/settings', undefined, { key: null })).status).toBe(401);
    expect((await svc.call('GET', '/v1/identity/settings')).body).toMatchObject({ object: 'identity.settings', display_name: null, accent_color: null, logo: null });
  });

  it('name, accent and logo appear on the page, the logo from our own page (data: URL); desktop screenshot in German', { timeout: 90_000 }, async () => {
    // A small monogram logo, drawn and encoded as PNG by Chromium.
    const drawn = await browser.newPage();
    const monogram = await drawn.evaluate(() => {
      const c = document.createElement('canvas');
      c.width = 96;
      c.height = 96;
      const g = c.getContext('2d');
      g.fillStyle = '#0b6e4f';
      g.beginPath();
      g.arc(48, 48, 46, 0, Math.PI * 2);
      g.fill();
      g.fillStyle = '#ffffff';
      g.font = 'bold 40px sans-serif';
      g.textAlign = 'center';
      g.textBaseline = 'middle';
      g.fillText('MB', 48, 50);
      return c.toDataURL('image/png') as string;
    });
    await drawn.close();
    const set = await svc.call('POST', '/v1/identity/settings', { display_name: 'Muster Bank AG', accent_color: '#0B6E4F', logo: LOGO });
    expect(set.status).toBe(200);
    expect(set.body).toMatchObject({ object: 'identity.settings', livemode: false, display_name: 'Muster Bank AG', accent_color: '#0b6e4f', logo: { content_type: 'image/png', size: 70 } });
    expect((await svc.call('GET', '/v1/identity/settings')).body).toEqual(set.body);
    // Only what is sent changes; '' unsets.
    const partial = await svc.call('POST', '/v1/identity/settings', { logo: '' });
    expect(partial.body).toMatchObject({ display_name: 'Muster Bank AG', accent_color: '#0b6e4f', logo: null });
    const withLogo = await svc.call('POST', '/v1/identity/settings', { logo: monogram });
    expect(withLogo.body.logo.content_type).toBe('image/png');

    const s = await newSession('type=document&options[document][allowed_types][]=id_card&options[document][allowed_types][]=passport&options[document][require_matching_selfie]=true');
    await withContext({ ...DESKTOP, ...GERMAN }, async (page) => {
      const requests: string[] = [];
      page.on('request', (r) => requests.push(new URL(r.url()).protocol === 'data:' ? 'data:' : new URL(r.url()).origin));
      await page.goto(s.url);
      expect(await page.getByText('Muster Bank AG bittet Sie, Ihre Identität zu bestätigen.').count()).toBe(1);
      expect(await page.locator('header.brand img').getAttribute('src')).toMatch(/^data:image\/png;base64,/);
      const accent = await page.getByRole('button', { name: 'Absenden' }).evaluate((b) => getComputedStyle(b).backgroundColor);
      expect(accent).toBe('rgb(11, 110, 79)');
      expect(requests.filter((o) => o !== 'data:' && o !== new URL(svc.baseUrl).origin)).toEqual([]);
      expect(await axeViolations(page)).toEqual([]);
      await page.screenshot({ path: join(DOCS, 'page-desktop-de.png'), fullPage: true });
    });
  });
});
