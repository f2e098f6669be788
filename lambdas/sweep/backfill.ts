import { ScanCommand, UpdateCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { SessionRecord } from '../domain/session.js';
import { errorName } from '../store/dynamo.js';
import { sweepKeys } from '../store/session-store.js';
import { SESSION_SK_PREFIX, SWEEP_INDEX } from '../store/table.js';

/**
 * Puts sessions stored before the sweep index existed into it, so that the
 * sweeps (retention, abandonment, stuck checks) see them too: a Scan of the
 * session items without `sweep_pk`, and for each one conditional UpdateItem
 * that sets the keys `sweepKeys` gives it (its state's start is taken to be its
 * last write). A session changed meanwhile already got its keys from that change
 * and is left alone. Run once after upgrading (`npm run backfill-sweep`);
 * running it again finds nothing to do.
 */
export async function backfillSweepIndex(doc: DynamoDBDocumentClient, table: string): Promise<{ scanned: number; updated: number }> {
  let scanned = 0;
  let updated = 0;
  let start: Record<string, unknown> | undefined;
  do {
    const page = await doc.send(
      new ScanCommand({
        TableName: table,
        FilterExpression: 'begins_with(sk, :vs) AND attribute_not_exists(#spk)',
        ExpressionAttributeNames: { '#spk': SWEEP_INDEX.partitionKey },
        ExpressionAttributeValues: { ':vs': SESSION_SK_PREFIX },
        ExclusiveStartKey: start,
      }),
    );
    scanned += page.ScannedCount ?? 0;
    for (const item of page.Items ?? []) {
      const keys = sweepKeys(item as unknown as SessionRecord) as Record<string, string | number>;
      if (Object.keys(keys).length === 0) continue; // redacted: stays out of the index
      try {
        await doc.send(
          new UpdateCommand({
            TableName: table,
            Key: { pk: item.pk, sk: item.sk },
            UpdateExpression: 'SET #spk = :spk, #sat = :sat',
            ConditionExpression: '#version = :version AND attribute_not_exists(#spk)',
            ExpressionAttributeNames: { '#spk': SWEEP_INDEX.partitionKey, '#sat': SWEEP_INDEX.sortKey, '#version': 'version' },
            ExpressionAttributeValues: { ':spk': keys[SWEEP_INDEX.partitionKey], ':sat': keys[SWEEP_INDEX.sortKey], ':version': item.version },
          }),
        );
        updated++;
      } catch (err) {
        if (errorName(err) !== 'ConditionalCheckFailedException') throw err;
      }
    }
    start = page.LastEvaluatedKey;
  } while (start);
  return { scanned, updated };
}
