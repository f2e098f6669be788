import { ScanCommand, UpdateCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { SessionRecord } from '../domain/session.js';
import { errorName } from '../store/dynamo.js';
import { isLegacySweepPartition, sweepPartition, sweepShard } from '../store/session-store.js';
import { SESSION_SK_PREFIX, SWEEP_INDEX } from '../store/table.js';
import { type Watermark, type WindowName, readWatermarks, watermarkName } from './sweeper.js';

/**
 * How far ahead of a window's watermark the backfill keys a session that
 * window must still see: a sweep that runs while the backfill does moves the
 * watermarks by less than this.
 */
const AHEAD_OF_WATERMARK_MS = 60 * 60 * 1000;

/** The windows that may yet act on a session in this state (see the sweeps in sweeper.ts). */
function windowsFor(s: Pick<SessionRecord, 'status' | 'redaction'>): WindowName[] {
  if (s.status === 'processing') return ['stuck', 'abandon', 'retention'];
  if (s.redaction) return s.redaction.status === 'processing' ? ['stuck'] : [];
  return s.status === 'requires_input' ? ['abandon', 'retention'] : ['retention'];
}

/**
 * Puts into the sweep index, as the sweeps find them now (`SW#<shard>`, a
 * watch-from time), the sessions stored before it: those without sweep keys
 * (stored before the index existed) and those keyed the old way
 * (`SW#<status>#<shard>`, by the time they entered their state). A Scan of the
 * session items, and for each one to re-key a conditional UpdateItem. Its
 * watch-from time is the time it entered its state (its last write when that
 * was not recorded), or, when a sweep that must still see it has already read
 * past that time, a little ahead of that sweep's watermark, so that the sweep
 * reads it on one of its next runs. A session changed meanwhile was re-keyed by
 * that change and is left alone; a redacted one stays out of the index.
 * Run once after upgrading (`npm run backfill-sweep`); running it again finds
 * nothing to do.
 */
export async function backfillSweepIndex(doc: DynamoDBDocumentClient, table: string): Promise<{ scanned: number; updated: number }> {
  let marks = new Map<string, Watermark>();
  let scanned = 0;
  let updated = 0;
  let start: Record<string, unknown> | undefined;
  do {
    // Read again for every page: the sweeps keep running while a large table is scanned.
    marks = await readWatermarks(doc, table);
    const page = await doc.send(
      new ScanCommand({
        TableName: table,
        FilterExpression: 'begins_with(sk, :vs)',
        ExpressionAttributeValues: { ':vs': SESSION_SK_PREFIX },
        ExclusiveStartKey: start,
      }),
    );
    scanned += page.ScannedCount ?? 0;
    for (const item of page.Items ?? []) {
      const old = item[SWEEP_INDEX.partitionKey];
      if (old !== undefined && !isLegacySweepPartition(old)) continue; // keyed as the sweeps find it now
      const s = item as unknown as SessionRecord & { sweep_at?: number };
      const windows = windowsFor(s);
      if (windows.length === 0 && old === undefined) continue; // redacted: stays out of the index
      const shard = sweepShard(s.id);
      let at = s.sweep_at ?? s.state_since_ms ?? s.updated_ms;
      for (const w of windows) {
        const mark = marks.get(watermarkName(w, shard))?.at;
        if (mark !== undefined && at <= mark + AHEAD_OF_WATERMARK_MS) at = Math.max(at, mark + AHEAD_OF_WATERMARK_MS);
      }
      try {
        await doc.send(
          new UpdateCommand({
            TableName: table,
            Key: { pk: item.pk, sk: item.sk },
            UpdateExpression: windows.length === 0 ? 'REMOVE #spk, #sat' : 'SET #spk = :spk, #sat = :sat',
            ConditionExpression: `#version = :version AND ${old === undefined ? 'attribute_not_exists(#spk)' : '#spk = :old'}`,
            ExpressionAttributeNames: { '#spk': SWEEP_INDEX.partitionKey, '#sat': SWEEP_INDEX.sortKey, '#version': 'version' },
            ExpressionAttributeValues: {
              ':version': item.version,
              ...(windows.length === 0 ? {} : { ':spk': sweepPartition(shard), ':sat': at }),
              ...(old === undefined ? {} : { ':old': old }),
            },
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
