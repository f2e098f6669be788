import { inject } from 'vitest';
import { randomChars } from '../../lambdas/domain/ids.js';
import { documentClient } from '../../lambdas/store/dynamo.js';
import { ensureTable, localClientConfig } from '../../local/dynamodb.js';

/** A new, empty table (from the shared definition) in the run's DynamoDB Local. */
export async function freshTable(prefix = 'test') {
  const endpoint = inject('dynamoEndpoint');
  const tableName = `${prefix}-${randomChars(8)}`;
  await ensureTable(endpoint, tableName);
  const doc = documentClient(localClientConfig(endpoint));
  return { endpoint, tableName, doc };
}
