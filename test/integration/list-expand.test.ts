import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type TestService, startTestService } from '../support/api.js';
import { until } from '../support/until.js';

const SESSIONS = '/v1/identity/verification_sessions';
let svc: TestService;
let ops: string[] = [];

beforeAll(async () => {
  svc = await startTestService({ observeDynamo: (op) => ops.push(op) });
});
afterAll(() => svc?.stop());

describe('the sessions list with expand[]=data.last_verification_report', () => {
  it('reads the page and all its reports in two requests: one Query, one BatchGetItem', async () => {
    const ref = `expand-${Date.now()}`;
    const ids: string[] = [];
    for (let i = 0; i < 4; i++) {
      const s = (await svc.call('POST', SESSIONS, { type: 'id_number', client_reference_id: ref })).body;
      ids.push(s.id);
      if (i === 3) continue; // one without a report
      const r = await fetch(`${s.url}/submit`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
        body: 'id_number=000000000&test_outcome=verified',
      });
      expect(r.status).toBe(200);
    }
    for (const id of ids.slice(0, 3)) await until('verified', () => svc.call('GET', `${SESSIONS}/${id}`), (r) => r.body.status === 'verified');
    ops = [];
    const list = await svc.call('GET', `${SESSIONS}?client_reference_id=${ref}&expand[]=data.last_verification_report`);
    expect(list.status).toBe(200);
    expect(list.body.data.map((s: any) => s.id)).toEqual([...ids].reverse());
    const [unverified, ...verified] = list.body.data;
    expect(unverified.last_verification_report).toBeNull();
    for (const s of verified) expect(s.last_verification_report).toMatchObject({ object: 'identity.verification_report', verification_session: s.id });
    // Auth is cached per key; the list is one Query, the reports one BatchGetItem.
    expect(ops).toEqual(['QueryCommand', 'BatchGetItemCommand']);
  });
});
