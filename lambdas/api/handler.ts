import { ApiKeyStore } from '../store/api-keys.js';
import { documentClient } from '../store/dynamo.js';
import { EventStore } from '../store/event-store.js';
import { IdempotencyStore } from '../store/idempotency.js';
import { SessionStore } from '../store/session-store.js';
import { createApiHandler } from './app.js';

// Clients are built once per Lambda container, outside the handler.
const table = process.env.TABLE_NAME;
if (!table) throw new Error('TABLE_NAME is not set');
const doc = documentClient();

export const handler = createApiHandler({
  sessions: new SessionStore(doc, table),
  idempotency: new IdempotencyStore(doc, table),
  events: new EventStore(doc, table),
  apiKeys: new ApiKeyStore(doc, table),
  pageBaseUrl: process.env.PAGE_BASE_URL || undefined,
});
