import { describe, expect, it } from 'vitest';
import { decodeTime, encodeTime, isTimeOrderedId, timeOrderedId } from '../../lambdas/domain/ids.js';
import { checkToken, clientSecretFor, issueToken, newSecretSeed, parseClientSecret, tokenScope } from '../../lambdas/domain/secrets.js';

describe('ids', () => {
  it('sort by creation time, also within one second', () => {
    const ids = Array.from({ length: 200 }, (_, i) => timeOrderedId('vs', 1_700_000_000_000 + i * 3));
    expect([...ids].sort()).toEqual(ids);
    expect(ids.every((id) => isTimeOrderedId(id, 'vs') && id.length === 27)).toBe(true);
    expect(decodeTime(encodeTime(1_795_000_123_456))).toBe(1_795_000_123_456);
  });
});

describe('url and client secret tokens', () => {
  const now = 1_800_000_000;
  const holder = { id: 'vs_0000000000000000000000AA', account: 'acct_0123456789abcdef', livemode: false, attempt: 0, secret_seed: newSecretSeed() };

  it('are valid until they expire (48 h for the url, 24 h for the secret)', () => {
    const url = issueToken('url', holder, now);
    const secret = issueToken('client_secret', holder, now);
    expect(checkToken('url', holder, url, now + 47 * 3600)).toBe('valid');
    expect(checkToken('url', holder, url, now + 48 * 3600)).toBe('expired');
    expect(checkToken('client_secret', holder, secret, now + 23 * 3600)).toBe('valid');
    expect(checkToken('client_secret', holder, secret, now + 24 * 3600)).toBe('expired');
  });

  it('are single use: a submission (next attempt) invalidates them', () => {
    const token = issueToken('client_secret', holder, now);
    expect(checkToken('client_secret', { ...holder, attempt: 1 }, token, now)).toBe('invalid');
  });

  it('cannot be forged, swapped between kinds, or used after redaction', () => {
    const token = issueToken('url', holder, now);
    expect(checkToken('client_secret', holder, token, now)).toBe('invalid');
    expect(checkToken('url', { ...holder, secret_seed: newSecretSeed() }, token, now)).toBe('invalid');
    expect(checkToken('url', { ...holder, secret_seed: null }, token, now)).toBe('invalid');
    const last = token.length - 1;
    const tampered = token.slice(0, last) + (token[last] === 'a' ? 'b' : 'a');
    expect(checkToken('url', holder, tampered, now)).toBe('invalid');
    // another account or mode named in the token does not verify
    expect(checkToken('url', { ...holder, account: 'acct_0123456789abcdeX' }, token, now)).toBe('invalid');
    expect(checkToken('url', { ...holder, livemode: true }, token, now)).toBe('invalid');
  });

  it('client secrets look like Stripe\'s and name their session', () => {
    const secret = clientSecretFor(holder, now);
    expect(secret).toMatch(/^vs_[0-9A-Za-z]+_secret_[0-9A-Za-z]+$/);
    const parsed = parseClientSecret(secret)!;
    expect(parsed.id).toBe(holder.id);
    expect(checkToken('client_secret', holder, parsed.token, now)).toBe('valid');
    expect(tokenScope(parsed.token)).toEqual({ account: holder.account, livemode: false });
  });
});
