import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { S3Client } from '@aws-sdk/client-s3';
import S3rver from 's3rver';
import { startPostPolicyFront } from './s3-post-policy.js';

export const LOCAL_BUCKET = 'verification-files';

export interface LocalS3 {
  endpoint: string;
  client: S3Client;
  bucket: string;
  stop(): Promise<void>;
}

/** s3rver accepts its own fixed credentials. */
const CREDENTIALS = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' };

/**
 * An S3-compatible server (s3rver) on 127.0.0.1 for the user's images, with
 * the bucket the service uses. Files live in a temporary directory (or under
 * `dataDir`) and the same SDK code as in AWS reads and writes them. Every
 * request goes through a front (local/s3-post-policy.ts) that evaluates the
 * signed policy of browser POST uploads as S3 does, which s3rver does not:
 * `endpoint` is the front, so presigned POSTs point at it.
 */
export async function startLocalS3(opts: { dataDir?: string } = {}): Promise<LocalS3> {
  const directory = opts.dataDir ?? mkdtempSync(join(tmpdir(), 'verification-files-'));
  const server = new S3rver({
    port: 0,
    address: '127.0.0.1',
    silent: true,
    directory,
    configureBuckets: [
      {
        name: LOCAL_BUCKET,
        // The hosted page uploads straight from the browser (the rule of lib/files.ts).
        configs: [
          `<CORSConfiguration><CORSRule><AllowedOrigin>*</AllowedOrigin><AllowedMethod>POST</AllowedMethod><MaxAgeSeconds>3600</MaxAgeSeconds></CORSRule></CORSConfiguration>`,
        ],
      },
    ],
  });
  const { port } = (await server.run()) as { port: number };
  const front = await startPostPolicyFront({
    target: `http://127.0.0.1:${port}`,
    credentials: { [CREDENTIALS.accessKeyId]: CREDENTIALS.secretAccessKey },
  }).catch(async (err) => {
    await server.close();
    throw err;
  });
  const endpoint = front.endpoint;
  const client = new S3Client({ endpoint, forcePathStyle: true, region: 'us-east-1', credentials: CREDENTIALS });
  return {
    endpoint,
    client,
    bucket: LOCAL_BUCKET,
    stop: async () => {
      client.destroy();
      await front.stop();
      await server.close();
      if (!opts.dataDir) rmSync(directory, { recursive: true, force: true });
    },
  };
}
