import type { SQSEvent } from 'aws-lambda';
import { describe, expect, it } from 'vitest';
import { type EventRecord, eventsFromChange } from '../../lambdas/domain/event.js';
import { type SessionRecord, applyRedact, newSession } from '../../lambdas/domain/session.js';
import { type RedactionMessage, parseRedactionMessage } from '../../lambdas/redaction/queue.js';
import { PERSONAL_DATA_COPIES, type RedactionDeps, createRedactionWorker, finishRedaction, redactSavedBody } from '../../lambdas/redaction/worker.js';
import { FilesNotDeleted } from '../../lambdas/store/file-store.js';
import { StaleSession } from '../../lambdas/store/session-store.js';

const SCOPE = { account: 'acct_1', livemode: false };
const STAMP = { updated_ms: 1_800_000_001_000, last_request: null };

function redactedSession(): SessionRecord {
  const s = newSession(
    { type: 'document', metadata: { note: 'private' }, provided_details: { email: 'jo@example.com' } },
    { id: 'vs_0VcOcsy9AWLrEOraAjOXOWqM', scope: SCOPE, nowMs: 1_800_000_000_000, request: null },
  );
  return applyRedact({ ...s, status: 'verified' }, STAMP);
}

/** The worker's ports, in memory, with a way to make one fail. */
function fakes(session: SessionRecord | undefined, opts: { filesFail?: number } = {}) {
  const created = eventsFromChange(undefined, newSession({ type: 'document', metadata: { note: 'private' } }, { id: 'vs_0VcOcsy9AWLrEOraAjOXOWqM', scope: SCOPE, nowMs: Date.now(), request: null }), 'v');
  const state = { session, linked: created.map((e) => e.id), stored: created, rewritten: [] as EventRecord[], committed: [] as SessionRecord[], sent: [] as { messages: RedactionMessage[]; delay?: number }[], filesFail: opts.filesFail ?? 0, deletes: 0, fileRecordsRedacted: [] as string[] };
  const deps = {
    sessions: {
      get: async () => state.session && structuredClone(state.session),
      commit: async (next: SessionRecord, prev: { version: number }) => {
        if (!state.session || state.session.version !== prev.version) throw new StaleSession(state.session);
        state.session = next;
        state.committed.push(next);
      },
    },
    events: {
      markSessionRedacted: async () => state.linked,
      getMany: async (_scope: unknown, ids: string[]) => state.stored.filter((e) => ids.includes(e.id)),
      replaceData: async (e: EventRecord) => void state.rewritten.push(e),
    },
    idempotency: { rewriteBodies: async () => 0 },
    reports: { getMany: async () => [], allOfSession: async () => [], replace: async () => {} },
    fileRecords: { redact: async (_scope: unknown, ids: string[]) => (state.fileRecordsRedacted.push(...ids), ids.length) },
    files: {
      deletePrefix: async () => {
        state.deletes++;
        if (state.filesFail-- > 0) throw new FilesNotDeleted([{ key: 'acct_1/test/vs_x/1/selfie', code: 'InternalError' }]);
        return 2;
      },
    },
    queue: { send: async (messages: RedactionMessage[], delay?: number) => void state.sent.push({ messages, delay }) },
    log: () => {},
  } as unknown as RedactionDeps;
  return { deps, state };
}

describe('the redaction worker', () => {
  it('lists every place a copy lives and walks them before marking the session redacted', async () => {
    expect(PERSONAL_DATA_COPIES.map((c) => c.name)).toEqual(['stored events', 'saved Idempotency-Key results', 'verification reports', 'file records and file links', 'files']);
    const { deps, state } = fakes({ ...redactedSession(), file_ids: ['file_front', 'file_selfie'] });
    expect(await finishRedaction(deps, SCOPE, 'vs_0VcOcsy9AWLrEOraAjOXOWqM')).toBe('redacted');
    expect(state.committed).toHaveLength(1);
    expect(state.committed[0].redaction).toEqual({ status: 'redacted' });
    // The file records the session lists (and their links) go before the images.
    expect(state.fileRecordsRedacted).toEqual(['file_front', 'file_selfie']);
    // The second deletion is booked for when the upload URLs have expired (15 min).
    expect(state.sent).toEqual([{ messages: [{ kind: 'files', account: 'acct_1', livemode: false, session: 'vs_0VcOcsy9AWLrEOraAjOXOWqM' }], delay: 900 }]);
  });

  it('a file that could not be deleted keeps the redaction processing, and the message is retried', async () => {
    const { deps, state } = fakes(redactedSession(), { filesFail: 1 });
    const worker = createRedactionWorker(deps);
    const record = { messageId: 'm1', body: JSON.stringify({ kind: 'finish', account: 'acct_1', livemode: false, session: 'vs_0VcOcsy9AWLrEOraAjOXOWqM' }) };
    expect(await worker({ Records: [record] } as unknown as SQSEvent)).toEqual({ batchItemFailures: [{ itemIdentifier: 'm1' }] });
    expect(state.session!.redaction).toEqual({ status: 'processing' });
    expect(await worker({ Records: [record] } as unknown as SQSEvent)).toEqual({ batchItemFailures: [] });
    expect(state.session!.redaction).toEqual({ status: 'redacted' });
    expect(state.deletes).toBe(2);
  });

  it('waits for an event linked to the session but not stored yet, then redacts it too', async () => {
    const { deps, state } = fakes(redactedSession());
    const stored = state.stored;
    state.stored = [];
    await expect(finishRedaction(deps, SCOPE, 'vs_0VcOcsy9AWLrEOraAjOXOWqM')).rejects.toThrow(/not stored yet/);
    expect(state.committed).toEqual([]);
    state.stored = stored;
    expect(await finishRedaction(deps, SCOPE, 'vs_0VcOcsy9AWLrEOraAjOXOWqM')).toBe('redacted');
    expect(JSON.stringify(state.rewritten)).not.toContain('private');
    expect(state.rewritten.map((e) => e.id)).toEqual(stored.map((e) => e.id));
  });

  it('deletes the files twice more: when the upload URLs have expired, and a margin later for a slow upload', async () => {
    const { deps, state } = fakes(redactedSession());
    const worker = createRedactionWorker(deps);
    const files = { kind: 'files', account: 'acct_1', livemode: false, session: 'vs_0VcOcsy9AWLrEOraAjOXOWqM' };
    expect(await worker({ Records: [{ messageId: 'f1', body: JSON.stringify(files) }] } as unknown as SQSEvent)).toEqual({ batchItemFailures: [] });
    expect(state.sent).toEqual([{ messages: [{ ...files, last: true }], delay: 300 }]);
    expect(await worker({ Records: [{ messageId: 'f2', body: JSON.stringify({ ...files, last: true }) }] } as unknown as SQSEvent)).toEqual({ batchItemFailures: [] });
    expect(state.sent).toHaveLength(1);
    expect(state.deletes).toBe(2);
  });

  it('waits while the checks run, and does nothing for a session not being redacted', async () => {
    const processing = { ...redactedSession(), status: 'processing' as const };
    expect(await finishRedaction(fakes(processing).deps, SCOPE, processing.id)).toBe('waiting_for_checks');
    const done = { ...redactedSession(), redaction: { status: 'redacted' as const } };
    expect(await finishRedaction(fakes(done).deps, SCOPE, done.id)).toBe('nothing_to_do');
    expect(await finishRedaction(fakes(undefined).deps, SCOPE, done.id)).toBe('nothing_to_do');
  });

  it('rewrites saved session bodies only, and reads only well-formed messages', () => {
    expect(redactSavedBody({ object: 'identity.verification_session', metadata: { a: 'b' }, client_secret: 'vs_1_secret_x', url: 'https://x' })).toEqual({
      object: 'identity.verification_session',
      metadata: {},
      client_secret: null,
      url: null,
    });
    const error = { error: { type: 'invalid_request_error', message: 'no' } };
    expect(redactSavedBody(error)).toBe(error);
    expect(parseRedactionMessage('{"kind":"finish","account":"acct_1","livemode":false,"session":"vs_1"}')).toBeDefined();
    expect(parseRedactionMessage('{"kind":"other","account":"acct_1","livemode":false,"session":"vs_1"}')).toBeUndefined();
    expect(parseRedactionMessage('not json')).toBeUndefined();
  });
});
