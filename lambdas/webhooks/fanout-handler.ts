import { SQSClient } from '@aws-sdk/client-sqs';
import { DeliveryStore } from '../store/delivery-store.js';
import { documentClient } from '../store/dynamo.js';
import { WebhookEndpointStore } from '../store/webhook-store.js';
import { createFanOut } from './fanout.js';
import { SqsDeliveryQueue } from './queue.js';
import { instrumented, traced } from '../observability/powertools.js';

// The webhooks route queue's consumer (SQS event source with ReportBatchItemFailures).
const table = process.env.TABLE_NAME;
const queueUrl = process.env.WEBHOOK_DELIVERY_QUEUE_URL;
if (!table || !queueUrl) throw new Error('TABLE_NAME and WEBHOOK_DELIVERY_QUEUE_URL must be set');
const doc = documentClient();

export const handler = instrumented(createFanOut({
  endpoints: new WebhookEndpointStore(doc, table),
  deliveries: new DeliveryStore(doc, table),
  queue: new SqsDeliveryQueue(traced(new SQSClient({})), queueUrl),
}));
