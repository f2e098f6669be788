/**
 * The hosted verification page: plain, accessible HTML in the person's
 * language, with a small inline script that previews and downscales each
 * photo, uploads it straight to storage and then submits. No framework; every
 * piece of user or operator data is escaped.
 */
import { DOCUMENT_TYPES, type SessionRecord, LAST_ERROR_CODES, checkTypeOf } from '../domain/session.js';
import { MAX_FILE_BYTES } from '../store/file-store.js';
import { PAGE_SCRIPT } from './client-script.js';
import { CATALOGUES, type Locale, LOCALES, type MessageKey, type Messages, format } from './i18n.js';

export const escapeHtml = (s: string) =>
  s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

/** The page's default accent (white text on it: 4.7:1). */
export const DEFAULT_ACCENT = '#635bff';

/** How an operator's account presents itself on the page (POST /v1/identity/settings). */
export interface PageBranding {
  display_name?: string | null;
  /** `#rrggbb`, checked for contrast against white when it was set. */
  accent_color?: string | null;
  /** A small PNG or JPEG, embedded in the page as a data: URL (no other origin is ever contacted). */
  logo?: { content_type: string; data: string } | null;
}

/** What every page needs to know about the request it answers. */
export interface PageContext {
  locale: Locale;
  nonce: string;
  branding?: PageBranding;
  /** The path of this page (its token included), for the language links; none: no switcher (a page answering a POST). */
  selfPath?: string;
}

const STYLE = `
:root{--accent:${DEFAULT_ACCENT}}
*{box-sizing:border-box}
body{font:16px/1.5 system-ui,sans-serif;margin:0;background:#f6f7f9;color:#1a1f36}
header.brand{display:flex;align-items:center;gap:.75rem;max-width:34rem;margin:1rem auto 0;padding:0 1rem}
header.brand img{max-height:48px;max-width:160px;height:auto;width:auto}
header.brand .name{font-weight:600}
main{max-width:34rem;margin:1rem auto 2rem;background:#fff;padding:1.5rem;border-radius:8px;box-shadow:0 1px 3px #0002}
@media (max-width:36rem){main{margin:0;border-radius:0;box-shadow:none;padding:1rem}header.brand{margin-top:.75rem}}
h1{font-size:1.4rem;margin-top:0}
fieldset{border:1px solid #d5d9e0;border-radius:6px;margin:0 0 1.25rem;padding:.75rem 1rem 1rem;min-width:0}
legend{font-weight:600;padding:0 .25rem}
label{display:block;margin:.35rem 0}
label.choice{display:flex;align-items:center;gap:.6rem;min-height:44px;margin:0;padding:.25rem 0;cursor:pointer}
label.choice input{width:24px;height:24px;margin:0;flex:none;accent-color:var(--accent)}
input[type=text],input[type=number],select{font:inherit;width:100%;min-height:44px;padding:.4rem .5rem;border:1px solid #8a94a6;border-radius:4px;background:#fff;color:inherit}
input[type=file]{font:inherit;display:block;width:100%;min-height:44px;padding:.45rem 0}
input[type=file]::file-selector-button{font:inherit;min-height:40px;margin-right:.75rem;padding:.4rem .9rem;border:1px solid var(--accent);border-radius:6px;background:#fff;color:var(--accent);cursor:pointer}
button{font:inherit;min-height:44px;min-width:44px;border-radius:6px;padding:.6rem 1.2rem;cursor:pointer}
button.primary{background:var(--accent);color:#fff;border:0;width:100%}
button.secondary{background:#fff;color:var(--accent);border:2px solid var(--accent)}
.photo{margin:.75rem 0 1rem}
.preview{display:flex;flex-wrap:wrap;align-items:center;gap:.75rem;margin:.25rem 0}
.preview img{max-width:10rem;max-height:10rem;border-radius:4px;border:1px solid #d5d9e0}
progress{display:block;width:100%;height:.75rem;margin:.35rem 0;accent-color:var(--accent)}
.test{border-color:#b36b00;background:#fffaf0}
.hint{color:#4f5869;font-size:.9rem}
#status{min-height:1.5rem;margin-top:1rem}
.error{color:#b42318}
.vh{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0);clip-path:inset(50%);white-space:nowrap}
nav.languages ul{display:flex;flex-wrap:wrap;gap:.25rem;list-style:none;margin:0 0 1rem;padding:0}
nav.languages a{display:inline-flex;align-items:center;min-height:44px;min-width:44px;padding:0 .6rem;border-radius:6px;color:var(--accent)}
nav.languages a[aria-current]{font-weight:700;text-decoration:none;border:2px solid var(--accent)}
a{color:var(--accent)}
:focus-visible{outline:3px solid var(--accent);outline-offset:2px}
[hidden]{display:none!important}`;

function languageSwitcher(ctx: PageContext, m: Messages): string {
  if (!ctx.selfPath) return '';
  const links = LOCALES.map((l) => {
    const current = l === ctx.locale ? ' aria-current="true"' : '';
    // The same page (same path, token included) with only the language changed; the link stays on our origin.
    return `<li><a href="${escapeHtml(`${ctx.selfPath}?locale=${l}`)}" lang="${l}" hreflang="${l}"${current}>${escapeHtml(CATALOGUES[l].language_name)}</a></li>`;
  }).join('');
  return `<nav class="languages" aria-label="${escapeHtml(m.language_nav)}"><ul>${links}</ul></nav>`;
}

function brandHeader(b: PageBranding | undefined, m: Messages): string {
  if (!b?.display_name && !b?.logo) return '';
  const name = b.display_name ?? '';
  const logo = b.logo
    ? `<img src="data:${b.logo.content_type};base64,${b.logo.data}" alt="${escapeHtml(name ? format(m, 'logo_alt', { name }) : '')}">`
    : '';
  // With a name beside it, the logo would say the same twice: the name is the text, the logo decoration.
  const logoTag = logo && name ? logo.replace(/alt="[^"]*"/, 'alt=""') : logo;
  return `<header class="brand">${logoTag}${name ? `<span class="name">${escapeHtml(name)}</span>` : ''}</header>`;
}

function layout(ctx: PageContext, title: string, body: string): string {
  const m = CATALOGUES[ctx.locale];
  const accent = ctx.branding?.accent_color;
  // accent_color was validated as #rrggbb on the way in; checked again here since it lands in CSS.
  const accentRule = accent && /^#[0-9a-f]{6}$/i.test(accent) ? `:root{--accent:${accent}}` : '';
  return `<!doctype html>
<html lang="${ctx.locale}"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<meta name="robots" content="noindex"><title>${escapeHtml(title)}</title><style nonce="${ctx.nonce}">${STYLE}${accentRule}</style></head>
<body>${brandHeader(ctx.branding, m)}<main>${languageSwitcher(ctx, m)}${body}</main></body></html>`;
}

/** The pages that only explain (link used or expired, already submitted, canceled, thank you...). */
export type MessagePageKind = 'done' | 'submitted' | 'verified' | 'canceled' | 'invalid' | 'used' | 'expired' | 'concurrent';

export function messagePage(ctx: PageContext, kind: MessagePageKind): string {
  const m = CATALOGUES[ctx.locale];
  const title = m[`${kind}_title`];
  return layout(ctx, title, `<h1>${escapeHtml(title)}</h1><p>${escapeHtml(m[`${kind}_message`])}</p>`);
}

/** A refused submission sent without JavaScript: what to fix, and the way back to the form. */
export function inputErrorPage(ctx: PageContext, message: string, formPath: string): string {
  const m = CATALOGUES[ctx.locale];
  return layout(
    ctx,
    m.page_title,
    `<h1>${escapeHtml(m.heading)}</h1><p class="error" role="alert">${escapeHtml(message)}</p><p><a href="${escapeHtml(`${formPath}?locale=${ctx.locale}`)}">${escapeHtml(m.back_to_form)}</a></p>`,
  );
}

/** What the session asks for, as the form shows it. */
export function requirements(s: Pick<SessionRecord, 'type' | 'flow_type' | 'options'>) {
  const doc = s.options.document ?? {};
  const type = checkTypeOf(s);
  const document = type === 'document';
  return {
    document,
    documentTypes: document ? (doc.allowed_types?.length ? doc.allowed_types : [...DOCUMENT_TYPES]) : [],
    selfie: document && doc.require_matching_selfie === true,
    idNumber: type === 'id_number' || (document && doc.require_id_number === true),
    personDetails: type === 'id_number',
  };
}

/** The catalogue's wording for why the last attempt failed (the check's own reason is English and technical). */
export function reasonKey(code: string): MessageKey {
  if (code === 'document_expired') return 'reason_document_expired';
  if (code === 'document_type_not_supported' || code === 'country_not_supported') return 'reason_document_type';
  if (code.startsWith('document_')) return 'reason_document_other';
  if (code.startsWith('selfie_')) return 'reason_selfie';
  if (code.startsWith('id_number_')) return 'reason_id_number';
  if (code === 'under_supported_age') return 'reason_age';
  return 'reason_other';
}

/** Strings the page's script needs, in the page's language. */
const CLIENT_KEYS = [
  'status_preparing',
  'status_ready',
  'status_uploading',
  'status_uploaded',
  'status_submitting',
  'done_title',
  'done_message',
  'error_upload_failed',
  'error_upload_too_large',
  'error_not_image',
  'error_generic',
] as const satisfies readonly MessageKey[];

const PHOTO_ACCEPT = 'image/jpeg,image/png,image/webp';

function photoSlot(m: Messages, name: string, labelKey: MessageKey, capture: 'environment' | 'user'): string {
  const label = m[labelKey];
  const e = escapeHtml;
  return `<div class="photo" data-slot="${name}" data-label="${e(label)}">
<label for="${name}">${e(label)}</label>
<input type="file" id="${name}" name="${name}" accept="${PHOTO_ACCEPT}" capture="${capture}">
<div class="preview" hidden><img alt="${e(format(m, 'preview_alt', { photo: label }))}"><button type="button" class="secondary retake" aria-label="${e(`${m.retake}: ${label}`)}">${e(m.retake)}</button></div>
<progress max="100" value="0" hidden aria-label="${e(format(m, 'upload_progress', { photo: label }))}"></progress>
<p class="error slot-error" id="${name}-error" hidden></p>
<button type="button" class="secondary retry" hidden aria-label="${e(`${m.retry_upload}: ${label}`)}">${e(m.retry_upload)}</button>
</div>`;
}

export function verificationPage(
  s: SessionRecord,
  ctx: PageContext,
  opts: { submitPath: string; uploadsPath: string },
): string {
  const m = CATALOGUES[ctx.locale];
  const e = escapeHtml;
  const need = requirements(s);
  const q = `?locale=${ctx.locale}`;
  const parts: string[] = [`<h1>${e(m.heading)}</h1>`];
  if (ctx.branding?.display_name) parts.push(`<p>${e(format(m, 'requested_by', { name: ctx.branding.display_name }))}</p>`);
  if (s.last_error)
    parts.push(`<p class="error" role="alert">${e(format(m, 'last_error', { reason: m[reasonKey(s.last_error.code)] }))}</p>`);
  parts.push(
    `<form id="verify" method="post" action="${e(opts.submitPath + q)}" data-uploads="${e(opts.uploadsPath + q)}" data-max-bytes="${MAX_FILE_BYTES}" novalidate>`,
  );

  if (need.document) {
    parts.push(`<fieldset><legend>${e(m.document_legend)}</legend>`);
    need.documentTypes.forEach((t, i) => {
      const key = `document_${t}` as MessageKey;
      parts.push(
        `<label class="choice"><input type="radio" name="document_type" value="${e(t)}"${i === 0 ? ' checked' : ''}> ${e(m[key] ?? t)}</label>`,
      );
    });
    parts.push(
      photoSlot(m, 'document_front', 'photo_front', 'environment'),
      photoSlot(m, 'document_back', 'photo_back', 'environment'),
      `<p class="hint">${e(m.photo_hint)}</p></fieldset>`,
    );
  }
  if (need.selfie)
    parts.push(
      `<fieldset><legend>${e(m.selfie_legend)}</legend>${photoSlot(m, 'selfie', 'photo_selfie', 'user')}<p class="hint">${e(m.selfie_hint)}</p></fieldset>`,
    );
  if (need.idNumber) {
    parts.push(`<fieldset><legend>${e(m.id_legend)}</legend>`);
    if (need.personDetails)
      parts.push(
        `<label for="first_name">${e(m.first_name)}</label><input type="text" id="first_name" name="first_name" autocomplete="given-name">`,
        `<label for="last_name">${e(m.last_name)}</label><input type="text" id="last_name" name="last_name" autocomplete="family-name">`,
        `<label for="dob">${e(m.dob)}</label><input type="text" id="dob" name="dob" placeholder="${e(m.dob_placeholder)}" autocomplete="bday" inputmode="numeric">`,
      );
    parts.push(
      `<label for="id_number_type">${e(m.id_number_type)}</label><select id="id_number_type" name="id_number_type"><option value="us_ssn">${e(m.id_type_us_ssn)}</option><option value="br_cpf">${e(m.id_type_br_cpf)}</option><option value="sg_nric">${e(m.id_type_sg_nric)}</option></select>`,
      `<label for="id_number">${e(m.id_number)}</label><input type="text" id="id_number" name="id_number" autocomplete="off"></fieldset>`,
    );
  }
  if (!s.livemode) {
    parts.push(
      `<fieldset class="test"><legend>${e(m.test_legend)}</legend>`,
      `<p class="hint">${e(m.test_hint)}</p><input type="hidden" name="test_panel" value="true">`,
      `<label class="choice"><input type="radio" name="test_outcome" value="verified" checked> ${e(m.test_success)}</label>`,
      `<label class="choice"><input type="radio" name="test_outcome" value="unverified"> ${e(m.test_failure)}</label>`,
      // The codes are Stripe's API values, the same in every language.
      `<label for="test_error_code">${e(m.test_error_code)}</label><select id="test_error_code" name="test_error_code">${LAST_ERROR_CODES.map(
        (c) => `<option value="${c}"${c === 'document_unverified_other' ? ' selected' : ''}>${c}</option>`,
      ).join('')}</select>`,
      `<label class="choice"><input type="checkbox" id="test_async" name="test_async" value="true"> ${e(m.test_async)}</label>`,
      `<label for="test_delay_seconds">${e(m.test_delay)}</label><input type="number" id="test_delay_seconds" name="test_delay_seconds" value="10" min="0" max="600">`,
      `</fieldset>`,
    );
  }
  const strings = Object.fromEntries(CLIENT_KEYS.map((k) => [k, m[k]]));
  parts.push(
    `<div id="alert" class="error" role="alert"></div>`,
    `<button type="submit" id="submit" class="primary">${e(m.submit)}</button><div id="status" role="status" aria-live="polite"></div></form>`,
    // Data, not code: the CSP does not run it, and `<` is escaped so that it cannot close the element.
    `<script type="application/json" id="page-strings">${JSON.stringify(strings).replace(/</g, '\\u003c')}</script>`,
    `<script nonce="${ctx.nonce}">${PAGE_SCRIPT}</script>`,
  );
  return layout(ctx, m.page_title, parts.join('\n'));
}
