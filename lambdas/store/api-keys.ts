import { createHash } from 'node:crypto';
import { GetCommand, PutCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { randomChars } from '../domain/ids.js';
import type { Scope } from '../domain/session.js';

/**
 * Secret API keys (`sk_test_...`, `sk_live_...`). Only a SHA-256 digest of a key
 * is stored: keys are 32 random characters, so a fast hash is enough, and a
 * leaked table does not leak usable keys.
 *
 * Lookups are cached in the Lambda container for a few minutes, so the hot path
 * of an API call makes no DynamoDB request for authentication. A revoked key
 * therefore stops working within KEY_CACHE_SECONDS.
 */
export const KEY_CACHE_SECONDS = 300;
const MISS_CACHE_SECONDS = 5;
const KEY_FORMAT = /^sk_(test|live)_[0-9A-Za-z]{24,128}$/;

export const hashKey = (secretKey: string) => createHash('sha256').update(secretKey).digest('hex');
const keyItemKey = (secretKey: string) => ({ pk: `KEY#${hashKey(secretKey)}`, sk: 'KEY' });

export function newSecretKey(livemode: boolean): string {
  return `sk_${livemode ? 'live' : 'test'}_${randomChars(32)}`;
}

export function isWellFormedKey(secretKey: string): boolean {
  return KEY_FORMAT.test(secretKey);
}

export class ApiKeyStore {
  private readonly cache = new Map<string, { scope: Scope | undefined; until: number }>();

  constructor(
    private readonly doc: DynamoDBDocumentClient,
    private readonly table: string,
  ) {}

  /** The account and mode a key belongs to, or undefined for an unknown key. */
  async lookup(secretKey: string, nowMs = Date.now()): Promise<Scope | undefined> {
    if (!isWellFormedKey(secretKey)) return undefined;
    const digest = hashKey(secretKey);
    const cached = this.cache.get(digest);
    if (cached && cached.until > nowMs) return cached.scope;
    const r = await this.doc.send(new GetCommand({ TableName: this.table, Key: keyItemKey(secretKey) }));
    const livemode = secretKey.startsWith('sk_live_');
    const scope =
      r.Item && r.Item.livemode === livemode && !r.Item.revoked
        ? { account: String(r.Item.account), livemode }
        : undefined;
    if (this.cache.size > 10_000) this.cache.clear();
    this.cache.set(digest, { scope, until: nowMs + (scope ? KEY_CACHE_SECONDS : MISS_CACHE_SECONDS) * 1000 });
    return scope;
  }

  /** Stores a key (its digest) for an account; idempotent for the same key. */
  async register(secretKey: string, account: string): Promise<Scope> {
    if (!isWellFormedKey(secretKey))
      throw new Error('A secret key looks like sk_test_ or sk_live_ followed by at least 24 letters and digits.');
    const livemode = secretKey.startsWith('sk_live_');
    await this.doc.send(
      new PutCommand({
        TableName: this.table,
        Item: { ...keyItemKey(secretKey), account, livemode, created: Math.floor(Date.now() / 1000) },
      }),
    );
    const scope = { account, livemode };
    this.cache.set(hashKey(secretKey), { scope, until: Date.now() + KEY_CACHE_SECONDS * 1000 });
    return scope;
  }
}
