import { S3Client } from '@aws-sdk/client-s3';
import { SQSClient } from '@aws-sdk/client-sqs';
import { documentClient } from '../store/dynamo.js';
import { EventStore } from '../store/event-store.js';
import { FileStore } from '../store/file-store.js';
import { IdempotencyStore } from '../store/idempotency.js';
import { ReportStore } from '../store/report-store.js';
import { FileRecordStore } from '../store/file-record-store.js';
import { SessionStore } from '../store/session-store.js';
import { SqsRedactionQueue } from './queue.js';
import { createRedactionWorker } from './worker.js';
import { instrumented, traced } from '../observability/powertools.js';

// The redaction queue's consumer (SQS event source with ReportBatchItemFailures).
const table = process.env.TABLE_NAME;
const bucket = process.env.FILES_BUCKET;
const queueUrl = process.env.REDACTION_QUEUE_URL;
if (!table || !bucket || !queueUrl) throw new Error('TABLE_NAME, FILES_BUCKET and REDACTION_QUEUE_URL must be set');
const doc = documentClient();

export const handler = instrumented(createRedactionWorker({
  sessions: new SessionStore(doc, table),
  events: new EventStore(doc, table),
  idempotency: new IdempotencyStore(doc, table),
  reports: new ReportStore(doc, table),
  fileRecords: new FileRecordStore(doc, table),
  files: new FileStore(traced(new S3Client({})), bucket),
  queue: new SqsRedactionQueue(traced(new SQSClient({})), queueUrl),
}));
