import { S3Client } from '@aws-sdk/client-s3';
import { ApiKeyStore, keyCacheSecondsFromEnv } from '../store/api-keys.js';
import { ConsoleStore } from '../store/console-store.js';
import { FileStore } from '../store/file-store.js';
import { ReportStore } from '../store/report-store.js';
import { FlowStore } from '../store/flow-store.js';
import { FileRecordStore } from '../store/file-record-store.js';
import { documentClient } from '../store/dynamo.js';
import { EventStore } from '../store/event-store.js';
import { IdempotencyStore } from '../store/idempotency.js';
import { SessionStore } from '../store/session-store.js';
import { SettingsStore } from '../store/settings-store.js';
import { createApiHandler } from './app.js';
import { SQSClient } from '@aws-sdk/client-sqs';
import { SqsDeliveryQueue } from '../webhooks/queue.js';
import { webhookApiDeps } from './webhooks.js';
import { RequestRateLimiter, rateLimitFromEnv } from './rate-limit.js';
import { traced } from '../observability/powertools.js';

// Clients are built once per Lambda container, outside the handler.
const table = process.env.TABLE_NAME;
const bucket = process.env.FILES_BUCKET;
if (!table || !bucket) throw new Error('TABLE_NAME and FILES_BUCKET must be set');
const doc = documentClient();

export const handler = createApiHandler({
  sessions: new SessionStore(doc, table),
  idempotency: new IdempotencyStore(doc, table),
  events: new EventStore(doc, table),
  // A revoked key stops working within API_KEY_CACHE_SECONDS (default 300).
  apiKeys: new ApiKeyStore(doc, table, { cacheSeconds: keyCacheSecondsFromEnv(process.env.API_KEY_CACHE_SECONDS) }),
  console: new ConsoleStore(doc, table),
  files: new FileStore(traced(new S3Client({})), bucket),
  reports: new ReportStore(doc, table),
  flows: new FlowStore(doc, table),
  settings: new SettingsStore(doc, table),
  fileRecords: new FileRecordStore(doc, table),
  pageBaseUrl: process.env.PAGE_BASE_URL || undefined,
  // Per instance, in memory: API_RATE_LIMIT_LIVE / API_RATE_LIMIT_TEST requests per second (default 100 / 25).
  rateLimiter: new RequestRateLimiter(rateLimitFromEnv(process.env)),
  // Resends go on the delivery queue. In Lambda, loopback is the function's own runtime API: never an endpoint.
  webhooks: webhookApiDeps(doc, table, new SqsDeliveryQueue(traced(new SQSClient({})), process.env.WEBHOOK_DELIVERY_QUEUE_URL), { allowLoopback: false }),
});
