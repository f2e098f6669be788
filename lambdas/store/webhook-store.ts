import { GetCommand, TransactWriteCommand, UpdateCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { Scope } from '../domain/session.js';
import { MAX_ENDPOINTS_PER_ACCOUNT, type WebhookEndpointRecord } from '../domain/webhook-endpoint.js';
import { cancellationReasons, errorName, itemOnConditionFailure, queryAllWithPrefix } from './dynamo.js';
import { type IdempotentRequest, IdempotencyKeyTaken, fromItem as savedFromItem, putSavedResult } from './idempotency.js';
import { scopeKey } from './session-store.js';
import { TTL_ATTRIBUTE, WEBHOOK_ENDPOINT_COUNT_SK, WEBHOOK_ENDPOINT_SK_PREFIX } from './table.js';
import { queryTimeOrderedPage } from './time-ordered-list.js';

/**
 * Webhook endpoints, in their account's partition (`WE#<we_id>`): listing them
 * is one Query, and another account cannot name them.
 *
 * The limit of 16 per account and mode is a counter item (`WECOUNT`) changed in
 * the same transaction as the endpoint, with the limit in its condition, so two
 * concurrent creates cannot both take the 16th place.
 *
 * A delete marks the endpoint deleted (and lets TTL remove it after 30 days)
 * rather than deleting the item: the delivery worker then reads why it must
 * stop, and the API never needs DeleteItem. Deleted endpoints are invisible to
 * the API.
 *
 * Delivery health (`failing_since`) is written by the worker with its own
 * UpdateItems that do not touch the API's fields, and the API's updates set
 * only its fields, so neither overwrites the other.
 */
export const endpointKey = (scope: Scope, id: string) => ({ pk: scopeKey(scope), sk: `${WEBHOOK_ENDPOINT_SK_PREFIX}${id}` });
export const endpointCountKey = (scope: Scope) => ({ pk: scopeKey(scope), sk: WEBHOOK_ENDPOINT_COUNT_SK });

/** How long a deleted endpoint's item stays readable to the worker. */
export const DELETED_ENDPOINT_RETENTION_SECONDS = 30 * 24 * 3600;

/** An endpoint as stored: the record plus what the worker and deletes add. */
export interface StoredEndpoint extends WebhookEndpointRecord {
  /** Unix seconds of the first failed attempt since the last success; absent while deliveries succeed. */
  failing_since?: number;
  /** Unix seconds of the delete; absent while the endpoint exists. */
  deleted_at?: number;
  /** Why the service disabled the endpoint (not set when the merchant did). */
  disabled_reason?: string;
}

/** The fields the API owns; an update writes exactly these. */
const API_FIELDS = ['url', 'enabled_events', 'description', 'metadata', 'status', 'api_version', 'secrets'] as const;

export class EndpointLimitReached extends Error {
  constructor() {
    super('webhook endpoint limit reached');
  }
}

/** The endpoint is gone, or changed since it was read. */
export class StaleEndpoint extends Error {
  constructor(readonly current: StoredEndpoint | undefined) {
    super('webhook endpoint changed or deleted');
  }
}

export type SaveResult = { req: IdempotentRequest; status: number; body: unknown; nowMs: number };

export function endpointFromItem(item: Record<string, unknown> | undefined): StoredEndpoint | undefined {
  if (!item) return undefined;
  const { pk: _pk, sk: _sk, [TTL_ATTRIBUTE]: _ttl, ...rest } = item;
  return rest as unknown as StoredEndpoint;
}

const isLive = (e: StoredEndpoint | undefined) => (e && e.deleted_at === undefined ? e : undefined);

export class WebhookEndpointStore {
  constructor(
    private readonly doc: DynamoDBDocumentClient,
    readonly table: string,
  ) {}

  /**
   * Creates an endpoint if the account has fewer than MAX_ENDPOINTS_PER_ACCOUNT:
   * one transaction of the counter, the endpoint and (with a key) the saved result.
   */
  async create(rec: WebhookEndpointRecord, save?: SaveResult): Promise<void> {
    const items: NonNullable<ConstructorParameters<typeof TransactWriteCommand>[0]['TransactItems']> = [
      {
        Update: {
          TableName: this.table,
          Key: endpointCountKey(rec),
          UpdateExpression: 'SET #count = if_not_exists(#count, :zero) + :one',
          ConditionExpression: 'attribute_not_exists(#count) OR #count < :max',
          ExpressionAttributeNames: { '#count': 'count' },
          ExpressionAttributeValues: { ':zero': 0, ':one': 1, ':max': MAX_ENDPOINTS_PER_ACCOUNT },
        },
      },
      {
        Put: {
          TableName: this.table,
          Item: { ...endpointKey(rec, rec.id), ...rec },
          ConditionExpression: 'attribute_not_exists(pk)',
        },
      },
    ];
    if (save) items.push({ Put: putSavedResult(this.table, save.req, save.status, save.body, save.nowMs) });
    try {
      await this.doc.send(new TransactWriteCommand({ TransactItems: items, ReturnConsumedCapacity: 'TOTAL' }));
    } catch (err) {
      const reasons = cancellationReasons(err);
      if (!reasons) throw err;
      const saved = save && reasons[2]?.code === 'ConditionalCheckFailed' ? savedFromItem(reasons[2].item, save.nowMs) : undefined;
      if (saved) throw new IdempotencyKeyTaken(saved);
      if (reasons[0]?.code === 'ConditionalCheckFailed') throw new EndpointLimitReached();
      throw err;
    }
  }

  /** An endpoint that exists (not deleted), or undefined. */
  async get(scope: Scope, id: string): Promise<StoredEndpoint | undefined> {
    return isLive(await this.getIncludingDeleted(scope, id));
  }

  async getIncludingDeleted(scope: Scope, id: string): Promise<StoredEndpoint | undefined> {
    const r = await this.doc.send(
      new GetCommand({ TableName: this.table, Key: endpointKey(scope, id), ConsistentRead: true, ReturnConsumedCapacity: 'TOTAL' }),
    );
    return endpointFromItem(r.Item);
  }

  /**
   * Writes the API's fields of `next` if the endpoint still has `expectedVersion`
   * and is not deleted; with `save`, in one transaction with the saved result.
   * With `resetHealth` (re-enabled, or a new url) the failure streak is forgotten.
   */
  async update(next: WebhookEndpointRecord, expectedVersion: number, save?: SaveResult, opts: { resetHealth?: boolean } = {}): Promise<void> {
    const names: Record<string, string> = { '#version': 'version', '#deleted': 'deleted_at' };
    const values: Record<string, unknown> = { ':expected': expectedVersion, ':version': next.version };
    const set = ['#version = :version'];
    API_FIELDS.forEach((field, i) => {
      names[`#f${i}`] = field;
      values[`:f${i}`] = next[field];
      set.push(`#f${i} = :f${i}`);
    });
    let expression = `SET ${set.join(', ')}`;
    if (opts.resetHealth) {
      names['#failing'] = 'failing_since';
      names['#reason'] = 'disabled_reason';
      expression += ' REMOVE #failing, #reason';
    }
    const update = {
      TableName: this.table,
      Key: endpointKey(next, next.id),
      UpdateExpression: expression,
      ConditionExpression: 'attribute_exists(pk) AND attribute_not_exists(#deleted) AND #version = :expected',
      ExpressionAttributeNames: names,
      ExpressionAttributeValues: values,
      ReturnValuesOnConditionCheckFailure: 'ALL_OLD' as const,
    };
    if (!save) {
      try {
        await this.doc.send(new UpdateCommand({ ...update, ReturnConsumedCapacity: 'TOTAL' }));
      } catch (err) {
        if (errorName(err) === 'ConditionalCheckFailedException') throw new StaleEndpoint(isLive(endpointFromItem(itemOnConditionFailure(err))));
        throw err;
      }
      return;
    }
    await this.transactWithSave({ Update: update }, save);
  }

  /**
   * Marks the endpoint deleted and frees its place under the limit, in one
   * transaction (with the saved result when there is a key). Throws
   * StaleEndpoint(undefined) when there is no such endpoint.
   */
  async delete(scope: Scope, id: string, nowSeconds: number, save?: SaveResult): Promise<void> {
    const mark = {
      Update: {
        TableName: this.table,
        Key: endpointKey(scope, id),
        UpdateExpression: 'SET #deleted = :now, #ttl = :ttl, #version = #version + :one',
        ConditionExpression: 'attribute_exists(pk) AND attribute_not_exists(#deleted)',
        ExpressionAttributeNames: { '#deleted': 'deleted_at', '#ttl': TTL_ATTRIBUTE, '#version': 'version' },
        ExpressionAttributeValues: { ':now': nowSeconds, ':ttl': nowSeconds + DELETED_ENDPOINT_RETENTION_SECONDS, ':one': 1 },
        ReturnValuesOnConditionCheckFailure: 'ALL_OLD' as const,
      },
    };
    const count = {
      Update: {
        TableName: this.table,
        Key: endpointCountKey(scope),
        UpdateExpression: 'SET #count = #count - :one',
        ConditionExpression: '#count > :zero',
        ExpressionAttributeNames: { '#count': 'count' },
        ExpressionAttributeValues: { ':one': 1, ':zero': 0 },
      },
    };
    if (!save) {
      try {
        await this.doc.send(new TransactWriteCommand({ TransactItems: [mark, count], ReturnConsumedCapacity: 'TOTAL' }));
      } catch (err) {
        const reasons = cancellationReasons(err);
        if (reasons?.[0]?.code === 'ConditionalCheckFailed') throw new StaleEndpoint(undefined);
        throw err;
      }
      return;
    }
    await this.transactWithSave(mark, save, count);
  }

  private async transactWithSave(
    write: { Update: Record<string, unknown> & { TableName: string } },
    save: SaveResult,
    also?: { Update: Record<string, unknown> & { TableName: string } },
  ): Promise<void> {
    const items = [write, { Put: putSavedResult(this.table, save.req, save.status, save.body, save.nowMs) }, ...(also ? [also] : [])];
    try {
      await this.doc.send(new TransactWriteCommand({ TransactItems: items as never, ReturnConsumedCapacity: 'TOTAL' }));
    } catch (err) {
      const reasons = cancellationReasons(err);
      if (!reasons) throw err;
      const saved = reasons[1]?.code === 'ConditionalCheckFailed' ? savedFromItem(reasons[1].item, save.nowMs) : undefined;
      if (saved) throw new IdempotencyKeyTaken(saved);
      if (reasons[0]?.code === 'ConditionalCheckFailed') throw new StaleEndpoint(isLive(endpointFromItem(reasons[0].item)));
      throw err;
    }
  }

  /** Newest first, deleted endpoints left out. */
  list(scope: Scope, q: { limit: number; starting_after?: string; ending_before?: string }) {
    return queryTimeOrderedPage(
      this.doc,
      this.table,
      {
        pk: scopeKey(scope),
        skPrefix: WEBHOOK_ENDPOINT_SK_PREFIX,
        idPrefix: 'we',
        limit: q.limit,
        starting_after: q.starting_after,
        ending_before: q.ending_before,
        filter: { expression: 'attribute_not_exists(#deleted)', names: { '#deleted': 'deleted_at' }, values: {} },
      },
      (item) => endpointFromItem(item)!,
    );
  }

  /** Every endpoint of the account and mode that is not deleted (at most 16): what the fan-out reads. */
  listAll(scope: Scope): Promise<StoredEndpoint[]> {
    return queryAllWithPrefix(
      this.doc,
      this.table,
      {
        pk: scopeKey(scope),
        prefix: WEBHOOK_ENDPOINT_SK_PREFIX,
        filter: { expression: 'attribute_not_exists(#deleted)', names: { '#deleted': 'deleted_at' } },
      },
      (item) => endpointFromItem(item)!,
    );
  }

  /**
   * Records a failed delivery: the failure streak starts now unless it already
   * runs. Returns when the streak started; undefined if the endpoint is gone.
   */
  async markFailing(scope: Scope, id: string, nowSeconds: number): Promise<number | undefined> {
    try {
      const r = await this.doc.send(
        new UpdateCommand({
          TableName: this.table,
          Key: endpointKey(scope, id),
          UpdateExpression: 'SET #failing = if_not_exists(#failing, :now)',
          ConditionExpression: 'attribute_exists(pk) AND attribute_not_exists(#deleted)',
          ExpressionAttributeNames: { '#failing': 'failing_since', '#deleted': 'deleted_at' },
          ExpressionAttributeValues: { ':now': nowSeconds },
          ReturnValues: 'UPDATED_NEW',
        }),
      );
      return Number(r.Attributes?.failing_since);
    } catch (err) {
      if (errorName(err) === 'ConditionalCheckFailedException') return undefined;
      throw err;
    }
  }

  /** A delivery succeeded: the failure streak ends. */
  async clearFailing(scope: Scope, id: string): Promise<void> {
    try {
      await this.doc.send(
        new UpdateCommand({
          TableName: this.table,
          Key: endpointKey(scope, id),
          UpdateExpression: 'REMOVE #failing',
          ConditionExpression: 'attribute_exists(#failing)',
          ExpressionAttributeNames: { '#failing': 'failing_since' },
        }),
      );
    } catch (err) {
      if (errorName(err) !== 'ConditionalCheckFailedException') throw err;
    }
  }

  /**
   * Disables an endpoint whose failure streak began at `failingSince`, unless
   * something changed meanwhile (a success, the merchant, a delete). Returns the
   * disabled endpoint when this call disabled it, so exactly one caller
   * announces it.
   */
  async disableForFailures(scope: Scope, id: string, failingSince: number, reason: string): Promise<StoredEndpoint | undefined> {
    try {
      const r = await this.doc.send(
        new UpdateCommand({
          TableName: this.table,
          Key: endpointKey(scope, id),
          UpdateExpression: 'SET #status = :disabled, #reason = :reason, #version = #version + :one',
          ConditionExpression: 'attribute_not_exists(#deleted) AND #status = :enabled AND #failing = :since',
          ExpressionAttributeNames: {
            '#status': 'status',
            '#reason': 'disabled_reason',
            '#version': 'version',
            '#deleted': 'deleted_at',
            '#failing': 'failing_since',
          },
          ExpressionAttributeValues: { ':disabled': 'disabled', ':enabled': 'enabled', ':reason': reason, ':one': 1, ':since': failingSince },
          ReturnValues: 'ALL_NEW',
        }),
      );
      return endpointFromItem(r.Attributes);
    } catch (err) {
      if (errorName(err) === 'ConditionalCheckFailedException') return undefined;
      throw err;
    }
  }
}
