import {
  DeleteObjectsCommand,
  GetObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import type { FileSlot, Scope } from '../domain/session.js';

/** Largest image the checks read (the page scales photos down before upload). */
export const MAX_FILE_BYTES = 10 * 1024 * 1024;
/** How long a presigned upload URL works. */
export const UPLOAD_URL_SECONDS = 15 * 60;
export const ALLOWED_CONTENT_TYPES = ['image/jpeg', 'image/png', 'image/webp'] as const;

/** Every file of a session lives under this prefix: redaction deletes the prefix. */
export const sessionPrefix = (scope: Scope, sessionId: string) => `${scope.account}/${scope.livemode ? 'live' : 'test'}/${sessionId}/`;
export const fileKey = (scope: Scope, sessionId: string, attempt: number, slot: FileSlot) =>
  `${sessionPrefix(scope, sessionId)}${attempt}/${slot}`;

/**
 * The user's images: uploaded by the browser straight to S3 with presigned
 * PUTs, encrypted at rest (SSE-S3), expired by the bucket's lifecycle rule,
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

  /** A URL the browser PUTs one image to; the signed headers must be sent as given. */
  async presignUpload(key: string, contentType: string): Promise<{ url: string; headers: Record<string, string> }> {
    const headers = { 'content-type': contentType, 'x-amz-server-side-encryption': 'AES256' };
    const url = await getSignedUrl(
      this.s3,
      new PutObjectCommand({ Bucket: this.bucket, Key: key, ContentType: contentType, ServerSideEncryption: 'AES256' }),
      { expiresIn: UPLOAD_URL_SECONDS, signableHeaders: new Set(Object.keys(headers)) },
    );
    return { url, headers };
  }

  async put(key: string, body: Uint8Array, contentType: string): Promise<void> {
    await this.s3.send(new PutObjectCommand({ Bucket: this.bucket, Key: key, Body: body, ContentType: contentType, ServerSideEncryption: 'AES256' }));
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

  /** Deletes every file under a prefix; returns how many. */
  async deletePrefix(prefix: string): Promise<number> {
    let deleted = 0;
    let token: string | undefined;
    do {
      const page = await this.s3.send(new ListObjectsV2Command({ Bucket: this.bucket, Prefix: prefix, ContinuationToken: token }));
      const keys = (page.Contents ?? []).map((o) => ({ Key: o.Key! }));
      if (keys.length > 0) {
        await this.s3.send(new DeleteObjectsCommand({ Bucket: this.bucket, Delete: { Objects: keys, Quiet: true } }));
        deleted += keys.length;
      }
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
    return deleted;
  }
}
