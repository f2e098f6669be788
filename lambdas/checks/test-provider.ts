/**
 * The provider for test mode: nothing is checked, the outcome is the one the
 * tester chose on the hosted page (verified when none was chosen). The data
 * is Stripe-style test data, never anything read from the uploaded images.
 */
import {
  type Address,
  CHECK_NAMES,
  type CheckName,
  type DateParts,
  type DocumentCheck,
  type DocumentType,
  type IdNumberCheck,
  type RequiredChecks,
  type VerifiedOutputs,
  checkOfCode,
  emptyDocumentCheck,
  emptyIdNumberCheck,
  emptyVerifiedOutputs,
} from '../domain/report.js';
import { DOCUMENT_TYPES } from '../domain/session.js';
import {
  type CheckOutcome,
  type CheckProvider,
  type CheckResults,
  type SubmissionInput,
  failure,
  idNumberTypeOf,
  outcomeOf,
  storedIdNumber,
} from './provider.js';

export const TEST_PERSON = {
  first_name: 'Jenny',
  last_name: 'Rosen',
  dob: { day: 1, month: 1, year: 1901 } as DateParts,
  address: {
    line1: '1234 Main Street',
    line2: null,
    city: 'San Francisco',
    state: 'CA',
    postal_code: '94111',
    country: 'US',
  } as Address,
};
/** The id number used when the tester typed none (Stripe's test SSN). */
export const TEST_ID_NUMBER = '000000000';

export class TestProvider implements CheckProvider {
  readonly name = 'test';

  async check(input: SubmissionInput, required: RequiredChecks): Promise<CheckOutcome> {
    const checks = verifiedChecks(input, required);
    const chosen = input.test_outcome ?? { result: 'verified' };
    if (chosen.result === 'unverified') {
      const error = failure(chosen.code);
      const target = failingCheck(checkOfCode(chosen.code), required);
      // The failed check shows no data: nothing was verified.
      if (target === 'document') checks.document = emptyDocumentCheck('unverified', error);
      if (target === 'id_number') checks.id_number = emptyIdNumberCheck('unverified', error);
      if (target === 'selfie') checks.selfie = { status: 'unverified', error };
      const outcome = outcomeOf(checks, required, null);
      return { ...outcome, last_error: error };
    }
    return outcomeOf(checks, required, verifiedOutputs(input, checks));
  }
}

/**
 * The check a chosen code fails: the check it belongs to when the session
 * runs it, else the session's first check (a tester may pick a selfie code
 * for a session without a selfie, or a session-level code such as
 * under_supported_age; the session must still fail with it). The report shows
 * that check's closest code (recordOutcome).
 */
function failingCheck(own: CheckName | undefined, required: RequiredChecks): CheckName {
  if (own && required[own]) return own;
  return CHECK_NAMES.find((name) => required[name]) ?? 'document';
}

function verifiedChecks(input: SubmissionInput, required: RequiredChecks): CheckResults {
  const checks: CheckResults = {};
  if (required.document) checks.document = testDocument(input);
  if (required.selfie) checks.selfie = { status: 'verified', error: null };
  if (required.id_number) checks.id_number = testIdNumber(input);
  return checks;
}

/** The type the person chose when the session accepts it; else the first accepted type. */
function testDocumentType(input: SubmissionInput): DocumentType {
  const allowed: readonly string[] = input.options.document?.allowed_types ?? [];
  const accepted = (t: string) => (DOCUMENT_TYPES as readonly string[]).includes(t) && (allowed.length === 0 || allowed.includes(t));
  if (input.document_type && accepted(input.document_type)) return input.document_type as DocumentType;
  return ((DOCUMENT_TYPES as readonly string[]).find((t) => allowed.includes(t)) ?? 'driving_license') as DocumentType;
}

function testDocument(input: SubmissionInput): DocumentCheck {
  const type = testDocumentType(input);
  return {
    ...emptyDocumentCheck('verified', null),
    address: { ...TEST_PERSON.address },
    dob: { ...TEST_PERSON.dob },
    expiration_date: { day: 31, month: 12, year: 2099 },
    first_name: TEST_PERSON.first_name,
    issued_date: { day: 1, month: 1, year: 2020 },
    issuing_country: 'US',
    last_name: TEST_PERSON.last_name,
    number: 'D1234567',
    type,
  };
}

/** The tester's own id number, name and date of birth when given, else the test person's. */
function testIdNumber(input: SubmissionInput): IdNumberCheck {
  const given = input.id_number;
  const type = given ? idNumberTypeOf(given.type) : 'us_ssn';
  return {
    ...emptyIdNumberCheck('verified', null),
    dob: given?.dob ? { ...given.dob } : { ...TEST_PERSON.dob },
    first_name: given?.first_name ?? TEST_PERSON.first_name,
    last_name: given?.last_name ?? TEST_PERSON.last_name,
    id_number: storedIdNumber(given?.number ?? TEST_ID_NUMBER, type ?? undefined),
    id_number_type: type,
  };
}

function verifiedOutputs(input: SubmissionInput, checks: CheckResults): VerifiedOutputs {
  const person = checks.id_number && !checks.document ? checks.id_number : null;
  const out: VerifiedOutputs = {
    ...emptyVerifiedOutputs(),
    first_name: person?.first_name ?? TEST_PERSON.first_name,
    last_name: person?.last_name ?? TEST_PERSON.last_name,
    dob: person?.dob ? { ...person.dob } : { ...TEST_PERSON.dob },
  };
  if (checks.document) out.address = { ...TEST_PERSON.address };
  if (checks.id_number) {
    out.id_number = input.id_number?.number ?? TEST_ID_NUMBER;
    out.id_number_type = checks.id_number.id_number_type;
  }
  return out;
}
