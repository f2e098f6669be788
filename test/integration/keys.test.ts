import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { keysCommand } from '../../bin/keys-command.js';
import { newAccountId } from '../../lambdas/domain/ids.js';
import { ApiKeyStore, newSecretKey } from '../../lambdas/store/api-keys.js';
import { documentClient } from '../../lambdas/store/dynamo.js';
import { localClientConfig } from '../../local/dynamodb.js';
import { freshTable } from '../support/dynamo.js';
import { type TestService, request, startTestService } from '../support/api.js';

const SESSIONS = '/v1/identity/verification_sessions';
// Short, so that the test can wait it out; the default is 300 seconds.
const CACHE_SECONDS = 3;
let svc: TestService;
let stateDir: string;
let stateFile: string;

beforeAll(async () => {
  svc = await startTestService({ keyCacheSeconds: CACHE_SECONDS });
  // What `npm start` writes for `npm run keys` to find it.
  stateDir = mkdtempSync(join(tmpdir(), 'vs-keys-'));
  stateFile = join(stateDir, 'state.json');
  writeFileSync(stateFile, JSON.stringify({ baseUrl: svc.baseUrl, dynamoEndpoint: svc.dynamoEndpoint, tableName: svc.tableName }));
});
afterAll(async () => {
  await svc?.stop();
  rmSync(stateDir, { recursive: true, force: true });
});

const keys = (...argv: string[]) => keysCommand(argv, { stateFile });

describe('npm run keys', () => {
  it('create shows the key once; list never shows it; revoke stops it within the cache lifetime', async () => {
    const created = await keys('create');
    expect(created.code).toBe(0);
    const secret = /secret key \(shown once, not stored\): (sk_test_[0-9A-Za-z]{32})/.exec(created.out.join('\n'))?.[1];
    const id = /^id: (key_[0-9a-f]{16})/.exec(created.out[0])?.[1];
    const account = /account: (acct_\w{16})/.exec(created.out.join('\n'))?.[1];
    expect(secret && id && account).toBeTruthy();

    // The new key works against the running service.
    const first = await request(svc.baseUrl, secret!, 'POST', SESSIONS, { type: 'document' });
    expect(first.status).toBe(200);

    const listed = await keys('list');
    expect(listed.code).toBe(0);
    const text = listed.out.join('\n');
    expect(text).not.toContain(secret!);
    expect(text).not.toContain(secret!.slice(8, 36));
    const line = listed.out.find((l) => l.startsWith(id!));
    expect(line).toContain(`sk_test_...${secret!.slice(-4)}`);
    expect(line).toContain(account!);
    expect(line).toContain('test');
    expect(line).toContain('active');
    // The service's own key is listed too.
    expect(listed.out).toHaveLength(2);
    // Nothing stored lets anyone rebuild the key: the table holds its digest only.
    const json = JSON.parse((await keys('list', '--json')).out[0]) as Record<string, unknown>[];
    expect(JSON.stringify(json)).not.toContain(secret!.slice(8, 36));

    const revoked = await keys('revoke', id!);
    expect(revoked.code).toBe(0);
    expect(revoked.out[0]).toContain('revoked');
    const revokedAt = Date.now();
    // The API looked the key up moments ago: its cache may still accept it, for at most the lifetime.
    const during = await request(svc.baseUrl, secret!, 'GET', SESSIONS);
    if (Date.now() - revokedAt < CACHE_SECONDS * 1000) expect([200, 401]).toContain(during.status);
    await new Promise((r) => setTimeout(r, CACHE_SECONDS * 1000 + 200));
    const after = await request(svc.baseUrl, secret!, 'GET', SESSIONS);
    expect(after.status).toBe(401);
    expect(after.body.error.message).toBe('Invalid API Key provided.');
    // The service's own key is untouched.
    expect((await svc.call('GET', SESSIONS)).status).toBe(200);

    const relisted = await keys('list');
    expect(relisted.out.find((l) => l.startsWith(id!))).toMatch(/revoked \d{4}-\d\d-\d\dT/);
  });

  it('revoke by the secret itself; unknown names and bad arguments are refused with a message', async () => {
    const created = await keys('create', '--account', 'acct_0123456789abcdef');
    const secret = /(sk_test_[0-9A-Za-z]{32})/.exec(created.out.join('\n'))![1];
    expect((await keys('revoke', secret)).code).toBe(0);
    expect(await keys('revoke', 'key_0000000000000000')).toMatchObject({ code: 1, err: [expect.stringContaining('No key key_0000000000000000')] });
    expect((await keys('create', '--account', 'bob')).code).toBe(2);
    expect((await keys('create', '--live')).err[0]).toContain('test mode only');
    expect((await keys('launch')).err[0]).toContain('Usage');
    expect((await keysCommand(['list'], { stateFile: join(stateDir, 'none.json') })).err[0]).toContain('no running `npm start`');
  });
});

describe('the API key cache', () => {
  it('trusts a key for its lifetime, then asks the table again; keeps at most its bound of keys', async () => {
    const { endpoint, tableName } = await freshTable('keys');
    let gets = 0;
    const apiDoc = documentClient(localClientConfig(endpoint), (op) => void (/^Get(Item)?Command$/.test(op) && gets++));
    const api = new ApiKeyStore(apiDoc, tableName, { cacheSeconds: 300, cacheEntries: 2 });
    const admin = new ApiKeyStore(documentClient(localClientConfig(endpoint)), tableName, { cacheSeconds: 0 });
    const [a, b, c] = [newSecretKey(false), newSecretKey(false), newSecretKey(true)];
    for (const k of [a, b, c]) await admin.register(k, newAccountId());
    const t0 = 1_900_000_000_000;

    expect(await api.lookup(a, t0)).toBeDefined();
    expect(await api.lookup(a, t0 + 1000)).toBeDefined();
    expect(gets).toBe(1);
    await admin.revoke(a, t0);
    // Within the lifetime the cached answer stands; after it, the revocation is seen.
    expect(await api.lookup(a, t0 + 299_000)).toBeDefined();
    expect(gets).toBe(1);
    expect(await api.lookup(a, t0 + 300_001)).toBeUndefined();
    expect(gets).toBe(2);

    // Bound of 2: b and c push a out, so a is read again.
    await api.lookup(b, t0);
    await api.lookup(c, t0);
    expect(gets).toBe(4);
    await api.lookup(a, t0 + 300_002);
    expect(gets).toBe(5);
  });
});
