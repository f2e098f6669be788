import { S3Client } from '@aws-sdk/client-s3';
import { describe, expect, it } from 'vitest';
import { FileStore, MAX_FILE_BYTES, UPLOAD_URL_SECONDS } from '../../lambdas/store/file-store.js';
import { evaluatePostPolicy, s3ErrorXml, signPolicy } from '../../local/s3-post-policy.js';

// The local front's reading of a POST policy, on policies FileStore signs.
const CREDENTIALS = { S3RVER: 'S3RVER' };
const client = new S3Client({ endpoint: 'http://127.0.0.1:1', forcePathStyle: true, region: 'us-east-1', credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' } });
const files = new FileStore(client, 'verification-files');
const KEY = 'acct/test/vs_1/0/selfie';

async function form(overrides: Record<string, string> = {}) {
  const post = await files.presignUpload(KEY, 'image/png');
  return Object.entries({ ...post.fields, ...overrides });
}
const evaluate = async (fields: [string, string][], fileSize = 100, nowMs = Date.now(), bucket = 'verification-files') =>
  evaluatePostPolicy({ bucket, fields, fileSize }, CREDENTIALS, nowMs);

describe('evaluating a POST policy as S3 does', () => {
  it('accepts the form the API signed, from 1 byte to MAX_FILE_BYTES', async () => {
    const fields = await form();
    expect(await evaluate(fields, 1)).toBeUndefined();
    expect(await evaluate(fields, MAX_FILE_BYTES)).toBeUndefined();
  });

  it('refuses a file outside content-length-range with EntityTooLarge or EntityTooSmall (400)', async () => {
    const fields = await form();
    expect(await evaluate(fields, MAX_FILE_BYTES + 1)).toEqual({
      status: 400,
      code: 'EntityTooLarge',
      message: 'Your proposed upload exceeds the maximum allowed size',
      detail: { ProposedSize: MAX_FILE_BYTES + 1, MaxSizeAllowed: MAX_FILE_BYTES },
    });
    expect(await evaluate(fields, 0)).toMatchObject({ status: 400, code: 'EntityTooSmall', detail: { MinSizeAllowed: 1 } });
  });

  it('refuses another content type, key or encryption, and extra fields, with AccessDenied (403)', async () => {
    expect(await evaluate(await form({ 'Content-Type': 'text/html' }))).toEqual({
      status: 403,
      code: 'AccessDenied',
      message: 'Invalid according to Policy: Policy Condition failed: ["eq","$Content-Type","image/png"]',
    });
    expect(await evaluate(await form({ key: 'acct/test/vs_2/0/selfie' }))).toMatchObject({ status: 403, code: 'AccessDenied' });
    expect(await evaluate(await form({ 'x-amz-server-side-encryption': 'aws:kms' }))).toMatchObject({ status: 403, code: 'AccessDenied' });
    expect(await evaluate([...(await form()), ['acl', 'public-read']])).toMatchObject({
      code: 'AccessDenied',
      message: 'Invalid according to Policy: Extra input fields: acl',
    });
    // x-ignore-* fields are S3's documented exception.
    expect(await evaluate([...(await form()), ['x-ignore-note', 'anything']])).toBeUndefined();
    // The policy names the bucket it was signed for.
    expect(await evaluate(await form(), 100, Date.now(), 'another-bucket')).toMatchObject({ code: 'AccessDenied' });
  });

  it('refuses an expired policy, and one whose signature does not cover it (a raised cap)', async () => {
    const fields = await form();
    expect(await evaluate(fields, 100, Date.now() + (UPLOAD_URL_SECONDS + 2) * 1000)).toMatchObject({
      status: 403,
      message: 'Invalid according to Policy: Policy expired.',
    });
    const policy = JSON.parse(Buffer.from(Object.fromEntries(fields).Policy!, 'base64').toString());
    policy.conditions = policy.conditions.map((c: unknown) => (Array.isArray(c) && c[0] === 'content-length-range' ? [c[0], 1, 10 * MAX_FILE_BYTES] : c));
    const raised = Buffer.from(JSON.stringify(policy)).toString('base64');
    expect(await evaluate(fields.map(([k, v]) => [k, k === 'Policy' ? raised : v]), 2 * MAX_FILE_BYTES)).toMatchObject({
      status: 403,
      code: 'SignatureDoesNotMatch',
    });
    // Signed with the right secret, the raised cap would pass: the signature is what stops it.
    const [, date, region] = Object.fromEntries(fields)['X-Amz-Credential']!.split('/');
    const resigned = fields.map(([k, v]): [string, string] => [k, k === 'Policy' ? raised : k === 'X-Amz-Signature' ? signPolicy(raised, 'S3RVER', date!, region!) : v]);
    expect(await evaluate(resigned, 2 * MAX_FILE_BYTES)).toBeUndefined();
  });

  it('writes errors in S3 XML', () => {
    expect(s3ErrorXml({ status: 400, code: 'EntityTooLarge', message: 'too <big>', detail: { MaxSizeAllowed: 5 } }, 'R1')).toBe(
      '<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>EntityTooLarge</Code><Message>too &#60;big&#62;</Message><MaxSizeAllowed>5</MaxSizeAllowed><RequestId>R1</RequestId><HostId>R1</HostId></Error>',
    );
  });
});
