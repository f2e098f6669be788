import type { SQSClient } from '@aws-sdk/client-sqs';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { type WebhookApiDeps, webhookApiDeps } from '../lambdas/api/webhooks.js';
import { API_VERSION } from '../lambdas/domain/api-version.js';
import type { EventBus } from '../lambdas/events/bus.js';
import { ROUTES, WEBHOOK_DELIVERY_QUEUE } from '../lambdas/events/routing.js';
import { DeliveryStore } from '../lambdas/store/delivery-store.js';
import { WebhookEndpointStore } from '../lambdas/store/webhook-store.js';
import { createFanOut } from '../lambdas/webhooks/fanout.js';
import { SqsDeliveryQueue } from '../lambdas/webhooks/queue.js';
import type { RetrySchedule } from '../lambdas/webhooks/schedule.js';
import type { HostLookup } from '../lambdas/webhooks/url-policy.js';
import { createDeliveryWorker } from '../lambdas/webhooks/worker.js';
import { QueuePoller } from './queue-poller.js';
import { createQueueWithDeadLetter } from './sqs.js';

/** What tests and the benchmark may change about local webhook delivery. */
export interface LocalWebhooksTuning {
  /** Retry schedules (the published ones by default). */
  schedule?: RetrySchedule;
  /** Jitter source of the retry waits (Math.random by default). */
  random?: () => number;
  /** The workers' clock (Date.now by default). */
  now?: () => number;
  /** Per-attempt timeout (15 s by default). */
  timeoutMs?: number;
  /** Host resolution for the endpoint URL checks. */
  lookup?: HostLookup;
  /** Delivery pollers running side by side (Lambda would scale out); default 2. */
  deliveryPollers?: number;
  /** Run the fan-out and delivery consumers (default true); off, the queues fill and nothing is delivered. */
  consumers?: boolean;
}

export interface LocalWebhooks {
  deliveryQueueUrl: string;
  deliveryDeadLetterQueueUrl: string;
  /** The API's webhook dependencies (endpoints, deliveries, the delivery queue for resends). */
  apiDeps: WebhookApiDeps;
  stop(): Promise<void>;
}

/**
 * Webhooks under npm start: the delivery queue and its dead-letter queue on the
 * SQS emulator (settings from the routing module, as the stack uses them), and
 * queue pollers running the same fan-out and delivery handlers as the Lambda
 * functions. Test-mode endpoints on http://127.0.0.1 work: loopback is allowed
 * here, and only here.
 */
export async function startLocalWebhooks(
  opts: {
    doc: DynamoDBDocumentClient;
    tableName: string;
    sqs: SQSClient;
    /** The webhooks route's queue (the fan-out reads it). */
    webhooksQueueUrl: string;
    bus: EventBus;
    log?: (line: string) => void;
    /** Queue name prefix, for several services on one emulator. */
    prefix?: string;
  } & LocalWebhooksTuning,
): Promise<LocalWebhooks> {
  const { sqs, doc, tableName } = opts;
  const settings = WEBHOOK_DELIVERY_QUEUE.queue;
  const base = `${opts.prefix ?? ''}${WEBHOOK_DELIVERY_QUEUE.name}`;
  const { queue: queueUrl, dlq } = await createQueueWithDeadLetter(sqs, base, settings);

  const queue = new SqsDeliveryQueue(sqs, queueUrl, dlq);
  const endpoints = new WebhookEndpointStore(doc, tableName);
  const deliveries = new DeliveryStore(doc, tableName);
  const quiet = () => {};
  const log = opts.log ?? quiet;
  const pollers: QueuePoller[] = [];
  if (opts.consumers !== false) {
    pollers.push(
      new QueuePoller({
        sqs,
        queueUrl: opts.webhooksQueueUrl,
        batchSize: ROUTES.webhooks.queue.batchSize,
        handler: createFanOut({ endpoints, deliveries, queue, now: opts.now, log }),
        log,
      }),
    );
    const worker = createDeliveryWorker({
      deliveries,
      endpoints,
      queue,
      bus: opts.bus,
      apiVersion: API_VERSION,
      now: opts.now,
      random: opts.random,
      schedule: opts.schedule,
      timeoutMs: opts.timeoutMs,
      lookup: opts.lookup,
      allowLoopback: true,
      log,
    });
    for (let i = 0; i < (opts.deliveryPollers ?? 2); i++)
      pollers.push(new QueuePoller({ sqs, queueUrl, batchSize: settings.batchSize, handler: worker, log, idleDelayMs: 25 }));
  }
  try {
    for (const p of pollers) await p.start();
  } catch (err) {
    await Promise.all(pollers.map((p) => p.stop()));
    throw err;
  }
  return {
    deliveryQueueUrl: queueUrl,
    deliveryDeadLetterQueueUrl: dlq,
    apiDeps: webhookApiDeps(doc, tableName, queue, { lookup: opts.lookup, allowLoopback: true }),
    stop: async () => {
      await Promise.all(pollers.map((p) => p.stop()));
    },
  };
}
