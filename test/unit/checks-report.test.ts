import { describe, expect, it } from 'vitest';
import { type CheckOutcome, type ReportSource, type TestOutcome, recordOutcome } from '../../lambdas/checks/provider.js';
import { TestProvider } from '../../lambdas/checks/test-provider.js';
import { isTimeOrderedId } from '../../lambdas/domain/ids.js';
import {
  type ReportRecord,
  checksFor,
  newReportId,
  redactReport,
  redactVerifiedOutputs,
  renderReport,
} from '../../lambdas/domain/report.js';
import type { LastErrorCode } from '../../lambdas/domain/report.js';
import type { SessionOptions } from '../../lambdas/domain/session.js';

// Property lists of Stripe's OpenAPI schemas (identity.verification_report and
// the schemas it refers to), copied here by hand.
const REPORT_REQUIRED = ['created', 'id', 'livemode', 'object', 'type'];
const REPORT_PROPERTIES = [
  'client_reference_id', 'created', 'document', 'email', 'id', 'id_number', 'livemode', 'object', 'options', 'phone',
  'selfie', 'type', 'verification_flow', 'verification_session',
];
const DOCUMENT_PROPERTIES = [
  'address', 'dob', 'error', 'expiration_date', 'files', 'first_name', 'issued_date', 'issuing_country', 'last_name',
  'number', 'sex', 'status', 'type', 'unparsed_place_of_birth', 'unparsed_sex',
];
const ID_NUMBER_PROPERTIES = ['dob', 'error', 'first_name', 'id_number', 'id_number_type', 'last_name', 'status'];
const SELFIE_PROPERTIES = ['document', 'error', 'selfie', 'status'];
const ERROR_PROPERTIES = ['code', 'reason'];
const ADDRESS_PROPERTIES = ['city', 'country', 'line1', 'line2', 'postal_code', 'state'];
const DATE_PROPERTIES = ['day', 'month', 'year'];
const DOCUMENT_OPTIONS_PROPERTIES = ['allowed_types', 'require_id_number', 'require_live_capture', 'require_matching_selfie'];
const VERIFIED_OUTPUTS_PROPERTIES = [
  'address', 'dob', 'email', 'first_name', 'id_number', 'id_number_type', 'last_name', 'phone', 'sex',
  'unparsed_place_of_birth', 'unparsed_sex',
];
// What this service leaves out: email and phone checks, verification flows.
const NOT_SUPPORTED = ['email', 'phone', 'verification_flow'];

const keys = (o: unknown) => Object.keys(o as object).sort();

function processingSession(params: { type: string; options?: SessionOptions }): ReportSource {
  return {
    id: 'vs_0000000000000000000000AA',
    account: 'acct_1',
    livemode: false,
    type: params.type,
    options: params.options ?? {},
    client_reference_id: 'user_42',
    version: 3,
  };
}

/** Runs the TestProvider for a session and records its outcome, optionally changed by `override`. */
async function settle(
  params: { type: string; options?: SessionOptions },
  override: Partial<CheckOutcome> = {},
  test_outcome?: TestOutcome,
) {
  const session = processingSession(params);
  const input = { sessionId: session.id, livemode: false, type: session.type, options: session.options, files: {}, test_outcome };
  const checked = { ...(await new TestProvider().check(input, checksFor(session))), ...override };
  return recordOutcome(session, checked, {
    reportId: newReportId(1_800_000_060_000),
    nowSeconds: 1_800_000_060,
    provider: 'test',
    files: { document_front: 'file_front', document_back: 'file_back', selfie: 'file_selfie' },
  });
}

const FULL: { type: string; options: SessionOptions } = { type: 'document', options: { document: { require_matching_selfie: true, require_id_number: true } } };

describe('checksFor', () => {
  it('follows the session type and options', () => {
    expect(checksFor({ type: 'document', options: {} })).toEqual({ document: true, selfie: false, id_number: false });
    expect(checksFor({ type: 'document', options: FULL.options })).toEqual({
      document: true,
      selfie: true,
      id_number: true,
    });
    expect(checksFor({ type: 'id_number', options: { document: { require_matching_selfie: true } } })).toEqual({
      document: false,
      selfie: false,
      id_number: true,
    });
  });
});

describe('renderReport', () => {
  it("has exactly the keys of Stripe's identity.verification_report", async () => {
    const { report } = await settle(FULL);
    const out = renderReport(report) as Record<string, any>;
    expect(keys(out)).toEqual(REPORT_PROPERTIES.filter((k) => !NOT_SUPPORTED.includes(k)).sort());
    expect(REPORT_REQUIRED.every((k) => k in out)).toBe(true);
    expect(keys(out.document)).toEqual(DOCUMENT_PROPERTIES);
    expect(keys(out.document.address)).toEqual(ADDRESS_PROPERTIES);
    for (const date of ['dob', 'expiration_date', 'issued_date']) expect(keys(out.document[date])).toEqual(DATE_PROPERTIES);
    expect(keys(out.id_number)).toEqual(ID_NUMBER_PROPERTIES);
    expect(keys(out.id_number.dob)).toEqual(DATE_PROPERTIES);
    expect(keys(out.selfie)).toEqual(SELFIE_PROPERTIES);
    expect(keys(out.options)).toEqual(['document']);
    expect(DOCUMENT_OPTIONS_PROPERTIES).toEqual(expect.arrayContaining(keys(out.options.document)));

    expect(out).toMatchObject({
      id: report.id,
      object: 'identity.verification_report',
      client_reference_id: 'user_42',
      created: 1_800_000_060,
      livemode: false,
      type: 'document',
      verification_session: 'vs_0000000000000000000000AA',
      options: { document: { require_matching_selfie: true, require_id_number: true } },
    });
    expect(out.document.files).toEqual(['file_front', 'file_back']);
    expect(out.selfie).toEqual({ document: 'file_front', error: null, selfie: 'file_selfie', status: 'verified' });
    expect(isTimeOrderedId(report.id, 'vr')).toBe(true);
  });

  it('leaves out the checks a session does not run; an id_number report has id_number options', async () => {
    const doc = renderReport((await settle({ type: 'document' })).report);
    expect(keys(doc)).toEqual(
      REPORT_PROPERTIES.filter((k) => ![...NOT_SUPPORTED, 'id_number', 'selfie'].includes(k)).sort(),
    );
    const idn = renderReport((await settle({ type: 'id_number' })).report);
    expect(keys(idn)).toEqual(REPORT_PROPERTIES.filter((k) => ![...NOT_SUPPORTED, 'document', 'selfie'].includes(k)).sort());
    expect(idn.options).toEqual({ id_number: {} });
    expect(idn.type).toBe('id_number');
  });

  it('shows a failed check with its error', async () => {
    const { report } = await settle(FULL, {}, { result: 'unverified', code: 'selfie_face_mismatch' });
    const out = renderReport(report) as Record<string, any>;
    expect(out.selfie.status).toBe('unverified');
    expect(keys(out.selfie.error)).toEqual(ERROR_PROPERTIES);
    expect(out.selfie.error.code).toBe('selfie_face_mismatch');
    expect(out.document.error).toBeNull();
  });
});

describe('redactReport', () => {
  it('replaces personal data, nulls dates, removes files, keeps the outcome', async () => {
    const { report } = await settle(FULL);
    const redacted = redactReport(report);
    expect(report.document?.first_name).toBe('Jenny'); // the original is untouched
    expect(redacted.redacted).toBe(true);
    expect(redacted.files).toBeNull();
    expect(redacted.document).toMatchObject({
      status: 'verified',
      type: report.document?.type,
      first_name: '[redacted]',
      last_name: '[redacted]',
      number: '[redacted]',
      issuing_country: '[redacted]',
      dob: { day: null, month: null, year: null },
      expiration_date: { day: null, month: null, year: null },
      address: { line1: '[redacted]', line2: null, city: '[redacted]', country: '[redacted]' },
    });
    expect(redacted.id_number).toMatchObject({ first_name: '[redacted]', id_number: '[redacted]', id_number_type: 'us_ssn' });
    const out = renderReport(redacted) as Record<string, any>;
    expect(out.document.files).toBeNull();
    expect(out.selfie).toEqual({ document: null, error: null, selfie: null, status: 'verified' });
    expect(keys(out.document)).toEqual(DOCUMENT_PROPERTIES);
  });

  it('redacts verified_outputs with the same rules', async () => {
    const { session } = await settle(FULL);
    const redacted = redactVerifiedOutputs(session.verified_outputs!);
    expect(keys(redacted)).toEqual(VERIFIED_OUTPUTS_PROPERTIES);
    expect(redacted).toMatchObject({ first_name: '[redacted]', dob: { day: null, month: null, year: null }, id_number_type: 'us_ssn', email: null });
  });
});

describe('recordOutcome', () => {
  it('verified: the session gets verified_outputs and the report id', async () => {
    const { action, report, session } = await settle(FULL);
    expect(action).toBe('checks_passed');
    expect(session).toEqual({
      status: 'verified',
      last_error: null,
      verified_outputs: expect.objectContaining({ first_name: 'Jenny', last_name: 'Rosen' }),
      last_verification_report: report.id,
    });
    expect(keys(session.verified_outputs)).toEqual(VERIFIED_OUTPUTS_PROPERTIES);
    expect(report).toMatchObject<Partial<ReportRecord>>({
      account: 'acct_1',
      livemode: false,
      session_version: 3,
      provider: 'test',
      redacted: false,
    });
  });

  it('failed: back to requires_input with the last_error and no outputs', async () => {
    const session = processingSession(FULL);
    const input = { sessionId: session.id, livemode: false, type: 'document', options: session.options, files: {} };
    const outcome = await new TestProvider().check(
      { ...input, test_outcome: { result: 'unverified', code: 'document_expired' } },
      checksFor(session),
    );
    const recorded = recordOutcome(session, outcome, { reportId: 'vr_x', nowSeconds: 1, provider: 'test' });
    expect(recorded.action).toBe('checks_failed');
    expect(recorded.session).toEqual({
      status: 'requires_input',
      last_error: { code: 'document_expired', reason: expect.any(String) },
      verified_outputs: null,
      last_verification_report: 'vr_x',
    });
    expect(recorded.report.document?.error?.code).toBe('document_expired');
    expect(recorded.report.files).toEqual({});
  });

  it('never verifies with a required check missing, nor when the provider said requires_input', async () => {
    const missing = await settle(FULL, { checks: {} });
    expect(missing.action).toBe('checks_failed');
    expect(missing.session.last_error?.code).toBe('document_unverified_other');
    expect(missing.report.selfie).toMatchObject({ status: 'unverified', error: { code: 'selfie_unverified_other' } });

    const vetoed = await settle({ type: 'document' }, { status: 'requires_input', last_error: { code: 'abandoned', reason: 'Gone.' } });
    expect(vetoed.session).toMatchObject({ status: 'requires_input', last_error: { code: 'abandoned' }, verified_outputs: null });
  });

  it('a report check shows only its own codes; a session-level code stays in last_error alone', async () => {
    // Stripe's enums for gelato_document_report_error, gelato_selfie_report_error, gelato_id_number_report_error.
    const OWN = {
      document: ['document_expired', 'document_type_not_supported', 'document_unverified_other'],
      selfie: ['selfie_document_missing_photo', 'selfie_face_mismatch', 'selfie_manipulated', 'selfie_unverified_other'],
      id_number: ['id_number_insufficient_document_data', 'id_number_mismatch', 'id_number_unverified_other'],
    };
    const cases: [LastErrorCode, typeof FULL, 'document' | 'selfie' | 'id_number', string][] = [
      ['under_supported_age', FULL, 'document', 'document_unverified_other'],
      ['consent_declined', FULL, 'document', 'document_unverified_other'],
      ['country_not_supported', FULL, 'document', 'document_type_not_supported'],
      ['device_not_supported', FULL, 'document', 'document_unverified_other'],
      ['abandoned', FULL, 'document', 'document_unverified_other'],
      ['email_unverified_other', FULL, 'document', 'document_unverified_other'],
      ['phone_verification_declined', FULL, 'document', 'document_unverified_other'],
      ['under_supported_age', { type: 'id_number', options: {} }, 'id_number', 'id_number_unverified_other'],
      // A check's code for a session without that check: the first check shows its own closest code.
      ['selfie_face_mismatch', { type: 'document', options: {} }, 'document', 'document_unverified_other'],
      ['selfie_face_mismatch', FULL, 'selfie', 'selfie_face_mismatch'],
      ['id_number_mismatch', FULL, 'id_number', 'id_number_mismatch'],
      ['document_expired', FULL, 'document', 'document_expired'],
    ];
    for (const [code, session, check, shown] of cases) {
      const { report, session: fields } = await settle(session, {}, { result: 'unverified', code });
      expect(fields.last_error?.code, code).toBe(code);
      expect(report[check]?.error?.code, `${code} in ${check}`).toBe(shown);
      for (const name of ['document', 'selfie', 'id_number'] as const) {
        const c = report[name]?.error?.code;
        if (c) expect(OWN[name], `${code}: ${name}`).toContain(c);
      }
    }
  });

  it('drops results of checks the session does not run', async () => {
    const { report } = await settle({ type: 'document' }, {
      checks: { document: (await settle({ type: 'document' })).report.document!, selfie: { status: 'verified', error: null } },
    });
    expect(report.selfie).toBeNull();
    expect(report.id_number).toBeNull();
  });
});
