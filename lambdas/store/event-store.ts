import { GetCommand, PutCommand, QueryCommand, UpdateCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { EVENT_RETENTION_SECONDS, type EventRecord } from '../domain/event.js';
import type { Scope } from '../domain/session.js';
import { batchGetAll, errorName } from './dynamo.js';
import { scopeKey } from './session-store.js';
import { EVENT_SK_PREFIX, SESSION_EVENTS_SK_PREFIX, TTL_ATTRIBUTE, WEBHOOK_DELIVERY_SK_PREFIX } from './table.js';
import { type CreatedFilter, queryTimeOrderedPage } from './time-ordered-list.js';

export const eventKey = (scope: Scope, id: string) => ({ pk: scopeKey(scope), sk: `${EVENT_SK_PREFIX}${id}` });
/** The item that lists a session's stored events, so that redaction finds them without a scan. */
export const sessionEventsKey = (scope: Scope, sessionId: string) => ({ pk: scopeKey(scope), sk: `${SESSION_EVENTS_SK_PREFIX}${sessionId}` });


/**
 * `data` is kept as JSON text: a DynamoDB map would not keep the object's key
 * order. `pending_webhooks` is not stored (events stored before it was derived
 * may still hold a count, which is ignored): 0 here, counted by the readers that
 * show it (see pendingCounts).
 */
export function eventFromItem(item: Record<string, unknown>): EventRecord {
  const { pk: _pk, sk: _sk, [TTL_ATTRIBUTE]: _ttl, data, pending_webhooks: _pending, ...rest } = item;
  return { ...rest, data: JSON.parse(String(data)), pending_webhooks: 0 } as unknown as EventRecord;
}

const toItem = ({ pending_webhooks: _pending, ...event }: EventRecord) => ({
  ...eventKey(event, event.id),
  ...event,
  data: JSON.stringify(event.data),
  [TTL_ATTRIBUTE]: event.created + EVENT_RETENTION_SECONDS,
});

/** The key range of an event's deliveries starts here... */
const deliveriesFrom = (eventId: string) => `${WEBHOOK_DELIVERY_SK_PREFIX}${eventId}#`;
/** ...and ends here, after every endpoint id (ids are [0-9A-Za-z]; '~' sorts after them). */
const deliveriesTo = (eventId: string) => `${WEBHOOK_DELIVERY_SK_PREFIX}${eventId}#~`;

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

  /**
   * The pending_webhooks of these events: per event, its deliveries (`WD#<evt>#<we>`)
   * marked `counted_pending`. The deliveries of events in id order are one key
   * range, so a whole page of events costs one Query (more only past 1 MB read):
   * it reads the deliveries of events between the first and the last id too,
   * those a filter left off the page, and returns only the keys of pending ones.
   */
  async pendingCounts(scope: Scope, eventIds: string[]): Promise<Map<string, number>> {
    const counts = new Map<string, number>(eventIds.map((id) => [id, 0]));
    if (eventIds.length === 0) return counts;
    const sorted = [...eventIds].sort();
    let startKey: Record<string, unknown> | undefined;
    do {
      const r = await this.doc.send(
        new QueryCommand({
          TableName: this.table,
          KeyConditionExpression: 'pk = :pk AND sk BETWEEN :from AND :to',
          FilterExpression: '#pending = :true',
          ProjectionExpression: 'sk',
          ExpressionAttributeNames: { '#pending': 'counted_pending' },
          ExpressionAttributeValues: { ':pk': scopeKey(scope), ':from': deliveriesFrom(sorted[0]), ':to': deliveriesTo(sorted[sorted.length - 1]), ':true': true },
          ExclusiveStartKey: startKey,
          ConsistentRead: true,
          ReturnConsumedCapacity: 'TOTAL',
        }),
      );
      for (const item of r.Items ?? []) {
        const eventId = String(item.sk).slice(WEBHOOK_DELIVERY_SK_PREFIX.length).split('#')[0];
        const n = counts.get(eventId);
        if (n !== undefined) counts.set(eventId, n + 1);
      }
      startKey = r.LastEvaluatedKey;
    } while (startKey);
    return counts;
  }

  /** The events with their pending_webhooks counted. */
  private async withPending(scope: Scope, events: EventRecord[]): Promise<EventRecord[]> {
    const counts = await this.pendingCounts(scope, events.map((e) => e.id));
    return events.map((e) => ({ ...e, pending_webhooks: counts.get(e.id) ?? 0 }));
  }

  /** The stored events with these ids (those not expired), in id order; pending_webhooks not counted (0). */
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

  /** One event with its pending_webhooks: a GetItem and a Query of its deliveries, side by side. */
  async get(scope: Scope, id: string): Promise<EventRecord | undefined> {
    const [r, counts] = await Promise.all([
      this.doc.send(new GetCommand({ TableName: this.table, Key: eventKey(scope, id), ConsistentRead: true, ReturnConsumedCapacity: 'TOTAL' })),
      this.pendingCounts(scope, [id]),
    ]);
    return r.Item ? { ...eventFromItem(r.Item), pending_webhooks: counts.get(id) ?? 0 } : undefined;
  }

  /**
   * A page of events, newest first, with their pending_webhooks. Without
   * `delivery_success`: the page's Query and one Query of its deliveries. With
   * it, the filter needs the counts, so pages of events are read and counted
   * until enough match.
   */
  async list(scope: Scope, q: EventListQuery): Promise<{ data: EventRecord[]; has_more: boolean }> {
    let filter: { expression: string; names: Record<string, string>; values: Record<string, unknown> } | undefined;
    if (q.types?.length) {
      const values = Object.fromEntries(q.types.map((t, i) => [`:type${i}`, t]));
      filter = { expression: `#type IN (${Object.keys(values).join(', ')})`, names: { '#type': 'type' }, values };
    } else if (q.type?.endsWith('*')) {
      filter = { expression: 'begins_with(#type, :typePrefix)', names: { '#type': 'type' }, values: { ':typePrefix': q.type.slice(0, -1) } };
    } else if (q.type) {
      filter = { expression: '#type = :type', names: { '#type': 'type' }, values: { ':type': q.type } };
    }
    const page = (limit: number, cursor: { starting_after?: string; ending_before?: string }) =>
      queryTimeOrderedPage(
        this.doc,
        this.table,
        { pk: scopeKey(scope), skPrefix: EVENT_SK_PREFIX, idPrefix: 'evt', limit, ...cursor, created: q.created, filter },
        eventFromItem,
      );
    if (q.delivery_success === undefined) {
      const p = await page(q.limit, { starting_after: q.starting_after, ending_before: q.ending_before });
      return { data: await this.withPending(scope, p.data), has_more: p.has_more };
    }

    // false: events with a delivery not (yet) successful; true: events with none.
    const wanted = (e: EventRecord) => (q.delivery_success ? e.pending_webhooks === 0 : e.pending_webhooks > 0);
    const backwards = q.ending_before !== undefined;
    // Matching events in the order of reading: away from the cursor (newest first forwards, oldest first backwards).
    const found: EventRecord[] = [];
    let cursor = backwards ? q.ending_before : q.starting_after;
    const chunk = Math.max(q.limit + 1, 50);
    for (;;) {
      const p = await page(chunk, backwards ? { ending_before: cursor } : { starting_after: cursor });
      if (p.data.length === 0) break;
      const read = backwards ? [...p.data].reverse() : p.data;
      found.push(...(await this.withPending(scope, read)).filter(wanted));
      if (found.length > q.limit || !p.has_more) break;
      cursor = read[read.length - 1].id;
    }
    const data = found.slice(0, q.limit);
    if (backwards) data.reverse();
    return { data, has_more: found.length > q.limit };
  }
}
