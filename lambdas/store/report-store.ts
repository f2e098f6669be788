import { GetCommand, PutCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { batchGetAll } from './dynamo.js';
import type { ReportRecord } from '../domain/report.js';
import type { Scope } from '../domain/session.js';
import { scopeKey } from './session-store.js';
import { REPORT_SK_PREFIX } from './table.js';
import { type CreatedFilter, queryTimeOrderedPage } from './time-ordered-list.js';

export const reportKey = (scope: Scope, id: string) => ({ pk: scopeKey(scope), sk: `${REPORT_SK_PREFIX}${id}` });
export const reportItem = (r: ReportRecord) => ({ ...reportKey(r, r.id), ...r });

function fromItem(item: Record<string, unknown>): ReportRecord {
  const { pk: _pk, sk: _sk, ...rest } = item;
  return rest as unknown as ReportRecord;
}

export interface ReportListQuery {
  limit: number;
  starting_after?: string;
  ending_before?: string;
  created?: CreatedFilter;
  verification_session?: string;
  client_reference_id?: string;
  type?: string;
}

/** VerificationReports, in the account's partition like its sessions. */
export class ReportStore {
  constructor(
    private readonly doc: DynamoDBDocumentClient,
    readonly table: string,
  ) {}

  async get(scope: Scope, id: string): Promise<ReportRecord | undefined> {
    const r = await this.doc.send(new GetCommand({ TableName: this.table, Key: reportKey(scope, id), ConsistentRead: true }));
    return r.Item ? fromItem(r.Item) : undefined;
  }

  /** The reports with these ids that exist. */
  async getMany(scope: Scope, ids: string[]): Promise<ReportRecord[]> {
    return (await batchGetAll(this.doc, this.table, ids.map((id) => reportKey(scope, id)))).map(fromItem);
  }

  /** Overwrites a report (redaction). */
  async replace(report: ReportRecord): Promise<void> {
    await this.doc.send(new PutCommand({ TableName: this.table, Item: reportItem(report), ConditionExpression: 'attribute_exists(pk)' }));
  }

  list(scope: Scope, q: ReportListQuery): Promise<{ data: ReportRecord[]; has_more: boolean }> {
    return queryTimeOrderedPage(
      this.doc,
      this.table,
      {
        pk: scopeKey(scope),
        skPrefix: REPORT_SK_PREFIX,
        idPrefix: 'vr',
        limit: q.limit,
        starting_after: q.starting_after,
        ending_before: q.ending_before,
        created: q.created,
        equals: { verification_session: q.verification_session, client_reference_id: q.client_reference_id, type: q.type },
      },
      fromItem,
    );
  }

  /** Every report of a session (redaction rewrites them all). */
  async allOfSession(scope: Scope, sessionId: string): Promise<ReportRecord[]> {
    const out: ReportRecord[] = [];
    let after: string | undefined;
    for (;;) {
      const page = await this.list(scope, { limit: 100, verification_session: sessionId, starting_after: after });
      out.push(...page.data);
      if (!page.has_more) return out;
      after = page.data[page.data.length - 1].id;
    }
  }
}
