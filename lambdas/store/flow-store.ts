import { GetCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { Scope } from '../domain/session.js';
import { FLOW_ID_PREFIX, type FlowRecord } from '../domain/verification-flow.js';
import { type SaveWith, putWithSavedResult } from './idempotency.js';
import { scopeKey } from './session-store.js';
import { FLOW_SK_PREFIX } from './table.js';
import { type CreatedFilter, queryTimeOrderedPage } from './time-ordered-list.js';

/** Verification flows, in their account's partition like its sessions (`VF#<vf_id>`). */
export const flowKey = (scope: Scope, id: string) => ({ pk: scopeKey(scope), sk: `${FLOW_SK_PREFIX}${id}` });

function fromItem(item: Record<string, unknown>): FlowRecord {
  const { pk: _pk, sk: _sk, ...rest } = item;
  return rest as unknown as FlowRecord;
}

export interface FlowListQuery {
  limit: number;
  starting_after?: string;
  ending_before?: string;
  created?: CreatedFilter;
}

export class FlowStore {
  constructor(
    private readonly doc: DynamoDBDocumentClient,
    readonly table: string,
  ) {}

  /** Writes a new flow; with `save`, in one transaction with the Idempotency-Key's saved result. */
  async create(rec: FlowRecord, save?: SaveWith): Promise<void> {
    const put = { TableName: this.table, Item: { ...flowKey(rec, rec.id), ...rec }, ConditionExpression: 'attribute_not_exists(pk)' };
    await putWithSavedResult(this.doc, put, save);
  }

  /** One consistent read: a flow of this account and mode, or undefined. */
  async get(scope: Scope, id: string): Promise<FlowRecord | undefined> {
    const r = await this.doc.send(
      new GetCommand({ TableName: this.table, Key: flowKey(scope, id), ConsistentRead: true, ReturnConsumedCapacity: 'TOTAL' }),
    );
    return r.Item ? fromItem(r.Item) : undefined;
  }

  list(scope: Scope, q: FlowListQuery): Promise<{ data: FlowRecord[]; has_more: boolean }> {
    return queryTimeOrderedPage(
      this.doc,
      this.table,
      { pk: scopeKey(scope), skPrefix: FLOW_SK_PREFIX, idPrefix: FLOW_ID_PREFIX, ...q },
      fromItem,
    );
  }
}
