import { describe, expect, it } from 'vitest';
import { secureRandomBytes } from '../../lambdas/domain/random.js';
import { newSessionId } from '../../lambdas/domain/ids.js';

describe('secureRandomBytes (the pooled CSPRNG behind ids and secret seeds)', () => {
  it('hands out each byte once: across many pool refills no two 16-byte draws are equal, and a draw is a copy that later draws leave alone', () => {
    const first = secureRandomBytes(16);
    const kept = Buffer.from(first);
    const seen = new Set<string>([first.toString('hex')]);
    for (let i = 0; i < 2000; i++) {
      const b = secureRandomBytes(16 + (i % 40)); // odd sizes cross the 4 KB refill boundary at many offsets
      const hex = b.subarray(0, 16).toString('hex');
      expect(seen.has(hex)).toBe(false);
      seen.add(hex);
    }
    expect(first.equals(kept)).toBe(true);
  });

  it('serves requests larger than the pool, and every byte value turns up', () => {
    const big = secureRandomBytes(10_000);
    expect(big.length).toBe(10_000);
    expect(new Set(big).size).toBe(256);
  });

  it('session ids drawn from it are unique', () => {
    const ids = new Set(Array.from({ length: 5000 }, () => newSessionId()));
    expect(ids.size).toBe(5000);
  });
});
