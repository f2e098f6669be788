import { resourceMissing } from '../domain/errors.js';
import { checkCursors } from './list-cursors.js';
import { isTimeOrderedId } from '../domain/ids.js';
import { arrayOf, int, obj, oneOf, parseParams, range, str } from '../domain/params.js';
import { renderReport } from '../domain/report.js';
import { ALL_SESSION_TYPES } from '../domain/session.js';
import type { ReportListQuery, ReportStore } from '../store/report-store.js';
import type { HttpResponse } from './http.js';
import type { CallContext } from './sessions.js';

export interface ReportDeps {
  reports: ReportStore;
}

const REPORTS_URL = '/v1/identity/verification_reports';
const NO_EXPAND = obj({ expand: arrayOf(str(5000, false), 20) });
const LIST_PARAMS = obj({
  limit: int(1, 100),
  starting_after: str(5000, false),
  ending_before: str(5000, false),
  created: range(),
  verification_session: str(5000, false),
  client_reference_id: str(5000, false),
  type: oneOf(ALL_SESSION_TYPES),
  expand: arrayOf(str(5000, false), 20),
});

export async function retrieveReport(deps: ReportDeps, ctx: CallContext, id: string, raw: unknown): Promise<HttpResponse> {
  parseParams(NO_EXPAND, raw);
  const report = isTimeOrderedId(id, 'vr') ? await deps.reports.get(ctx.scope, id) : undefined;
  if (!report) throw resourceMissing('verification report', id, 'report');
  return { status: 200, body: renderReport(report) };
}

export async function listReports(deps: ReportDeps, ctx: CallContext, raw: unknown): Promise<HttpResponse> {
  const p = parseParams<Omit<ReportListQuery, 'limit'> & { limit?: number; expand?: string[] }>(LIST_PARAMS, raw);
  checkCursors(p, 'vr', (id, param) => resourceMissing('verification report', id, param));
  const page = await deps.reports.list(ctx.scope, {
    limit: p.limit ?? 10,
    starting_after: p.starting_after,
    ending_before: p.ending_before,
    created: p.created,
    verification_session: p.verification_session,
    client_reference_id: p.client_reference_id,
    type: p.type,
  });
  return { status: 200, body: { object: 'list', data: page.data.map(renderReport), has_more: page.has_more, url: REPORTS_URL } };
}
