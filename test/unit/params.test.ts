import qs from 'qs';
import { describe, expect, it } from 'vitest';
import { ApiError } from '../../lambdas/domain/errors.js';
import { httpUrlProblem, parseParams, redirectTarget } from '../../lambdas/domain/params.js';
import { CREATE_PARAMS, UPDATE_PARAMS, mergeMetadata } from '../../lambdas/domain/session.js';
import { maskPath, parseForm } from '../../lambdas/api/http.js';

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

  it('reads booleans in any case, as stripe-python sends them (True / False)', () => {
    const opts = (v: string) => create(`type=document&options[document][require_matching_selfie]=${v}`).options;
    for (const v of ['True', 'TRUE', 'tRuE']) expect(opts(v)).toEqual({ document: { require_matching_selfie: true } });
    for (const v of ['False', 'FALSE', 'fAlSe']) expect(opts(v)).toEqual({ document: { require_matching_selfie: false } });
    for (const v of ['1', 'yes', 'truee', ' true']) {
      const e = errorOf(() => opts(v));
      expect(e.status).toBe(400);
      expect(e.param).toBe('options[document][require_matching_selfie]');
    }
    expect(errorOf(() => opts('')).code).toBe('parameter_invalid_empty');
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

describe('input the audit found', () => {
  it('return_url must be an absolute http(s) URL without control characters', () => {
    expect(create('return_url=https://merchant.example/done?x=1').return_url).toBe('https://merchant.example/done?x=1');
    expect(create('return_url=http://127.0.0.1:3000/back').return_url).toBe('http://127.0.0.1:3000/back');
    expect(create('return_url=').return_url).toBeNull();
    for (const bad of ['https://a.example/%0D%0ASet-Cookie:x=1', 'https://a.example/%09x', '/relative/done', 'javascript:alert(1)', 'ftp://a.example/', 'data:text/html,hi', 'https://', 'file:///etc/passwd']) {
      const err = errorOf(() => create(`return_url=${bad}`));
      expect(err.status, bad).toBe(400);
      expect(err.toBody().error, bad).toMatchObject({ type: 'invalid_request_error', param: 'return_url' });
    }
    expect(httpUrlProblem('https://a.example/\r\nx')).toMatch(/control characters/);
  });

  it('a stored return_url that breaks the rule is no redirect; a good one redirects in its ASCII form', () => {
    expect(redirectTarget('https://a.example/\r\nSet-Cookie: x=1')).toBeUndefined();
    expect(redirectTarget('javascript:alert(1)')).toBeUndefined();
    expect(redirectTarget(null)).toBeUndefined();
    expect(redirectTarget('https://bücher.example/über')).toBe('https://xn--bcher-kva.example/%C3%BCber');
  });

  it('refuses metadata keys that a plain object cannot hold, naming them', () => {
    for (const key of ['__proto__', 'constructor', 'prototype']) {
      for (const form of [`metadata[${key}]=x&metadata[a]=1`, `metadata%5B${key}%5D=x`]) {
        const err = errorOf(() => create(form));
        expect(err.status, form).toBe(400);
        expect(err.toBody().error.param, form).toBe(`metadata[${key}]`);
      }
    }
    // Other names Object.prototype has are ordinary keys.
    expect(create('metadata[toString]=x&metadata[hasOwnProperty]=y').metadata).toEqual({ toString: 'x', hasOwnProperty: 'y' });
    expect(errorOf(() => create('__proto__=1')).toBody().error.param).toBe('__proto__');
    expect(errorOf(() => create('options[constructor]=1')).toBody().error).toMatchObject({ code: 'parameter_unknown', param: 'options[constructor]' });
  });

  it('refuses more parameters than the limit instead of dropping the rest', () => {
    const form = (n: number) => Array.from({ length: n }, (_, i) => `p${i}=1`).join('&');
    expect(Object.keys(parseForm(form(1000), 'body'))).toHaveLength(1000);
    const err = errorOf(() => parseForm(form(1001), 'body'));
    expect(err.status).toBe(400);
    expect(err.message).toMatch(/more than 1000 parameters/);
    expect(errorOf(() => parseForm('expand[150]=x', 'body')).status).toBe(400);
  });

  it('maskPath hides the hosted page token and anything shaped like a client secret', () => {
    expect(maskPath('/verify/vs_123/AbC987/submit')).toBe('/verify/vs_123/***/submit');
    expect(maskPath('/verify/vs_123/AbC987')).toBe('/verify/vs_123/***');
    expect(maskPath('/links/link_123/tAbC987')).toBe('/links/link_123/***');
    expect(maskPath('/v1/identity/verification_sessions/vs_123_secret_xyz')).toBe('/v1/identity/verification_sessions/vs_123_secret_***');
    expect(maskPath('/v1/identity/verification_sessions/vs_123')).toBe('/v1/identity/verification_sessions/vs_123');
  });
});
