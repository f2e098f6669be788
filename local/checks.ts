import { ChangeMessageVisibilityCommand, type SQSClient } from '@aws-sdk/client-sqs';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { CheckProvider } from '../lambdas/checks/provider.js';
import { TestProvider } from '../lambdas/checks/test-provider.js';
import { createChecksWorker } from '../lambdas/checks/worker.js';
import { FileStore } from '../lambdas/store/file-store.js';
import { SessionStore } from '../lambdas/store/session-store.js';
import { QueuePoller } from './queue-poller.js';
import type { LocalS3 } from './s3.js';

/** Live keys are refused locally, so a live session never reaches the local worker. */
const noLiveChecks: CheckProvider = {
  name: 'aws',
  check: async () => {
    throw new Error('Live-mode checks (Textract, Rekognition) run only in AWS.');
  },
};

/** The checks worker on the checks route's queue, as its Lambda runs in AWS. */
export async function startLocalChecks(opts: {
  doc: DynamoDBDocumentClient;
  tableName: string;
  sqs: SQSClient;
  queueUrl: string;
  s3: LocalS3;
  log?: (line: string) => void;
}): Promise<QueuePoller> {
  const worker = createChecksWorker({
    sessions: new SessionStore(opts.doc, opts.tableName),
    files: new FileStore(opts.s3.client, opts.s3.bucket),
    providers: { test: new TestProvider(), live: noLiveChecks },
    postpone: async (record, seconds) => {
      await opts.sqs.send(new ChangeMessageVisibilityCommand({ QueueUrl: opts.queueUrl, ReceiptHandle: record.receiptHandle, VisibilityTimeout: seconds }));
    },
    log: (line) => opts.log?.(line),
  });
  const poller = new QueuePoller({ sqs: opts.sqs, queueUrl: opts.queueUrl, handler: worker, batchSize: 5, log: opts.log });
  await poller.start();
  return poller;
}
