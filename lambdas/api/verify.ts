import { randomBytes } from 'node:crypto';
import { errorForLog, logger } from '../observability/powertools.js';
import { ApiError, invalidRequest } from '../domain/errors.js';
import { isTimeOrderedId } from '../domain/ids.js';
import { arrayOf, bool, int, obj, oneOf, parseParams, redirectTarget, str } from '../domain/params.js';
import { type SecretKind, checkToken, tokenScope } from '../domain/secrets.js';
import {
  DOCUMENT_TYPES,
  FILE_SLOTS,
  type FileSlot,
  LAST_ERROR_CODES,
  type Scope,
  type SessionRecord,
  type Submission,
  transition,
} from '../domain/session.js';
import { ALLOWED_CONTENT_TYPES, type FileStore, type PresignedUpload, fileKey } from '../store/file-store.js';
import { type SessionStore, StaleSession } from '../store/session-store.js';
import { type MessagePageKind, type PageBranding, type PageContext, inputErrorPage, messagePage, requirements, verificationPage } from '../page/html.js';
import { CATALOGUES, type Locale, type MessageKey, chooseLocale } from '../page/i18n.js';
import { en } from '../page/locales/en.js';
import type { SettingsStore } from '../store/settings-store.js';
import type { HttpRequest, HttpResponse } from './http.js';

/**
 * The user's side of a session: the hosted page at the session's `url`, the
 * presigned uploads it asks for, and the submission, authenticated by the url
 * token or the client secret (never by the merchant's API key).
 */
export interface VerifyDeps {
  sessions: SessionStore;
  files: FileStore;
  /** The account's branding for the page. */
  settings: SettingsStore;
}

export const ID_NUMBER_TYPES = ['us_ssn', 'br_cpf', 'sg_nric'] as const;
export const MAX_TEST_DELAY_SECONDS = 600;

const PAGE_HEADERS = (nonce: string, connectSrc: string) => ({
  'content-security-policy': `default-src 'none'; script-src 'nonce-${nonce}'; style-src 'nonce-${nonce}'; img-src 'self' data: blob:; connect-src 'self' ${connectSrc}; form-action 'self'; frame-ancestors 'none'; base-uri 'none'`,
  'referrer-policy': 'no-referrer',
  'x-content-type-options': 'nosniff',
  'cache-control': 'no-store',
});

/** The headers of a page in the language the request negotiated (PageRequest: ?locale=, Accept-Language). */
const negotiatedPageHeaders = (nonce: string, connectSrc: string, req: PageRequest) => ({
  ...PAGE_HEADERS(nonce, connectSrc),
  'content-language': localeOf(req),
  vary: 'Accept-Language',
});

/** Why a token does not open the session: a page of the catalogue for the user, English for the API. */
class NotUsable extends ApiError {
  constructor(
    status: number,
    readonly page: Exclude<MessagePageKind, 'done'>,
    message: string = en[`${page}_message`],
  ) {
    super(status, 'invalid_request_error', message, { code: 'session_not_usable' });
  }
}

/**
 * A refusal of what the person entered on the page: English for the API (a
 * client-secret submit), the catalogue's words on the page.
 */
class PageInputError extends ApiError {
  constructor(
    readonly messageKey: MessageKey,
    message: string,
    opts: { code?: string; param?: string },
  ) {
    super(400, 'invalid_request_error', message, opts);
  }
}

function explainStatus(s: SessionRecord): NotUsable | undefined {
  switch (s.status) {
    case 'requires_input':
      return undefined;
    case 'processing':
      return new NotUsable(400, 'submitted');
    case 'verified':
      return new NotUsable(400, 'verified');
    case 'canceled':
      return new NotUsable(400, 'canceled');
  }
}

/** The session a url token or client secret opens, or a NotUsable that says why not. */
async function open(deps: VerifyDeps, id: string, token: string, kind: SecretKind, nowMs: number): Promise<SessionRecord> {
  const scope = tokenScope(token);
  const invalid = new NotUsable(
    404,
    'invalid',
    kind === 'url' ? undefined : 'The client secret is not valid for this VerificationSession.',
  );
  if (!scope || !isTimeOrderedId(id, 'vs')) throw invalid;
  const s = await deps.sessions.get(scope, id);
  if (!s) throw invalid;
  const now = Math.floor(nowMs / 1000);
  const check = checkToken(kind, s, token, now);
  const state = explainStatus(s);
  if (state) {
    // Say what became of the session only to a holder of one of its links
    // (this attempt's, or the one just submitted).
    const known = check !== 'invalid' || checkToken(kind, { ...s, attempt: s.attempt - 1 }, token, now) !== 'invalid';
    throw known ? state : invalid;
  }
  if (check === 'expired') throw new NotUsable(400, 'expired');
  if (check === 'invalid') throw new NotUsable(400, 'used');
  return s;
}

/** What a page request says about the person's language: `?locale=` first, then Accept-Language. */
export interface PageRequest {
  acceptLanguage?: string;
  locale?: string;
}
/** The hosted page's language inputs of a request: `?locale=` and Accept-Language. */
export function pageRequest(req: Pick<HttpRequest, 'rawQuery' | 'headers'>): PageRequest {
  return { acceptLanguage: req.headers['accept-language'], locale: new URLSearchParams(req.rawQuery).get('locale') ?? undefined };
}
const localeOf = (req: PageRequest = {}) => chooseLocale(req.acceptLanguage, req.locale);
const wantsJson = (accept: string | undefined) => /json/.test(accept ?? '');
const newNonce = () => randomBytes(16).toString('base64');

/** The branding of the session's account and mode; the page still renders if it cannot be read. */
async function brandingFor(deps: VerifyDeps, scope: Scope): Promise<PageBranding | undefined> {
  try {
    const s = await deps.settings.get(scope, false);
    return { display_name: s.display_name, accent_color: s.accent_color, logo: s.logo && { content_type: s.logo.content_type, data: s.logo.data } };
  } catch (err) {
    logger.error('branding not readable', { error: errorForLog(err) });
    return undefined;
  }
}

/** An error of a page route, in the page's language (the JSON answer the page's script shows). */
function inLanguage(err: unknown, locale: Locale): unknown {
  const key: MessageKey | undefined =
    err instanceof NotUsable ? `${err.page}_message` : err instanceof PageInputError ? err.messageKey : undefined;
  // In English the API's own message stays: it is the detailed one (limits, counts).
  if (!key || !(err instanceof ApiError) || locale === 'en') return err;
  return new ApiError(err.status, err.type, CATALOGUES[locale][key], { code: err.code, param: err.param, shouldRetry: err.shouldRetry });
}

export async function showPage(
  deps: VerifyDeps,
  id: string,
  token: string,
  nowMs: number,
  uploadOrigin: string,
  req: PageRequest = {},
): Promise<HttpResponse> {
  const nonce = newNonce();
  const headers = negotiatedPageHeaders(nonce, uploadOrigin, req);
  const base = `/verify/${id}/${token}`;
  const ctx: PageContext = { locale: localeOf(req), nonce, selfPath: base };
  try {
    const s = await open(deps, id, token, 'url', nowMs);
    ctx.branding = await brandingFor(deps, s);
    return { status: 200, body: null, headers, html: verificationPage(s, ctx, { submitPath: `${base}/submit`, uploadsPath: `${base}/uploads` }) };
  } catch (err) {
    if (err instanceof NotUsable) return { status: err.status, body: null, headers, html: messagePage(ctx, err.page) };
    throw err;
  }
}

/**
 * A page link as a chat or mail client may leave it: the token followed by
 * punctuation that was not part of it (`.`, `)`, `/`, a quote, ...), raw or
 * percent-encoded. Tokens are letters and digits only, so nothing is guessed.
 */
const LINK_WITH_TRAILING = /^\/verify\/(vs_[0-9A-Za-z]+)\/([0-9A-Za-z]+)(?:[.,;:!)\]}>'"*/]|%2[27E9]|%3[BE]|%5D|%7D)+$/i;

/**
 * A GET of a /verify/ path that is not a page: a link with trailing
 * punctuation is redirected to its page (the query, `?locale=`, kept); any
 * other (no token, a stray segment) gets the "link not valid" page in the
 * person's language rather than the API's English JSON 404.
 */
export function strayPageLink(path: string, rawQuery: string, req: PageRequest = {}): HttpResponse {
  const m = LINK_WITH_TRAILING.exec(path);
  const nonce = newNonce();
  const headers = negotiatedPageHeaders(nonce, '', req);
  if (m) return { status: 302, body: null, headers: { ...headers, location: `/verify/${m[1]}/${m[2]}${rawQuery ? `?${rawQuery}` : ''}` }, html: '' };
  return { status: 404, body: null, headers, html: messagePage({ locale: localeOf(req), nonce }, 'invalid') };
}

const UPLOAD_PARAMS = obj({
  files: obj(Object.fromEntries(FILE_SLOTS.map((slot) => [slot, oneOf(ALLOWED_CONTENT_TYPES)]))),
});

/**
 * Upload URLs one attempt may ask for, per image slot: a leaked page link
 * cannot mint presigned uploads without bound. The page reuses a slot's URL
 * (until shortly before it expires) when it retries a failed upload or sends
 * a retaken photo, so only a page load or an expired URL asks for another:
 * 8 each leaves room for reloads on a bad connection. A new link to the same
 * attempt (a retrieve's fresh `url`) does not reset the count; a submission does.
 */
export const UPLOADS_PER_SLOT = 8;
/** UPLOADS_PER_SLOT for each of the session's image slots (front, back, selfie): 24. */
export const MAX_UPLOADS_PER_ATTEMPT = UPLOADS_PER_SLOT * FILE_SLOTS.length;

/**
 * Presigned POSTs for the images of the coming submission, counted on the
 * session (one conditional UpdateItem) against MAX_UPLOADS_PER_ATTEMPT.
 */
export async function createUploads(
  deps: VerifyDeps,
  id: string,
  token: string,
  raw: unknown,
  nowMs: number,
  req: PageRequest = {},
): Promise<HttpResponse> {
  try {
    return await issueUploads(deps, id, token, raw, nowMs);
  } catch (err) {
    throw inLanguage(err, localeOf(req));
  }
}

async function issueUploads(deps: VerifyDeps, id: string, token: string, raw: unknown, nowMs: number): Promise<HttpResponse> {
  const s = await open(deps, id, token, 'url', nowMs);
  const { files } = parseParams<{ files?: Partial<Record<FileSlot, string>> }>(UPLOAD_PARAMS, raw);
  if (!files || Object.keys(files).length === 0) throw invalidRequest('Name at least one file to upload, as files[document_front]=image/jpeg.', { param: 'files' });
  const wanted = Object.entries(files) as [FileSlot, string][];
  try {
    await deps.sessions.countUploads(s, s.id, s.attempt, wanted.length, MAX_UPLOADS_PER_ATTEMPT);
  } catch (err) {
    if (!(err instanceof StaleSession)) throw err;
    const current = err.current;
    if (current && current.attempt === s.attempt && current.status === 'requires_input')
      throw new PageInputError(
        'error_too_many_uploads',
        `Too many uploads: a verification attempt can ask for at most ${MAX_UPLOADS_PER_ATTEMPT} upload URLs, and ${current.uploads_issued ?? 0} were issued. Photos already uploaded are kept: submit with them. Otherwise a new verification session is needed; a new link to this one does not reset the count.`,
        { param: 'files' },
      );
    throw (current && explainStatus(current)) ?? new NotUsable(400, 'used');
  }
  const uploads: Record<string, PresignedUpload> = {};
  for (const [slot, contentType] of wanted) uploads[slot] = await deps.files.presignUpload(fileKey(s, s.id, s.attempt, slot), contentType);
  return { status: 200, body: { uploads } };
}

const SUBMIT_FIELDS = {
  document_type: oneOf(DOCUMENT_TYPES),
  uploaded: arrayOf(oneOf(FILE_SLOTS), FILE_SLOTS.length),
  id_number: str(64),
  id_number_type: oneOf(ID_NUMBER_TYPES),
  first_name: str(100),
  last_name: str(100),
  dob: str(10),
};
const TEST_FIELDS = {
  test_outcome: oneOf(['verified', 'unverified']),
  test_error_code: oneOf(LAST_ERROR_CODES),
  test_delay_seconds: int(0, MAX_TEST_DELAY_SECONDS),
};
/** Test choices are parameters only in test mode: in live mode they are unknown. */
/**
 * The page's form as a browser posts it. Without JavaScript, each file input
 * arrives as its file name only (a form-encoded post carries no file): read
 * and ignored, so a missing photo is refused as missing. From the page's
 * test panel (`test_panel=true`), the delay counts only with its "async" box
 * ticked; a direct post of test_delay_seconds still gets its delay.
 */
const PAGE_FIELDS = { document_front: str(500), document_back: str(500), selfie: str(500) };
const SUBMIT_PARAMS = {
  live: obj({ ...SUBMIT_FIELDS, ...PAGE_FIELDS }),
  test: obj({ ...SUBMIT_FIELDS, ...PAGE_FIELDS, ...TEST_FIELDS, test_async: bool(), test_panel: bool() }),
};
const SECRET_SUBMIT_PARAMS = {
  live: obj({ ...SUBMIT_FIELDS, client_secret: str(300, false) }, { required: ['client_secret'] }),
  test: obj({ ...SUBMIT_FIELDS, ...TEST_FIELDS, client_secret: str(300, false) }, { required: ['client_secret'] }),
};

interface SubmitParams {
  document_type?: string;
  uploaded?: FileSlot[];
  id_number?: string | null;
  id_number_type?: string;
  first_name?: string | null;
  last_name?: string | null;
  dob?: string | null;
  test_outcome?: 'verified' | 'unverified';
  test_error_code?: string;
  test_delay_seconds?: number;
  test_async?: boolean;
  test_panel?: boolean;
}

function parseDob(dob: string | null | undefined) {
  if (!dob) return undefined;
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(dob);
  if (!m) throw new PageInputError('error_dob_format', 'Invalid dob: write the date of birth as YYYY-MM-DD.', { param: 'dob' });
  return { year: Number(m[1]), month: Number(m[2]), day: Number(m[3]) };
}

/** The submission as stored on the session, after checking it has what the session asks for. */
function submissionOf(s: SessionRecord, p: SubmitParams, scope: Scope, nowMs: number): Submission {
  const need = requirements(s);
  const uploaded = new Set(p.uploaded ?? []);
  if (s.livemode) {
    // In test mode nothing is checked, so nothing is required.
    if (need.document && !uploaded.has('document_front'))
      throw new PageInputError('error_missing_front', 'Upload a photo of the front of your document.', { code: 'parameter_missing', param: 'uploaded' });
    if (need.selfie && !uploaded.has('selfie'))
      throw new PageInputError('error_missing_selfie', 'Upload a photo of your face.', { code: 'parameter_missing', param: 'uploaded' });
    if (need.idNumber && !p.id_number)
      throw new PageInputError('error_missing_id_number', 'Enter your ID number.', { code: 'parameter_missing', param: 'id_number' });
  }
  if (p.document_type && !need.documentTypes.includes(p.document_type as never))
    throw invalidRequest(`This verification accepts: ${need.documentTypes.join(', ')}.`, { param: 'document_type' });
  if (p.test_outcome === 'unverified' && !p.test_error_code)
    throw new PageInputError('error_missing_test_code', 'Choose the error to report for a failed test verification.', {
      code: 'parameter_missing',
      param: 'test_error_code',
    });
  const files: Submission['files'] = {};
  for (const slot of uploaded) files[slot] = fileKey(scope, s.id, s.attempt, slot);
  const dob = parseDob(p.dob);
  return {
    submitted_ms: nowMs,
    document_type: p.document_type ?? (need.document ? need.documentTypes[0] : null),
    files,
    id_number: p.id_number
      ? {
          number: p.id_number,
          ...(p.id_number_type ? { type: p.id_number_type } : {}),
          ...(p.first_name ? { first_name: p.first_name } : {}),
          ...(p.last_name ? { last_name: p.last_name } : {}),
          ...(dob ? { dob } : {}),
        }
      : null,
    test: s.livemode
      ? null
      : {
          outcome: p.test_outcome ?? 'verified',
          ...(p.test_outcome === 'unverified' ? { code: p.test_error_code } : {}),
          delay_seconds: p.test_delay_seconds ?? 0,
        },
  };
}

/**
 * requires_input -> processing, with one conditional write (status and the
 * version that was read). The url and client secret of this attempt stop
 * working with it: the attempt number is part of their MAC.
 */
async function submit(deps: VerifyDeps, s: SessionRecord, p: SubmitParams, nowMs: number): Promise<SessionRecord> {
  const submission = submissionOf(s, p, s, nowMs);
  const next = transition(s, 'submit', { updated_ms: nowMs, last_request: null }, (n) => {
    n.attempt += 1;
    // The next attempt gets its own allowance of upload URLs.
    delete n.uploads_issued;
    n.submission = submission;
    n.last_error = null;
  });
  try {
    await deps.sessions.commit(next, { action: 'submit', version: s.version });
  } catch (err) {
    if (err instanceof StaleSession)
      throw new NotUsable(409, 'concurrent');
    throw err;
  }
  return next;
}

/** POST /verify/{id}/{token}/submit: from the hosted page (its script asks for JSON; without script, a page answers). */
export async function submitWithUrlToken(
  deps: VerifyDeps,
  id: string,
  token: string,
  raw: unknown,
  nowMs: number,
  accept: string | undefined,
  req: PageRequest = {},
): Promise<HttpResponse> {
  const locale = localeOf(req);
  const nonce = newNonce();
  const pageHeaders = { ...PAGE_HEADERS(nonce, ''), 'content-language': locale };
  try {
    const s = await open(deps, id, token, 'url', nowMs);
    const p = parseParams<SubmitParams>(s.livemode ? SUBMIT_PARAMS.live : SUBMIT_PARAMS.test, raw);
    if (p.test_panel === true && p.test_async !== true) delete p.test_delay_seconds;
    const next = await submit(deps, s, p, nowMs);
    const redirect = redirectTarget(next.return_url);
    if (wantsJson(accept)) return { status: 200, body: { status: next.status, redirect_url: redirect ?? null } };
    if (redirect) return { status: 303, body: null, headers: { location: redirect }, html: '' };
    return { status: 200, body: null, headers: pageHeaders, html: messagePage({ locale, nonce, branding: await brandingFor(deps, s) }, 'done') };
  } catch (err) {
    if (wantsJson(accept)) throw inLanguage(err, locale);
    if (err instanceof NotUsable) return { status: err.status, body: null, headers: pageHeaders, html: messagePage({ locale, nonce }, err.page) };
    if (err instanceof ApiError && err.status === 400) {
      const message = err instanceof PageInputError ? CATALOGUES[locale][err.messageKey] : err.message;
      return { status: 400, body: null, headers: pageHeaders, html: inputErrorPage({ locale, nonce }, message, `/verify/${id}/${token}`) };
    }
    throw err;
  }
}

/** POST /v1/identity/verification_sessions/{id}/submit with client_secret: for an app's own UI. */
export async function submitWithClientSecret(deps: VerifyDeps, id: string, raw: unknown, nowMs: number): Promise<HttpResponse> {
  const secret = (raw as { client_secret?: unknown } | undefined)?.client_secret;
  if (typeof secret !== 'string' || secret === '')
    throw invalidRequest('Missing required param: client_secret.', { code: 'parameter_missing', param: 'client_secret' });
  const m = /^(vs_[0-9A-Za-z]+)_secret_([0-9A-Za-z]+)$/.exec(secret);
  if (!m || m[1] !== id) throw new NotUsable(404, 'invalid', 'The client secret is not valid for this VerificationSession.');
  const s = await open(deps, id, m[2], 'client_secret', nowMs);
  const p = parseParams<SubmitParams>(s.livemode ? SECRET_SUBMIT_PARAMS.live : SECRET_SUBMIT_PARAMS.test, raw);
  const next = await submit(deps, s, p, nowMs);
  return { status: 200, body: { id: next.id, object: 'identity.verification_session', status: next.status } };
}
