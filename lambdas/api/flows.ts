import { resourceMissing } from '../domain/errors.js';
import { isTimeOrderedId } from '../domain/ids.js';
import { int, obj, parseParams, range, str } from '../domain/params.js';
import {
  CREATE_FLOW_PARAMS,
  type CreateFlowParams,
  FLOW_ID_PREFIX,
  type FlowRecord,
  flowMissing,
  newFlow,
  newFlowId,
  renderFlow,
} from '../domain/verification-flow.js';
import { type IdempotencyStore, IdempotencyKeyTaken } from '../store/idempotency.js';
import type { FlowListQuery, FlowStore } from '../store/flow-store.js';
import type { HttpResponse } from './http.js';
import { answerFromSaved } from './idempotent.js';
import { checkCursors } from './list-cursors.js';
import type { CallContext } from './sessions.js';

/** Verification flows: an extension of this service (see lambdas/domain/verification-flow.ts). */
export interface FlowDeps {
  flows: FlowStore;
  idempotency: IdempotencyStore;
}

const FLOWS_URL = '/v1/identity/verification_flows';
const missing = (id: string, param = 'id') => resourceMissing('verification flow', id, param);

export async function createFlow(deps: FlowDeps, ctx: CallContext, raw: unknown): Promise<HttpResponse> {
  const params = parseParams<CreateFlowParams>(CREATE_FLOW_PARAMS, raw);
  const flow = newFlow(params, { id: newFlowId(ctx.nowMs), scope: ctx.scope, nowMs: ctx.nowMs });
  const body = renderFlow(flow);
  try {
    await deps.flows.create(flow, ctx.idempotency && { req: ctx.idempotency, status: 200, body, nowMs: ctx.nowMs });
  } catch (err) {
    if (err instanceof IdempotencyKeyTaken) return answerFromSaved(err.saved, ctx.idempotency!);
    throw err;
  }
  return { status: 200, body };
}

export async function retrieveFlow(deps: FlowDeps, ctx: CallContext, id: string, raw: unknown): Promise<HttpResponse> {
  parseParams(obj({}), raw);
  const flow = isTimeOrderedId(id, FLOW_ID_PREFIX) ? await deps.flows.get(ctx.scope, id) : undefined;
  if (!flow) throw missing(id);
  return { status: 200, body: renderFlow(flow) };
}

const LIST_PARAMS = obj({
  limit: int(1, 100),
  starting_after: str(5000, false),
  ending_before: str(5000, false),
  created: range(),
});

export async function listFlows(deps: FlowDeps, ctx: CallContext, raw: unknown): Promise<HttpResponse> {
  const p = parseParams<Omit<FlowListQuery, 'limit'> & { limit?: number }>(LIST_PARAMS, raw);
  checkCursors(p, FLOW_ID_PREFIX, missing);
  const page = await deps.flows.list(ctx.scope, { ...p, limit: p.limit ?? 10 });
  return { status: 200, body: { object: 'list', data: page.data.map(renderFlow), has_more: page.has_more, url: FLOWS_URL } };
}

/**
 * The flow a session's create names in `verification_flow`: one consistent
 * read in the caller's account and mode. Absent (or another account's): a 400
 * naming `verification_flow`.
 */
export async function flowForSession(deps: FlowDeps, ctx: CallContext, id: string): Promise<FlowRecord> {
  const flow = isTimeOrderedId(id, FLOW_ID_PREFIX) ? await deps.flows.get(ctx.scope, id) : undefined;
  if (!flow) throw flowMissing(id);
  return flow;
}
