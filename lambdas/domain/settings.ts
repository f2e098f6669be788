import { createHash } from 'node:crypto';
import { invalidRequest } from './errors.js';
import { obj, str } from './params.js';
import type { Scope } from './session.js';

/**
 * Account settings: an extension of this service (Stripe keeps branding in
 * its Dashboard). Per account and mode, how the hosted page presents the
 * business: a display name, an accent colour and an optional logo.
 */

/** The page's background behind the accent (buttons: white text on the accent; links and focus rings: the accent on white). */
export const PAGE_BACKGROUND = '#ffffff';
/** WCAG 2.x AA for normal text. */
export const MIN_ACCENT_CONTRAST = 4.5;
/** A logo is embedded in every page view: keep it small. */
export const MAX_LOGO_BYTES = 32 * 1024;
export const LOGO_TYPES = ['image/png', 'image/jpeg'] as const;
export type LogoType = (typeof LOGO_TYPES)[number];

/** Base64 text of MAX_LOGO_BYTES, with room for a `data:image/png;base64,` prefix. */
const MAX_LOGO_CHARS = Math.ceil(MAX_LOGO_BYTES / 3) * 4 + 32;

export const SETTINGS_PARAMS = obj({
  display_name: str(100),
  accent_color: str(7),
  logo: str(MAX_LOGO_CHARS),
});

export interface SettingsParams {
  display_name?: string | null;
  accent_color?: string | null;
  logo?: string | null;
}

export interface StoredLogo {
  content_type: LogoType;
  /** The image, base64. */
  data: string;
  size: number;
  sha256: string;
}

export interface SettingsRecord extends Scope {
  display_name: string | null;
  accent_color: string | null;
  logo: StoredLogo | null;
  updated_ms: number;
  version: number;
}

export const emptySettings = (scope: Scope): SettingsRecord => ({
  account: scope.account,
  livemode: scope.livemode,
  display_name: null,
  accent_color: null,
  logo: null,
  updated_ms: 0,
  version: 0,
});

/** WCAG 2.x relative luminance of `#rrggbb`. */
export function relativeLuminance(hex: string): number {
  const channel = (i: number) => {
    const c = parseInt(hex.slice(1 + 2 * i, 3 + 2 * i), 16) / 255;
    return c <= 0.04045 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
  };
  return 0.2126 * channel(0) + 0.7152 * channel(1) + 0.0722 * channel(2);
}

/** WCAG 2.x contrast ratio of two `#rrggbb` colours (1 to 21). */
export function contrastRatio(a: string, b: string): number {
  const [hi, lo] = [relativeLuminance(a), relativeLuminance(b)].sort((x, y) => y - x);
  return (hi + 0.05) / (lo + 0.05);
}

function accentColor(value: string): string {
  if (!/^#[0-9a-fA-F]{6}$/.test(value))
    throw invalidRequest(`Invalid accent_color: write it as a hex colour #rrggbb, such as #0a5c36.`, { param: 'accent_color' });
  const color = value.toLowerCase();
  const ratio = contrastRatio(color, PAGE_BACKGROUND);
  if (ratio < MIN_ACCENT_CONTRAST)
    throw invalidRequest(
      `Invalid accent_color: ${color} has a contrast ratio of ${ratio.toFixed(2)}:1 against the page's white background and white button text; at least ${MIN_ACCENT_CONTRAST}:1 is needed (WCAG AA). Choose a darker colour.`,
      { param: 'accent_color' },
    );
  return color;
}

function logoOf(value: string): StoredLogo {
  const m = /^(?:data:(image\/(?:png|jpeg));base64,)?([A-Za-z0-9+/]+={0,2})$/.exec(value);
  if (!m || m[2].length % 4 !== 0)
    throw invalidRequest('Invalid logo: send the PNG or JPEG image as base64 (optionally as a data:image/png;base64,... URL).', { param: 'logo' });
  const bytes = Buffer.from(m[2], 'base64');
  if (bytes.length > MAX_LOGO_BYTES)
    throw invalidRequest(`Invalid logo: it has ${bytes.length} bytes; at most ${MAX_LOGO_BYTES} are allowed.`, { param: 'logo' });
  const isPng = bytes.length > 8 && bytes.subarray(0, 8).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]));
  const isJpeg = bytes.length > 3 && bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff;
  const type: LogoType | undefined = isPng ? 'image/png' : isJpeg ? 'image/jpeg' : undefined;
  if (!type) throw invalidRequest('Invalid logo: only PNG and JPEG images are accepted.', { param: 'logo' });
  if (m[1] && m[1] !== type) throw invalidRequest(`Invalid logo: the data URL says ${m[1]}, but the image is ${type}.`, { param: 'logo' });
  return { content_type: type, data: bytes.toString('base64'), size: bytes.length, sha256: createHash('sha256').update(bytes).digest('hex') };
}

/** The settings after a POST: sent fields change, `''` unsets, others stay. */
export function applySettings(current: SettingsRecord, p: SettingsParams, nowMs: number): SettingsRecord {
  const next = { ...current, updated_ms: nowMs, version: current.version + 1 };
  if (p.display_name !== undefined) {
    const name = p.display_name?.trim() ?? '';
    if (p.display_name !== null && name === '') throw invalidRequest('Invalid display_name: it cannot be only spaces.', { param: 'display_name' });
    next.display_name = name || null;
  }
  if (p.accent_color !== undefined) next.accent_color = p.accent_color === null ? null : accentColor(p.accent_color);
  if (p.logo !== undefined) next.logo = p.logo === null ? null : logoOf(p.logo);
  return next;
}

/** The API's view: the logo's bytes are not repeated (the page embeds them). */
export function renderSettings(s: SettingsRecord) {
  return {
    object: 'identity.settings',
    livemode: s.livemode,
    display_name: s.display_name,
    accent_color: s.accent_color,
    logo: s.logo ? { content_type: s.logo.content_type, size: s.logo.size, sha256: s.logo.sha256 } : null,
    updated: s.updated_ms ? Math.floor(s.updated_ms / 1000) : null,
  };
}
