import { createHash } from 'node:crypto';
import { secureRandomBytes } from './random.js';

/**
 * Prefixed ids like Stripe's (`vs_`, `vr_`, `evt_`, `req_`, `acct_`).
 *
 * A session id carries its creation time in its first characters, in an
 * alphabet whose ASCII order is its numeric order. Ids therefore sort by creation
 * time, which gives the list endpoint a stable newest-first order (also for
 * sessions created in the same second) and lets a cursor id be turned into a key
 * range without reading the item it names.
 */
const ALPHABET = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';
const TIME_CHARS = 8; // 62^8 ms reaches the year 8900
const RANDOM_CHARS = 16;

export function randomChars(length: number): string {
  // 62 does not divide 256: drop bytes >= 248 so every character is equally likely.
  let out = '';
  while (out.length < length) {
    for (const byte of secureRandomBytes(length * 2)) {
      if (byte < 248 && out.length < length) out += ALPHABET[byte % 62];
    }
  }
  return out;
}

export function encodeTime(ms: number): string {
  let n = Math.max(0, Math.floor(ms));
  let out = '';
  for (let i = 0; i < TIME_CHARS; i++) {
    out = ALPHABET[n % 62] + out;
    n = Math.floor(n / 62);
  }
  return out;
}

export function decodeTime(encoded: string): number {
  let n = 0;
  for (const ch of encoded) n = n * 62 + ALPHABET.indexOf(ch);
  return n;
}

/** A time-ordered id: prefix + 8 time characters + 16 random characters. */
export function timeOrderedId(prefix: string, ms: number = Date.now()): string {
  return `${prefix}_${encodeTime(ms)}${randomChars(RANDOM_CHARS)}`;
}

/**
 * A time-ordered id whose other characters are derived from `seed` instead of
 * drawn at random: the same (ms, seq, seed) always gives the same id. `seq`
 * orders ids of one millisecond (0-61).
 */
export function derivedTimeOrderedId(prefix: string, ms: number, seq: number, seed: string): string {
  const digest = createHash('sha256').update(seed).digest();
  let tail = '';
  for (let i = 0; tail.length < RANDOM_CHARS - 1; i++) tail += ALPHABET[digest[i % digest.length] % 62];
  return `${prefix}_${encodeTime(ms)}${ALPHABET[seq % 62]}${tail}`;
}

export function randomId(prefix: string, length = 24): string {
  return `${prefix}_${randomChars(length)}`;
}

const TIME_ORDERED = new RegExp(`^([a-z]+)_([0-9A-Za-z]{${TIME_CHARS}})[0-9A-Za-z]{${RANDOM_CHARS}}$`);

/** True when `id` is a well-formed time-ordered id with this prefix. */
export function isTimeOrderedId(id: string, prefix: string): boolean {
  const m = TIME_ORDERED.exec(id);
  return m !== null && m[1] === prefix;
}

/** The smallest and largest possible ids created at `ms` (for key ranges). */
export function idBoundsAt(prefix: string, ms: number): { low: string; high: string } {
  const t = encodeTime(ms);
  return { low: `${prefix}_${t}`, high: `${prefix}_${t}~` };
}

export const newSessionId = () => timeOrderedId('vs');
export const newRequestId = () => randomId('req', 14);
export const newAccountId = () => randomId('acct', 16);
