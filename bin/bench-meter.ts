/**
 * What DynamoDB itself would bill for the writes the service makes, from the
 * requests as sent (DynamoDB Local's own capacity report does not follow the
 * pricing rules for transactions and indexes). The rules applied:
 *
 * - an item's size is its attribute names plus values (lambdas/store/item-size.ts);
 * - a write costs 1 unit per started KB of the larger of the item before and
 *   after it (a refused conditional write still costs at least 1);
 * - a write inside TransactWriteItems costs twice that (ConditionCheck too);
 * - the `sweep` index (keys only) costs 1 more write when an item enters or
 *   leaves it, and 2 when its index keys change.
 *
 * The item after each write is read back with a separate, unobserved client;
 * the item before is the one read back after the previous write of that key.
 */
import { DynamoDBClient, type DynamoDBClientConfig, GetItemCommand, type AttributeValue } from '@aws-sdk/client-dynamodb';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import { itemSize as storedItemSize } from '../lambdas/store/item-size.js';
import { SWEEP_INDEX } from '../lambdas/store/table.js';

type Item = Record<string, AttributeValue>;

/** An item's billed size, by the one set of size rules the project keeps (lambdas/store/item-size.ts). */
export const itemSize = (item: Item | undefined) => (item ? storedItemSize(unmarshall(item)) : 0);

const kb = (bytes: number) => Math.max(1, Math.ceil(bytes / 1024));

/** The kind of item a sort key names: VS#, EV#, WD#, IK, ... */
export function itemKind(sk: string): string {
  const m = /^([A-Z]+)(#|$)/.exec(sk);
  return m ? m[1] : sk;
}

export interface PricedWrite {
  op: string;
  kind: string;
  key: string;
  transactional: boolean;
  bytes: number;
  units: number;
  indexUnits: number;
  failed: boolean;
}

interface Touch {
  key: Item;
  transactional: boolean;
  conditionOnly: boolean;
}

/** A key as the low-level client sends it; the document client's observer may see plain strings. */
const asKey = (k: any): Item => ({ pk: typeof k.pk === 'string' ? { S: k.pk } : k.pk, sk: typeof k.sk === 'string' ? { S: k.sk } : k.sk });

function touches(op: string, input: any): Touch[] {
  return rawTouches(op, input).map((t) => ({ ...t, key: asKey(t.key) }));
}

function rawTouches(op: string, input: any): Touch[] {
  switch (op) {
    case 'PutItemCommand':
      return [{ key: { pk: input.Item.pk, sk: input.Item.sk }, transactional: false, conditionOnly: false }];
    case 'UpdateItemCommand':
    case 'DeleteItemCommand':
      return [{ key: input.Key, transactional: false, conditionOnly: false }];
    case 'TransactWriteItemsCommand':
      return (input.TransactItems as any[]).map((t) => {
        if (t.Put) return { key: { pk: t.Put.Item.pk, sk: t.Put.Item.sk }, transactional: true, conditionOnly: false };
        const part = t.Update ?? t.Delete ?? t.ConditionCheck;
        return { key: part.Key, transactional: true, conditionOnly: !!t.ConditionCheck };
      });
    case 'BatchWriteItemCommand':
      return Object.values(input.RequestItems as Record<string, any[]>).flatMap((reqs) =>
        reqs.map((r) => ({ key: r.PutRequest ? { pk: r.PutRequest.Item.pk, sk: r.PutRequest.Item.sk } : r.DeleteRequest.Key, transactional: false, conditionOnly: false })),
      );
    default:
      return [];
  }
}

const keyString = (k: Item) => `${k.pk?.S}|${k.sk?.S}`;

export class WriteMeter {
  private readonly known = new Map<string, Item | undefined>();
  private pending: Promise<void>[] = [];
  private readonly client: DynamoDBClient;
  /** Every priced write since the last take(). */
  private writes: PricedWrite[] = [];

  constructor(
    config: DynamoDBClientConfig,
    private readonly table: string,
  ) {
    this.client = new DynamoDBClient(config);
  }

  /** While true, writes are not priced (latency series: the read-backs would load the database). */
  paused = false;

  /** An observer (see DynamoObserver) that prices each write. */
  observe = (op: string, _consumed: unknown, failed: boolean, input?: unknown) => {
    if (!input || this.paused) return;
    for (const t of touches(op, input)) this.pending.push(this.price(op, t, failed));
  };

  private async price(op: string, t: Touch, failed: boolean) {
    const id = keyString(t.key);
    const before = this.known.get(id);
    let after: Item | undefined;
    try {
      after = (await this.client.send(new GetItemCommand({ TableName: this.table, Key: t.key, ConsistentRead: true }))).Item;
    } catch (err) {
      throw new Error(`could not read back ${JSON.stringify(t.key)} after ${op}: ${String(err)}`);
    }
    this.known.set(id, after);
    const bytes = Math.max(itemSize(before), itemSize(after));
    const units = (t.transactional ? 2 : 1) * kb(bytes);
    const indexKey = (i: Item | undefined) => (i?.[SWEEP_INDEX.partitionKey] ? `${i[SWEEP_INDEX.partitionKey].S}|${i[SWEEP_INDEX.sortKey]?.N}` : undefined);
    const [a, b] = [indexKey(before), indexKey(after)];
    const indexUnits = t.conditionOnly || failed || a === b ? 0 : a && b ? 2 : 1;
    this.writes.push({ op: op.replace(/Command$/, ''), kind: itemKind(t.key.sk?.S ?? ''), key: id, transactional: t.transactional, bytes, units, indexUnits, failed });
  }

  /** Waits for the pricing of every write observed so far. */
  async settle(): Promise<void> {
    while (this.pending.length) {
      const p = this.pending;
      this.pending = [];
      await Promise.all(p);
    }
  }

  /** The writes priced since the last take(), and forgets them (the known items stay). */
  async take(): Promise<PricedWrite[]> {
    await this.settle();
    const w = this.writes;
    this.writes = [];
    return w;
  }

  /** The stored item now, for sizes. */
  async item(key: { pk: string; sk: string }): Promise<Item | undefined> {
    return (await this.client.send(new GetItemCommand({ TableName: this.table, Key: { pk: { S: key.pk }, sk: { S: key.sk } }, ConsistentRead: true }))).Item;
  }

  destroy() {
    this.client.destroy();
  }
}

export const totalUnits = (ws: PricedWrite[]) => ws.reduce((n, w) => n + w.units + w.indexUnits, 0);
