import { QueryCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { idBoundsAt } from '../domain/ids.js';

/**
 * One page of items whose sort key is `<skPrefix><time-ordered id>`, newest
 * first. Ids carry their creation time, so `created` bounds and cursors become
 * a key range and one Query usually serves a page; other filters are applied by
 * DynamoDB to the items it reads, and the Query continues until the page is full.
 */
export type CreatedFilter = number | { gt?: number; gte?: number; lt?: number; lte?: number };

export interface TimeOrderedPageQuery {
  pk: string;
  skPrefix: string;
  idPrefix: string;
  limit: number;
  starting_after?: string;
  ending_before?: string;
  created?: CreatedFilter;
  /** Equality filters on attributes; undefined values are ignored. */
  equals?: Record<string, unknown>;
  /** A raw filter on top (with its own names and values). */
  filter?: { expression: string; names: Record<string, string>; values: Record<string, unknown> };
}

export async function queryTimeOrderedPage<T>(
  doc: DynamoDBDocumentClient,
  table: string,
  q: TimeOrderedPageQuery,
  fromItem: (item: Record<string, unknown>) => T,
): Promise<{ data: T[]; has_more: boolean }> {
  const { low, high } = createdBounds(q.skPrefix, q.idPrefix, q.created);
  const names: Record<string, string> = { ...q.filter?.names };
  const values: Record<string, unknown> = { ':pk': q.pk, ':low': low, ':high': high, ...q.filter?.values };
  const filters: string[] = q.filter ? [q.filter.expression] : [];
  for (const [attr, value] of Object.entries(q.equals ?? {})) {
    if (value === undefined) continue;
    names[`#f_${attr}`] = attr;
    values[`:f_${attr}`] = value;
    filters.push(`#f_${attr} = :f_${attr}`);
  }

  const backwards = q.ending_before !== undefined;
  const cursor = q.ending_before ?? q.starting_after;
  let startKey: Record<string, unknown> | undefined;
  if (cursor !== undefined) {
    const sk = `${q.skPrefix}${cursor}`;
    // A cursor outside the created range: either nothing lies beyond it, or the whole range does.
    if (backwards ? sk >= high : sk <= low) return { data: [], has_more: false };
    if (backwards ? sk >= low : sk <= high) startKey = { pk: q.pk, sk };
  }
  const want = q.limit + 1;
  const found: T[] = [];
  do {
    const r = await doc.send(
      new QueryCommand({
        TableName: table,
        KeyConditionExpression: 'pk = :pk AND sk BETWEEN :low AND :high',
        FilterExpression: filters.length ? filters.join(' AND ') : undefined,
        ExpressionAttributeNames: Object.keys(names).length ? names : undefined,
        ExpressionAttributeValues: values,
        ScanIndexForward: backwards,
        ExclusiveStartKey: startKey,
        Limit: filters.length ? Math.max(100, want) : want,
        ConsistentRead: true,
        ReturnConsumedCapacity: 'TOTAL',
      }),
    );
    for (const item of r.Items ?? []) if (found.length < want) found.push(fromItem(item));
    startKey = r.LastEvaluatedKey;
  } while (startKey && found.length < want);
  const has_more = found.length > q.limit;
  const data = found.slice(0, q.limit);
  if (backwards) data.reverse();
  return { data, has_more };
}

/** The sort-key range of items created within a `created` filter (seconds). */
function createdBounds(skPrefix: string, idPrefix: string, created: CreatedFilter | undefined): { low: string; high: string } {
  let fromMs = 0;
  let toMs = 62 ** 8 - 1; // the largest time an id can carry
  if (typeof created === 'number') {
    fromMs = created * 1000;
    toMs = created * 1000 + 999;
  } else if (created) {
    if (created.gte !== undefined) fromMs = Math.max(fromMs, created.gte * 1000);
    if (created.gt !== undefined) fromMs = Math.max(fromMs, (created.gt + 1) * 1000);
    if (created.lte !== undefined) toMs = Math.min(toMs, created.lte * 1000 + 999);
    if (created.lt !== undefined) toMs = Math.min(toMs, created.lt * 1000 - 1);
  }
  return {
    low: skPrefix + idBoundsAt(idPrefix, Math.max(0, fromMs)).low,
    high: skPrefix + idBoundsAt(idPrefix, Math.max(0, toMs)).high,
  };
}
