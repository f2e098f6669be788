import { describe, expect, it } from 'vitest';
import type { SubmissionInput, TestOutcome } from '../../lambdas/checks/provider.js';
import { DEFAULT_REASONS } from '../../lambdas/checks/provider.js';
import { TestProvider } from '../../lambdas/checks/test-provider.js';
import { type LastErrorCode, checksFor } from '../../lambdas/domain/report.js';
import { LAST_ERROR_CODES, type SessionOptions } from '../../lambdas/domain/session.js';

const provider = new TestProvider();
const ALL: SessionOptions = { document: { require_matching_selfie: true, require_id_number: true, allowed_types: ['passport'] } };

function submission(options: SessionOptions, test_outcome?: TestOutcome, type = 'document'): SubmissionInput {
  return { sessionId: 'vs_test', livemode: false, type, options, files: {}, test_outcome };
}
const run = (input: SubmissionInput) => provider.check(input, checksFor(input));

describe('TestProvider', () => {
  it('verifies by default, with Stripe-style test data', async () => {
    const out = await run(submission(ALL));
    expect(out.status).toBe('verified');
    expect(out.last_error).toBeNull();
    expect(out.verified_outputs).toMatchObject({
      first_name: 'Jenny',
      last_name: 'Rosen',
      dob: { day: 1, month: 1, year: 1901 },
      address: { country: 'US' },
      id_number: '000000000',
      id_number_type: 'us_ssn',
    });
    expect(out.checks.document).toMatchObject({ status: 'verified', error: null, type: 'passport', first_name: 'Jenny' });
    expect(out.checks.selfie).toEqual({ status: 'verified', error: null });
    // Only the last 4 digits of an SSN are shown in the report.
    expect(out.checks.id_number).toMatchObject({ status: 'verified', id_number: '0000', id_number_type: 'us_ssn' });
  });

  it("reports the document type the person chose, when the session accepts it", async () => {
    const both: SessionOptions = { document: { allowed_types: ['passport', 'id_card'] } };
    const typeFor = async (input: SubmissionInput) => (await run(input)).checks.document?.type;
    expect(await typeFor({ ...submission(both), document_type: 'id_card' })).toBe('id_card');
    expect(await typeFor({ ...submission(both), document_type: 'passport' })).toBe('passport');
    expect(await typeFor({ ...submission({}), document_type: 'passport' })).toBe('passport');
    // Not accepted by the session (the API refuses it before; an older submission may hold one): the first accepted.
    expect(await typeFor({ ...submission(both), document_type: 'driving_license' })).toBe('id_card');
    expect(await typeFor(submission({}))).toBe('driving_license');
  });

  it('runs only the checks the session needs', async () => {
    expect(Object.keys((await run(submission({}, { result: 'verified' }))).checks)).toEqual(['document']);
    const idNumber = await run({ ...submission({}, undefined, 'id_number'), id_number: { number: '12345678909', type: 'br_cpf' } });
    expect(Object.keys(idNumber.checks)).toEqual(['id_number']);
    expect(idNumber.verified_outputs).toMatchObject({ id_number: '12345678909', id_number_type: 'br_cpf', address: null });
  });

  it.each([
    ['document_expired', 'document'],
    ['document_type_not_supported', 'document'],
    ['document_unverified_other', 'document'],
    ['selfie_face_mismatch', 'selfie'],
    ['selfie_document_missing_photo', 'selfie'],
    ['selfie_manipulated', 'selfie'],
    ['id_number_mismatch', 'id_number'],
    ['id_number_insufficient_document_data', 'id_number'],
    ['under_supported_age', 'document'],
    ['consent_declined', 'document'],
    ['abandoned', 'document'],
  ] as const)('%s fails the %s check, the others stay verified', async (code, check) => {
    const out = await run(submission(ALL, { result: 'unverified', code }));
    expect(out.status).toBe('requires_input');
    expect(out.last_error).toEqual({ code, reason: DEFAULT_REASONS[code] });
    expect(out.verified_outputs).toBeNull();
    for (const name of ['document', 'selfie', 'id_number'] as const) {
      if (name === check) expect(out.checks[name]).toMatchObject({ status: 'unverified', error: { code } });
      else expect(out.checks[name]).toMatchObject({ status: 'verified', error: null });
    }
  });

  it('every last_error code gives requires_input with that code and a reason', async () => {
    for (const code of LAST_ERROR_CODES as readonly LastErrorCode[]) {
      const out = await run(submission(ALL, { result: 'unverified', code }));
      expect(out.status).toBe('requires_input');
      expect(out.last_error?.code).toBe(code);
      expect(out.last_error?.reason.length).toBeGreaterThan(10);
    }
  });

  it('a code of a check the session does not run fails the session\'s first check', async () => {
    const noSelfie = await run(submission({}, { result: 'unverified', code: 'selfie_face_mismatch' }));
    expect(noSelfie.checks).toEqual({ document: expect.objectContaining({ status: 'unverified', error: expect.objectContaining({ code: 'selfie_face_mismatch' }) }) });
    expect(noSelfie.last_error?.code).toBe('selfie_face_mismatch');

    const idNumberSession = await run(submission({}, { result: 'unverified', code: 'document_expired' }, 'id_number'));
    expect(idNumberSession.checks.id_number?.error?.code).toBe('document_expired');
    expect(idNumberSession.status).toBe('requires_input');
  });
});
