import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { SQSClient } from '@aws-sdk/client-sqs';
import { API_VERSION } from '../domain/api-version.js';
import { EventBridgeBus } from '../events/bus.js';
import { DeliveryStore } from '../store/delivery-store.js';
import { documentClient } from '../store/dynamo.js';
import { WebhookEndpointStore } from '../store/webhook-store.js';
import { SqsDeliveryQueue } from './queue.js';
import { createDeliveryWorker } from './worker.js';
import { instrumented, traced } from '../observability/powertools.js';

// The webhook delivery queue's consumer (SQS event source with ReportBatchItemFailures).
const table = process.env.TABLE_NAME;
const queueUrl = process.env.WEBHOOK_DELIVERY_QUEUE_URL;
const deadLetterUrl = process.env.WEBHOOK_DELIVERY_DLQ_URL;
const busName = process.env.EVENT_BUS_NAME;
if (!table || !queueUrl || !deadLetterUrl || !busName)
  throw new Error('TABLE_NAME, WEBHOOK_DELIVERY_QUEUE_URL, WEBHOOK_DELIVERY_DLQ_URL and EVENT_BUS_NAME must be set');
const doc = documentClient();

export const handler = instrumented(createDeliveryWorker({
  deliveries: new DeliveryStore(doc, table),
  endpoints: new WebhookEndpointStore(doc, table),
  queue: new SqsDeliveryQueue(traced(new SQSClient({})), queueUrl, deadLetterUrl),
  bus: new EventBridgeBus(traced(new EventBridgeClient({})), busName),
  apiVersion: API_VERSION,
  // In Lambda, loopback is the function's own runtime API: never a webhook endpoint.
  allowLoopback: false,
}));
