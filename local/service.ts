import type { AddressInfo } from 'node:net';
import { type ApiDeps, createApiHandler } from '../lambdas/api/app.js';
import { invocation } from './invocations.js';
import { newAccountId } from '../lambdas/domain/ids.js';
import { ApiKeyStore, newSecretKey } from '../lambdas/store/api-keys.js';
import { ConsoleStore } from '../lambdas/store/console-store.js';
import { type DynamoObserver, documentClient } from '../lambdas/store/dynamo.js';
import { IdempotencyStore } from '../lambdas/store/idempotency.js';
import { SessionStore } from '../lambdas/store/session-store.js';
import { type LocalDynamo, ensureTable, localClientConfig, startDynamoDbLocal } from './dynamodb.js';
import { createLocalHttpServer } from './http-adapter.js';
import { LocalBus } from './bus.js';
import { type LocalQueues, startLocalQueues } from './sqs.js';
import { StreamPoller } from './stream-poller.js';
import { type LocalWebhooks, type LocalWebhooksTuning, startLocalWebhooks } from './webhooks.js';
import { startLocalChecks } from './checks.js';
import { type LocalRedaction, startLocalRedaction } from './redaction.js';
import { type LocalSweepOptions, startLocalSweep } from './sweep.js';
import type { QueuePoller } from './queue-poller.js';
import { type LocalS3, startLocalS3 } from './s3.js';
import { FileStore } from '../lambdas/store/file-store.js';
import { ReportStore } from '../lambdas/store/report-store.js';
import { FlowStore } from '../lambdas/store/flow-store.js';
import { SettingsStore } from '../lambdas/store/settings-store.js';
import { FileRecordStore } from '../lambdas/store/file-record-store.js';
import { join } from 'node:path';
import { API_VERSION } from '../lambdas/domain/api-version.js';
import { createStreamPublisher } from '../lambdas/events/publisher.js';
import { EventStore } from '../lambdas/store/event-store.js';
import { type RateLimitSettings, RequestRateLimiter } from '../lambdas/api/rate-limit.js';

export const LOCAL_TABLE = 'verification-sessions';

export interface LocalServiceOptions {
  port?: number;
  host?: string;
  /** A sk_test_... key to accept; default: a new one. */
  secretKey?: string;
  /** Persist DynamoDB Local's data here instead of in memory. */
  dataDir?: string;
  /** Use an already running DynamoDB (tests share one); else start DynamoDB Local. */
  dynamoEndpoint?: string;
  tableName?: string;
  log?: (line: string) => void;
  /** Sees every DynamoDB operation the API makes (the benchmark counts them). */
  observeDynamo?: DynamoObserver;
  /** Sees every DynamoDB operation of the background workers (stream publisher, checks, webhooks, redaction, sweeps). */
  observeWorkers?: DynamoObserver;
  /** Webhook delivery settings (tests compress the retry schedule). */
  webhooks?: LocalWebhooksTuning;
  /** Seconds before a redacted session's files are deleted a second time (default: when upload URLs expire). */
  filesAgainAfterSeconds?: number;
  /** Retention, abandonment and stuck-checks sweeps, and how often they run. */
  sweep?: LocalSweepOptions;
  /** The per-account request rate limit (requests per second per mode); default: none. */
  rateLimit?: RateLimitSettings;
  /** How long the API trusts a key it has looked up (default KEY_CACHE_SECONDS): a revoked key works at most this long. */
  keyCacheSeconds?: number;
}

export interface LocalService {
  baseUrl: string;
  /** The SQS emulator and the queues of the routing table. */
  queues: LocalQueues;
  /** The local EventBridge stand-in. */
  bus: LocalBus;
  /** The webhook delivery queue, its dead-letter queue, and the fan-out and delivery pollers. */
  webhooks: LocalWebhooks;
  /** The redaction queue and its worker. */
  redaction: LocalRedaction;
  /** The S3-compatible server holding the users' files. */
  s3: LocalS3;
  port: number;
  secretKey: string;
  account: string;
  dynamoEndpoint: string;
  tableName: string;
  stop(): Promise<void>;
}

/**
 * The whole service on one machine: DynamoDB Local, the table built from the
 * same definition as the CDK stack, and the API Lambda handler behind an HTTP
 * server that speaks API Gateway's event format.
 */
export async function startLocalService(opts: LocalServiceOptions = {}): Promise<LocalService> {
  const host = opts.host ?? '127.0.0.1';
  const tableName = opts.tableName ?? LOCAL_TABLE;
  let dynamo: LocalDynamo | undefined;
  let queues: LocalQueues | undefined;
  let poller: StreamPoller | undefined;
  let s3: LocalS3 | undefined;
  let checks: QueuePoller | undefined;
  let webhooks: LocalWebhooks | undefined;
  let redaction: LocalRedaction | undefined;
  let sweeper: { stop(): Promise<void> } | undefined;
  const endpoint = opts.dynamoEndpoint ?? (dynamo = await startDynamoDbLocal({ dataDir: opts.dataDir })).endpoint;
  try {
    await ensureTable(endpoint, tableName);
    // The API's own client (observed by the benchmark) and one for the background workers.
    const apiDoc = documentClient(localClientConfig(endpoint), opts.observeDynamo);
    const doc = documentClient(localClientConfig(endpoint), opts.observeWorkers);
    const apiKeys = new ApiKeyStore(apiDoc, tableName, { cacheSeconds: opts.keyCacheSeconds });
    const secretKey = opts.secretKey ?? newSecretKey(false);
    if (secretKey.startsWith('sk_live_')) throw new Error('The local service accepts test keys only (sk_test_...).');
    // A key kept in a persisted data directory keeps its account, and so its sessions.
    const scope = (await apiKeys.lookup(secretKey)) ?? (await apiKeys.register(secretKey, newAccountId()));

    const events = new EventStore(doc, tableName);
    s3 = await startLocalS3({ dataDir: opts.dataDir && join(opts.dataDir, 'files') });
    const deps: ApiDeps = {
      sessions: new SessionStore(apiDoc, tableName),
      idempotency: new IdempotencyStore(apiDoc, tableName),
      events: new EventStore(apiDoc, tableName),
      files: new FileStore(s3.client, s3.bucket),
      reports: new ReportStore(apiDoc, tableName),
      flows: new FlowStore(apiDoc, tableName),
      settings: new SettingsStore(apiDoc, tableName),
      fileRecords: new FileRecordStore(apiDoc, tableName),
      apiKeys,
      rateLimiter: opts.rateLimit && new RequestRateLimiter(opts.rateLimit),
      console: new ConsoleStore(apiDoc, tableName),
    };

    // Events: the table's stream -> the publisher handler -> the local bus -> the routes' queues.
    queues = await startLocalQueues();
    const bus = new LocalBus(queues.client, queues.urls);
    redaction = await startLocalRedaction({ doc, tableName, sqs: queues.client, s3, filesAgainAfterSeconds: opts.filesAgainAfterSeconds, log: opts.log });
    poller = new StreamPoller({
      endpoint,
      tableName,
      checkpoints: doc,
      handler: createStreamPublisher({ events, bus, apiVersion: API_VERSION, redactions: redaction.queue }),
      log: opts.log,
    });
    await poller.start();
    checks = await startLocalChecks({ doc, tableName, sqs: queues.client, queueUrl: queues.urls.checks.queue, s3, log: opts.log });
    webhooks = await startLocalWebhooks({ doc, tableName, sqs: queues.client, webhooksQueueUrl: queues.urls.webhooks.queue, bus, log: opts.log, ...opts.webhooks });
    deps.webhooks = webhooks.apiDeps;
    sweeper = startLocalSweep({ ...opts.sweep, doc, tableName, redactions: redaction.queue, log: opts.log });
    const api = createApiHandler(deps);
    const server = createLocalHttpServer((event, context) => invocation('api', () => api(event, context)), opts.log);
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(opts.port ?? 4010, host, () => resolve());
    });
    const port = (server.address() as AddressInfo).port;
    const baseUrl = `http://${host}:${port}`;
    // The hosted page is served by this same server.
    deps.pageBaseUrl = baseUrl;
    return {
      baseUrl,
      queues,
      bus,
      webhooks,
      redaction,
      s3,
      port,
      secretKey,
      account: scope.account,
      dynamoEndpoint: endpoint,
      tableName,
      stop: async () => {
        server.closeAllConnections();
        await new Promise<void>((resolve) => server.close(() => resolve()));
        await sweeper?.stop();
        await checks?.stop();
        await webhooks?.stop();
        await poller?.stop();
        await redaction?.stop();
        await queues?.stop();
        await s3?.stop();
        doc.destroy();
        apiDoc.destroy();
        await dynamo?.stop();
      },
    };
  } catch (err) {
    await sweeper?.stop();
    await checks?.stop();
    await webhooks?.stop();
    await poller?.stop();
    await redaction?.stop();
    await queues?.stop();
    await s3?.stop();
    await dynamo?.stop();
    throw err;
  }
}
