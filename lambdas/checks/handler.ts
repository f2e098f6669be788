import { RekognitionClient } from '@aws-sdk/client-rekognition';
import { S3Client } from '@aws-sdk/client-s3';
import { ChangeMessageVisibilityCommand, SQSClient } from '@aws-sdk/client-sqs';
import { TextractClient } from '@aws-sdk/client-textract';
import { documentClient } from '../store/dynamo.js';
import { FileStore } from '../store/file-store.js';
import { SessionStore } from '../store/session-store.js';
import { AwsProvider } from './aws-provider.js';
import { TestProvider } from './test-provider.js';
import { createChecksWorker } from './worker.js';
import { instrumented, traced } from '../observability/powertools.js';

// The checks queue's consumer (SQS event source with ReportBatchItemFailures).
const table = process.env.TABLE_NAME;
const bucket = process.env.FILES_BUCKET;
const queueUrl = process.env.CHECKS_QUEUE_URL;
if (!table || !bucket || !queueUrl) throw new Error('TABLE_NAME, FILES_BUCKET and CHECKS_QUEUE_URL must be set');
const sqs = traced(new SQSClient({}));
// CHECKS_PROVIDER=test (the stack's `checkProvider` setting): live-mode sessions
// get the test provider too, for a stack in a region without Textract AnalyzeID
// or one that is not allowed to call it.
const liveProvider = process.env.CHECKS_PROVIDER === 'test'
  ? new TestProvider()
  : new AwsProvider({ textract: traced(new TextractClient({})), rekognition: traced(new RekognitionClient({})) });

export const handler = instrumented(createChecksWorker({
  sessions: new SessionStore(documentClient(), table),
  files: new FileStore(traced(new S3Client({})), bucket),
  providers: {
    test: new TestProvider(),
    live: liveProvider,
  },
  postpone: async (record, seconds) => {
    await sqs.send(new ChangeMessageVisibilityCommand({ QueueUrl: queueUrl, ReceiptHandle: record.receiptHandle, VisibilityTimeout: Math.min(seconds, 43_200) }));
  },
}));
