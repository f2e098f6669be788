/**
 * The hosted page's languages: the catalogues, the choice of one for a
 * request, and the filling of `{placeholders}`.
 */
import { match } from '@formatjs/intl-localematcher';
import { de } from './locales/de.js';
import { type MessageKey, type Messages, en } from './locales/en.js';
import { es } from './locales/es.js';
import { fr } from './locales/fr.js';
import { it } from './locales/it.js';

export type { MessageKey, Messages };

export const CATALOGUES = { en, de, fr, es, it } as const satisfies Record<string, Messages>;
export type Locale = keyof typeof CATALOGUES;
export const LOCALES = Object.keys(CATALOGUES) as Locale[];
export const DEFAULT_LOCALE: Locale = 'en';

export const isLocale = (value: unknown): value is Locale => typeof value === 'string' && Object.hasOwn(CATALOGUES, value);

/** At most this many language ranges of a header are considered (a header is attacker-controlled text). */
const MAX_RANGES = 20;

/**
 * The language ranges of an Accept-Language header, most preferred first:
 * q-values are read (a missing one is 1, `q=0` means "not this one", a
 * malformed one drops the range), ties keep the header's order, `*` and tags
 * that are not well-formed BCP 47 are left out.
 */
export function requestedLocales(header: string | undefined): string[] {
  if (!header) return [];
  const ranges: { tag: string; q: number; at: number }[] = [];
  header
    .split(',')
    .slice(0, MAX_RANGES)
    .forEach((part, at) => {
      const [rawTag, ...params] = part.trim().split(';');
      const tag = rawTag.trim();
      if (tag === '' || tag === '*') return;
      let q = 1;
      for (const p of params) {
        const m = /^\s*q\s*=\s*([01](?:\.\d{0,3})?)\s*$/i.exec(p);
        if (m) q = Number(m[1]);
        else if (/^\s*q\s*=/i.test(p)) q = NaN;
      }
      if (!(q > 0 && q <= 1)) return;
      try {
        ranges.push({ tag: Intl.getCanonicalLocales(tag)[0], q, at });
      } catch {
        // not a well-formed language tag
      }
    });
  return ranges.sort((a, b) => b.q - a.q || a.at - b.at).map((r) => r.tag);
}

/**
 * The page's language: `?locale=` when it names one of ours, else the best
 * match for Accept-Language (so de-AT gets German), else English.
 */
export function chooseLocale(acceptLanguage: string | undefined, override?: unknown): Locale {
  if (isLocale(override)) return override;
  const requested = requestedLocales(acceptLanguage);
  if (requested.length === 0) return DEFAULT_LOCALE;
  const chosen = match(requested, LOCALES, DEFAULT_LOCALE, { algorithm: 'best fit' });
  return isLocale(chosen) ? chosen : DEFAULT_LOCALE;
}

/** One message with its `{placeholders}` filled in (unknown ones stay as written). */
export function format(messages: Messages, key: MessageKey, vars: Record<string, string> = {}): string {
  return messages[key].replace(/\{(\w+)\}/g, (whole, name: string) => (Object.hasOwn(vars, name) ? vars[name] : whole));
}

/** The placeholders a message uses, sorted (the catalogue test compares them across languages). */
export const placeholdersOf = (text: string) => [...new Set([...text.matchAll(/\{(\w+)\}/g)].map((m) => m[1]))].sort();
