import { DynamoDBClient, type DynamoDBClientConfig } from '@aws-sdk/client-dynamodb';
import { BatchGetCommand, DynamoDBDocumentClient, QueryCommand } from '@aws-sdk/lib-dynamodb';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import { traced } from '../observability/powertools.js';

/** Called once per DynamoDB operation (not per HTTP retry) with its consumed capacity and its (marshalled) input. */
export type DynamoObserver = (operation: string, consumed: unknown, failed: boolean, input?: unknown) => void;

/** The document client every store uses: plain JS values in and out. */
export function documentClient(config: DynamoDBClientConfig = {}, observer?: DynamoObserver): DynamoDBDocumentClient {
  // X-Ray subsegments per call inside Lambda; the plain client elsewhere.
  const client = traced(new DynamoDBClient(config));
  if (observer) {
    client.middlewareStack.add(
      (next, context) => async (args) => {
        try {
          const result = await next(args);
          observer(context.commandName ?? 'unknown', (result.output as { ConsumedCapacity?: unknown }).ConsumedCapacity, false, args.input);
          return result;
        } catch (err) {
          observer(context.commandName ?? 'unknown', undefined, true, args.input);
          throw err;
        }
      },
      { step: 'initialize', name: 'observeOperations' },
    );
  }
  return DynamoDBDocumentClient.from(client, {
    marshallOptions: { removeUndefinedValues: true },
  });
}

/** The name of an AWS SDK error, whatever its class. */
export function errorName(err: unknown): string | undefined {
  return typeof err === 'object' && err !== null && 'name' in err ? String((err as { name: unknown }).name) : undefined;
}

/**
 * The old item a failed conditional write returned (ReturnValuesOnConditionCheckFailure:
 * ALL_OLD). The document client does not unmarshall items on errors, so this does.
 */
export function itemOnConditionFailure(err: unknown): Record<string, unknown> | undefined {
  const item = (err as { Item?: Record<string, unknown> } | undefined)?.Item;
  return item ? unmarshall(item as Parameters<typeof unmarshall>[0]) : undefined;
}

/** Per-item reasons of a canceled TransactWriteItems, with old items unmarshalled. */
export function cancellationReasons(err: unknown): { code: string; item?: Record<string, unknown> }[] | undefined {
  if (errorName(err) !== 'TransactionCanceledException') return undefined;
  const reasons = (err as { CancellationReasons?: { Code?: string; Item?: Record<string, unknown> }[] }).CancellationReasons ?? [];
  return reasons.map((r) => ({
    code: r.Code ?? 'None',
    item: r.Item ? unmarshall(r.Item as Parameters<typeof unmarshall>[0]) : undefined,
  }));
}

/**
 * Every item of one partition whose sort key starts with `prefix` (optionally
 * filtered), reading page after page: for the small sets a worker needs whole.
 */
export async function queryAllWithPrefix<T>(
  doc: DynamoDBDocumentClient,
  table: string,
  q: { pk: string; prefix: string; filter?: { expression: string; names: Record<string, string> } },
  fromItem: (item: Record<string, unknown>) => T,
): Promise<T[]> {
  const out: T[] = [];
  let startKey: Record<string, unknown> | undefined;
  do {
    const r = await doc.send(
      new QueryCommand({
        TableName: table,
        KeyConditionExpression: 'pk = :pk AND begins_with(sk, :prefix)',
        FilterExpression: q.filter?.expression,
        ExpressionAttributeNames: q.filter?.names,
        ExpressionAttributeValues: { ':pk': q.pk, ':prefix': q.prefix },
        ConsistentRead: true,
        ExclusiveStartKey: startKey,
        ReturnConsumedCapacity: 'TOTAL',
      }),
    );
    for (const item of r.Items ?? []) out.push(fromItem(item));
    startKey = r.LastEvaluatedKey;
  } while (startKey);
  return out;
}

/** BatchGetItem takes at most 100 keys. */
const BATCH_GET_MAX_KEYS = 100;

/**
 * Every item of `keys` that exists, in consistent reads, 100 keys a request,
 * reading again what DynamoDB left unprocessed.
 */
export async function batchGetAll(doc: DynamoDBDocumentClient, table: string, keys: Record<string, unknown>[]): Promise<Record<string, unknown>[]> {
  const out: Record<string, unknown>[] = [];
  for (let start = 0; start < keys.length; start += BATCH_GET_MAX_KEYS) {
    let pending = keys.slice(start, start + BATCH_GET_MAX_KEYS);
    for (let round = 0; pending.length > 0; round++) {
      if (round > 5) throw new Error('BatchGetItem kept leaving keys unprocessed');
      if (round > 0) await new Promise((r) => setTimeout(r, 20 * 2 ** round));
      const r = await doc.send(new BatchGetCommand({ RequestItems: { [table]: { Keys: pending, ConsistentRead: true } }, ReturnConsumedCapacity: 'TOTAL' }));
      out.push(...(r.Responses?.[table] ?? []));
      pending = (r.UnprocessedKeys?.[table]?.Keys as Record<string, unknown>[] | undefined) ?? [];
    }
  }
  return out;
}
