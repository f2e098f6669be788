import { timingSafeEqual } from 'node:crypto';
import { ApiError, invalidRequest, resourceMissing } from '../domain/errors.js';
import { type FileLinkRecord, LINK_SECRET_CHARS, isLinkExpired, parseLinkToken, renderFile, renderFileLink } from '../domain/file.js';
import { randomChars, randomId } from '../domain/ids.js';
import { arrayOf, int, metadata, obj, parseParams, str } from '../domain/params.js';
import { FileGone, type FileRecordStore } from '../store/file-record-store.js';
import type { FileStore } from '../store/file-store.js';
import type { IdempotencyStore } from '../store/idempotency.js';
import type { HttpResponse } from './http.js';
import { replayIfSaved, saveRefusal, saveResultAfter } from './idempotent.js';
import type { CallContext } from './sessions.js';

/**
 * The Files API for the user's images: the `file_...` ids in reports are
 * retrievable (`GET /v1/files/{id}`), readable through a short-lived presigned
 * redirect (`/contents`), and shareable as file links, by the owning account
 * and mode only, until the session is redacted or the image expires.
 */
export interface FileDeps {
  files: FileStore;
  fileRecords: FileRecordStore;
  idempotency: IdempotencyStore;
}

const NO_EXPAND = obj({ expand: arrayOf(str(5000, false), 20) });
const CREATE_LINK_PARAMS = obj(
  { file: str(5000, false), expires_at: int(), metadata: metadata(), expand: arrayOf(str(5000, false), 20) },
  { required: ['file'] },
);

const nowSecondsOf = (ctx: CallContext) => Math.floor(ctx.nowMs / 1000);
const isFileId = (id: string) => /^file_[0-9A-Za-z]{1,64}$/.test(id);
/** A redirect to a presigned GET: the bytes come from storage, never through the API. */
const redirectTo = (location: string): HttpResponse => ({ status: 302, body: null, headers: { location, 'cache-control': 'no-store' }, html: '' });

async function readableFile(deps: FileDeps, ctx: CallContext, id: string, param = 'id') {
  const file = isFileId(id) ? await deps.fileRecords.get(ctx.scope, id, nowSecondsOf(ctx)) : undefined;
  if (!file) throw resourceMissing('file', id, param);
  return file;
}

export async function retrieveFile(deps: FileDeps, ctx: CallContext, id: string, raw: unknown): Promise<HttpResponse> {
  parseParams(NO_EXPAND, raw);
  const file = await readableFile(deps, ctx, id);
  const links = file.link_ids?.length ? await deps.fileRecords.getLinks(ctx.scope, file.link_ids) : [];
  return { status: 200, body: renderFile(file, links, ctx.pageBaseUrl, nowSecondsOf(ctx)) };
}

/** GET /v1/files/{id}/contents: 302 to a presigned GET that works for DOWNLOAD_URL_SECONDS. */
export async function fileContents(deps: FileDeps, ctx: CallContext, id: string, raw: unknown): Promise<HttpResponse> {
  parseParams(obj({}), raw);
  const file = await readableFile(deps, ctx, id);
  const body = renderFile(file, [], ctx.pageBaseUrl, nowSecondsOf(ctx));
  return redirectTo(await deps.files.presignDownload(file.storage_key, body.filename));
}

export async function createFileLink(deps: FileDeps, ctx: CallContext, raw: unknown): Promise<HttpResponse> {
  const replay = await replayIfSaved(deps, ctx);
  if (replay) return replay;
  let body: unknown;
  try {
    const p = parseParams<{ file: string; expires_at?: number; metadata?: Record<string, string> | null }>(CREATE_LINK_PARAMS, raw);
    const now = nowSecondsOf(ctx);
    if (p.expires_at !== undefined && p.expires_at <= now)
      throw invalidRequest(`Invalid expires_at: ${p.expires_at} is not in the future. The link isn't usable after expires_at, so it must be a future timestamp.`, { param: 'expires_at' });
    const file = await readableFile(deps, ctx, p.file, 'file');
    const link: FileLinkRecord = {
      id: randomId('link', 24),
      account: ctx.scope.account,
      livemode: ctx.scope.livemode,
      file: file.id,
      created: now,
      link_expires_at: p.expires_at ?? null,
      expires_at: file.expires_at,
      metadata: p.metadata ?? {},
      secret: randomChars(LINK_SECRET_CHARS),
    };
    try {
      await deps.fileRecords.createLink(link);
    } catch (err) {
      if (err instanceof FileGone) throw resourceMissing('file', p.file, 'file');
      throw err;
    }
    body = renderFileLink(link, ctx.pageBaseUrl, now);
  } catch (err) {
    return saveRefusal(deps, ctx, err);
  }
  // Saved after the link is made: a crash in between leaves a link without a
  // saved result, and a retry makes a second link to the same file (harmless).
  return saveResultAfter(deps, ctx, body);
}

/** A link whose file is still readable (a redacted or expired file takes its links with it). */
async function liveLink(deps: FileDeps, ctx: Pick<CallContext, 'scope' | 'nowMs'>, id: string) {
  const link = /^link_[0-9A-Za-z]{1,64}$/.test(id) ? await deps.fileRecords.getLink(ctx.scope, id) : undefined;
  const file = link ? await deps.fileRecords.get(ctx.scope, link.file, Math.floor(ctx.nowMs / 1000)) : undefined;
  return link && file ? { link, file } : undefined;
}

export async function retrieveFileLink(deps: FileDeps, ctx: CallContext, id: string, raw: unknown): Promise<HttpResponse> {
  parseParams(NO_EXPAND, raw);
  const found = await liveLink(deps, ctx, id);
  if (!found) throw resourceMissing('file link', id);
  return { status: 200, body: renderFileLink(found.link, ctx.pageBaseUrl, nowSecondsOf(ctx)) };
}

/**
 * GET /links/{link_id}/{token}: a file link's public URL. Anyone holding it
 * gets a 302 to a presigned GET of the file, until the link expires or the
 * file is redacted; anything else is one 404.
 */
export async function followFileLink(deps: FileDeps, id: string, token: string, nowMs: number): Promise<HttpResponse> {
  const parsed = parseLinkToken(token);
  const found = parsed ? await liveLink(deps, { scope: parsed.scope, nowMs }, id) : undefined;
  const ok =
    found &&
    parsed &&
    found.link.secret.length === parsed.secret.length &&
    timingSafeEqual(Buffer.from(found.link.secret), Buffer.from(parsed.secret)) &&
    !isLinkExpired(found.link, Math.floor(nowMs / 1000));
  if (!ok) throw new ApiError(404, 'invalid_request_error', 'This file link does not exist, has expired, or its file was deleted.', { code: 'resource_missing' });
  const name = renderFile(found.file, [], '', Math.floor(nowMs / 1000)).filename;
  return redirectTo(await deps.files.presignDownload(found.file.storage_key, name));
}
