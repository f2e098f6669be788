import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { SQSClient } from '@aws-sdk/client-sqs';
import { SqsRedactionQueue } from '../redaction/queue.js';
import { API_VERSION } from '../domain/api-version.js';
import { documentClient } from '../store/dynamo.js';
import { EventStore } from '../store/event-store.js';
import { EventBridgeBus } from './bus.js';
import { createStreamPublisher } from './publisher.js';
import { instrumented, traced } from '../observability/powertools.js';

// The table stream's consumer (Lambda event source mapping with ReportBatchItemFailures).
const table = process.env.TABLE_NAME;
const busName = process.env.EVENT_BUS_NAME;
if (!table || !busName) throw new Error('TABLE_NAME and EVENT_BUS_NAME must be set');

export const handler = instrumented(createStreamPublisher({
  events: new EventStore(documentClient(), table),
  bus: new EventBridgeBus(traced(new EventBridgeClient({})), busName),
  apiVersion: API_VERSION,
  redactions: new SqsRedactionQueue(traced(new SQSClient({})), process.env.REDACTION_QUEUE_URL),
}));
