import { SQSClient } from '@aws-sdk/client-sqs';
import { SqsRedactionQueue } from '../redaction/queue.js';
import { documentClient } from '../store/dynamo.js';
import { SessionStore } from '../store/session-store.js';
import { type SweepSettings, daysSetting, sweep } from './sweeper.js';
import { instrumented, traced } from '../observability/powertools.js';

// Invoked by a scheduled EventBridge rule (lib/sweep.ts).
const table = process.env.TABLE_NAME;
if (!table) throw new Error('TABLE_NAME must be set');
const settings: SweepSettings = {
  retentionMs: daysSetting('RETENTION_DAYS', process.env.RETENTION_DAYS),
  abandonAfterMs: daysSetting('ABANDON_AFTER_DAYS', process.env.ABANDON_AFTER_DAYS),
};
const doc = documentClient();
const sessions = new SessionStore(doc, table);

const redactions = new SqsRedactionQueue(traced(new SQSClient({})), process.env.REDACTION_QUEUE_URL);

export const handler = instrumented(async () => sweep({ doc, table, sessions, redactions }, settings));
