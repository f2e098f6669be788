import { GetCommand, PutCommand, UpdateCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { EVENT_RETENTION_SECONDS, type EventRecord } from '../domain/event.js';
import type { Scope } from '../domain/session.js';
import { batchGetAll, errorName } from './dynamo.js';
import { scopeKey } from './session-store.js';
import { EVENT_SK_PREFIX, SESSION_EVENTS_SK_PREFIX, TTL_ATTRIBUTE } from './table.js';
import { type CreatedFilter, queryTimeOrderedPage } from './time-ordered-list.js';

export const eventKey = (scope: Scope, id: string) => ({ pk: scopeKey(scope), sk: `${EVENT_SK_PREFIX}${id}` });
/** The item that lists a session's stored events, so that redaction finds them without a scan. */
export const sessionEventsKey = (scope: Scope, sessionId: string) => ({ pk: scopeKey(scope), sk: `${SESSION_EVENTS_SK_PREFIX}${sessionId}` });


/** `data` is kept as JSON text: a DynamoDB map would not keep the object's key order. */
export function eventFromItem(item: Record<string, unknown>): EventRecord {
  const { pk: _pk, sk: _sk, [TTL_ATTRIBUTE]: _ttl, data, ...rest } = item;
  return { ...rest, data: JSON.parse(String(data)) } as unknown as EventRecord;
}

const toItem = (event: EventRecord) => ({
  ...eventKey(event, event.id),
  ...event,
  data: JSON.stringify(event.data),
  [TTL_ATTRIBUTE]: event.created + EVENT_RETENTION_SECONDS,
});

export interface EventListQuery {
  limit: number;
  starting_after?: string;
  ending_before?: string;
  created?: CreatedFilter;
  /** An exact type or a prefix ending in `*`. */
  type?: string;
  types?: string[];
  /** false: events with a webhook delivery not (yet) successful; true: events without one. */
  delivery_success?: boolean;
}

/** Stored events: kept 30 days (TTL), listed newest first per account and mode. */
export class EventStore {
  constructor(
    private readonly doc: DynamoDBDocumentClient,
    readonly table: string,
  ) {}

  /** Stores an event once: false when an event with its id is already stored. */
  async putIfAbsent(event: EventRecord): Promise<boolean> {
    try {
      await this.doc.send(
        new PutCommand({
          TableName: this.table,
          Item: toItem(event),
          ConditionExpression: 'attribute_not_exists(pk)',
        }),
      );
      return true;
    } catch (err) {
      if (errorName(err) === 'ConditionalCheckFailedException') return false;
      throw err;
    }
  }

  /**
   * Records that these events belong to the session (a string set on one item
   * per session; adding is idempotent). Called before the events are stored, so
   * a stored event is always findable. Answers whether the session's events are
   * being redacted: then the events are to be stored and published redacted.
   */
  async linkToSession(scope: Scope, sessionId: string, eventIds: string[], nowSeconds: number): Promise<{ redacted: boolean }> {
    if (eventIds.length === 0) return { redacted: false };
    const r = await this.doc.send(
      new UpdateCommand({
        TableName: this.table,
        Key: sessionEventsKey(scope, sessionId),
        UpdateExpression: 'ADD #ids :ids SET #ttl = :ttl',
        ExpressionAttributeNames: { '#ids': 'event_ids', '#ttl': TTL_ATTRIBUTE },
        ExpressionAttributeValues: { ':ids': new Set(eventIds), ':ttl': nowSeconds + EVENT_RETENTION_SECONDS },
        ReturnValues: 'ALL_NEW',
        ReturnConsumedCapacity: 'TOTAL',
      }),
    );
    return { redacted: r.Attributes?.redacted === true };
  }

  /**
   * Marks the session's events as redacted (every event linked from now on is
   * stored redacted by the publisher) and returns the ids linked so far.
   */
  async markSessionRedacted(scope: Scope, sessionId: string, nowSeconds: number): Promise<string[]> {
    const r = await this.doc.send(
      new UpdateCommand({
        TableName: this.table,
        Key: sessionEventsKey(scope, sessionId),
        UpdateExpression: 'SET #redacted = :true, #ttl = if_not_exists(#ttl, :ttl)',
        ExpressionAttributeNames: { '#redacted': 'redacted', '#ttl': TTL_ATTRIBUTE },
        ExpressionAttributeValues: { ':true': true, ':ttl': nowSeconds + EVENT_RETENTION_SECONDS },
        ReturnValues: 'ALL_NEW',
        ReturnConsumedCapacity: 'TOTAL',
      }),
    );
    return [...((r.Attributes?.event_ids as Set<string> | undefined) ?? [])].sort();
  }

  /** The ids of the events linked to a session (stored, or about to be). */
  async linkedIds(scope: Scope, sessionId: string): Promise<string[]> {
    const r = await this.doc.send(new GetCommand({ TableName: this.table, Key: sessionEventsKey(scope, sessionId), ConsistentRead: true, ReturnConsumedCapacity: 'TOTAL' }));
    return [...((r.Item?.event_ids as Set<string> | undefined) ?? [])].sort();
  }

  /** The stored events with these ids (those not expired), in id order. */
  async getMany(scope: Scope, ids: string[]): Promise<EventRecord[]> {
    const items = await batchGetAll(this.doc, this.table, ids.map((id) => eventKey(scope, id)));
    return items.map(eventFromItem).sort((a, b) => (a.id < b.id ? -1 : 1));
  }

  /** Replaces an event's data (redaction), leaving its delivery count alone; false when it is gone. */
  async replaceData(event: EventRecord): Promise<boolean> {
    try {
      await this.doc.send(
        new UpdateCommand({
          TableName: this.table,
          Key: eventKey(event, event.id),
          UpdateExpression: 'SET #data = :data',
          ConditionExpression: 'attribute_exists(pk)',
          ExpressionAttributeNames: { '#data': 'data' },
          ExpressionAttributeValues: { ':data': JSON.stringify(event.data) },
          ReturnConsumedCapacity: 'TOTAL',
        }),
      );
      return true;
    } catch (err) {
      if (errorName(err) === 'ConditionalCheckFailedException') return false;
      throw err;
    }
  }

  async get(scope: Scope, id: string): Promise<EventRecord | undefined> {
    const r = await this.doc.send(new GetCommand({ TableName: this.table, Key: eventKey(scope, id), ConsistentRead: true }));
    return r.Item ? eventFromItem(r.Item) : undefined;
  }

  list(scope: Scope, q: EventListQuery): Promise<{ data: EventRecord[]; has_more: boolean }> {
    let filter: { expression: string; names: Record<string, string>; values: Record<string, unknown> } | undefined;
    if (q.types?.length) {
      const values = Object.fromEntries(q.types.map((t, i) => [`:type${i}`, t]));
      filter = { expression: `#type IN (${Object.keys(values).join(', ')})`, names: { '#type': 'type' }, values };
    } else if (q.type?.endsWith('*')) {
      filter = { expression: 'begins_with(#type, :typePrefix)', names: { '#type': 'type' }, values: { ':typePrefix': q.type.slice(0, -1) } };
    } else if (q.type) {
      filter = { expression: '#type = :type', names: { '#type': 'type' }, values: { ':type': q.type } };
    }
    if (q.delivery_success !== undefined) {
      // pending_webhooks counts the deliveries not yet successful (see DeliveryStore).
      const pending = { expression: `#pending ${q.delivery_success ? '=' : '>'} :zero`, names: { '#pending': 'pending_webhooks' }, values: { ':zero': 0 } };
      filter = filter
        ? { expression: `(${filter.expression}) AND ${pending.expression}`, names: { ...filter.names, ...pending.names }, values: { ...filter.values, ...pending.values } }
        : pending;
    }
    return queryTimeOrderedPage(
      this.doc,
      this.table,
      {
        pk: scopeKey(scope),
        skPrefix: EVENT_SK_PREFIX,
        idPrefix: 'evt',
        limit: q.limit,
        starting_after: q.starting_after,
        ending_before: q.ending_before,
        created: q.created,
        filter,
      },
      eventFromItem,
    );
  }
}
