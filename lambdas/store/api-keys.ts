import { createHash } from 'node:crypto';
import { GetCommand, PutCommand, ScanCommand, UpdateCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { LRUCache } from 'lru-cache';
import { errorName } from './dynamo.js';
import { randomChars } from '../domain/ids.js';
import type { Scope } from '../domain/session.js';

/**
 * Secret API keys (`sk_test_...`, `sk_live_...`). Only a SHA-256 digest of a key
 * is stored: keys are 32 random characters, so a fast hash is enough, and a
 * leaked table does not leak usable keys. Beside the digest the item keeps the
 * account, the mode, when it was created, a hint (`sk_test_...wxyz`, its last 4
 * characters) and, once revoked, when.
 *
 * Lookups are cached in each API function instance (an LRU of at most
 * KEY_CACHE_ENTRIES keys), so the hot path of an API call makes no DynamoDB
 * request for authentication. A key found is trusted for KEY_CACHE_SECONDS: a
 * revoked key therefore stops working within that time (5 minutes by default;
 * API_KEY_CACHE_SECONDS sets it). An unknown key is remembered for 5 seconds.
 */
export const KEY_CACHE_SECONDS = 300;
export const KEY_CACHE_ENTRIES = 10_000;
const MISS_CACHE_SECONDS = 5;
const KEY_FORMAT = /^sk_(test|live)_[0-9A-Za-z]{24,128}$/;

export const hashKey = (secretKey: string) => createHash('sha256').update(secretKey).digest('hex');
/** The item of a key, named by the SHA-256 digest of the key (the only form the table holds). */
export const keyItemOfDigest = (digest: string) => ({ pk: `KEY#${digest}`, sk: 'KEY' });
const keyItemKey = (secretKey: string) => keyItemOfDigest(hashKey(secretKey));
/** A key's public name: the start of its digest (not enough to find the key, enough to tell keys apart). */
const keyIdOfDigest = (digest: string) => `key_${digest.slice(0, 16)}`;
export const keyId = (secretKey: string) => keyIdOfDigest(hashKey(secretKey));
/** What a list may show of a key: its mode prefix and last 4 characters. */
export const keyHint = (secretKey: string) => `${secretKey.slice(0, 8)}...${secretKey.slice(-4)}`;

/** A key as `npm run keys -- list` shows it: never the secret. */
export interface KeySummary {
  id: string;
  hint: string;
  account: string;
  livemode: boolean;
  created: number;
  revoked: number | null;
}

export function newSecretKey(livemode: boolean): string {
  return `sk_${livemode ? 'live' : 'test'}_${randomChars(32)}`;
}

export function isWellFormedKey(secretKey: string): boolean {
  return KEY_FORMAT.test(secretKey);
}

/** Cache lifetime from API_KEY_CACHE_SECONDS (a non-negative number; 0 turns the cache off). */
export function keyCacheSecondsFromEnv(value: string | undefined): number {
  if (value === undefined || value === '') return KEY_CACHE_SECONDS;
  const n = Number(value);
  if (!Number.isFinite(n) || n < 0) throw new Error(`API_KEY_CACHE_SECONDS must be a number of seconds (0 or more), got '${value}'`);
  return n;
}

export class ApiKeyStore {
  private readonly cache: LRUCache<string, { scope: Scope | null; untilMs: number }>;
  private readonly cacheMs: number;

  constructor(
    private readonly doc: DynamoDBDocumentClient,
    private readonly table: string,
    opts: { cacheSeconds?: number; cacheEntries?: number } = {},
  ) {
    this.cacheMs = (opts.cacheSeconds ?? KEY_CACHE_SECONDS) * 1000;
    this.cache = new LRUCache({ max: opts.cacheEntries ?? KEY_CACHE_ENTRIES });
  }

  /** The account and mode a key belongs to, or undefined for an unknown or revoked key. */
  async lookup(secretKey: string, nowMs = Date.now()): Promise<Scope | undefined> {
    if (!isWellFormedKey(secretKey)) return undefined;
    const digest = hashKey(secretKey);
    const cached = this.cache.get(digest);
    if (cached && cached.untilMs > nowMs) return cached.scope ?? undefined;
    const r = await this.doc.send(new GetCommand({ TableName: this.table, Key: keyItemKey(secretKey) }));
    const livemode = secretKey.startsWith('sk_live_');
    const scope =
      r.Item && r.Item.livemode === livemode && !r.Item.revoked
        ? { account: String(r.Item.account), livemode }
        : undefined;
    this.remember(digest, scope, nowMs);
    return scope;
  }

  private remember(digest: string, scope: Scope | undefined, nowMs: number) {
    const lifetimeMs = scope ? this.cacheMs : Math.min(this.cacheMs, MISS_CACHE_SECONDS * 1000);
    if (lifetimeMs > 0) this.cache.set(digest, { scope: scope ?? null, untilMs: nowMs + lifetimeMs });
  }

  /** Stores a key (its digest) for an account; idempotent for the same key. */
  async register(secretKey: string, account: string): Promise<Scope> {
    if (!isWellFormedKey(secretKey))
      throw new Error('A secret key looks like sk_test_ or sk_live_ followed by at least 24 letters and digits.');
    const livemode = secretKey.startsWith('sk_live_');
    await this.doc.send(
      new PutCommand({
        TableName: this.table,
        Item: { ...keyItemKey(secretKey), account, livemode, hint: keyHint(secretKey), created: Math.floor(Date.now() / 1000) },
      }),
    );
    const scope = { account, livemode };
    this.remember(hashKey(secretKey), scope, Date.now());
    return scope;
  }

  /**
   * Every key of the table, oldest first. A management command, not an API
   * path: it scans the table (one read of every item, paged).
   */
  async list(): Promise<KeySummary[]> {
    const keys: KeySummary[] = [];
    for await (const item of this.scanKeyItems('KEY#')) keys.push(summary(item));
    return keys.sort((a, b) => a.created - b.created || a.id.localeCompare(b.id));
  }

  /**
   * Marks a key revoked, named by its id (`key_...` from list) or the secret
   * itself. Lookups refuse it at once where it is not cached, and everywhere
   * within the cache lifetime. Undefined when no key has that name.
   */
  async revoke(idOrSecret: string, nowMs = Date.now()): Promise<KeySummary | undefined> {
    let digest: string | undefined;
    if (isWellFormedKey(idOrSecret)) digest = hashKey(idOrSecret);
    else if (/^key_[0-9a-f]{16}$/.test(idOrSecret)) digest = await this.digestOf(idOrSecret);
    if (!digest) return undefined;
    try {
      const r = await this.doc.send(
        new UpdateCommand({
          TableName: this.table,
          Key: keyItemOfDigest(digest),
          UpdateExpression: 'SET revoked = if_not_exists(revoked, :now)',
          ConditionExpression: 'attribute_exists(pk)',
          ExpressionAttributeValues: { ':now': Math.floor(nowMs / 1000) },
          ReturnValues: 'ALL_NEW',
        }),
      );
      this.cache.delete(digest);
      return r.Attributes && summary(r.Attributes);
    } catch (err) {
      if (errorName(err) === 'ConditionalCheckFailedException') return undefined;
      throw err;
    }
  }

  private async digestOf(id: string): Promise<string | undefined> {
    for await (const item of this.scanKeyItems(`KEY#${id.slice('key_'.length)}`)) return String(item.pk).slice('KEY#'.length);
    return undefined;
  }

  /** The key items whose partition key starts with `prefix`, page by page (a scan of the whole table). */
  private async *scanKeyItems(prefix: string): AsyncGenerator<Record<string, unknown>> {
    let start: Record<string, unknown> | undefined;
    do {
      const page = await this.doc.send(
        new ScanCommand({
          TableName: this.table,
          FilterExpression: 'sk = :key AND begins_with(pk, :prefix)',
          ExpressionAttributeValues: { ':key': 'KEY', ':prefix': prefix },
          ExclusiveStartKey: start,
        }),
      );
      yield* page.Items ?? [];
      start = page.LastEvaluatedKey;
    } while (start);
  }
}

function summary(item: Record<string, unknown>): KeySummary {
  const digest = String(item.pk).slice('KEY#'.length);
  return {
    id: keyIdOfDigest(digest),
    hint: typeof item.hint === 'string' ? item.hint : `sk_${item.livemode ? 'live' : 'test'}_... (created before hints)`,
    account: String(item.account),
    livemode: item.livemode === true,
    created: Number(item.created ?? 0),
    revoked: typeof item.revoked === 'number' ? item.revoked : null,
  };
}
