import qs from 'qs';
import { describe, expect, it } from 'vitest';
import { ApiError } from '../../lambdas/domain/errors.js';
import { parseParams } from '../../lambdas/domain/params.js';
import { CREATE_PARAMS, UPDATE_PARAMS, mergeMetadata } from '../../lambdas/domain/session.js';
import { parseForm } from '../../lambdas/api/http.js';

const create = (form: string) => parseParams<Record<string, unknown>>(CREATE_PARAMS, parseForm(form, 'body'));

function errorOf(fn: () => unknown): ApiError {
  try {
    fn();
  } catch (err) {
    if (err instanceof ApiError) return err;
    throw err;
  }
  throw new Error('expected an ApiError');
}

describe('form parameters', () => {
  it('parses indexed, curl-style and percent-encoded bracket arrays alike', () => {
    const a = create('type=document&options[document][allowed_types][0]=passport&options[document][allowed_types][1]=id_card');
    const b = create('type=document&options[document][allowed_types][]=passport&options[document][allowed_types][]=id_card');
    const c = create(
      'type=document&options%5Bdocument%5D%5Ballowed_types%5D%5B0%5D=passport&options%5Bdocument%5D%5Ballowed_types%5D%5B1%5D=id_card',
    );
    expect(a).toEqual(b);
    expect(c).toEqual(a);
    expect(a.options).toEqual({ document: { allowed_types: ['passport', 'id_card'] } });
  });

  it('parses booleans and metadata', () => {
    const p = create('type=document&options[document][require_matching_selfie]=true&metadata[order]=42&metadata[gone]=');
    expect(p.options).toEqual({ document: { require_matching_selfie: true } });
    expect(p.metadata).toEqual({ order: '42', gone: null });
  });

  it('rejects unknown parameters, naming them with brackets', () => {
    const e = errorOf(() => create('type=document&options[document][colour]=red'));
    expect(e.status).toBe(400);
    expect(e.code).toBe('parameter_unknown');
    expect(e.param).toBe('options[document][colour]');
    expect(errorOf(() => create('type=document&foo=1')).param).toBe('foo');
  });

  it('rejects bad enum values with the allowed values', () => {
    const e = errorOf(() => create('type=passport'));
    expect(e.param).toBe('type');
    expect(e.message).toContain('document, or id_number');
    const f = errorOf(() => create('type=document&options[document][allowed_types][0]=library_card'));
    expect(f.param).toBe('options[document][allowed_types][0]');
    expect(f.message).toContain('driving_license, id_card, or passport');
  });

  it('rejects wrong types', () => {
    expect(errorOf(() => create('type=document&options[document][require_id_number]=yes')).param).toBe(
      'options[document][require_id_number]',
    );
    expect(errorOf(() => create('type[a]=document')).param).toBe('type');
    expect(errorOf(() => create('type=document&metadata=abc')).param).toBe('metadata');
    expect(errorOf(() => create('type=document&related_person[account]=acct_1')).code).toBe('parameter_missing');
  });

  it('enforces metadata limits: 50 keys, 40-character keys, 500-character values', () => {
    const fifty = Array.from({ length: 50 }, (_, i) => `metadata[k${i}]=v`).join('&');
    expect(create(`type=document&${fifty}`).metadata).toHaveProperty('k49', 'v');
    expect(errorOf(() => create(`type=document&${fifty}&metadata[k50]=v`)).param).toBe('metadata');
    expect(errorOf(() => create(`type=document&metadata[${'k'.repeat(41)}]=v`)).param).toBe(`metadata[${'k'.repeat(41)}]`);
    expect(errorOf(() => create(`type=document&metadata[a]=${'v'.repeat(501)}`)).param).toBe('metadata[a]');
    expect(create(`type=document&metadata[${'k'.repeat(40)}]=${'v'.repeat(500)}`).metadata).toBeDefined();
  });

  it('an empty value unsets a metadata key; the merged result may not pass 50 keys', () => {
    const current = Object.fromEntries(Array.from({ length: 50 }, (_, i) => [`k${i}`, 'v']));
    expect(Object.keys(mergeMetadata(current, { k0: null, extra: 'x' }))).toHaveLength(50);
    expect(errorOf(() => mergeMetadata(current, { extra: 'x' })).param).toBe('metadata');
    expect(mergeMetadata(current, null)).toEqual({});
  });

  it('an empty string unsets optional fields but not required ones', () => {
    expect(create('type=document&client_reference_id=').client_reference_id).toBeNull();
    expect(errorOf(() => create('type=')).code).toBe('parameter_invalid_empty');
    const upd = parseParams<Record<string, unknown>>(UPDATE_PARAMS, qs.parse('options='));
    expect(upd.options).toBeNull();
  });

  it('refuses bodies over the size limit and absurd nesting', () => {
    expect(errorOf(() => parseForm(`metadata[a]=${'x'.repeat(70_000)}`, 'body')).status).toBe(413);
    expect(errorOf(() => parseForm('a[b][c][d][e][f][g][h]=1', 'body')).status).toBe(400);
  });
});
