import { describe, expect, it } from 'vitest';
import { ApiError } from '../../lambdas/domain/errors.js';
import { parseParams } from '../../lambdas/domain/params.js';
import { MAX_LOGO_BYTES, SETTINGS_PARAMS, type SettingsParams, applySettings, contrastRatio, emptySettings, renderSettings } from '../../lambdas/domain/settings.js';

const scope = { account: 'acct_1', livemode: false };
const PNG = Buffer.from('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==', 'base64');

function refusal(params: Record<string, string>) {
  try {
    applySettings(emptySettings(scope), parseParams<SettingsParams>(SETTINGS_PARAMS, params), 1);
  } catch (err) {
    if (err instanceof ApiError) return { status: err.status, param: err.param, message: err.message };
    throw err;
  }
  return undefined;
}

describe('account settings (the hosted page branding)', () => {
  it('computes WCAG contrast ratios', () => {
    expect(contrastRatio('#ffffff', '#ffffff')).toBeCloseTo(1, 5);
    expect(contrastRatio('#767676', '#ffffff')).toBeCloseTo(4.54, 2); // the lightest grey that passes AA on white
    expect(contrastRatio('#777777', '#ffffff')).toBeLessThan(4.5);
  });

  it('accepts an accent with at least 4.5:1 against white, lower-cased; refuses a paler one and a malformed one, naming accent_color', () => {
    expect(applySettings(emptySettings(scope), { accent_color: '#0B6E4F' }, 1).accent_color).toBe('#0b6e4f');
    expect(refusal({ accent_color: '#777777' })).toMatchObject({ status: 400, param: 'accent_color' });
    expect(refusal({ accent_color: '#777777' })?.message).toContain('4.48:1');
    expect(refusal({ accent_color: 'green' })).toMatchObject({ status: 400, param: 'accent_color' });
    expect(refusal({ accent_color: '#12345' })).toMatchObject({ status: 400, param: 'accent_color' });
  });

  it('accepts a PNG or JPEG logo (plain base64 or a data: URL) up to the cap; refuses SVG, other bytes, a wrong data: type and a larger one', () => {
    const set = applySettings(emptySettings(scope), { logo: PNG.toString('base64') }, 1);
    expect(set.logo).toMatchObject({ content_type: 'image/png', size: PNG.length });
    const jpeg = Buffer.concat([Buffer.from([0xff, 0xd8, 0xff, 0xe0]), Buffer.alloc(100)]);
    expect(applySettings(emptySettings(scope), { logo: `data:image/jpeg;base64,${jpeg.toString('base64')}` }, 1).logo?.content_type).toBe('image/jpeg');
    expect(refusal({ logo: Buffer.from('<svg/>').toString('base64') })).toMatchObject({ param: 'logo' });
    expect(refusal({ logo: 'not base64!' })).toMatchObject({ param: 'logo' });
    expect(refusal({ logo: `data:image/jpeg;base64,${PNG.toString('base64')}` })).toMatchObject({ param: 'logo' });
    const huge = Buffer.concat([PNG.subarray(0, 8), Buffer.alloc(MAX_LOGO_BYTES)]);
    expect(refusal({ logo: huge.toString('base64') })).toMatchObject({ param: 'logo' });
  });

  it("changes only what is sent; '' unsets; the API view carries no logo bytes", () => {
    const first = applySettings(emptySettings(scope), { display_name: ' Muster Bank AG ', accent_color: '#0b6e4f', logo: PNG.toString('base64') }, 1000);
    const second = applySettings(first, parseParams<SettingsParams>(SETTINGS_PARAMS, { accent_color: '' }), 2000);
    expect(second).toMatchObject({ display_name: 'Muster Bank AG', accent_color: null, version: 2 });
    expect(second.logo?.size).toBe(PNG.length);
    expect(renderSettings(second)).toEqual({
      object: 'identity.settings',
      livemode: false,
      display_name: 'Muster Bank AG',
      accent_color: null,
      logo: { content_type: 'image/png', size: PNG.length, sha256: second.logo!.sha256 },
      updated: 2,
    });
    expect(refusal({ display_name: '   ' })).toMatchObject({ param: 'display_name' });
    expect(refusal({ colour: '#000000' })).toMatchObject({ param: 'colour' });
  });
});
