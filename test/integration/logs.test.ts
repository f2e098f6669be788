import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { type TestService, startTestService } from '../support/api.js';

// This file checks what the access log holds, so it turns the log on (vitest.config.ts turns it off).
const accessLogBefore = process.env.API_ACCESS_LOG;
process.env.API_ACCESS_LOG = 'on';

const SESSIONS = '/v1/identity/verification_sessions';
const lines: string[] = [];
let svc: TestService;

beforeAll(async () => {
  for (const method of ['log', 'error', 'warn', 'info', 'debug'] as const) {
    vi.spyOn(console, method).mockImplementation((...args: unknown[]) => {
      lines.push(args.map((a) => (typeof a === 'string' ? a : a instanceof Error ? (a.stack ?? a.message) : JSON.stringify(a))).join(' '));
    });
  }
  // The Powertools logger writes to the process's streams directly (its own Console), not through `console`.
  for (const stream of [process.stdout, process.stderr]) {
    const write = stream.write.bind(stream);
    vi.spyOn(stream, 'write').mockImplementation(((chunk: unknown, ...rest: unknown[]) => {
      if (typeof chunk === 'string' && chunk.startsWith('{')) {
        lines.push(chunk);
        return true;
      }
      return (write as (...a: unknown[]) => boolean)(chunk, ...rest);
    }) as typeof stream.write);
  }
  svc = await startTestService({ log: (line) => lines.push(line) });
});
afterAll(async () => {
  await svc?.stop();
  vi.restoreAllMocks();
  if (accessLogBefore === undefined) delete process.env.API_ACCESS_LOG;
  else process.env.API_ACCESS_LOG = accessLogBefore;
});

async function until<T>(fn: () => Promise<T>, ok: (v: T) => boolean, ms = 20_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (ok(v)) return v;
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('logs', () => {
  it('a whole flow leaves no page token, client secret, email or ID number in any log line', async () => {
    const email = 'logcheck.jo@example.com';
    const idNumber = '987654321';
    const created = await svc.call(
      'POST',
      SESSIONS,
      `type=document&options[document][require_id_number]=true&provided_details[email]=${encodeURIComponent(email)}&return_url=https://merchant.example/done`,
    );
    expect(created.status).toBe(200);
    const { id, url, client_secret: clientSecret } = created.body as { id: string; url: string; client_secret: string };
    const token = new URL(url).pathname.split('/')[3];
    expect(token).toMatch(/^[0-9A-Za-z]{16,}$/);

    expect((await fetch(url)).status).toBe(200);
    const submit = await fetch(`${url}/submit`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
      body: `test_outcome=verified&document_type=passport&id_number=${idNumber}&id_number_type=us_ssn&first_name=Jo&last_name=Log`,
    });
    expect(submit.status).toBe(200);

    const verified = await until(
      () => svc.call('GET', `${SESSIONS}/${id}?expand[]=verified_outputs&expand[]=last_verification_report`),
      (r) => r.body.status === 'verified',
    );
    expect(verified.body.provided_details.email).toBe(email);
    const redacted = await svc.call('POST', `${SESSIONS}/${id}/redact`);
    expect(redacted.status).toBe(200);
    // Let the pipeline (stream publisher, bus, webhooks) run over the redaction too.
    await until(
      () => svc.call('GET', `/v1/events?type=identity.verification_session.redacted&limit=10`),
      (r) => r.body.data?.some((e: { data: { object: { id: string } } }) => e.data.object.id === id),
    );

    const secrets = { token, clientSecret, email, idNumber, secretPart: clientSecret.split('_secret_')[1] };
    for (const [what, value] of Object.entries(secrets)) {
      const hits = lines.filter((l) => l.includes(value));
      expect(hits, `${what} in the logs`).toEqual([]);
    }
    // The log was on and saw the hosted page's requests, with the token masked.
    expect(lines.some((l) => l.includes(`"path":"/verify/${id}/***/submit"`))).toBe(true);
    expect(lines.some((l) => l.includes(`"path":"/verify/${id}/***"`))).toBe(true);
  });
});
