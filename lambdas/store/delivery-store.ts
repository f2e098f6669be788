import { GetCommand, PutCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { EventRecord } from '../domain/event.js';
import type { Scope } from '../domain/session.js';
import { type DeliveryRecord, pendingWebhooks } from '../domain/webhook-delivery.js';
import { batchGetAll, errorName, itemOnConditionFailure, queryAllWithPrefix } from './dynamo.js';
import { eventFromItem, eventKey } from './event-store.js';
import { scopeKey } from './session-store.js';
import { TTL_ATTRIBUTE, WEBHOOK_DELIVERY_SK_PREFIX } from './table.js';
import { type StoredEndpoint, endpointFromItem, endpointKey } from './webhook-store.js';

/**
 * Webhook deliveries (`WD#<evt_id>#<we_id>` in the account's partition), each
 * with its attempt history. Every write is one conditional write of the
 * delivery alone: its creation on `attribute_not_exists`, each later change on
 * the delivery's version. The event's `pending_webhooks` is not kept anywhere:
 * the event store counts the deliveries marked `counted_pending` when it reads
 * the event (the deliveries of one event are one key range, those of a page of
 * events one more), so no write has a second item to keep in step.
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

export interface DeliveryContext {
  delivery?: DeliveryRecord;
  /** Deleted endpoints included: their `deleted_at` says why the delivery stops. */
  endpoint?: StoredEndpoint;
  event?: EventRecord;
  /**
   * The event's pending_webhooks as the payload shows it: its deliveries to
   * the endpoints named in `siblings` (and this one) that count as pending.
   * Undefined when the caller did not know the siblings.
   */
  pendingWebhooks?: number;
}

/** One attempt to load: the delivery of `eventId` to `endpointId`. */
export interface AttemptToLoad {
  scope: Scope;
  eventId: string;
  endpointId: string;
  /** The endpoints of the event's other deliveries, when known (the fan-out's message names them). */
  siblings?: string[];
}

export class DeliveryStore {
  constructor(
    private readonly doc: DynamoDBDocumentClient,
    readonly table: string,
  ) {}

  /**
   * Creates a delivery: one conditional PutItem. If it already exists (a
   * redelivered fan-out message, a race with a resend), nothing changes and the
   * existing delivery is returned.
   */
  async create(d: DeliveryRecord): Promise<{ created: true } | { created: false; existing: DeliveryRecord }> {
    try {
      await this.doc.send(
        new PutCommand({
          TableName: this.table,
          Item: toItem(d),
          ConditionExpression: 'attribute_not_exists(pk)',
          ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
          ReturnConsumedCapacity: 'TOTAL',
        }),
      );
      return { created: true };
    } catch (err) {
      const existing = itemOnConditionFailure(err);
      if (existing) return { created: false, existing: fromItem(existing)! };
      throw err;
    }
  }

  async get(scope: Scope, eventId: string, endpointId: string): Promise<DeliveryRecord | undefined> {
    const r = await this.doc.send(
      new GetCommand({ TableName: this.table, Key: deliveryKey(scope, eventId, endpointId), ConsistentRead: true, ReturnConsumedCapacity: 'TOTAL' }),
    );
    return fromItem(r.Item);
  }

  /**
   * The contexts of several attempts (a whole batch of delivery messages) in
   * as few consistent BatchGetItems as the keys need (100 keys each): an
   * endpoint, an event or a sibling delivery shared by several attempts is
   * read once. In the order asked.
   */
  async loadManyForAttempts(wanted: AttemptToLoad[]): Promise<DeliveryContext[]> {
    const id = (k: { pk: string; sk: string }) => `${k.pk}\u0000${k.sk}`;
    const keys = new Map<string, { pk: string; sk: string }>();
    const want = (k: { pk: string; sk: string }) => {
      const i = id(k);
      keys.set(i, k);
      return i;
    };
    const perAttempt = wanted.map(({ scope, eventId, endpointId, siblings }) => ({
      delivery: want(deliveryKey(scope, eventId, endpointId)),
      endpoint: want(endpointKey(scope, endpointId)),
      event: want(eventKey(scope, eventId)),
      siblings: siblings?.filter((e) => e !== endpointId).map((e) => want(deliveryKey(scope, eventId, e))),
    }));
    const items = new Map<string, Record<string, unknown>>();
    if (keys.size > 0) for (const item of await batchGetAll(this.doc, this.table, [...keys.values()])) items.set(id(item as { pk: string; sk: string }), item);
    return perAttempt.map((a) => {
      const eventItem = items.get(a.event);
      const delivery = fromItem(items.get(a.delivery));
      const known = a.siblings && delivery ? [delivery, ...a.siblings.flatMap((s) => fromItem(items.get(s)) ?? [])] : undefined;
      return {
        delivery,
        endpoint: endpointFromItem(items.get(a.endpoint)),
        event: eventItem ? eventFromItem(eventItem) : undefined,
        pendingWebhooks: known && pendingWebhooks(known),
      };
    });
  }

  /**
   * Writes `next` if the stored delivery is still `previous` (same version): one
   * PutItem, whatever changed (an attempt's outcome with its next schedule, a
   * cancel, a resend).
   */
  async save(previous: DeliveryRecord, next: DeliveryRecord): Promise<void> {
    try {
      await this.doc.send(
        new PutCommand({
          TableName: this.table,
          Item: toItem(next),
          ConditionExpression: '#version = :expected',
          ExpressionAttributeNames: { '#version': 'version' },
          ExpressionAttributeValues: { ':expected': previous.version },
          ReturnConsumedCapacity: 'TOTAL',
        }),
      );
    } catch (err) {
      if (errorName(err) === 'ConditionalCheckFailedException') throw new StaleDelivery();
      throw err;
    }
  }

  /** Every delivery of one event (one per endpoint it went to). */
  listForEvent(scope: Scope, eventId: string): Promise<DeliveryRecord[]> {
    return queryAllWithPrefix(this.doc, this.table, { pk: scopeKey(scope), prefix: `${WEBHOOK_DELIVERY_SK_PREFIX}${eventId}#` }, (item) => fromItem(item)!);
  }

}
