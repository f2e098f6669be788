import { GetCommand, PutCommand, TransactWriteCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { EventRecord } from '../domain/event.js';
import type { Scope } from '../domain/session.js';
import { type DeliveryRecord, pendingDelta } from '../domain/webhook-delivery.js';
import { batchGetAll, cancellationReasons, errorName, queryAllWithPrefix } from './dynamo.js';
import { eventFromItem, eventKey } from './event-store.js';
import { scopeKey } from './session-store.js';
import { TTL_ATTRIBUTE, WEBHOOK_DELIVERY_SK_PREFIX } from './table.js';
import { type StoredEndpoint, endpointFromItem, endpointKey } from './webhook-store.js';

/**
 * Webhook deliveries (`WD#<evt_id>#<we_id>` in the account's partition), each
 * with its attempt history. Every write is conditional on the delivery's
 * version. A write that changes whether the delivery counts as pending also
 * changes the event's `pending_webhooks`, in the same transaction, so the
 * count stays exact however often a message is redelivered.
 */
export const deliveryKey = (scope: Scope, eventId: string, endpointId: string) => ({
  pk: scopeKey(scope),
  sk: `${WEBHOOK_DELIVERY_SK_PREFIX}${eventId}#${endpointId}`,
});

/** Deliveries are kept this long after their last change (the events they belong to, 30 days). */
export const DELIVERY_RETENTION_SECONDS = 30 * 24 * 3600;

function fromItem(item: Record<string, unknown> | undefined): DeliveryRecord | undefined {
  if (!item) return undefined;
  const { pk: _pk, sk: _sk, [TTL_ATTRIBUTE]: _ttl, ...rest } = item;
  return rest as unknown as DeliveryRecord;
}

const toItem = (d: DeliveryRecord) => ({
  ...deliveryKey(d, d.event_id, d.endpoint_id),
  ...d,
  [TTL_ATTRIBUTE]: Math.floor(d.updated_ms / 1000) + DELIVERY_RETENTION_SECONDS,
});

/** The delivery changed since it was read (another worker, a resend). */
export class StaleDelivery extends Error {
  constructor() {
    super('webhook delivery changed since it was read');
  }
}

/** The event a delivery belongs to is not stored (any more). */
export class EventMissing extends Error {
  constructor() {
    super('event not stored');
  }
}

export interface DeliveryContext {
  delivery?: DeliveryRecord;
  /** Deleted endpoints included: their `deleted_at` says why the delivery stops. */
  endpoint?: StoredEndpoint;
  event?: EventRecord;
}

export class DeliveryStore {
  constructor(
    private readonly doc: DynamoDBDocumentClient,
    readonly table: string,
  ) {}

  /**
   * Creates a delivery and counts it in its event's pending_webhooks, in one
   * transaction. If it already exists (a redelivered fan-out message, a race),
   * nothing changes and the existing delivery is returned.
   */
  async create(d: DeliveryRecord): Promise<{ created: true } | { created: false; existing: DeliveryRecord }> {
    try {
      await this.doc.send(
        new TransactWriteCommand({
          TransactItems: [
            {
              Put: {
                TableName: this.table,
                Item: toItem(d),
                ConditionExpression: 'attribute_not_exists(pk)',
                ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
              },
            },
            this.countUpdate(d, pendingDelta(undefined, d)),
          ],
          ReturnConsumedCapacity: 'TOTAL',
        }),
      );
      return { created: true };
    } catch (err) {
      const reasons = cancellationReasons(err);
      if (reasons?.[0]?.code === 'ConditionalCheckFailed' && reasons[0].item) return { created: false, existing: fromItem(reasons[0].item)! };
      if (reasons?.[1]?.code === 'ConditionalCheckFailed') throw new EventMissing();
      throw err;
    }
  }

  async get(scope: Scope, eventId: string, endpointId: string): Promise<DeliveryRecord | undefined> {
    const r = await this.doc.send(
      new GetCommand({ TableName: this.table, Key: deliveryKey(scope, eventId, endpointId), ConsistentRead: true, ReturnConsumedCapacity: 'TOTAL' }),
    );
    return fromItem(r.Item);
  }

  /** The delivery, its endpoint and its event: one consistent BatchGetItem. */
  async loadForAttempt(scope: Scope, eventId: string, endpointId: string): Promise<DeliveryContext> {
    return (await this.loadManyForAttempts([{ scope, eventId, endpointId }]))[0];
  }

  /**
   * The contexts of several attempts (a whole batch of delivery messages) in
   * as few consistent BatchGetItems as the keys need (100 keys each): an
   * endpoint or an event shared by several deliveries is read once. In the
   * order asked.
   */
  async loadManyForAttempts(wanted: { scope: Scope; eventId: string; endpointId: string }[]): Promise<DeliveryContext[]> {
    const id = (k: { pk: string; sk: string }) => `${k.pk}\u0000${k.sk}`;
    const keys = new Map<string, { pk: string; sk: string }>();
    const perAttempt = wanted.map(({ scope, eventId, endpointId }) => {
      const three = [deliveryKey(scope, eventId, endpointId), endpointKey(scope, endpointId), eventKey(scope, eventId)];
      for (const k of three) keys.set(id(k), k);
      return three.map(id);
    });
    const items = new Map<string, Record<string, unknown>>();
    if (keys.size > 0) for (const item of await batchGetAll(this.doc, this.table, [...keys.values()])) items.set(id(item as { pk: string; sk: string }), item);
    return perAttempt.map(([delivery, endpoint, event]) => {
      const eventItem = items.get(event);
      return {
        delivery: fromItem(items.get(delivery)),
        endpoint: endpointFromItem(items.get(endpoint)),
        event: eventItem ? eventFromItem(eventItem) : undefined,
      };
    });
  }

  /**
   * Writes `next` if the stored delivery is still `previous` (same version), and
   * moves the event's pending_webhooks by the difference in what they count. If
   * the event is gone (TTL), the delivery is written alone.
   */
  async save(previous: DeliveryRecord, next: DeliveryRecord): Promise<void> {
    const put = {
      TableName: this.table,
      Item: toItem(next),
      ConditionExpression: '#version = :expected',
      ExpressionAttributeNames: { '#version': 'version' },
      ExpressionAttributeValues: { ':expected': previous.version },
    };
    const delta = pendingDelta(previous, next);
    if (delta !== 0) {
      try {
        await this.doc.send(new TransactWriteCommand({ TransactItems: [{ Put: put }, this.countUpdate(next, delta)], ReturnConsumedCapacity: 'TOTAL' }));
        return;
      } catch (err) {
        const reasons = cancellationReasons(err);
        if (reasons?.[0]?.code === 'ConditionalCheckFailed') throw new StaleDelivery();
        if (reasons?.[1]?.code !== 'ConditionalCheckFailed') throw err;
        // The event has expired: nothing left to count in.
      }
    }
    try {
      await this.doc.send(new PutCommand({ ...put, ReturnConsumedCapacity: 'TOTAL' }));
    } catch (err) {
      if (errorName(err) === 'ConditionalCheckFailedException') throw new StaleDelivery();
      throw err;
    }
  }

  /** Every delivery of one event (one per endpoint it went to). */
  listForEvent(scope: Scope, eventId: string): Promise<DeliveryRecord[]> {
    return queryAllWithPrefix(this.doc, this.table, { pk: scopeKey(scope), prefix: `${WEBHOOK_DELIVERY_SK_PREFIX}${eventId}#` }, (item) => fromItem(item)!);
  }

  /** The event's pending_webhooks moved by `delta`; only an event that exists. */
  private countUpdate(d: DeliveryRecord, delta: number) {
    return {
      Update: {
        TableName: this.table,
        Key: eventKey(d, d.event_id),
        UpdateExpression: 'ADD #pending :delta',
        ConditionExpression: 'attribute_exists(pk)',
        ExpressionAttributeNames: { '#pending': 'pending_webhooks' },
        ExpressionAttributeValues: { ':delta': delta },
      },
    };
  }
}
