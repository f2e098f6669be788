/**
 * Verification flows (`vf_`), an extension of this service: a stored preset
 * of a session's type and options, so that sessions made from it
 * (`verification_flow=vf_...` at create) run the same checks. Stripe makes
 * flows in its Dashboard; here they are made and read through the API:
 *   POST /v1/identity/verification_flows        create (type, options, metadata)
 *   GET  /v1/identity/verification_flows        list, newest first
 *   GET  /v1/identity/verification_flows/{id}   retrieve
 * A flow cannot be changed once made, so a session made from it needs one read.
 * Pure: no AWS imports.
 */
import { invalidRequest } from './errors.js';
import { timeOrderedId } from './ids.js';
import { metadata, obj, oneOf } from './params.js';
import {
  type CheckType,
  type FlowPreset,
  type Scope,
  type SessionOptions,
  SESSION_TYPES,
  cleanOptions,
  mergeMetadata,
  optionsParam,
} from './session.js';

export const FLOW_ID_PREFIX = 'vf';

/** A flow as stored (there is no bookkeeping beyond the API object's fields). */
export interface FlowRecord {
  id: string;
  account: string;
  livemode: boolean;
  /** Unix seconds. */
  created: number;
  type: CheckType;
  options: SessionOptions;
  metadata: Record<string, string>;
}

export const CREATE_FLOW_PARAMS = obj(
  {
    type: oneOf(SESSION_TYPES),
    // The same options as a session's, checked by the same schema.
    options: optionsParam,
    metadata: metadata(),
  },
  { required: ['type'] },
);

export interface CreateFlowParams {
  type: CheckType;
  options?: { document?: Record<string, unknown> | null } | null;
  metadata?: Record<string, string | null> | null;
}

export const newFlowId = (ms: number) => timeOrderedId(FLOW_ID_PREFIX, ms);

export function newFlow(params: CreateFlowParams, ctx: { id: string; scope: Scope; nowMs: number }): FlowRecord {
  return {
    id: ctx.id,
    account: ctx.scope.account,
    livemode: ctx.scope.livemode,
    created: Math.floor(ctx.nowMs / 1000),
    type: params.type,
    options: cleanOptions(params.options as Parameters<typeof cleanOptions>[0]),
    metadata: mergeMetadata({}, params.metadata),
  };
}

/** What a session made from the flow takes from it. */
export const presetOf = (flow: FlowRecord): FlowPreset => ({ id: flow.id, type: flow.type, options: flow.options });

/** The flow as the API shows it (`identity.verification_flow`, this service's own object). */
export function renderFlow(f: FlowRecord) {
  return {
    id: f.id,
    object: 'identity.verification_flow',
    created: f.created,
    livemode: f.livemode,
    metadata: f.metadata,
    options: f.options,
    type: f.type,
  };
}

/**
 * `verification_flow` at a session's create names no flow of the caller's
 * account and mode: a 400 naming the parameter (another account's flow is
 * indistinguishable from a missing one).
 */
export const flowMissing = (id: string) =>
  invalidRequest(`No such verification flow: '${id}'`, { code: 'resource_missing', param: 'verification_flow' });
