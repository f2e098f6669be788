import {
  DeleteObjectsCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { createPresignedPost } from '@aws-sdk/s3-presigned-post';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import type { FileSlot, Scope } from '../domain/session.js';

/** Largest image the checks read (the page scales photos down before upload). */
export const MAX_FILE_BYTES = 10 * 1024 * 1024;
/** How long a presigned upload URL works. */
export const UPLOAD_URL_SECONDS = 15 * 60;
/** How long a presigned download (GET /v1/files/{id}/contents, a file link) works. */
export const DOWNLOAD_URL_SECONDS = 60;
/**
 * How long a user's image is kept: the bucket's lifecycle rule (lib/files.ts)
 * expires it after this, and its file record (`expires_at`) with it.
 */
export const FILE_RETENTION_DAYS = 30;
export const ALLOWED_CONTENT_TYPES = ['image/jpeg', 'image/png', 'image/webp'] as const;

/** Every file of a session lives under this prefix: redaction deletes the prefix. */
export const sessionPrefix = (scope: Scope, sessionId: string) => `${scope.account}/${scope.livemode ? 'live' : 'test'}/${sessionId}/`;
export const fileKey = (scope: Scope, sessionId: string, attempt: number, slot: FileSlot) =>
  `${sessionPrefix(scope, sessionId)}${attempt}/${slot}`;

/** A presigned POST: the browser sends `fields` (in order) and then the file, as a multipart form, to `url`. */
export interface PresignedUpload {
  url: string;
  fields: Record<string, string>;
}

/** DeleteObjects answered, but some keys were not deleted: the files are still there. */
export class FilesNotDeleted extends Error {
  constructor(readonly errors: { key?: string; code?: string; message?: string }[]) {
    super(`${errors.length} file(s) could not be deleted: ${errors.map((e) => e.code ?? 'unknown').join(', ')}`);
    this.name = 'FilesNotDeleted';
  }
}

/**
 * The user's images: uploaded by the browser straight to S3 with presigned
 * POSTs, encrypted at rest (SSE-S3), expired by the bucket's lifecycle rule,
 * read by the checks, deleted on redaction. Locally the same code talks to an
 * S3-compatible server.
 */
export class FileStore {
  constructor(
    private readonly s3: S3Client,
    private readonly bucket: string,
  ) {}

  private origin?: string;

  /** The origin uploads go to (the page's Content-Security-Policy allows it). */
  async uploadOrigin(): Promise<string> {
    this.origin ??= new URL((await this.presignUpload('origin-probe', 'image/jpeg')).url).origin;
    return this.origin;
  }

  /**
   * A presigned POST for one image. Its signed policy fixes the key, the
   * content type and the encryption (each form field must equal the one given
   * here) and caps the file at MAX_FILE_BYTES: S3 refuses anything else
   * (EntityTooLarge, AccessDenied), and so does the local front of s3rver
   * (local/s3-post-policy.ts), which reads the same policy.
   */
  presignUpload(key: string, contentType: string): Promise<PresignedUpload> {
    return createPresignedPost(this.s3, {
      Bucket: this.bucket,
      Key: key,
      // Every field becomes an exact-match condition of the policy.
      Fields: { 'Content-Type': contentType, 'x-amz-server-side-encryption': 'AES256' },
      Conditions: [['content-length-range', 1, MAX_FILE_BYTES]],
      Expires: UPLOAD_URL_SECONDS,
    });
  }

  async put(key: string, body: Uint8Array, contentType: string): Promise<void> {
    await this.s3.send(new PutObjectCommand({ Bucket: this.bucket, Key: key, Body: body, ContentType: contentType, ServerSideEncryption: 'AES256' }));
  }

  /** Size, content type and upload time of a stored file, or undefined when there is none. */
  async head(key: string): Promise<{ size: number; contentType: string | undefined; uploadedMs: number } | undefined> {
    try {
      const r = await this.s3.send(new HeadObjectCommand({ Bucket: this.bucket, Key: key }));
      return { size: r.ContentLength ?? 0, contentType: r.ContentType, uploadedMs: r.LastModified?.getTime() ?? Date.now() };
    } catch (err) {
      const e = err as { name?: string; $metadata?: { httpStatusCode?: number } };
      if (e.name === 'NotFound' || e.name === 'NoSuchKey' || e.$metadata?.httpStatusCode === 404) return undefined;
      throw err;
    }
  }

  /** A presigned GET of one file, valid for DOWNLOAD_URL_SECONDS; it serves the bytes under this download name. */
  presignDownload(key: string, filename: string): Promise<string> {
    return getSignedUrl(
      this.s3,
      new GetObjectCommand({ Bucket: this.bucket, Key: key, ResponseContentDisposition: `attachment; filename="${filename}"` }),
      { expiresIn: DOWNLOAD_URL_SECONDS },
    );
  }

  /** The first `n` bytes of a stored file (one ranged GET), or undefined when there is none. */
  async readStart(key: string, n: number): Promise<Uint8Array | undefined> {
    try {
      const r = await this.s3.send(new GetObjectCommand({ Bucket: this.bucket, Key: key, Range: `bytes=0-${n - 1}` }));
      return (await r.Body?.transformToByteArray())?.subarray(0, n);
    } catch (err) {
      if ((err as { name?: string }).name === 'NoSuchKey') return undefined;
      throw err;
    }
  }

  /** The bytes of an uploaded file, or undefined when it is missing or too large. */
  async read(key: string): Promise<Uint8Array | undefined> {
    try {
      const r = await this.s3.send(new GetObjectCommand({ Bucket: this.bucket, Key: key }));
      if ((r.ContentLength ?? 0) > MAX_FILE_BYTES) return undefined;
      return await r.Body?.transformToByteArray();
    } catch (err) {
      if ((err as { name?: string }).name === 'NoSuchKey') return undefined;
      throw err;
    }
  }

  /**
   * Deletes every file under a prefix; returns how many. DeleteObjects answers
   * 200 even when it could not delete some keys (it lists them in `Errors`):
   * those make it throw FilesNotDeleted, so a redaction is not reported done
   * while a file survives.
   */
  async deletePrefix(prefix: string): Promise<number> {
    let deleted = 0;
    let token: string | undefined;
    do {
      const page = await this.s3.send(new ListObjectsV2Command({ Bucket: this.bucket, Prefix: prefix, ContinuationToken: token }));
      const keys = (page.Contents ?? []).map((o) => ({ Key: o.Key! }));
      if (keys.length > 0) {
        const r = await this.s3.send(new DeleteObjectsCommand({ Bucket: this.bucket, Delete: { Objects: keys, Quiet: true } }));
        if (r.Errors?.length) throw new FilesNotDeleted(r.Errors.map((e) => ({ key: e.Key, code: e.Code, message: e.Message })));
        deleted += keys.length;
      }
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
    return deleted;
  }
}
