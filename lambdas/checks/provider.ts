/**
 * The port the checks worker runs: a CheckProvider turns one submission into
 * per-check results. `recordOutcome` turns those results into the report to
 * store and the fields to write on the session. Pure: no AWS imports.
 */
import {
  CHECK_NAMES,
  type CheckError,
  type CheckName,
  type DateParts,
  type DocumentCheck,
  type FileRefs,
  type IdNumberCheck,
  type IdNumberType,
  type LastErrorCode,
  type ReportRecord,
  type RequiredChecks,
  type SelfieCheck,
  type VerifiedOutputs,
  checkError,
  checksFor,
  emptyDocumentCheck,
  emptyIdNumberCheck,
} from '../domain/report.js';
import type { SessionOptions, SessionRecord } from '../domain/session.js';
import { nextStatus } from '../domain/state-machine.js';

/** The outcome chosen on the hosted page in test mode. */
export type TestOutcome = { result: 'verified' } | { result: 'unverified'; code: LastErrorCode };

export interface SubmittedIdNumber {
  number: string;
  /** `us_ssn`, `br_cpf`, `sg_nric`; absent when the user typed the document's own number. */
  type?: string;
  dob?: { day: number; month: number; year: number };
  first_name?: string;
  last_name?: string;
}

/** What the user submitted on the hosted page, as the worker hands it over. */
export interface SubmissionInput {
  sessionId: string;
  livemode: boolean;
  type: string;
  options: SessionOptions;
  files: { document_front?: Uint8Array; document_back?: Uint8Array; selfie?: Uint8Array };
  /** The document type the person chose on the page (or the first the session accepts). */
  document_type?: string;
  id_number?: SubmittedIdNumber;
  test_outcome?: TestOutcome;
}

export interface CheckResults {
  document?: DocumentCheck;
  id_number?: IdNumberCheck;
  selfie?: SelfieCheck;
}

export interface CheckOutcome {
  status: 'verified' | 'requires_input';
  last_error: CheckError | null;
  checks: CheckResults;
  /** Only when verified. */
  verified_outputs: VerifiedOutputs | null;
}

export interface CheckProvider {
  readonly name: string;
  /**
   * Runs the required checks. Resolves with failed checks for anything the
   * user can fix; rejects only for what a retry may fix (throttling, outages),
   * so that the worker leaves the message on the queue.
   */
  check(input: SubmissionInput, required: RequiredChecks): Promise<CheckOutcome>;
}

/** Reasons shown to the user (Stripe: "These messages can be shown to your users"). */
export const DEFAULT_REASONS: Readonly<Record<LastErrorCode, string>> = {
  abandoned: 'The verification was not completed.',
  consent_declined: 'Consent to the verification was declined.',
  country_not_supported: 'Documents from this country are not supported.',
  device_not_supported: 'This device cannot be used for the verification.',
  document_expired: 'The document has expired. Please use a valid, unexpired document.',
  document_type_not_supported: 'This type of document is not accepted. Please use one of the accepted document types.',
  document_unverified_other: 'The document could not be verified. Please retake a clear photo of the whole document.',
  email_unverified_other: 'The email address could not be verified.',
  email_verification_declined: 'The email verification was declined.',
  id_number_insufficient_document_data: 'There is not enough information to verify this ID number.',
  id_number_mismatch: 'The ID number does not match the information on the document.',
  id_number_unverified_other: 'The ID number could not be verified.',
  phone_unverified_other: 'The phone number could not be verified.',
  phone_verification_declined: 'The phone verification was declined.',
  selfie_document_missing_photo: 'The document does not show a photo of a face.',
  selfie_face_mismatch: 'The selfie does not match the photo on the document.',
  selfie_manipulated: 'The selfie appears to have been manipulated.',
  selfie_unverified_other: 'The selfie could not be verified. Please take a clear photo of your face alone.',
  under_supported_age: 'The person on the document is under the minimum supported age.',
};

export const failure = (code: LastErrorCode, reason: string = DEFAULT_REASONS[code]): CheckError => ({ code, reason });

/** The error of a required check that has no result. */
const didNotComplete = (name: CheckName) => failure(`${name}_unverified_other` as LastErrorCode, 'The check did not complete.');

/**
 * An outcome from check results: verified when every required check is
 * verified; otherwise last_error is the first failure, in the order
 * document, selfie, id_number (the order the user meets them). A required
 * check missing from the results counts as a failure.
 */
export function outcomeOf(checks: CheckResults, required: RequiredChecks, outputs: VerifiedOutputs | null): CheckOutcome {
  let lastError: CheckError | null = null;
  for (const name of CHECK_NAMES) {
    if (!required[name]) continue;
    const result = checks[name];
    if (result?.status === 'verified') continue;
    lastError = result?.error ?? didNotComplete(name);
    break;
  }
  return {
    status: lastError ? 'requires_input' : 'verified',
    last_error: lastError,
    checks,
    verified_outputs: lastError ? null : outputs,
  };
}

/** The fields the checks worker writes on the session, in one conditional write. */
export interface SessionResultFields {
  status: 'verified' | 'requires_input';
  last_error: CheckError | null;
  verified_outputs: VerifiedOutputs | null;
  last_verification_report: string;
}

export interface RecordedOutcome {
  /** The state-machine action for the session's write. */
  action: 'checks_passed' | 'checks_failed';
  report: ReportRecord;
  session: SessionResultFields;
}

function missingCheck(name: CheckName): DocumentCheck | IdNumberCheck | SelfieCheck {
  const error = didNotComplete(name);
  if (name === 'document') return emptyDocumentCheck('unverified', error);
  if (name === 'id_number') return emptyIdNumberCheck('unverified', error);
  return { status: 'unverified', error };
}

/** What a report takes from its session (read while `processing`). */
export type ReportSource = Pick<
  SessionRecord,
  'id' | 'account' | 'livemode' | 'type' | 'verification_flow' | 'flow_type' | 'options' | 'client_reference_id' | 'version'
>;

/**
 * The report and the session fields for one finished attempt. The session
 * (read while `processing`) supplies the report's owner and snapshot; the
 * status is decided again from the session's required checks, so that a
 * provider can never verify a session with a check missing.
 */
export function recordOutcome(
  session: ReportSource,
  outcome: CheckOutcome,
  ctx: { reportId: string; nowSeconds: number; provider: string; files?: FileRefs | null },
): RecordedOutcome {
  const required = checksFor(session);
  const checks: CheckResults = {};
  for (const name of CHECK_NAMES) {
    if (!required[name]) continue;
    (checks as Record<CheckName, unknown>)[name] = structuredClone(outcome.checks[name]) ?? missingCheck(name);
  }
  const settled = outcomeOf(checks, required, outcome.verified_outputs);
  // Verified only when both the provider and every required check say so.
  const passed = settled.status === 'verified' && outcome.status === 'verified';
  // The provider's own last_error wins when it failed: it may be more specific.
  const lastError = passed
    ? null
    : (outcome.last_error ?? settled.last_error ?? failure('document_unverified_other', 'The verification did not complete.'));
  const action = passed ? 'checks_passed' : 'checks_failed';
  const status = nextStatus(action, 'processing') as 'verified' | 'requires_input';
  // Each check shows only codes of its own; a session-level code stays in last_error alone.
  for (const name of CHECK_NAMES) {
    const check = checks[name];
    if (check) check.error = checkError(name, check.error);
  }
  // A failed attempt keeps no full ID number: its last 4 characters say which one it was.
  if (!passed) {
    if (checks.id_number?.id_number) checks.id_number.id_number = lastFour(checks.id_number.id_number);
    if (checks.document?.number) checks.document.number = lastFour(checks.document.number);
  }

  const report: ReportRecord = {
    id: ctx.reportId,
    account: session.account,
    livemode: session.livemode,
    created: ctx.nowSeconds,
    verification_session: session.id,
    client_reference_id: session.client_reference_id,
    type: session.type,
    ...(session.verification_flow && { verification_flow: session.verification_flow, flow_type: session.flow_type }),
    options: structuredClone(session.options),
    document: checks.document ?? null,
    id_number: checks.id_number ?? null,
    selfie: checks.selfie ?? null,
    files: ctx.files ? { ...ctx.files } : {},
    session_version: session.version,
    provider: ctx.provider,
    redacted: false,
  };
  return {
    action,
    report,
    session: {
      status,
      last_error: lastError,
      verified_outputs: passed ? structuredClone(settled.verified_outputs) : null,
      last_verification_report: report.id,
    },
  };
}

// ---- small helpers shared by the providers ----------------------------------

/** True when both dates have the same day, month and year. */
export const sameDate = (a: DateParts, b: DateParts) => a.day === b.day && a.month === b.month && a.year === b.year;

export const ID_NUMBER_TYPES: readonly IdNumberType[] = ['br_cpf', 'sg_nric', 'us_ssn'];

export const idNumberTypeOf = (type: string | undefined): IdNumberType | null =>
  (ID_NUMBER_TYPES as readonly string[]).includes(type ?? '') ? (type as IdNumberType) : null;

const lastFour = (value: string) => value.replace(/[^0-9A-Za-z]/g, '').slice(-4);

/** Only the last 4 digits of a US SSN are kept, as Stripe shows them. */
export function storedIdNumber(number: string, type: string | undefined): string {
  return type === 'us_ssn' ? number.replace(/\D/g, '').slice(-4) : number;
}
