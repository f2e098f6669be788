import { DeleteObjectsCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, describe, expect, it } from 'vitest';
import { FileStore, FilesNotDeleted, MAX_FILE_BYTES, UPLOAD_URL_SECONDS } from '../../lambdas/store/file-store.js';
import { signPolicy } from '../../local/s3-post-policy.js';

const KEY = 'acct_1/test/vs_1/0/document_front';
const s3 = () =>
  new S3Client({ region: 'eu-west-1', credentials: { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY' } });

describe('the presigned POST of an upload', () => {
  it('signs a policy that fixes the key, content type and encryption, caps the size at 10 MB and expires with the URL', async () => {
    const before = Date.now();
    const post = await new FileStore(s3(), 'files-bucket').presignUpload(KEY, 'image/png');
    const policy = JSON.parse(Buffer.from(post.fields.Policy!, 'base64').toString('utf8')) as { expiration: string; conditions: unknown[] };

    expect(MAX_FILE_BYTES).toBe(10_485_760);
    expect(policy.conditions).toContainEqual(['content-length-range', 1, 10_485_760]);
    expect(policy.conditions).toContainEqual({ key: KEY });
    expect(policy.conditions).toContainEqual({ 'Content-Type': 'image/png' });
    expect(policy.conditions).toContainEqual({ 'x-amz-server-side-encryption': 'AES256' });
    expect(policy.conditions).toContainEqual({ bucket: 'files-bucket' });
    // Nothing in the policy lets a field vary.
    expect(policy.conditions.filter((c) => Array.isArray(c) && c[0] === 'starts-with')).toEqual([]);
    // Expiry: UPLOAD_URL_SECONDS after signing (the policy counts whole seconds).
    const expiresMs = Date.parse(policy.expiration);
    expect(expiresMs).toBeGreaterThanOrEqual(Math.floor(before / 1000) * 1000 + UPLOAD_URL_SECONDS * 1000);
    expect(expiresMs).toBeLessThanOrEqual(Date.now() + UPLOAD_URL_SECONDS * 1000);

    // The form the page sends carries exactly those values, and the signature covers the policy.
    expect(post.fields).toMatchObject({ key: KEY, 'Content-Type': 'image/png', 'x-amz-server-side-encryption': 'AES256' });
    const [, date, region] = post.fields['X-Amz-Credential']!.split('/');
    expect(post.fields['X-Amz-Signature']).toBe(signPolicy(post.fields.Policy!, 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY', date!, region!));
    expect(new URL(post.url).hostname).toBe('files-bucket.s3.eu-west-1.amazonaws.com');
  });
});

describe('deleting the files of a session', () => {
  const mock = mockClient(S3Client);
  afterEach(() => mock.reset());

  it('throws FilesNotDeleted when DeleteObjects lists errors, so the redaction is not reported done', async () => {
    mock.on(ListObjectsV2Command).resolves({ Contents: [{ Key: 'p/1/selfie' }, { Key: 'p/1/document_front' }], IsTruncated: false });
    mock.on(DeleteObjectsCommand).resolves({ Errors: [{ Key: 'p/1/selfie', Code: 'AccessDenied', Message: 'Access Denied' }] });
    const err = await new FileStore(new S3Client({}), 'b').deletePrefix('p/').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(FilesNotDeleted);
    expect((err as FilesNotDeleted).errors).toEqual([{ key: 'p/1/selfie', code: 'AccessDenied', message: 'Access Denied' }]);
  });

  it('counts what it deleted, page by page, when DeleteObjects lists no errors', async () => {
    mock
      .on(ListObjectsV2Command)
      .resolvesOnce({ Contents: [{ Key: 'p/1/selfie' }], IsTruncated: true, NextContinuationToken: 't' })
      .resolvesOnce({ Contents: [{ Key: 'p/2/selfie' }, { Key: 'p/2/document_front' }], IsTruncated: false });
    mock.on(DeleteObjectsCommand).resolves({ Errors: [] });
    expect(await new FileStore(new S3Client({}), 'b').deletePrefix('p/')).toBe(3);
    expect(mock.commandCalls(DeleteObjectsCommand).map((c) => c.args[0].input.Delete?.Objects?.length)).toEqual([1, 2]);
  });
});
