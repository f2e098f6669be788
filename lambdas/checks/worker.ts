import type { SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';
import { type FileRecord, SNIFF_BYTES, fileIdFor, sniffImageType } from '../domain/file.js';
import { derivedTimeOrderedId } from '../domain/ids.js';
import { accountFromResources } from '../events/routing.js';
import { type FileRefs, checksFor, redactReport, redactVerifiedOutputs } from '../domain/report.js';
import { type FileSlot, type SessionRecord, checkTypeOf, transition } from '../domain/session.js';
import { FILE_RETENTION_DAYS, type FileStore } from '../store/file-store.js';
import { fileRecordItem } from '../store/file-record-store.js';
import { reportItem } from '../store/report-store.js';
import { type SessionStore, StaleSession } from '../store/session-store.js';
import { type CheckProvider, type SubmissionInput, type TestOutcome, recordOutcome } from './provider.js';
import { logLine, logger, recordMetric } from '../observability/powertools.js';
import { METRIC } from '../observability/metric-names.js';

export interface ChecksWorkerDeps {
  sessions: SessionStore;
  files: FileStore;
  /** Test keys' sessions use `test`, live keys' sessions `live`. */
  providers: { test: CheckProvider; live: CheckProvider };
  /** Hides a message for a while (SQS ChangeMessageVisibility): async test outcomes wait this way. */
  postpone: (record: SQSRecord, seconds: number) => Promise<void>;
  now?: () => number;
  log?: (line: string) => void;
}

/** A report's id follows from the attempt it is about: a rerun of the same attempt makes the same report. */
export const reportIdFor = (s: SessionRecord) => derivedTimeOrderedId('vr', s.submission?.submitted_ms ?? s.updated_ms, 0, `${s.id}|${s.version}`);

type Outcome = 'done' | 'retry';

/**
 * The checks queue's consumer (messages: processing events from the bus). For
 * a session still `processing`, it runs the provider and writes the report and
 * the session's next status in one transaction conditioned on the version it
 * read. A message for a session that is no longer processing (a redelivery
 * after success, a duplicate) changes nothing.
 */
export function createChecksWorker(deps: ChecksWorkerDeps) {
  const now = deps.now ?? Date.now;
  const log = deps.log ?? logLine;

  async function handle(record: SQSRecord): Promise<Outcome> {
    // A reference to the processing event (lambdas/events/routing.ts ROUTE_MESSAGE): the session is read from the table.
    const envelope = JSON.parse(record.body) as { resources?: string[]; detail: { livemode: boolean; data: { object: { id: string } } } };
    const account = accountFromResources(envelope.resources);
    if (!account) throw new Error('the message names no account in resources');
    const scope = { account, livemode: envelope.detail.livemode };
    const session = await deps.sessions.get(scope, envelope.detail.data.object.id);
    if (!session || session.status !== 'processing' || !session.submission) return 'done';
    logger.appendKeys({ account, session_id: session.id });

    const sub = session.submission;
    const dueMs = sub.submitted_ms + (sub.test?.delay_seconds ?? 0) * 1000;
    if (dueMs > now()) {
      await deps.postpone(record, Math.ceil((dueMs - now()) / 1000));
      return 'retry';
    }

    const bytes: SubmissionInput['files'] = {};
    if (session.livemode) {
      for (const [slot, key] of Object.entries(sub.files) as [FileSlot, string][]) {
        const data = await deps.files.read(key);
        if (data) bytes[slot] = data;
      }
    }
    const testOutcome: TestOutcome | undefined = sub.test
      ? sub.test.outcome === 'unverified'
        ? { result: 'unverified', code: sub.test.code as never }
        : { result: 'verified' }
      : undefined;
    const provider = session.livemode ? deps.providers.live : deps.providers.test;
    const checksStarted = Date.now();
    const outcome = await provider.check(
      {
        sessionId: session.id,
        livemode: session.livemode,
        type: checkTypeOf(session),
        options: session.options,
        files: bytes,
        document_type: sub.document_type ?? undefined,
        id_number: sub.id_number ?? undefined,
        test_outcome: testOutcome,
      },
      checksFor(session),
    );
    recordMetric(METRIC.checksDuration, Date.now() - checksStarted);
    // The report names the files that were stored (a test-mode submission may list
    // slots it never uploaded), and each gets a record for the Files API.
    const files: FileRefs = {};
    const fileRecords: FileRecord[] = [];
    for (const [slot, key] of Object.entries(sub.files) as [FileSlot, string][]) {
      const stored = await deps.files.head(key);
      if (!stored) continue;
      // The type the bytes show, not the one the upload named (live mode read them already; else one ranged GET).
      // The read only labels the file: if storage fails it, the file is recorded without a type, the checks stand.
      const start =
        bytes[slot] ??
        (await deps.files.readStart(key, SNIFF_BYTES).catch((err: unknown) => {
          log(JSON.stringify({ level: 'warn', message: 'could not read the start of an uploaded file; recorded without a type', session: session.id, slot, error: String(err) }));
          return undefined;
        }));
      const contentType = sniffImageType(start);
      const created = Math.floor(stored.uploadedMs / 1000);
      files[slot] = fileIdFor(key);
      fileRecords.push({
        id: files[slot],
        account: scope.account,
        livemode: scope.livemode,
        session: session.id,
        slot,
        storage_key: key,
        content_type: contentType,
        size: stored.size,
        created,
        expires_at: created + FILE_RETENTION_DAYS * 86400,
      });
    }
    const nowMs = now();
    const result = recordOutcome(session, outcome, { reportId: reportIdFor(session), nowSeconds: Math.floor(nowMs / 1000), provider: provider.name, files });
    // The session may change while the checks run (a redact asked for meanwhile): the
    // outcome is written onto what the session is at the time of the write, as long as
    // it still waits for this attempt's checks.
    let current = session;
    let next: SessionRecord;
    for (let tries = 0; ; tries++) {
      const pendingRedaction = current.redaction != null;
      next = transition(current, result.action, { updated_ms: nowMs, last_request: null }, (s) => {
        s.last_error = result.session.last_error;
        // A session being redacted gets what it will keep: outputs and report redacted at once.
        const outputs = result.session.verified_outputs;
        s.verified_outputs = (outputs && pendingRedaction ? redactVerifiedOutputs(outputs) : outputs) as SessionRecord['verified_outputs'];
        s.last_verification_report = result.session.last_verification_report;
        s.report_ids = [...(s.report_ids ?? []), result.report.id];
        if (fileRecords.length > 0) s.file_ids = [...new Set([...(s.file_ids ?? []), ...fileRecords.map((f) => f.id)])];
        // Once the checks end, the submission keeps only what says what was sent: the
        // ID number, names and date of birth now live only in the report and verified_outputs.
        if (s.submission) s.submission = { ...s.submission, id_number: null };
      });
      const report = pendingRedaction ? redactReport(result.report) : result.report;
      try {
        await deps.sessions.commitWithReport(next, { action: result.action, version: current.version }, reportItem(report), fileRecords.map(fileRecordItem));
        break;
      } catch (err) {
        if (!(err instanceof StaleSession)) throw err;
        const latest = await deps.sessions.get(session, session.id);
        // Finished by another run of this attempt, or moved on: nothing left to write.
        if (!latest || latest.status !== 'processing' || latest.attempt !== session.attempt || tries >= 4) return 'done';
        current = latest;
      }
    }
    recordMetric(METRIC.checksRuns, 1, { name: 'outcome', value: next.status === 'verified' ? 'verified' : 'requires_input' });
    log(JSON.stringify({ level: 'info', message: 'checks finished', session: session.id, status: next.status, report: result.report.id }));
    return 'done';
  }

  return async (event: SQSEvent): Promise<SQSBatchResponse> => {
    const failures: SQSBatchResponse['batchItemFailures'] = [];
    for (const record of event.Records) {
      try {
        if ((await handle(record)) === 'retry') failures.push({ itemIdentifier: record.messageId });
      } catch (err) {
        recordMetric(METRIC.checksRuns, 1, { name: 'outcome', value: 'error' });
        log(JSON.stringify({ level: 'error', message: 'checks failed; the message will be retried', messageId: record.messageId, error: err instanceof Error ? err.message : String(err) }));
        failures.push({ itemIdentifier: record.messageId });
      }
    }
    return { batchItemFailures: failures };
  };
}
