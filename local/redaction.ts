import type { S3Client } from '@aws-sdk/client-s3';
import type { SQSClient } from '@aws-sdk/client-sqs';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { REDACTION_QUEUE, SqsRedactionQueue } from '../lambdas/redaction/queue.js';
import { createRedactionWorker } from '../lambdas/redaction/worker.js';
import { EventStore } from '../lambdas/store/event-store.js';
import { FileStore } from '../lambdas/store/file-store.js';
import { IdempotencyStore } from '../lambdas/store/idempotency.js';
import { ReportStore } from '../lambdas/store/report-store.js';
import { FileRecordStore } from '../lambdas/store/file-record-store.js';
import { SessionStore } from '../lambdas/store/session-store.js';
import { QueuePoller } from './queue-poller.js';
import { createQueueWithDeadLetter } from './sqs.js';

export interface LocalRedaction {
  queue: SqsRedactionQueue;
  queueUrl: string;
  deadLetterQueueUrl: string;
  stop(): Promise<void>;
}

/** The redaction queue on the SQS emulator and its worker, as the stack runs them. */
export async function startLocalRedaction(opts: {
  doc: DynamoDBDocumentClient;
  tableName: string;
  sqs: SQSClient;
  s3: { client: S3Client; bucket: string };
  prefix?: string;
  /** Seconds before the second deletion of a redacted session's files (tests shorten it). */
  filesAgainAfterSeconds?: number;
  log?: (line: string) => void;
}): Promise<LocalRedaction> {
  const urls = await createQueueWithDeadLetter(opts.sqs, `${opts.prefix ?? ''}${REDACTION_QUEUE.name}`, REDACTION_QUEUE.queue);
  const queue = new SqsRedactionQueue(opts.sqs, urls.queue);
  const worker = createRedactionWorker({
    sessions: new SessionStore(opts.doc, opts.tableName),
    events: new EventStore(opts.doc, opts.tableName),
    idempotency: new IdempotencyStore(opts.doc, opts.tableName),
    reports: new ReportStore(opts.doc, opts.tableName),
    fileRecords: new FileRecordStore(opts.doc, opts.tableName),
    files: new FileStore(opts.s3.client, opts.s3.bucket),
    queue,
    filesAgainAfterSeconds: opts.filesAgainAfterSeconds,
    log: (line) => opts.log?.(line),
  });
  const poller = new QueuePoller({ sqs: opts.sqs, queueUrl: urls.queue, handler: worker, batchSize: REDACTION_QUEUE.queue.batchSize, log: opts.log, idleDelayMs: 25 });
  await poller.start();
  return { queue, queueUrl: urls.queue, deadLetterQueueUrl: urls.dlq, stop: () => poller.stop() };
}
