import { readFileSync } from 'node:fs';
import {
  CompareFacesCommand,
  type CompareFacesResponse,
  DetectFacesCommand,
  type DetectFacesResponse,
  InternalServerError,
  InvalidImageFormatException,
  RekognitionClient,
} from '@aws-sdk/client-rekognition';
import {
  AnalyzeIDCommand,
  type AnalyzeIDResponse,
  BadDocumentException,
  InvalidParameterException,
  TextractClient,
  ThrottlingException,
  UnsupportedDocumentException,
} from '@aws-sdk/client-textract';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { AwsProvider, FACE_SIMILARITY_THRESHOLD, ageOn, documentTypeOf } from '../../lambdas/checks/aws-provider.js';
import type { SubmissionInput } from '../../lambdas/checks/provider.js';
import { checksFor } from '../../lambdas/domain/report.js';
import type { SessionOptions } from '../../lambdas/domain/session.js';

// Recorded-shape responses, written by hand in the SDK's response shape.
const fixture = <T>(name: string): T =>
  JSON.parse(readFileSync(new URL(`../fixtures/aws/${name}.json`, import.meta.url), 'utf8')) as T;
const DRIVING_LICENSE = fixture<AnalyzeIDResponse>('textract-analyze-id-driving-license');
const PASSPORT = fixture<AnalyzeIDResponse>('textract-analyze-id-passport');
const BLURRED = fixture<AnalyzeIDResponse>('textract-analyze-id-blurred');
const SELFIE_FACE = fixture<DetectFacesResponse>('rekognition-detect-faces-selfie');
const SELFIE_BLURRY = fixture<DetectFacesResponse>('rekognition-detect-faces-selfie-blurry');
const TWO_FACES = fixture<DetectFacesResponse>('rekognition-detect-faces-two');
const NO_FACE = fixture<DetectFacesResponse>('rekognition-detect-faces-none');
const DOCUMENT_FACES = fixture<DetectFacesResponse>('rekognition-detect-faces-document');
const MATCH = fixture<CompareFacesResponse>('rekognition-compare-faces-match');
const NO_MATCH = fixture<CompareFacesResponse>('rekognition-compare-faces-no-match');

/** A copy of `response` with one field's value (and normalized date) replaced. */
function withField(response: AnalyzeIDResponse, type: string, text: string, date?: string): AnalyzeIDResponse {
  const copy = structuredClone(response);
  for (const f of copy.IdentityDocuments![0].IdentityDocumentFields!) {
    if (f.Type?.Text !== type) continue;
    f.ValueDetection = { Text: text, Confidence: 98.5 };
    if (date) f.ValueDetection.NormalizedValue = { Value: `${date}T00:00:00`, ValueType: 'DATE' };
  }
  return copy;
}

const FRONT = new Uint8Array([0xff, 0xd8, 0xff, 0xe0, 1]);
const BACK = new Uint8Array([0xff, 0xd8, 0xff, 0xe0, 2]);
const SELFIE = new Uint8Array([0xff, 0xd8, 0xff, 0xe0, 3]);
const TODAY = new Date('2026-03-01T12:00:00Z');

const textractClient = new TextractClient({ region: 'us-east-1' });
const rekognitionClient = new RekognitionClient({ region: 'us-east-1' });
const textract = mockClient(textractClient);
const rekognition = mockClient(rekognitionClient);

const provider = (now: Date = TODAY) =>
  new AwsProvider({ textract: textractClient, rekognition: rekognitionClient, now: () => now });

function submission(options: SessionOptions, more: Partial<SubmissionInput> = {}): SubmissionInput {
  return {
    sessionId: 'vs_test',
    livemode: true,
    type: 'document',
    options,
    files: { document_front: FRONT, selfie: SELFIE },
    ...more,
  };
}
const run = (input: SubmissionInput, now?: Date) => provider(now).check(input, checksFor(input));

/** DetectFaces answers by image: the selfie's faces, the document's faces. */
function faces(selfie: DetectFacesResponse, document: DetectFacesResponse = DOCUMENT_FACES) {
  rekognition.on(DetectFacesCommand).callsFake((input) => (input.Image.Bytes === SELFIE ? selfie : document));
}

const SELFIE_AND_NUMBER: SessionOptions = { document: { require_matching_selfie: true, require_id_number: true } };

beforeEach(() => {
  textract.reset();
  rekognition.reset();
  textract.on(AnalyzeIDCommand).resolves(DRIVING_LICENSE);
  faces(SELFIE_FACE);
  rekognition.on(CompareFacesCommand).resolves(MATCH);
});

describe('AwsProvider: verified', () => {
  it('verifies a driving licence with a matching selfie and id number, and maps the outputs', async () => {
    const out = await run(
      submission(SELFIE_AND_NUMBER, {
        files: { document_front: FRONT, document_back: BACK, selfie: SELFIE },
        id_number: { number: 'M12345678901', first_name: 'Alex', last_name: 'Morgan', dob: { day: 14, month: 7, year: 1985 } },
      }),
    );
    expect(out.status).toBe('verified');
    expect(out.last_error).toBeNull();
    expect(out.verified_outputs).toEqual({
      first_name: 'ALEX',
      last_name: 'MORGAN',
      dob: { day: 14, month: 7, year: 1985 },
      address: { line1: '742 EVERGREEN TERRACE', line2: null, city: 'SPRINGFIELD', state: 'IL', postal_code: '62704', country: 'US' },
      id_number: 'M12345678901',
      id_number_type: null,
      email: null,
      phone: null,
      sex: null,
      unparsed_place_of_birth: null,
      unparsed_sex: null,
    });
    expect(out.checks.document).toMatchObject({
      status: 'verified',
      error: null,
      type: 'driving_license',
      number: 'M123-4567-8901',
      expiration_date: { day: 14, month: 7, year: 2031 },
      issued_date: { day: 1, month: 7, year: 2023 },
      issuing_country: 'US',
    });
    expect(out.checks.selfie).toEqual({ status: 'verified', error: null });
    expect(out.checks.id_number).toMatchObject({ status: 'verified', first_name: 'Alex', last_name: 'Morgan' });

    // Textract gets both sides, in order; Rekognition the selfie and the front.
    const analyze = textract.commandCalls(AnalyzeIDCommand);
    expect(analyze).toHaveLength(1);
    expect(analyze[0].args[0].input.DocumentPages?.map((p) => p.Bytes)).toEqual([FRONT, BACK]);
    const detected = rekognition.commandCalls(DetectFacesCommand).map((c) => c.args[0].input.Image?.Bytes);
    expect(detected).toEqual([SELFIE, FRONT]);
    const compare = rekognition.commandCalls(CompareFacesCommand);
    expect(compare).toHaveLength(1);
    expect(compare[0].args[0].input).toEqual({
      SourceImage: { Bytes: SELFIE },
      TargetImage: { Bytes: FRONT },
      SimilarityThreshold: FACE_SIMILARITY_THRESHOLD,
    });
    expect(FACE_SIMILARITY_THRESHOLD).toBe(90);
  });

  it('reads a passport: sex and issuer from the MRZ, place of birth; no Rekognition call without a selfie', async () => {
    textract.on(AnalyzeIDCommand).resolves(PASSPORT);
    const out = await run(submission({}));
    expect(out.status).toBe('verified');
    expect(out.checks.document).toMatchObject({
      type: 'passport',
      number: '987654321',
      sex: 'female',
      unparsed_sex: 'F',
      issuing_country: 'US',
      unparsed_place_of_birth: 'ILLINOIS, U.S.A.',
      expiration_date: { day: 13, month: 5, year: 2031 },
    });
    expect(out.verified_outputs).toMatchObject({ first_name: 'ALEX', sex: 'female', address: null });
    expect(textract.commandCalls(AnalyzeIDCommand)[0].args[0].input.DocumentPages).toEqual([{ Bytes: FRONT }]);
    expect(rekognition.calls()).toHaveLength(0);
  });
});

describe('AwsProvider: document decisions', () => {
  it('document_expired: the day after the expiration date (valid on the day itself)', async () => {
    const onTheDay = await run(submission({}), new Date('2031-07-14T23:59:59Z'));
    expect(onTheDay.status).toBe('verified');

    const out = await run(submission({}), new Date('2031-07-15T00:00:00Z'));
    expect(out.status).toBe('requires_input');
    expect(out.last_error?.code).toBe('document_expired');
    expect(out.checks.document).toMatchObject({ status: 'unverified', error: { code: 'document_expired' }, first_name: 'ALEX' });
    expect(out.verified_outputs).toBeNull();
  });

  it('document_type_not_supported: a passport when only driving licences are allowed', async () => {
    textract.on(AnalyzeIDCommand).resolves(PASSPORT);
    const out = await run(submission({ document: { allowed_types: ['driving_license'] } }));
    expect(out.last_error).toEqual({
      code: 'document_type_not_supported',
      reason: 'This type of document is not accepted. Please use one of: driving license.',
    });
    expect(out.checks.document?.type).toBe('passport');
  });

  it('maps Textract ID_TYPE to Stripe document types', () => {
    expect(documentTypeOf('DRIVER LICENSE FRONT')).toBe('driving_license');
    expect(documentTypeOf('PASSPORT')).toBe('passport');
    expect(documentTypeOf('STATE ID')).toBe('id_card');
    expect(documentTypeOf(undefined)).toBeNull();
  });

  it('document_unverified_other: empty and low-confidence fields', async () => {
    textract.on(AnalyzeIDCommand).resolves(BLURRED);
    const out = await run(submission({}));
    expect(out.status).toBe('requires_input');
    expect(out.last_error?.code).toBe('document_unverified_other');
    // The 41%-confidence first name is not reported as read.
    expect(out.checks.document).toMatchObject({ status: 'unverified', first_name: null, number: null });
  });

  it('document_unverified_other: one low-confidence required field is enough', async () => {
    const copy = structuredClone(DRIVING_LICENSE);
    const number = copy.IdentityDocuments![0].IdentityDocumentFields!.find((f) => f.Type?.Text === 'DOCUMENT_NUMBER')!;
    number.ValueDetection!.Confidence = 79.9;
    textract.on(AnalyzeIDCommand).resolves(copy);
    expect((await run(submission({}))).last_error?.code).toBe('document_unverified_other');
  });

  it('document_unverified_other: a passport whose MRZ contradicts its printed number', async () => {
    textract.on(AnalyzeIDCommand).resolves(withField(PASSPORT, 'DOCUMENT_NUMBER', '987654821'));
    const out = await run(submission({}));
    expect(out.last_error?.code).toBe('document_unverified_other');
  });

  it.each([
    ['InvalidParameterException', new InvalidParameterException({ message: 'Request has invalid parameters', $metadata: {} })],
    ['BadDocumentException', new BadDocumentException({ message: 'Unable to read the document', $metadata: {} })],
    ['UnsupportedDocumentException', new UnsupportedDocumentException({ message: 'Unsupported document', $metadata: {} })],
  ])('document_unverified_other: Textract %s', async (_name, error) => {
    textract.on(AnalyzeIDCommand).rejects(error);
    const out = await run(submission({}));
    expect(out.status).toBe('requires_input');
    expect(out.last_error?.code).toBe('document_unverified_other');
    expect(out.checks.document).toMatchObject({ status: 'unverified', first_name: null });
  });

  it('document_unverified_other: no document image', async () => {
    const out = await run(submission({}, { files: {} }));
    expect(out.last_error?.code).toBe('document_unverified_other');
    expect(textract.calls()).toHaveLength(0);
  });

  it('under_supported_age: 17 the day before the 18th birthday, 18 on it', async () => {
    textract.on(AnalyzeIDCommand).resolves(withField(DRIVING_LICENSE, 'DATE_OF_BIRTH', '03/02/2008', '2008-03-02'));
    const out = await run(submission({}));
    expect(out.last_error).toEqual({ code: 'under_supported_age', reason: 'The person on the document must be at least 18 years old.' });
    expect((await run(submission({}), new Date('2026-03-02T00:00:00Z'))).status).toBe('verified');
  });

  it('counts whole years; a 29 February birthday comes on 1 March', () => {
    expect(ageOn({ day: 29, month: 2, year: 2008 }, { day: 28, month: 2, year: 2026 })).toBe(17);
    expect(ageOn({ day: 29, month: 2, year: 2008 }, { day: 1, month: 3, year: 2026 })).toBe(18);
  });
});

describe('AwsProvider: selfie decisions', () => {
  const selfieOnly: SessionOptions = { document: { require_matching_selfie: true } };

  it.each([
    ['no face', NO_FACE],
    ['two faces', TWO_FACES],
    ['a blurry face', SELFIE_BLURRY],
  ])('selfie_unverified_other: %s in the selfie', async (_what, selfieFaces) => {
    faces(selfieFaces);
    const out = await run(submission(selfieOnly));
    expect(out.status).toBe('requires_input');
    expect(out.last_error?.code).toBe('selfie_unverified_other');
    expect(out.checks.document?.status).toBe('verified');
    expect(rekognition.commandCalls(CompareFacesCommand)).toHaveLength(0);
  });

  it('selfie_unverified_other: Rekognition rejects the image', async () => {
    rekognition
      .on(DetectFacesCommand)
      .rejects(new InvalidImageFormatException({ message: 'Request has invalid image format', $metadata: {} }));
    expect((await run(submission(selfieOnly))).last_error?.code).toBe('selfie_unverified_other');
  });

  it('selfie_unverified_other: no selfie submitted', async () => {
    const out = await run(submission(selfieOnly, { files: { document_front: FRONT } }));
    expect(out.last_error?.code).toBe('selfie_unverified_other');
  });

  it('selfie_document_missing_photo: no face on the document', async () => {
    faces(SELFIE_FACE, NO_FACE);
    const out = await run(submission(selfieOnly));
    expect(out.last_error?.code).toBe('selfie_document_missing_photo');
    expect(rekognition.commandCalls(CompareFacesCommand)).toHaveLength(0);
  });

  it('selfie_face_mismatch: CompareFaces finds no match above the threshold', async () => {
    rekognition.on(CompareFacesCommand).resolves(NO_MATCH);
    const out = await run(submission(selfieOnly));
    expect(out.last_error?.code).toBe('selfie_face_mismatch');
    expect(out.checks.selfie).toMatchObject({ status: 'unverified', error: { code: 'selfie_face_mismatch' } });
  });

  it('reports every check but fails with the first failure (document before selfie)', async () => {
    rekognition.on(CompareFacesCommand).resolves(NO_MATCH);
    const out = await run(submission(selfieOnly), new Date('2032-01-01T00:00:00Z'));
    expect(out.last_error?.code).toBe('document_expired');
    expect(out.checks.selfie?.error?.code).toBe('selfie_face_mismatch');
  });
});

describe('AwsProvider: id number decisions', () => {
  const numberOnly: SessionOptions = { document: { require_id_number: true } };

  it('id_number_mismatch: a number that is not the document number', async () => {
    const out = await run(submission(numberOnly, { id_number: { number: 'M12345678900' } }));
    expect(out.last_error?.code).toBe('id_number_mismatch');
    expect(out.checks.id_number).toMatchObject({ status: 'unverified', id_number: 'M12345678900', first_name: 'ALEX' });
  });

  it('id_number_mismatch: a name or date of birth that differs from the document', async () => {
    const wrongName = await run(submission(numberOnly, { id_number: { number: 'M12345678901', last_name: 'Morgen' } }));
    expect(wrongName.last_error).toEqual({ code: 'id_number_mismatch', reason: 'The name does not match the name on the document.' });
    const wrongDob = await run(
      submission(numberOnly, { id_number: { number: 'M12345678901', dob: { day: 15, month: 7, year: 1985 } } }),
    );
    expect(wrongDob.last_error?.code).toBe('id_number_mismatch');
  });

  it('id_number_insufficient_document_data: an id_number session has no document to compare with', async () => {
    const input = submission({}, { type: 'id_number', files: {}, id_number: { number: '123-45-6789', type: 'us_ssn' } });
    const out = await run(input);
    expect(out.status).toBe('requires_input');
    expect(out.last_error?.code).toBe('id_number_insufficient_document_data');
    // Only the last 4 digits of an SSN are kept; no AWS call is made.
    expect(out.checks).toEqual({
      id_number: expect.objectContaining({ status: 'unverified', id_number: '6789', id_number_type: 'us_ssn' }),
    });
    expect(textract.calls()).toHaveLength(0);
    expect(rekognition.calls()).toHaveLength(0);
  });

  it('id_number_insufficient_document_data: an SSN the document does not show, or an unreadable document', async () => {
    const ssn = await run(submission(numberOnly, { id_number: { number: '123456789', type: 'us_ssn' } }));
    expect(ssn.last_error?.code).toBe('id_number_insufficient_document_data');

    textract.on(AnalyzeIDCommand).rejects(new BadDocumentException({ message: 'Unable to read the document', $metadata: {} }));
    const unreadable = await run(submission(numberOnly, { id_number: { number: 'M12345678901' } }));
    expect(unreadable.last_error?.code).toBe('document_unverified_other');
    expect(unreadable.checks.id_number?.error?.code).toBe('id_number_insufficient_document_data');
  });

  it('id_number_unverified_other: no number submitted', async () => {
    const out = await run(submission(numberOnly));
    expect(out.checks.id_number?.error?.code).toBe('id_number_unverified_other');
  });
});

describe('AwsProvider: errors a retry may fix are thrown', () => {
  it('Textract throttling', async () => {
    const throttled = new ThrottlingException({ message: 'Rate exceeded', $metadata: { httpStatusCode: 400 } });
    textract.on(AnalyzeIDCommand).rejects(throttled);
    await expect(run(submission({}))).rejects.toBe(throttled);
  });

  it('a Rekognition 5xx', async () => {
    const outage = new InternalServerError({ message: 'Internal server error', $metadata: { httpStatusCode: 500 } });
    rekognition.on(CompareFacesCommand).rejects(outage);
    await expect(run(submission({ document: { require_matching_selfie: true } }))).rejects.toBe(outage);
  });
});
