import { createHash } from 'node:crypto';
import { gunzipSync, gzipSync } from 'node:zlib';
import { GetCommand, PutCommand, TransactWriteCommand, UpdateCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { Scope } from '../domain/session.js';
import { TTL_ATTRIBUTE } from './table.js';
import { batchGetAll, cancellationReasons, errorName, itemOnConditionFailure } from './dynamo.js';

/**
 * Stripe's Idempotency-Key semantics. The first result of a request (status and
 * body) is saved for 24 hours under (account, mode, key) and replayed for the
 * same key; the same key with other parameters is refused.
 *
 * This record is for creates and the other endpoints (files, webhook endpoints,
 * event resends). Keyed updates, cancels and redactions of a session save their
 * result on the session item instead, in the write that makes the change
 * (domain/saved-results.ts).
 *
 * Saving costs no extra request: the record is written in the SAME
 * TransactWriteItems as the session change it describes, so a change and its
 * saved result exist together or not at all. The body is gzipped to keep the
 * record under 1 KB (a transactional write costs 2 units per KB).
 *
 * No "in progress" marker is written. A request that finds a record created
 * after it started raced a concurrent request with the same key: it gets 409,
 * as Stripe's clients expect, and their retry then gets the replay.
 */
export const IDEMPOTENCY_TTL_SECONDS = 24 * 3600;
export const MAX_IDEMPOTENCY_KEY_LENGTH = 255;

export interface SavedResult {
  fingerprint: string;
  status: number;
  body: unknown;
  created_ms: number;
  expires_at: number;
}

export interface IdempotentRequest {
  scope: Scope;
  key: string;
  fingerprint: string;
  /** When the request arrived (ms): records created later belong to a concurrent request. */
  startedMs: number;
}

export type Resolution =
  | { kind: 'replay'; status: number; body: unknown }
  | { kind: 'mismatch' }
  | { kind: 'in_flight' };

/** A stable digest of what makes two requests "the same". */
export function requestFingerprint(method: string, path: string, params: unknown): string {
  return createHash('sha256').update(`${method} ${path}\n${canonicalJson(params)}`).digest('base64url');
}

function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value ?? null);
}

export const idempotencyKey = (scope: Scope, key: string) => ({
  pk: `IK#${scope.account}#${scope.livemode ? 'live' : 'test'}#${key}`,
  sk: 'IK',
});

/** What a stored record means for a new request with the same key. */
export function resolve(saved: SavedResult, req: IdempotentRequest): Resolution {
  if (saved.fingerprint !== req.fingerprint) return { kind: 'mismatch' };
  if (saved.created_ms >= req.startedMs) return { kind: 'in_flight' };
  return { kind: 'replay', status: saved.status, body: saved.body };
}

export function toItem(req: IdempotentRequest, status: number, body: unknown, nowMs: number) {
  return {
    ...idempotencyKey(req.scope, req.key),
    fingerprint: req.fingerprint,
    status,
    body: gzipSync(JSON.stringify(body)),
    created_ms: nowMs,
    [TTL_ATTRIBUTE]: Math.floor(nowMs / 1000) + IDEMPOTENCY_TTL_SECONDS,
  };
}

/** Reads a stored item back; undefined when absent or expired (TTL deletes lazily). */
export function fromItem(item: Record<string, unknown> | undefined, nowMs: number): SavedResult | undefined {
  if (!item) return undefined;
  const expires = Number(item[TTL_ATTRIBUTE]);
  if (expires * 1000 <= nowMs) return undefined;
  return {
    fingerprint: String(item.fingerprint),
    status: Number(item.status),
    body: JSON.parse(gunzipSync(item.body as Uint8Array).toString('utf8')),
    created_ms: Number(item.created_ms),
    expires_at: expires,
  };
}

/** The write that saves a result: only if no live record holds the key. */
export function putSavedResult(table: string, req: IdempotentRequest, status: number, body: unknown, nowMs: number) {
  return {
    TableName: table,
    Item: toItem(req, status, body, nowMs),
    ConditionExpression: 'attribute_not_exists(pk) OR #ttl <= :now',
    ExpressionAttributeNames: { '#ttl': TTL_ATTRIBUTE },
    ExpressionAttributeValues: { ':now': Math.floor(nowMs / 1000) },
    ReturnValuesOnConditionCheckFailure: 'ALL_OLD' as const,
  };
}

/** Thrown when another request already holds the key. */
export class IdempotencyKeyTaken extends Error {
  constructor(readonly saved: SavedResult) {
    super('idempotency key already used');
  }
}

/** A keyed change's result, saved in the same transaction as the change. */
export interface SaveWith {
  req: IdempotentRequest;
  status: number;
  body: unknown;
  nowMs: number;
}

/**
 * Puts one conditional item; with `save`, in one transaction with the
 * Idempotency-Key's saved result. Another request holding the key throws
 * IdempotencyKeyTaken; the item's own condition failing calls `onRefused`
 * (which throws the store's own error) or rethrows the refusal.
 */
export async function putWithSavedResult(
  doc: DynamoDBDocumentClient,
  put: { TableName: string; Item: Record<string, unknown>; ConditionExpression: string; ExpressionAttributeValues?: Record<string, unknown> },
  save: SaveWith | undefined,
  onRefused?: () => never,
): Promise<void> {
  if (!save) {
    try {
      await doc.send(new PutCommand({ ...put, ReturnConsumedCapacity: 'TOTAL' }));
    } catch (err) {
      if (onRefused && errorName(err) === 'ConditionalCheckFailedException') onRefused();
      throw err;
    }
    return;
  }
  try {
    await doc.send(
      new TransactWriteCommand({
        TransactItems: [{ Put: put }, { Put: putSavedResult(put.TableName, save.req, save.status, save.body, save.nowMs) }],
        ReturnConsumedCapacity: 'TOTAL',
      }),
    );
  } catch (err) {
    const reasons = cancellationReasons(err);
    const saved = reasons?.[1]?.code === 'ConditionalCheckFailed' ? fromItem(reasons[1].item, save.nowMs) : undefined;
    if (saved) throw new IdempotencyKeyTaken(saved);
    if (onRefused && reasons?.[0]?.code === 'ConditionalCheckFailed') onRefused();
    throw err;
  }
}

export class IdempotencyStore {
  constructor(
    private readonly doc: DynamoDBDocumentClient,
    private readonly table: string,
  ) {}

  async get(scope: Scope, key: string, nowMs: number): Promise<SavedResult | undefined> {
    const r = await this.doc.send(
      new GetCommand({ TableName: this.table, Key: idempotencyKey(scope, key), ConsistentRead: true, ReturnConsumedCapacity: 'TOTAL' }),
    );
    return fromItem(r.Item, nowMs);
  }

  /**
   * Rewrites the bodies of saved results (redaction): each listed key's body
   * becomes `rewrite(body)`; a result that expired or was replaced meanwhile is
   * left alone. Returns how many were rewritten.
   */
  async rewriteBodies(scope: Scope, keys: string[], nowMs: number, rewrite: (body: unknown) => unknown): Promise<number> {
    const items = await batchGetAll(this.doc, this.table, keys.map((k) => idempotencyKey(scope, k)));
    let rewritten = 0;
    await Promise.all(
      items.map(async (item) => {
        const saved = fromItem(item, nowMs);
        if (!saved) return;
        const body = rewrite(saved.body);
        if (JSON.stringify(body) === JSON.stringify(saved.body)) return;
        try {
          await this.doc.send(
            new UpdateCommand({
              TableName: this.table,
              Key: { pk: item.pk, sk: item.sk },
              UpdateExpression: 'SET #body = :body',
              ConditionExpression: '#created = :created',
              ExpressionAttributeNames: { '#body': 'body', '#created': 'created_ms' },
              ExpressionAttributeValues: { ':body': gzipSync(JSON.stringify(body)), ':created': saved.created_ms },
              ReturnConsumedCapacity: 'TOTAL',
            }),
          );
          rewritten++;
        } catch (err) {
          if (errorName(err) !== 'ConditionalCheckFailedException') throw err;
        }
      }),
    );
    return rewritten;
  }

  /** Saves a result that changed nothing else (a refusal or a 404). */
  async save(req: IdempotentRequest, status: number, body: unknown, nowMs: number): Promise<void> {
    try {
      await this.doc.send(new PutCommand({ ...putSavedResult(this.table, req, status, body, nowMs), ReturnConsumedCapacity: 'TOTAL' }));
    } catch (err) {
      if (errorName(err) === 'ConditionalCheckFailedException') {
        const saved = fromItem(itemOnConditionFailure(err), nowMs);
        if (saved) throw new IdempotencyKeyTaken(saved);
      }
      throw err;
    }
  }
}
