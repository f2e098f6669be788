/**
 * The VerificationReport (`vr_`): the result of one attempt to verify a
 * session, with one result per check (document, id_number, selfie). Stored as
 * a `ReportRecord`, shown as Stripe's `identity.verification_report`.
 * Pure: no AWS imports.
 */
import { timeOrderedId } from './ids.js';
import { type CheckType, LAST_ERROR_CODES, REDACTED, type SessionOptions, type SessionRecord, checkTypeOf } from './session.js';

export type LastErrorCode = (typeof LAST_ERROR_CODES)[number];

export const CHECK_NAMES = ['document', 'selfie', 'id_number'] as const;
export type CheckName = (typeof CHECK_NAMES)[number];

/** Which checks an attempt must run. */
export type RequiredChecks = Record<CheckName, boolean>;

export type CheckStatus = 'verified' | 'unverified';
export interface CheckError {
  code: LastErrorCode;
  /** Shown to the user; names what to do differently where possible. */
  reason: string;
}

/** Stripe's date object; every part is null once redacted. */
export interface DateParts {
  day: number | null;
  month: number | null;
  year: number | null;
}

export interface Address {
  city: string | null;
  country: string | null;
  line1: string | null;
  line2: string | null;
  postal_code: string | null;
  state: string | null;
}

export type DocumentType = 'driving_license' | 'id_card' | 'passport';
export type Sex = 'female' | 'male' | 'unknown' | typeof REDACTED;
export type IdNumberType = 'br_cpf' | 'sg_nric' | 'us_ssn';

/** Data read from the document. A failed check keeps what could be read. */
export interface DocumentCheck {
  status: CheckStatus;
  error: CheckError | null;
  address: Address | null;
  dob: DateParts | null;
  expiration_date: DateParts | null;
  first_name: string | null;
  issued_date: DateParts | null;
  issuing_country: string | null;
  last_name: string | null;
  number: string | null;
  sex: Sex | null;
  type: DocumentType | null;
  unparsed_place_of_birth: string | null;
  unparsed_sex: string | null;
}

export interface IdNumberCheck {
  status: CheckStatus;
  error: CheckError | null;
  dob: DateParts | null;
  first_name: string | null;
  /** For `us_ssn` only the last 4 digits are kept, as Stripe shows them. */
  id_number: string | null;
  id_number_type: IdNumberType | null;
  last_name: string | null;
}

/** The selfie check has no data of its own; its images are in `ReportRecord.files`. */
export interface SelfieCheck {
  status: CheckStatus;
  error: CheckError | null;
}

/**
 * The session's `verified_outputs` (Stripe's `gelato_verified_outputs`).
 * A type alias, not an interface, so it fits `SessionRecord.verified_outputs`.
 */
export type VerifiedOutputs = {
  address: Address | null;
  dob: DateParts | null;
  email: string | null;
  first_name: string | null;
  id_number: string | null;
  id_number_type: IdNumberType | null;
  last_name: string | null;
  phone: string | null;
  sex: Sex | null;
  unparsed_place_of_birth: string | null;
  unparsed_sex: string | null;
};

/**
 * Where the submitted images are kept, as ids the API can show (Stripe shows
 * `file_` ids). The caller that stores the images chooses them.
 */
export interface FileRefs {
  document_front?: string;
  document_back?: string;
  selfie?: string;
}

/** A report as stored: the API object's data plus bookkeeping the API never shows. */
export interface ReportRecord {
  id: string;
  account: string;
  livemode: boolean;
  /** Unix seconds. */
  created: number;
  verification_session: string;
  client_reference_id: string | null;
  type: string;
  /** For a session made from a verification flow: the flow, and the flow's type (whose checks ran). */
  verification_flow?: string;
  flow_type?: CheckType;
  /** The session's options when the attempt ran. */
  options: SessionOptions;
  /** null when the check was not part of the session. */
  document: DocumentCheck | null;
  id_number: IdNumberCheck | null;
  selfie: SelfieCheck | null;
  /** null once redacted (the images are deleted with it). */
  files: FileRefs | null;
  /** The session version the checks ran for: one report per submission. */
  session_version: number;
  /** Which CheckProvider produced it (`test`, `aws`). */
  provider: string;
  redacted: boolean;
}

export const newReportId = (ms: number = Date.now()) => timeOrderedId('vr', ms);

/**
 * The checks a session needs: a document session checks the document, plus a
 * selfie and an id number when its options ask for them; an id_number session
 * checks only the id number. A session made from a verification flow runs
 * the checks of its flow's type.
 */
export function checksFor(session: Pick<SessionRecord, 'type' | 'flow_type' | 'options'>): RequiredChecks {
  if (checkTypeOf(session) === 'id_number') return { document: false, selfie: false, id_number: true };
  const doc = session.options.document ?? {};
  return {
    document: true,
    selfie: doc.require_matching_selfie === true,
    id_number: doc.require_id_number === true,
  };
}

/**
 * The codes each check of a report may show (Stripe's gelato_document_report_error,
 * gelato_selfie_report_error and gelato_id_number_report_error). The other
 * last_error codes (under_supported_age, consent_declined, country_not_supported,
 * device_not_supported, abandoned, email_*, phone_*) are about the session and
 * appear only in its `last_error`.
 */
export const CHECK_ERROR_CODES = {
  document: ['document_expired', 'document_type_not_supported', 'document_unverified_other'],
  selfie: ['selfie_document_missing_photo', 'selfie_face_mismatch', 'selfie_manipulated', 'selfie_unverified_other'],
  id_number: ['id_number_insufficient_document_data', 'id_number_mismatch', 'id_number_unverified_other'],
} as const satisfies Record<CheckName, readonly LastErrorCode[]>;

/** The check a last_error code belongs to; undefined for a session-level code. */
export function checkOfCode(code: LastErrorCode): CheckName | undefined {
  return CHECK_NAMES.find((name) => (CHECK_ERROR_CODES[name] as readonly string[]).includes(code));
}

/**
 * The code a report's `check` shows for a failure with `code`: the code itself
 * when it belongs to that check, else the check's closest code:
 * - document: `country_not_supported` becomes `document_type_not_supported`
 *   (documents of that country are not accepted); every other code becomes
 *   `document_unverified_other` (the document was not accepted for a reason
 *   beyond the document itself: the holder's age, consent, device, email, phone).
 * - selfie: `selfie_unverified_other`; id_number: `id_number_unverified_other`.
 */
export function checkErrorCode(check: CheckName, code: LastErrorCode): LastErrorCode {
  if ((CHECK_ERROR_CODES[check] as readonly string[]).includes(code)) return code;
  if (check === 'document' && code === 'country_not_supported') return 'document_type_not_supported';
  return `${check}_unverified_other`;
}

/** A check's error as its report shows it (see checkErrorCode); the reason is kept. */
export const checkError = (check: CheckName, error: CheckError | null): CheckError | null =>
  error && { code: checkErrorCode(check, error.code), reason: error.reason };

export const emptyDate = (): DateParts => ({ day: null, month: null, year: null });

export function emptyAddress(): Address {
  return { city: null, country: null, line1: null, line2: null, postal_code: null, state: null };
}

export function emptyDocumentCheck(status: CheckStatus, error: CheckError | null): DocumentCheck {
  return {
    status,
    error,
    address: null,
    dob: null,
    expiration_date: null,
    first_name: null,
    issued_date: null,
    issuing_country: null,
    last_name: null,
    number: null,
    sex: null,
    type: null,
    unparsed_place_of_birth: null,
    unparsed_sex: null,
  };
}

export function emptyIdNumberCheck(status: CheckStatus, error: CheckError | null): IdNumberCheck {
  return { status, error, dob: null, first_name: null, id_number: null, id_number_type: null, last_name: null };
}

export function emptyVerifiedOutputs(): VerifiedOutputs {
  return {
    address: null,
    dob: null,
    email: null,
    first_name: null,
    id_number: null,
    id_number_type: null,
    last_name: null,
    phone: null,
    sex: null,
    unparsed_place_of_birth: null,
    unparsed_sex: null,
  };
}

// ---- rendering -------------------------------------------------------------

/**
 * The report options Stripe shows: the document options for a document
 * report, an empty `id_number` object for an id_number report.
 */
function renderOptions(rec: ReportRecord): Record<string, unknown> {
  if (checkTypeOf(rec) === 'id_number') return { id_number: {} };
  return { document: { ...(rec.options.document ?? {}) } };
}

/**
 * The report as the API shows it (Stripe's `identity.verification_report`).
 * A check that was not part of the session is left out, as Stripe does: the
 * schema marks those properties optional, not nullable.
 */
export function renderReport(rec: ReportRecord) {
  const files = rec.files;
  const out: Record<string, unknown> = {
    id: rec.id,
    object: 'identity.verification_report',
    client_reference_id: rec.client_reference_id,
    created: rec.created,
  };
  if (rec.document) {
    const d = rec.document;
    out.document = {
      address: d.address,
      dob: d.dob,
      error: d.error,
      expiration_date: d.expiration_date,
      files: files ? [files.document_front, files.document_back].filter((f): f is string => !!f) : null,
      first_name: d.first_name,
      issued_date: d.issued_date,
      issuing_country: d.issuing_country,
      last_name: d.last_name,
      number: d.number,
      sex: d.sex,
      status: d.status,
      type: d.type,
      unparsed_place_of_birth: d.unparsed_place_of_birth,
      unparsed_sex: d.unparsed_sex,
    };
  }
  if (rec.id_number) {
    const n = rec.id_number;
    out.id_number = {
      dob: n.dob,
      error: n.error,
      first_name: n.first_name,
      id_number: n.id_number,
      id_number_type: n.id_number_type,
      last_name: n.last_name,
      status: n.status,
    };
  }
  out.livemode = rec.livemode;
  out.options = renderOptions(rec);
  if (rec.selfie) {
    out.selfie = {
      document: files?.document_front ?? null,
      error: rec.selfie.error,
      selfie: files?.selfie ?? null,
      status: rec.selfie.status,
    };
  }
  out.type = rec.type;
  // Optional, not nullable, in Stripe's schema: only on reports of sessions made from a flow.
  if (rec.verification_flow) out.verification_flow = rec.verification_flow;
  out.verification_session = rec.verification_session;
  return out;
}

// ---- redaction -------------------------------------------------------------

const redactText = (v: string | null) => (v === null ? null : REDACTED);
// Dates are integers in Stripe's schema, so a redacted date has null parts.
const redactDate = (v: DateParts | null) => (v === null ? null : emptyDate());

function redactAddress(a: Address | null): Address | null {
  if (a === null) return null;
  return {
    city: redactText(a.city),
    country: redactText(a.country),
    line1: redactText(a.line1),
    line2: redactText(a.line2),
    postal_code: redactText(a.postal_code),
    state: redactText(a.state),
  };
}

/**
 * Personal data replaced with `[redacted]` (dates with null parts), file
 * references removed. Statuses, errors, the document type and the id number
 * type stay: they say what happened without saying who it happened to.
 */
export function redactReport(rec: ReportRecord): ReportRecord {
  return {
    ...structuredClone(rec),
    document: rec.document && redactDocument(rec.document),
    id_number: rec.id_number && redactIdNumber(rec.id_number),
    files: null,
    redacted: true,
  };
}

type DocumentData = Omit<DocumentCheck, 'status' | 'error' | 'type'>;
type IdNumberData = Omit<IdNumberCheck, 'status' | 'error' | 'id_number_type'>;

function redactDocument<T extends DocumentData>(d: T): T {
  return {
    ...d,
    address: redactAddress(d.address),
    dob: redactDate(d.dob),
    expiration_date: redactDate(d.expiration_date),
    first_name: redactText(d.first_name),
    issued_date: redactDate(d.issued_date),
    issuing_country: redactText(d.issuing_country),
    last_name: redactText(d.last_name),
    number: redactText(d.number),
    sex: d.sex === null ? null : REDACTED,
    unparsed_place_of_birth: redactText(d.unparsed_place_of_birth),
    unparsed_sex: redactText(d.unparsed_sex),
  };
}

function redactIdNumber<T extends IdNumberData>(n: T): T {
  return { ...n, dob: redactDate(n.dob), first_name: redactText(n.first_name), id_number: redactText(n.id_number), last_name: redactText(n.last_name) };
}

/**
 * The same redaction for a report as the API rendered it (an expanded
 * `last_verification_report` inside a saved Idempotency-Key result): the file
 * references go, as the files themselves do.
 */
export function redactRenderedReport(obj: Record<string, unknown>): Record<string, unknown> {
  const out = { ...obj };
  if (out.document) out.document = { ...redactDocument(out.document as DocumentData), files: null };
  if (out.id_number) out.id_number = redactIdNumber(out.id_number as IdNumberData);
  if (out.selfie) out.selfie = { ...(out.selfie as Record<string, unknown>), document: null, selfie: null };
  return out;
}

/** The same redaction for a session's verified_outputs (dates with null parts, enums kept valid). */
export function redactVerifiedOutputs(v: VerifiedOutputs): VerifiedOutputs {
  return {
    address: redactAddress(v.address),
    dob: redactDate(v.dob),
    email: redactText(v.email),
    first_name: redactText(v.first_name),
    id_number: redactText(v.id_number),
    id_number_type: v.id_number_type,
    last_name: redactText(v.last_name),
    phone: redactText(v.phone),
    sex: v.sex === null ? null : REDACTED,
    unparsed_place_of_birth: redactText(v.unparsed_place_of_birth),
    unparsed_sex: redactText(v.unparsed_sex),
  };
}
