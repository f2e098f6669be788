import { describe, expect, it } from 'vitest';
import { requirements, verificationPage } from '../../lambdas/page/html.js';
import { CATALOGUES, LOCALES, chooseLocale, format, placeholdersOf, requestedLocales } from '../../lambdas/page/i18n.js';
import { en } from '../../lambdas/page/locales/en.js';
import { contrastRatio } from '../../lambdas/domain/settings.js';

// The hosted page's catalogues: English is the source of the keys; every other language must say all of it.
describe('the hosted page catalogues', () => {
  const keys = Object.keys(en).sort();

  it('has German, English, French, Spanish and Italian', () => {
    expect([...LOCALES].sort()).toEqual(['de', 'en', 'es', 'fr', 'it']);
  });

  for (const locale of LOCALES) {
    it(`${locale}: has every key of the English catalogue and no other`, () => {
      const messages = CATALOGUES[locale] as Record<string, string>;
      const missing = keys.filter((k) => typeof messages[k] !== 'string' || messages[k].trim() === '');
      const extra = Object.keys(messages).filter((k) => !Object.hasOwn(en, k));
      expect({ missing, extra }).toEqual({ missing: [], extra: [] });
    });

    it(`${locale}: uses the same {placeholders} as English in every message`, () => {
      const messages = CATALOGUES[locale] as Record<string, string>;
      const differing = keys.filter((k) => placeholdersOf(messages[k] ?? '').join() !== placeholdersOf((en as Record<string, string>)[k]).join());
      expect(differing).toEqual([]);
    });
  }

  it('is actually translated: most messages differ from English in each other language', () => {
    for (const locale of LOCALES.filter((l) => l !== 'en')) {
      const same = keys.filter((k) => (CATALOGUES[locale] as Record<string, string>)[k] === (en as Record<string, string>)[k]);
      // Names that are the same word everywhere (Selfie, Type, {name}) may stay.
      expect(same.length, `${locale}: ${same.join(', ')}`).toBeLessThan(6);
    }
  });

  it('fills placeholders and leaves unknown ones as written', () => {
    expect(format(CATALOGUES.de, 'requested_by', { name: 'Muster GmbH' })).toBe('Muster GmbH bittet Sie, Ihre Identität zu bestätigen.');
    expect(format(CATALOGUES.en, 'preview_alt', {})).toBe('Preview: {photo}');
  });
});

describe('choosing the language', () => {
  it('reads q-values: the most preferred first, ties in header order, q=0 and * left out', () => {
    expect(requestedLocales('en;q=0.2, de-AT;q=0.9, fr')).toEqual(['fr', 'de-AT', 'en']);
    expect(requestedLocales('de;q=0, it;q=0.5, *;q=0.8')).toEqual(['it']);
    expect(requestedLocales('es;q=1.5, it;q=abc, pt')).toEqual(['pt']);
    expect(requestedLocales(undefined)).toEqual([]);
  });

  it('matches regional variants to our languages and falls back to English', () => {
    expect(chooseLocale('de-DE,de;q=0.9,en;q=0.8')).toBe('de');
    expect(chooseLocale('de-CH')).toBe('de');
    expect(chooseLocale('es-419,es;q=0.9')).toBe('es');
    expect(chooseLocale('fr-CA')).toBe('fr');
    expect(chooseLocale('pt-BR, it;q=0.3')).toBe('it');
    expect(chooseLocale('pt-BR, ja')).toBe('en');
    expect(chooseLocale('not a tag!!')).toBe('en');
    expect(chooseLocale('')).toBe('en');
  });

  it('lets ?locale= win over the header, when it names one of ours', () => {
    expect(chooseLocale('de-DE', 'en')).toBe('en');
    expect(chooseLocale('de-DE', 'xx')).toBe('de');
    expect(chooseLocale('de-DE', ['en'])).toBe('de');
  });
});

describe('the rendered page', () => {
  const session = {
    id: 'vs_1',
    type: 'document',
    flow_type: undefined,
    options: { document: { require_matching_selfie: true } },
    livemode: false,
    last_error: { code: 'document_expired', reason: 'The document is expired.' },
  } as never;

  it('sets <html lang>, speaks the chosen language, and links to the others on the same path', () => {
    const html = verificationPage(session, { locale: 'de', nonce: 'n', selfPath: '/verify/vs_1/tok' }, { submitPath: '/verify/vs_1/tok/submit', uploadsPath: '/verify/vs_1/tok/uploads' });
    expect(html).toContain('<html lang="de">');
    expect(html).toContain('Bestätigen Sie Ihre Identität');
    expect(html).toContain('Das Dokument ist abgelaufen.');
    expect(html).toContain('action="/verify/vs_1/tok/submit?locale=de"');
    for (const l of LOCALES) expect(html).toContain(`href="/verify/vs_1/tok?locale=${l}"`);
    expect(html).not.toContain('Verify your identity');
    expect(requirements(session).selfie).toBe(true);
  });

  it("escapes the operator's display name and ignores an accent that is not #rrggbb", () => {
    const html = verificationPage(
      session,
      { locale: 'en', nonce: 'n', branding: { display_name: '<b>Acme</b>', accent_color: 'red;}body{x' } },
      { submitPath: '/s', uploadsPath: '/u' },
    );
    expect(html).toContain('&lt;b&gt;Acme&lt;/b&gt;');
    expect(html).not.toContain('red;}body');
  });

  it('the default accent passes AA against white', () => {
    expect(contrastRatio('#635bff', '#ffffff')).toBeGreaterThanOrEqual(4.5);
    expect(contrastRatio('#000000', '#ffffff')).toBeCloseTo(21, 5);
  });
});
