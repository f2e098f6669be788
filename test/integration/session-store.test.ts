import { beforeAll, describe, expect, it } from 'vitest';
import { newAccountId, newSessionId } from '../../lambdas/domain/ids.js';
import { type Scope, newSession, transition } from '../../lambdas/domain/session.js';
import { SessionStore, StaleSession } from '../../lambdas/store/session-store.js';
import { freshTable } from '../support/dynamo.js';

const STAMP = { updated_ms: Date.now(), last_request: null };
let store: SessionStore;
const scope: Scope = { account: newAccountId(), livemode: false };

beforeAll(async () => {
  const { doc, tableName } = await freshTable('store');
  store = new SessionStore(doc, tableName);
});

async function stored() {
  const s = newSession({ type: 'document', metadata: { order: '1' } }, { id: newSessionId(), scope, nowMs: Date.now(), request: null });
  await store.commit(s, 'create');
  return (await store.get(scope, s.id))!;
}

describe('SessionStore.commit against DynamoDB Local', () => {
  it('two writers that read the same version and change different fields: the second is refused, the first is kept', async () => {
    const read = await stored();
    const first = transition(read, 'update', STAMP, (n) => {
      n.metadata = { ...n.metadata, first: 'yes' };
    });
    const second = transition(read, 'update', STAMP, (n) => {
      n.provided_details = { email: 'second@example.com' };
    });
    await store.commit(first, { action: 'update', version: read.version });

    const refused = await store.commit(second, { action: 'update', version: read.version }).then(
      () => undefined,
      (err: unknown) => err,
    );
    expect(refused).toBeInstanceOf(StaleSession);
    // The refusal carries the session as it is now, so the caller can say why.
    expect((refused as StaleSession).current?.version).toBe(read.version + 1);

    const now = (await store.get(scope, read.id))!;
    expect(now.version).toBe(read.version + 1);
    expect(now.metadata).toEqual({ order: '1', first: 'yes' });
    expect(now.provided_details).toEqual(read.provided_details);
  });

  it('a writer that read the current version succeeds after the other one', async () => {
    const read = await stored();
    await store.commit(transition(read, 'update', STAMP, (n) => (n.metadata = { a: '1' })), { action: 'update', version: read.version });
    const fresh = (await store.get(scope, read.id))!;
    await store.commit(transition(fresh, 'update', STAMP, (n) => (n.metadata = { ...n.metadata, b: '2' })), { action: 'update', version: fresh.version });
    expect((await store.get(scope, read.id))!.metadata).toEqual({ a: '1', b: '2' });
  });
});
