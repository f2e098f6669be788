import { createHmac, timingSafeEqual } from 'node:crypto';
import { secureRandomBytes } from './random.js';
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
  account: string;
  livemode: boolean;
  attempt: number;
  secret_seed: string | null;
}

export const newSecretSeed = () => secureRandomBytes(32).toString('base64url');

// token = expiry (8) + mode (1: t or l) + account id without `acct_` (16) + MAC (32 hex)
const EXPIRY_CHARS = 8;
const ACCOUNT_CHARS = 16;
const MAC_HEX_CHARS = 32;
const TOKEN = new RegExp(`^([0-9A-Za-z]{${EXPIRY_CHARS}})([tl])([0-9A-Za-z]{${ACCOUNT_CHARS}})([0-9a-f]{${MAC_HEX_CHARS}})$`);

function mac(kind: SecretKind, holder: SecretHolder, expiresAt: number): string {
  return createHmac('sha256', Buffer.from(holder.secret_seed ?? '', 'base64url'))
    .update(`${kind}|${holder.account}|${holder.livemode}|${holder.id}|${holder.attempt}|${expiresAt}`)
    .digest('hex')
    .slice(0, MAC_HEX_CHARS);
}

/**
 * A token valid until now + the kind's lifetime (in seconds since the epoch).
 * It names the session's account and mode, so the page and the submission can
 * find the session (its key includes them) from the token alone.
 */
export function issueToken(kind: SecretKind, holder: SecretHolder, nowSeconds: number): string {
  const expiresAt = nowSeconds + (kind === 'url' ? URL_TTL_SECONDS : CLIENT_SECRET_TTL_SECONDS);
  return encodeTime(expiresAt) + (holder.livemode ? 'l' : 't') + holder.account.replace(/^acct_/, '') + mac(kind, holder, expiresAt);
}

/** The account and mode a token names (not yet checked: see checkToken). */
export function tokenScope(token: string): { account: string; livemode: boolean } | undefined {
  const m = TOKEN.exec(token);
  return m ? { account: `acct_${m[3]}`, livemode: m[2] === 'l' } : undefined;
}

export type TokenCheck = 'valid' | 'expired' | 'invalid';

/** Checks a token against the session's current attempt and seed. */
export function checkToken(kind: SecretKind, holder: SecretHolder, token: string, nowSeconds: number): TokenCheck {
  const m = TOKEN.exec(token);
  if (!holder.secret_seed || !m) return 'invalid';
  const expiresAt = decodeTime(m[1]);
  const expected = Buffer.from(mac(kind, holder, expiresAt));
  const given = Buffer.from(m[4]);
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
