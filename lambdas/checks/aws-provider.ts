/**
 * The provider for live mode: Amazon Textract reads the document
 * (AnalyzeID), Amazon Rekognition compares the selfie with the document's
 * photo (DetectFaces, CompareFaces). Every finding maps to one of Stripe's
 * error codes; only errors a retry may fix are thrown.
 */
import {
  CompareFacesCommand,
  DetectFacesCommand,
  type FaceDetail,
  type RekognitionClient,
} from '@aws-sdk/client-rekognition';
import { AnalyzeIDCommand, type AnalyzeIDResponse, type TextractClient } from '@aws-sdk/client-textract';
import {
  type Address,
  type CheckError,
  type DateParts,
  type DocumentCheck,
  type DocumentType,
  type IdNumberCheck,
  type RequiredChecks,
  type SelfieCheck,
  type Sex,
  type VerifiedOutputs,
  emptyDocumentCheck,
  emptyIdNumberCheck,
  emptyVerifiedOutputs,
} from '../domain/report.js';
import {
  type CheckOutcome,
  type CheckProvider,
  type CheckResults,
  type SubmissionInput,
  type SubmittedIdNumber,
  failure,
  idNumberTypeOf,
  outcomeOf,
  sameDate,
  storedIdNumber,
} from './provider.js';

// ---- thresholds ------------------------------------------------------------

/** A Textract field below this confidence (0-100) counts as unreadable. */
export const FIELD_MIN_CONFIDENCE = 80;
/** Fields a document must show readably; without them nothing can be checked. */
export const REQUIRED_DOCUMENT_FIELDS = ['FIRST_NAME', 'LAST_NAME', 'DOCUMENT_NUMBER', 'EXPIRATION_DATE', 'ID_TYPE'] as const;
/** Minimum age of the document holder, in whole years on the check's (UTC) date. */
export const MIN_AGE = 18;
/** A Rekognition detection below this confidence is not counted as a face. */
export const FACE_MIN_CONFIDENCE = 90;
/** Rekognition's ImageQuality (0-100) of the selfie's face: below these it is too blurry or dark to compare. */
export const SELFIE_MIN_SHARPNESS = 20;
export const SELFIE_MIN_BRIGHTNESS = 20;
/** CompareFaces similarity (0-100) needed for the selfie to match the document photo. */
export const FACE_SIMILARITY_THRESHOLD = 90;

// Errors that say "this image cannot be used": the user can fix them with a
// better photo. Everything else (throttling, 5xx, access denied) is thrown so
// that the worker retries the message and, in the end, dead-letters it.
const DOCUMENT_IMAGE_ERRORS = new Set([
  'InvalidParameterException',
  'UnsupportedDocumentException',
  'BadDocumentException',
  'DocumentTooLargeException',
]);
const FACE_IMAGE_ERRORS = new Set(['InvalidParameterException', 'InvalidImageFormatException', 'ImageTooLargeException']);
const errorName = (e: unknown) => (e instanceof Error ? e.name : undefined);

export interface AwsProviderOptions {
  textract: TextractClient;
  rekognition: RekognitionClient;
  /** The clock for expiry and age; injectable for tests. */
  now?: () => Date;
}

// ---- reading the document --------------------------------------------------

interface Field {
  text: string;
  confidence: number;
  /** Textract's normalized value, for dates `YYYY-MM-DDT00:00:00`. */
  normalized?: string;
}

/** What the document says, from Textract's readable fields. */
interface DocumentFacts {
  fields: Map<string, Field>;
  type: DocumentType | null;
  first_name: string | null;
  last_name: string | null;
  number: string | null;
  dob: DateParts | null;
  expiration_date: DateParts | null;
  issued_date: DateParts | null;
  address: Address | null;
  mrz: Mrz | null;
}

/**
 * The readable fields of all pages, keyed by Textract's field type
 * (`FIRST_NAME`...). The front page comes first; the back only fills gaps.
 * An empty value or one below FIELD_MIN_CONFIDENCE is left out.
 */
function readableFields(response: AnalyzeIDResponse): Map<string, Field> {
  const fields = new Map<string, Field>();
  const pages = [...(response.IdentityDocuments ?? [])].sort((a, b) => (a.DocumentIndex ?? 0) - (b.DocumentIndex ?? 0));
  for (const page of pages) {
    for (const f of page.IdentityDocumentFields ?? []) {
      const key = f.Type?.Text?.trim().toUpperCase().replace(/\s+/g, '_');
      const text = f.ValueDetection?.Text?.trim() ?? '';
      const confidence = f.ValueDetection?.Confidence ?? 0;
      if (!key || !text || confidence < FIELD_MIN_CONFIDENCE || fields.has(key)) continue;
      fields.set(key, { text, confidence, normalized: f.ValueDetection?.NormalizedValue?.Value });
    }
  }
  return fields;
}

function validDate(year: number, month: number, day: number): DateParts | null {
  const d = new Date(Date.UTC(year, month - 1, day));
  if (d.getUTCFullYear() !== year || d.getUTCMonth() !== month - 1 || d.getUTCDate() !== day) return null;
  return { day, month, year };
}

/** Textract's normalized date, else the US `MM/DD/YYYY` the text shows. */
function parseDate(field: Field | undefined): DateParts | null {
  if (!field) return null;
  const iso = /^(\d{4})-(\d{2})-(\d{2})/.exec(field.normalized ?? '');
  if (iso) return validDate(Number(iso[1]), Number(iso[2]), Number(iso[3]));
  const us = /^(\d{1,2})\/(\d{1,2})\/(\d{4})$/.exec(field.text);
  if (us) return validDate(Number(us[3]), Number(us[1]), Number(us[2]));
  return null;
}

/** Textract's ID_TYPE (`DRIVER LICENSE FRONT`, `PASSPORT`, ...) as a Stripe document type. */
export function documentTypeOf(idType: string | undefined): DocumentType | null {
  if (!idType) return null;
  const t = idType.toUpperCase();
  if (t.includes('PASSPORT')) return 'passport';
  if (t.includes('DRIVER')) return 'driving_license';
  return 'id_card';
}

/** The parts of a passport's machine-readable zone (ICAO 9303 TD3: two lines of 44) used here. */
interface Mrz {
  issuingState: string;
  documentNumber: string;
  sex: string;
  personalNumber: string;
}

function parseMrz(text: string | undefined): Mrz | null {
  const chars = (text ?? '').replace(/\s+/g, '').toUpperCase();
  if (chars.length !== 88 || chars[0] !== 'P') return null;
  const line2 = chars.slice(44);
  const strip = (s: string) => s.replace(/</g, '');
  return {
    issuingState: strip(chars.slice(2, 5)),
    documentNumber: strip(line2.slice(0, 9)),
    sex: line2[20],
    personalNumber: strip(line2.slice(28, 42)),
  };
}

function readDocument(response: AnalyzeIDResponse): DocumentFacts {
  const fields = readableFields(response);
  const text = (key: string) => fields.get(key)?.text ?? null;
  const line1 = text('ADDRESS');
  const city = text('CITY_IN_ADDRESS');
  const state = text('STATE_IN_ADDRESS');
  const zip = text('ZIP_CODE_IN_ADDRESS');
  return {
    fields,
    type: documentTypeOf(text('ID_TYPE') ?? undefined),
    first_name: text('FIRST_NAME'),
    last_name: text('LAST_NAME'),
    number: text('DOCUMENT_NUMBER'),
    dob: parseDate(fields.get('DATE_OF_BIRTH')),
    expiration_date: parseDate(fields.get('EXPIRATION_DATE')),
    issued_date: parseDate(fields.get('DATE_OF_ISSUE')),
    // AnalyzeID reads US documents, so an address it finds is in the US.
    address: line1 || city || state || zip ? { line1, line2: null, city, state, postal_code: zip, country: 'US' } : null,
    mrz: parseMrz(text('MRZ_CODE') ?? undefined),
  };
}

function sexOf(mrz: Mrz | null): Sex | null {
  if (!mrz) return null;
  return mrz.sex === 'F' ? 'female' : mrz.sex === 'M' ? 'male' : 'unknown';
}

/** The report's document data, whatever the check's status. */
function documentData(facts: DocumentFacts): DocumentCheck {
  const mrz = facts.mrz;
  return {
    ...emptyDocumentCheck('verified', null),
    address: facts.address,
    dob: facts.dob,
    expiration_date: facts.expiration_date,
    first_name: facts.first_name,
    issued_date: facts.issued_date,
    // AnalyzeID supports US-issued documents only; a passport's MRZ names its issuer.
    issuing_country: mrz ? (mrz.issuingState === 'USA' ? 'US' : null) : 'US',
    last_name: facts.last_name,
    number: facts.number,
    sex: sexOf(mrz),
    type: facts.type,
    unparsed_place_of_birth: facts.fields.get('PLACE_OF_BIRTH')?.text ?? null,
    unparsed_sex: mrz && mrz.sex !== '<' ? mrz.sex : null,
  };
}

const compareDates = (a: DateParts, b: DateParts) =>
  (a.year ?? 0) - (b.year ?? 0) || (a.month ?? 0) - (b.month ?? 0) || (a.day ?? 0) - (b.day ?? 0);

function todayUtc(now: Date): DateParts {
  return { day: now.getUTCDate(), month: now.getUTCMonth() + 1, year: now.getUTCFullYear() };
}

/** Whole years from `dob` to `today`; a 29 February birthday comes on 1 March in other years. */
export function ageOn(dob: DateParts, today: DateParts): number {
  const age = (today.year ?? 0) - (dob.year ?? 0);
  const birthdayPassed = compareDates({ ...today, year: 0 }, { ...dob, year: 0 }) >= 0;
  return birthdayPassed ? age : age - 1;
}

const normalizeNumber = (s: string) => s.replace(/[^0-9A-Za-z]/g, '').toUpperCase();
/** Names compare without case, accents, punctuation or spacing: `José-Luis` = `JOSE LUIS`. */
const normalizeName = (s: string) =>
  s
    .normalize('NFKD')
    .replace(/[\u0300-\u036f]/g, '')
    .replace(/[^A-Za-z]/g, '')
    .toUpperCase();

/**
 * The document decision, in this order: unreadable (or its MRZ contradicts
 * its printed number), a type the session does not allow, expired, holder
 * under MIN_AGE (when the date of birth is readable).
 */
function decideDocument(facts: DocumentFacts, allowedTypes: string[] | undefined, today: DateParts): CheckError | null {
  const unreadable = REQUIRED_DOCUMENT_FIELDS.filter((k) => !facts.fields.has(k));
  if (unreadable.length > 0 || !facts.expiration_date) return failure('document_unverified_other');
  if (facts.mrz && facts.number && normalizeNumber(facts.mrz.documentNumber) !== normalizeNumber(facts.number))
    return failure('document_unverified_other', 'The document could not be verified: its printed details are inconsistent.');
  // No allowed_types means every type, as in Stripe.
  const allowed = allowedTypes && allowedTypes.length > 0 ? allowedTypes : ['driving_license', 'id_card', 'passport'];
  if (!facts.type || !allowed.includes(facts.type))
    return failure(
      'document_type_not_supported',
      `This type of document is not accepted. Please use one of: ${allowed.map((t) => t.replace('_', ' ')).join(', ')}.`,
    );
  if (compareDates(facts.expiration_date, today) < 0) return failure('document_expired');
  if (facts.dob && ageOn(facts.dob, today) < MIN_AGE)
    return failure('under_supported_age', `The person on the document must be at least ${MIN_AGE} years old.`);
  return null;
}

// ---- the id number -----------------------------------------------------------

/**
 * The id number check. This service cannot query national registries (the
 * SSA, Receita Federal, ICA...), which is what Stripe's id number check does.
 * It can only compare what the user typed with a document from the same
 * submission: the name and date of birth must match the document, and the
 * number must appear on it (its number, or a passport's MRZ personal number).
 * A national number (us_ssn, br_cpf, sg_nric) that the document does not show,
 * or any number when the document's own number could not be read, cannot be
 * confirmed: insufficient document data, not a mismatch.
 */
function checkIdNumber(given: SubmittedIdNumber | undefined, doc: DocumentFacts | null): IdNumberCheck {
  if (!given || !given.number.trim())
    return emptyIdNumberCheck('unverified', failure('id_number_unverified_other', 'No ID number was provided.'));
  const type = idNumberTypeOf(given.type);
  const result: IdNumberCheck = {
    status: 'verified',
    error: null,
    dob: given.dob ? { ...given.dob } : (doc?.dob ?? null),
    first_name: given.first_name ?? doc?.first_name ?? null,
    last_name: given.last_name ?? doc?.last_name ?? null,
    id_number: storedIdNumber(given.number, given.type),
    id_number_type: type,
  };
  const fail = (error: CheckError): IdNumberCheck => ({ ...result, status: 'unverified', error });

  if (!doc) return fail(failure('id_number_insufficient_document_data'));
  const nameDiffers = (typed: string | undefined, read: string | null) =>
    typed !== undefined && read !== null && normalizeName(typed) !== normalizeName(read);
  if (nameDiffers(given.first_name, doc.first_name) || nameDiffers(given.last_name, doc.last_name))
    return fail(failure('id_number_mismatch', 'The name does not match the name on the document.'));
  if (given.dob && doc.dob && !sameDate(given.dob, doc.dob))
    return fail(failure('id_number_mismatch', 'The date of birth does not match the one on the document.'));

  const shown = [doc.number, doc.mrz?.personalNumber].filter((n): n is string => !!n).map(normalizeNumber);
  if (shown.includes(normalizeNumber(given.number))) return result;
  if (type !== null || shown.length === 0)
    return fail(
      failure(
        'id_number_insufficient_document_data',
        'This ID number cannot be confirmed from the document. Please use a document that shows it.',
      ),
    );
  return fail(failure('id_number_mismatch'));
}

// ---- the provider ------------------------------------------------------------

export class AwsProvider implements CheckProvider {
  readonly name = 'aws';
  private readonly textract: TextractClient;
  private readonly rekognition: RekognitionClient;
  private readonly now: () => Date;

  constructor(opts: AwsProviderOptions) {
    this.textract = opts.textract;
    this.rekognition = opts.rekognition;
    this.now = opts.now ?? (() => new Date());
  }

  /** Runs every required check (each is reported), then fails on the first failure. */
  async check(input: SubmissionInput, required: RequiredChecks): Promise<CheckOutcome> {
    const checks: CheckResults = {};
    let facts: DocumentFacts | null = null;
    if (required.document) {
      const doc = await this.checkDocument(input);
      checks.document = doc.check;
      facts = doc.facts;
    }
    if (required.selfie) checks.selfie = await this.checkSelfie(input);
    if (required.id_number) checks.id_number = checkIdNumber(input.id_number, facts);
    return outcomeOf(checks, required, verifiedOutputs(checks, input.id_number));
  }

  private async checkDocument(input: SubmissionInput): Promise<{ check: DocumentCheck; facts: DocumentFacts | null }> {
    const unverified = (error: CheckError) => ({ check: emptyDocumentCheck('unverified', error), facts: null });
    const { document_front: front, document_back: back } = input.files;
    if (!front) return unverified(failure('document_unverified_other', 'No image of the document was submitted.'));

    let response: AnalyzeIDResponse;
    try {
      const pages = back ? [{ Bytes: front }, { Bytes: back }] : [{ Bytes: front }];
      response = await this.textract.send(new AnalyzeIDCommand({ DocumentPages: pages }));
    } catch (e) {
      if (DOCUMENT_IMAGE_ERRORS.has(errorName(e) ?? '')) return unverified(failure('document_unverified_other'));
      throw e;
    }
    const facts = readDocument(response);
    const error = decideDocument(facts, input.options.document?.allowed_types, todayUtc(this.now()));
    const check = documentData(facts);
    // Facts are passed on even when the check failed: the id number is compared with what could be read.
    return { check: error ? { ...check, status: 'unverified', error } : check, facts: facts.fields.size > 0 ? facts : null };
  }

  /**
   * The selfie must show exactly one clear face, the document must show a
   * face, and the two must match (CompareFaces at FACE_SIMILARITY_THRESHOLD).
   */
  private async checkSelfie(input: SubmissionInput): Promise<SelfieCheck> {
    const fail = (code: 'selfie_unverified_other' | 'selfie_document_missing_photo' | 'selfie_face_mismatch', reason?: string) =>
      ({ status: 'unverified', error: failure(code, reason) }) as SelfieCheck;
    const { selfie, document_front: document } = input.files;
    if (!selfie) return fail('selfie_unverified_other', 'No selfie was submitted.');
    try {
      const faces = await this.faces(selfie);
      if (faces.length === 0) return fail('selfie_unverified_other', 'No face could be found in the selfie.');
      if (faces.length > 1) return fail('selfie_unverified_other', 'The selfie must show only your face.');
      const quality = faces[0].Quality;
      if ((quality?.Sharpness ?? 0) < SELFIE_MIN_SHARPNESS || (quality?.Brightness ?? 0) < SELFIE_MIN_BRIGHTNESS)
        return fail('selfie_unverified_other', 'The selfie is too blurry or too dark. Please retake it in good light.');

      // A driving licence may also show a small "ghost" portrait: one face or more is fine.
      if (!document || (await this.faces(document)).length === 0) return fail('selfie_document_missing_photo');

      const compared = await this.rekognition.send(
        new CompareFacesCommand({
          SourceImage: { Bytes: selfie },
          TargetImage: { Bytes: document },
          SimilarityThreshold: FACE_SIMILARITY_THRESHOLD,
        }),
      );
      const match = (compared.FaceMatches ?? []).some((m) => (m.Similarity ?? 0) >= FACE_SIMILARITY_THRESHOLD);
      return match ? { status: 'verified', error: null } : fail('selfie_face_mismatch');
    } catch (e) {
      if (FACE_IMAGE_ERRORS.has(errorName(e) ?? '')) return fail('selfie_unverified_other');
      throw e;
    }
  }

  /** The faces Rekognition is confident about. */
  private async faces(image: Uint8Array): Promise<FaceDetail[]> {
    const out = await this.rekognition.send(new DetectFacesCommand({ Image: { Bytes: image }, Attributes: ['DEFAULT'] }));
    return (out.FaceDetails ?? []).filter((f) => (f.Confidence ?? 0) >= FACE_MIN_CONFIDENCE);
  }
}

/** verified_outputs from the document's data, plus the id number when it was checked. */
function verifiedOutputs(checks: CheckResults, given: SubmittedIdNumber | undefined): VerifiedOutputs {
  const out = emptyVerifiedOutputs();
  const doc = checks.document;
  if (doc) {
    out.first_name = doc.first_name;
    out.last_name = doc.last_name;
    out.dob = doc.dob;
    out.address = doc.address;
    out.sex = doc.sex;
    out.unparsed_sex = doc.unparsed_sex;
    out.unparsed_place_of_birth = doc.unparsed_place_of_birth;
  }
  if (checks.id_number && given) {
    out.first_name ??= checks.id_number.first_name;
    out.last_name ??= checks.id_number.last_name;
    out.dob ??= checks.id_number.dob;
    out.id_number = given.number;
    out.id_number_type = checks.id_number.id_number_type;
  }
  return structuredClone(out);
}
