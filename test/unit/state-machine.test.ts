import { describe, expect, it } from 'vitest';
import { ApiError } from '../../lambdas/domain/errors.js';
import { applyCancel, applyFinishRedaction, applyRedact, applyUpdate, newSession, type SessionRecord } from '../../lambdas/domain/session.js';
import {
  type Action,
  STATUSES,
  type Status,
  allowedFrom,
  eventsForChange,
  nextStatus,
  refusalMessage,
} from '../../lambdas/domain/state-machine.js';

// The lifecycle of DESIGN.md, written out independently of the code's table:
// (status, action) -> next status, or undefined when refused.
const EXPECTED: Record<Status, Record<Action, Status | undefined>> = {
  requires_input: {
    submit: 'processing',
    checks_passed: undefined,
    checks_failed: undefined,
    cancel: 'canceled',
    redact: 'canceled',
    finish_redaction: 'canceled',
    update: 'requires_input',
  },
  processing: {
    submit: undefined,
    checks_passed: 'verified',
    checks_failed: 'requires_input',
    cancel: undefined,
    redact: 'processing',
    finish_redaction: undefined,
    update: undefined,
  },
  verified: {
    submit: undefined,
    checks_passed: undefined,
    checks_failed: undefined,
    cancel: undefined,
    redact: 'verified',
    finish_redaction: 'verified',
    update: undefined,
  },
  canceled: {
    submit: undefined,
    checks_passed: undefined,
    checks_failed: undefined,
    cancel: undefined,
    redact: 'canceled',
    finish_redaction: 'canceled',
    update: undefined,
  },
};
const ACTIONS = Object.keys(EXPECTED.requires_input) as Action[];

describe('state machine table', () => {
  for (const status of STATUSES) {
    for (const action of ACTIONS) {
      const expected = EXPECTED[status][action];
      it(`${action} from ${status} ${expected ? `-> ${expected}` : 'is refused'}`, () => {
        expect(nextStatus(action, status)).toBe(expected);
        expect(allowedFrom(action).includes(status)).toBe(expected !== undefined);
      });
    }
  }

  it('refusal messages name the current status and the allowed ones', () => {
    const msg = refusalMessage('cancel', 'processing');
    expect(msg).toContain('`processing`');
    expect(msg).toContain('`requires_input`');
  });

  it('events: create, status changes, and cancel-then-redact in order', () => {
    expect(eventsForChange(undefined, { status: 'requires_input', redacted: false })).toEqual(['created']);
    expect(eventsForChange({ status: 'requires_input', redacted: false }, { status: 'processing', redacted: false })).toEqual(['processing']);
    expect(eventsForChange({ status: 'requires_input', redacted: false }, { status: 'canceled', redacted: true })).toEqual([
      'canceled',
      'redacted',
    ]);
    expect(eventsForChange({ status: 'verified', redacted: false }, { status: 'verified', redacted: true })).toEqual(['redacted']);
    // A redaction that finishes after the checks sent the session back to requires_input.
    expect(eventsForChange({ status: 'requires_input', redacted: false }, { status: 'canceled', redacted: true })).toEqual(['canceled', 'redacted']);
    expect(eventsForChange({ status: 'requires_input', redacted: false }, { status: 'requires_input', redacted: false })).toEqual([]);
  });
});

const STAMP = { updated_ms: 1_700_000_001_000, last_request: { id: 'req_1', idempotency_key: null } };

function sessionIn(status: Status): SessionRecord {
  const s = newSession(
    { type: 'document', metadata: { order: '42' }, provided_details: { email: 'a@example.com' } },
    { id: 'vs_0000000000000000000000AA', scope: { account: 'acct_1', livemode: false }, nowMs: 1_700_000_000_000, request: null },
  );
  return { ...s, status };
}

describe('domain transitions follow the table', () => {
  const apply: Partial<Record<Action, (s: SessionRecord) => SessionRecord>> = {
    cancel: (s) => applyCancel(s, STAMP),
    redact: (s) => applyRedact(s, STAMP),
    update: (s) => applyUpdate(s, { metadata: { order: '43' } }, STAMP),
  };
  for (const status of STATUSES) {
    for (const [action, fn] of Object.entries(apply) as [Action, (s: SessionRecord) => SessionRecord][]) {
      const expected = EXPECTED[status][action];
      it(`${action} on a ${status} session`, () => {
        const before = sessionIn(status);
        if (expected === undefined) {
          let caught: unknown;
          try {
            fn(before);
          } catch (err) {
            caught = err;
          }
          expect(caught).toBeInstanceOf(ApiError);
          expect((caught as ApiError).status).toBe(400);
          expect((caught as ApiError).message).toContain(`\`${status}\``);
        } else {
          const after = fn(before);
          expect(after.status).toBe(expected);
          expect(after.version).toBe(before.version + 1);
          expect(after.updated_ms).toBe(STAMP.updated_ms);
          expect(after.last_request).toEqual(STAMP.last_request);
          expect(before.status).toBe(status); // the input is not mutated
        }
      });
    }
  }

  it('redact replaces personal data, empties metadata and invalidates secrets at once; finishing marks it redacted', () => {
    const after = applyRedact(sessionIn('verified'), STAMP);
    expect(after.provided_details).toEqual({ email: '[redacted]' });
    expect(after.metadata).toEqual({});
    expect(after.secret_seed).toBeNull();
    expect(after.redaction).toEqual({ status: 'processing' });
    const done = applyFinishRedaction(after, STAMP);
    expect(done.redaction).toEqual({ status: 'redacted' });
    expect(done.status).toBe('verified');
    expect(done.version).toBe(after.version + 1);
  });

  it('a redact while processing keeps the submission for the checks; finishing drops it', () => {
    const processing: SessionRecord = {
      ...sessionIn('processing'),
      submission: { submitted_ms: 1, document_type: 'passport', files: {}, id_number: { number: '123-45-6789' }, test: null },
    };
    const pending = applyRedact(processing, STAMP);
    expect(pending.status).toBe('processing');
    expect(pending.redaction).toEqual({ status: 'processing' });
    expect(pending.metadata).toEqual({});
    expect(pending.submission?.id_number?.number).toBe('123-45-6789');
    // The checks failed meanwhile: finishing cancels the session and drops the submission.
    const failed = { ...pending, status: 'requires_input' as const, version: pending.version + 1 };
    const done = applyFinishRedaction(failed, STAMP);
    expect(done.status).toBe('canceled');
    expect(done.submission).toBeNull();
    expect(() => applyFinishRedaction(sessionIn('verified'), STAMP)).toThrow(ApiError);
  });

  it('a session being redacted takes no update, cancel or submission', () => {
    const checksFailed = { ...applyRedact(sessionIn('processing'), STAMP), status: 'requires_input' as const };
    expect(() => applyUpdate(checksFailed, { metadata: { a: 'b' } }, STAMP)).toThrow(/redacted/);
    expect(() => applyCancel(checksFailed, STAMP)).toThrow(/redacted/);
  });
});
