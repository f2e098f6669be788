import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { S3Client } from '@aws-sdk/client-s3';
import S3rver from 's3rver';

export const LOCAL_BUCKET = 'verification-files';

export interface LocalS3 {
  endpoint: string;
  client: S3Client;
  bucket: string;
  stop(): Promise<void>;
}

/**
 * An S3-compatible server (s3rver) on 127.0.0.1 for the user's images, with
 * the bucket the service uses. Files live in a temporary directory (or under
 * `dataDir`) and the same SDK code as in AWS reads and writes them.
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
        // The hosted page uploads straight from the browser.
        configs: [
          `<CORSConfiguration><CORSRule><AllowedOrigin>*</AllowedOrigin><AllowedMethod>PUT</AllowedMethod><AllowedHeader>*</AllowedHeader></CORSRule></CORSConfiguration>`,
        ],
      },
    ],
  });
  const { port } = (await server.run()) as { port: number };
  const endpoint = `http://127.0.0.1:${port}`;
  // s3rver accepts its own fixed credentials.
  const client = new S3Client({ endpoint, forcePathStyle: true, region: 'us-east-1', credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' } });
  return {
    endpoint,
    client,
    bucket: LOCAL_BUCKET,
    stop: async () => {
      client.destroy();
      await server.close();
      if (!opts.dataDir) rmSync(directory, { recursive: true, force: true });
    },
  };
}
