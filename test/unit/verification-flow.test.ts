import { describe, expect, it } from 'vitest';
import { ApiError } from '../../lambdas/domain/errors.js';
import { parseParams } from '../../lambdas/domain/params.js';
import { checksFor, renderReport } from '../../lambdas/domain/report.js';
import { requirements } from '../../lambdas/page/html.js';
import {
  CREATE_PARAMS,
  type CreateParams,
  type SessionRecord,
  applyUpdate,
  checkTypeOf,
  newSession,
  renderSession,
} from '../../lambdas/domain/session.js';
import { CREATE_FLOW_PARAMS, type CreateFlowParams, newFlow, presetOf, renderFlow } from '../../lambdas/domain/verification-flow.js';
import { parseForm } from '../../lambdas/api/http.js';
import { recordOutcome } from '../../lambdas/checks/provider.js';

const scope = { account: 'acct_1', livemode: false };
const flowParams = (form: string) => parseParams<CreateFlowParams>(CREATE_FLOW_PARAMS, parseForm(form, 'body'));
const sessionParams = (form: string) => parseParams<CreateParams>(CREATE_PARAMS, parseForm(form, 'body'));

function errorOf(fn: () => unknown): ApiError {
  try {
    fn();
  } catch (err) {
    if (err instanceof ApiError) return err;
    throw err;
  }
  throw new Error('expected an ApiError');
}

const flow = newFlow(flowParams('type=document&options[document][require_id_number]=true&metadata[team]=kyc'), {
  id: 'vf_0VcOcsy9AWLrEOraAjOXO000',
  scope,
  nowMs: 1_700_000_000_000,
});
const fromFlow = (form = `verification_flow=${flow.id}`) =>
  newSession(sessionParams(form), { id: 'vs_0VcOcsy9AWLrEOraAjOXO001', scope, nowMs: 1_700_000_000_000, request: null, flow: presetOf(flow) });

describe('verification flow parameters', () => {
  it('take a type, a session\'s options and metadata', () => {
    expect(renderFlow(flow)).toEqual({
      id: flow.id,
      object: 'identity.verification_flow',
      created: 1_700_000_000,
      livemode: false,
      metadata: { team: 'kyc' },
      options: { document: { require_id_number: true } },
      type: 'document',
    });
  });

  it('require a type of document or id_number, and check options as a session does', () => {
    expect(errorOf(() => flowParams('metadata[a]=b')).toBody().error).toMatchObject({ code: 'parameter_missing', param: 'type' });
    expect(errorOf(() => flowParams('type=verification_flow')).toBody().error.param).toBe('type');
    expect(errorOf(() => flowParams('type=document&options[document][require_live_capture]=maybe')).toBody().error.param).toBe(
      'options[document][require_live_capture]',
    );
    expect(errorOf(() => flowParams('type=document&verification_flow=vf_x')).toBody().error).toMatchObject({ code: 'parameter_unknown' });
  });
});

describe('a session made from a flow', () => {
  it('has type verification_flow, the flow\'s options, and shows the flow', () => {
    const s = fromFlow();
    expect(s).toMatchObject({ type: 'verification_flow', verification_flow: flow.id, flow_type: 'document', options: flow.options });
    const shown = renderSession(s, { nowSeconds: 1_700_000_000, pageBaseUrl: 'https://x' });
    expect(shown).toMatchObject({ type: 'verification_flow', verification_flow: flow.id });
    // Alphabetical, as Stripe's objects are.
    expect(Object.keys(shown).slice(-2)).toEqual(['url', 'verification_flow']);
  });

  it('refuses type or options given with verification_flow, naming the parameter', () => {
    expect(errorOf(() => fromFlow(`verification_flow=${flow.id}&type=document`)).toBody().error).toMatchObject({
      code: 'parameters_exclusive',
      param: 'type',
    });
    expect(errorOf(() => fromFlow(`verification_flow=${flow.id}&options[document][require_matching_selfie]=true`)).toBody().error).toMatchObject({
      code: 'parameters_exclusive',
      param: 'options',
    });
  });

  it('runs the checks of its flow\'s type, everywhere they are asked for', () => {
    const s = fromFlow();
    expect(checkTypeOf(s)).toBe('document');
    expect(checksFor(s)).toEqual({ document: true, selfie: false, id_number: true });
    expect(requirements(s)).toMatchObject({ document: true, idNumber: true, selfie: false, personDetails: false });
    const idFlow = { ...s, flow_type: 'id_number' as const, options: {} };
    expect(checksFor(idFlow)).toEqual({ document: false, selfie: false, id_number: true });
    expect(requirements(idFlow)).toMatchObject({ document: false, idNumber: true, personDetails: true });
  });

  it('gives reports that carry the flow, with the options of its checks', () => {
    const s: SessionRecord = { ...fromFlow(), status: 'processing' };
    const { report } = recordOutcome(
      s,
      { status: 'verified', last_error: null, checks: {}, verified_outputs: null } as never,
      { reportId: 'vr_0VcOcsy9AWLrEOraAjOXO002', nowSeconds: 1_700_000_100, provider: 'test' },
    );
    const shown = renderReport(report);
    expect(shown).toMatchObject({ type: 'verification_flow', verification_flow: flow.id, options: { document: { require_id_number: true } } });
    expect(Object.keys(shown).slice(-3)).toEqual(['type', 'verification_flow', 'verification_session']);
    expect(shown).toHaveProperty('document');
    expect(shown).toHaveProperty('id_number');
  });

  it('keeps the flow\'s type and options through updates', () => {
    const s = fromFlow();
    const stamp = { updated_ms: 1_700_000_001_000, last_request: null };
    expect(errorOf(() => applyUpdate(s, { type: 'id_number' }, stamp)).toBody().error.param).toBe('type');
    expect(errorOf(() => applyUpdate(s, { options: null }, stamp)).toBody().error.param).toBe('options');
    expect(applyUpdate(s, { metadata: { a: 'b' } }, stamp).metadata).toEqual({ a: 'b' });
  });
});
