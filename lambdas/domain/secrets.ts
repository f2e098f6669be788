import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { decodeTime, encodeTime } from './ids.js';

/**
 * The hosted page `url` and the `client_secret` of a session.
 *
 * Neither is stored. Each is an expiry time plus a MAC over (kind, session id,
 * attempt, expiry) keyed by a random per-session seed that lives on the session
 * item. So a retrieve can hand out a fresh, valid pair without writing anything;
 * a submission increments the session's `attempt`, which invalidates every url
 * and secret issued before it (single use); redaction deletes the seed, which
 * invalidates them all.
 */
export const URL_TTL_SECONDS = 48 * 3600;
export const CLIENT_SECRET_TTL_SECONDS = 24 * 3600;

export type SecretKind = 'url' | 'client_secret';

export interface SecretHolder {
  id: string;
  attempt: number;
  secret_seed: string | null;
}

export const newSecretSeed = () => randomBytes(32).toString('base64url');

const EXPIRY_CHARS = 8;
const MAC_HEX_CHARS = 32;

function mac(kind: SecretKind, holder: SecretHolder, expiresAt: number): string {
  return createHmac('sha256', Buffer.from(holder.secret_seed ?? '', 'base64url'))
    .update(`${kind}|${holder.id}|${holder.attempt}|${expiresAt}`)
    .digest('hex')
    .slice(0, MAC_HEX_CHARS);
}

/** A token valid until now + the kind's lifetime (in seconds since the epoch). */
export function issueToken(kind: SecretKind, holder: SecretHolder, nowSeconds: number): string {
  const expiresAt = nowSeconds + (kind === 'url' ? URL_TTL_SECONDS : CLIENT_SECRET_TTL_SECONDS);
  return encodeTime(expiresAt) + mac(kind, holder, expiresAt);
}

export type TokenCheck = 'valid' | 'expired' | 'invalid';

/** Checks a token against the session's current attempt and seed. */
export function checkToken(kind: SecretKind, holder: SecretHolder, token: string, nowSeconds: number): TokenCheck {
  if (!holder.secret_seed || token.length !== EXPIRY_CHARS + MAC_HEX_CHARS) return 'invalid';
  const expiresAt = decodeTime(token.slice(0, EXPIRY_CHARS));
  const expected = Buffer.from(mac(kind, holder, expiresAt));
  const given = Buffer.from(token.slice(EXPIRY_CHARS));
  if (expected.length !== given.length || !timingSafeEqual(expected, given)) return 'invalid';
  return expiresAt > nowSeconds ? 'valid' : 'expired';
}

export const clientSecretFor = (holder: SecretHolder, nowSeconds: number) =>
  `${holder.id}_secret_${issueToken('client_secret', holder, nowSeconds)}`;

/** Splits `vs_..._secret_<token>` into the session id and the token. */
export function parseClientSecret(secret: string): { id: string; token: string } | undefined {
  const m = /^(vs_[0-9A-Za-z]+)_secret_([0-9A-Za-z]+)$/.exec(secret);
  return m ? { id: m[1], token: m[2] } : undefined;
}

export const pageUrlFor = (baseUrl: string, holder: SecretHolder, nowSeconds: number) =>
  `${baseUrl.replace(/\/$/, '')}/verify/${holder.id}/${issueToken('url', holder, nowSeconds)}`;
