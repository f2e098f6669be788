import { createHash, randomBytes } from 'node:crypto';
import { GetCommand, PutCommand, QueryCommand, UpdateCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { idBoundsAt } from '../domain/ids.js';
import type { Scope } from '../domain/session.js';
import type { DeliveryRecord } from '../domain/webhook-delivery.js';
import { hashKey, keyItemOfDigest } from './api-keys.js';
import { scopeKey } from './session-store.js';
import { TTL_ATTRIBUTE, WEBHOOK_DELIVERY_SK_PREFIX } from './table.js';

/**
 * What the operator console keeps in the table.
 *
 * A console sign-in: pk = "CS#<sha256 of the cookie value>", sk = "CS". The
 * cookie holds 32 random bytes and nothing else; the item names the account,
 * the mode, the digest of the secret key used to sign in (never the key), the
 * CSRF token of the sign-in and its expiry (also the TTL). Every console
 * request reads this item and then the key's own item (two GetItems), so a
 * revoked key closes its console sign-ins at once.
 */
export const CONSOLE_SIGN_IN_SECONDS = 60 * 60;

export interface ConsoleSignIn {
  scope: Scope;
  csrfToken: string;
  expiresMs: number;
}

const signInKey = (cookieValue: string) => ({ pk: `CS#${createHash('sha256').update(cookieValue).digest('hex')}`, sk: 'CS' });
const COOKIE_VALUE = /^[0-9A-Za-z_-]{43}$/;

export class ConsoleStore {
  constructor(
    private readonly doc: DynamoDBDocumentClient,
    private readonly table: string,
  ) {}

  /** Starts a sign-in for a key already looked up; answers the cookie value and the CSRF token. */
  async signIn(secretKey: string, scope: Scope, nowMs: number): Promise<{ cookieValue: string; csrfToken: string; expiresMs: number }> {
    const cookieValue = randomBytes(32).toString('base64url');
    const csrfToken = randomBytes(24).toString('base64url');
    const expiresMs = nowMs + CONSOLE_SIGN_IN_SECONDS * 1000;
    await this.doc.send(
      new PutCommand({
        TableName: this.table,
        Item: {
          ...signInKey(cookieValue),
          account: scope.account,
          livemode: scope.livemode,
          key_digest: hashKey(secretKey),
          csrf_token: csrfToken,
          expires_ms: expiresMs,
          [TTL_ATTRIBUTE]: Math.ceil(expiresMs / 1000),
        },
      }),
    );
    return { cookieValue, csrfToken, expiresMs };
  }

  /** The sign-in a cookie names, while it is unexpired and its key still exists, unrevoked, for the same account and mode. */
  async current(cookieValue: string, nowMs: number): Promise<ConsoleSignIn | undefined> {
    if (!COOKIE_VALUE.test(cookieValue)) return undefined;
    const item = (await this.doc.send(new GetCommand({ TableName: this.table, Key: signInKey(cookieValue), ConsistentRead: true }))).Item;
    if (!item || typeof item.expires_ms !== 'number' || item.expires_ms <= nowMs) return undefined;
    // The key itself, read again: a revoked or deleted key ends its sign-ins at once (the API's own cache waits up to API_KEY_CACHE_SECONDS).
    const k = (await this.doc.send(new GetCommand({ TableName: this.table, Key: keyItemOfDigest(String(item.key_digest)) }))).Item;
    if (!k || k.revoked || k.account !== item.account || k.livemode !== item.livemode) return undefined;
    return { scope: { account: String(item.account), livemode: item.livemode === true }, csrfToken: String(item.csrf_token), expiresMs: item.expires_ms };
  }

  async signOut(cookieValue: string): Promise<void> {
    if (!COOKIE_VALUE.test(cookieValue)) return;
    // Ended rather than deleted (the API function may not delete items); the TTL removes it.
    await this.doc.send(
      new UpdateCommand({
        TableName: this.table,
        Key: signInKey(cookieValue),
        UpdateExpression: 'SET expires_ms = :zero',
        ConditionExpression: 'attribute_exists(pk)',
        ExpressionAttributeValues: { ':zero': 0 },
      }),
    ).catch((err: Error) => {
      if (err.name !== 'ConditionalCheckFailedException') throw err;
    });
  }

  /**
   * Deliveries of the account's events created since `sinceMs` (their sort
   * keys begin with the event id, which carries its creation time), for the
   * console's per-endpoint failure rate and recent attempts. Bounded by `max`.
   */
  async deliveriesSince(scope: Scope, sinceMs: number, max = 2000): Promise<DeliveryRecord[]> {
    const out: DeliveryRecord[] = [];
    let startKey: Record<string, unknown> | undefined;
    do {
      const r = await this.doc.send(
        new QueryCommand({
          TableName: this.table,
          KeyConditionExpression: 'pk = :pk AND sk BETWEEN :low AND :high',
          ExpressionAttributeValues: {
            ':pk': scopeKey(scope),
            ':low': `${WEBHOOK_DELIVERY_SK_PREFIX}${idBoundsAt('evt', sinceMs).low}`,
            ':high': `${WEBHOOK_DELIVERY_SK_PREFIX}evt_~`,
          },
          ScanIndexForward: false,
          ExclusiveStartKey: startKey,
        }),
      );
      for (const item of r.Items ?? []) {
        const { pk: _pk, sk: _sk, [TTL_ATTRIBUTE]: _ttl, ...rest } = item;
        out.push(rest as unknown as DeliveryRecord);
      }
      startKey = r.LastEvaluatedKey;
    } while (startKey && out.length < max);
    return out.slice(0, max);
  }
}
