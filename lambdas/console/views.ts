/**
 * The operator console's pages: server-rendered HTML that works without
 * JavaScript (only the chart and the live events view need it). Every value
 * from a session, an event or an endpoint is escaped; every form that changes
 * something carries the sign-in's CSRF token.
 */
import { escapeHtml as esc } from '../page/html.js';

/* eslint-disable @typescript-eslint/no-explicit-any */
type Json = Record<string, any>;

export interface PageContext {
  nonce: string;
  /** Absent on the sign-in page. */
  signedIn?: { account: string; livemode: boolean; csrfToken: string };
  current?: 'sessions' | 'webhooks' | 'events';
}

const csrfField = (ctx: PageContext) => `<input type="hidden" name="csrf_token" value="${esc(ctx.signedIn?.csrfToken ?? '')}">`;

const when = (seconds: number | null | undefined) =>
  seconds == null ? '—' : `<time datetime="${new Date(seconds * 1000).toISOString()}">${new Date(seconds * 1000).toISOString().replace('T', ' ').slice(0, 19)} UTC</time>`;

export function layout(ctx: PageContext, title: string, body: string, extraHead = ''): string {
  const nav = ctx.signedIn
    ? `<header class="top"><a class="brand" href="/console/sessions">Verification console</a>
<span class="mode ${ctx.signedIn.livemode ? 'live' : 'test'}">${ctx.signedIn.livemode ? 'Live mode' : 'Test mode'}</span>
<nav aria-label="Console"><ul>
${(['sessions', 'webhooks', 'events'] as const)
  .map((p) => `<li><a href="/console/${p}"${ctx.current === p ? ' aria-current="page"' : ''}>${p === 'sessions' ? 'Sessions' : p === 'webhooks' ? 'Webhooks' : 'Events'}</a></li>`)
  .join('')}
</ul></nav>
<form method="post" action="/console/sign-out" class="signout">${csrfField(ctx)}<button type="submit" class="secondary">Sign out</button></form></header>`
    : '';
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<meta name="robots" content="noindex"><title>${esc(title)} · Verification console</title>
<link rel="stylesheet" href="/console/assets/console.css" nonce="${ctx.nonce}">${extraHead}</head>
<body><a class="skip" href="#main">Skip to content</a>${nav}<main id="main" tabindex="-1">${body}</main>
<script src="/console/assets/console.js" nonce="${ctx.nonce}"></script></body></html>`;
}

export function signInPage(ctx: PageContext, error?: string): string {
  return layout(
    ctx,
    'Sign in',
    `<h1>Sign in to the console</h1>
<p>Use a secret key of your account (<code>sk_test_…</code> or <code>sk_live_…</code>). The console sees what that key's API sees: one account, one mode.
The key is not kept in your browser: you get a sign-in that lasts an hour.</p>
${error ? `<p class="error" role="alert" id="sign-in-error">${esc(error)}</p>` : ''}
<form method="post" action="/console/sign-in" class="card narrow">
<label for="secret_key">Secret key</label>
<input type="password" id="secret_key" name="secret_key" autocomplete="off" spellcheck="false" required${error ? ' aria-describedby="sign-in-error" aria-invalid="true"' : ''}>
<button type="submit">Sign in</button></form>`,
  );
}

export function messagePage(ctx: PageContext, title: string, message: string): string {
  return layout(ctx, title, `<h1>${esc(title)}</h1><p class="error" role="alert">${esc(message)}</p><p><a href="/console/sessions">Back to sessions</a></p>`);
}

const STATUS_LABELS: Record<string, string> = {
  requires_input: 'Requires input',
  processing: 'Processing',
  verified: 'Verified',
  canceled: 'Canceled',
};
const badge = (status: string) => `<span class="badge ${esc(status)}">${esc(STATUS_LABELS[status] ?? status)}</span>`;

export interface SessionsView {
  list?: Json;
  error?: string;
  filters: Record<string, string>;
  chart: DailyCounts;
  olderCursor?: string;
  newerCursor?: string;
}

export interface DailyCounts {
  days: string[];
  byStatus: Record<string, number[]>;
  capped: boolean;
}

function chartSection(ctx: PageContext, chart: DailyCounts): string {
  const totals = Object.entries(chart.byStatus).map(([s, counts]) => [s, counts.reduce((a, b) => a + b, 0)] as const);
  return `<section class="card chart" aria-labelledby="chart-title"><h2 id="chart-title">Sessions per day, last 30 days</h2>
<div id="chart" class="chart-area" aria-hidden="true"></div>
<table class="totals"><caption>Sessions created in the last 30 days, by status now${chart.capped ? ' (the most recent 2,000)' : ''}</caption>
<thead><tr>${totals.map(([s]) => `<th scope="col">${esc(STATUS_LABELS[s] ?? s)}</th>`).join('')}</tr></thead>
<tbody><tr>${totals.map(([, n]) => `<td>${n}</td>`).join('')}</tr></tbody></table>
<script type="application/json" id="chart-data" nonce="${ctx.nonce}">${JSON.stringify(chart).replace(/</g, '\\u003c')}</script>
<script src="/console/assets/uplot.js" nonce="${ctx.nonce}"></script><script src="/console/assets/chart.js" nonce="${ctx.nonce}"></script></section>`;
}

export function sessionsPage(ctx: PageContext, v: SessionsView): string {
  const f = v.filters;
  const option = (value: string, label: string) => `<option value="${value}"${f.status === value ? ' selected' : ''}>${label}</option>`;
  const rows = (v.list?.data ?? [])
    .map(
      (s: Json) => `<tr><td><a href="/console/sessions/${esc(s.id)}"><code>${esc(s.id)}</code></a></td><td>${badge(s.status)}</td><td>${esc(s.type ?? '')}</td>
<td>${esc(s.client_reference_id ?? '')}</td><td>${when(s.created)}</td><td>${s.last_error ? esc(s.last_error.code ?? '') : ''}</td></tr>`,
    )
    .join('\n');
  const keep = Object.entries(f)
    .filter(([k, val]) => val && k !== 'starting_after' && k !== 'ending_before')
    .map(([k, val]) => `${encodeURIComponent(k)}=${encodeURIComponent(val)}`);
  const pageLink = (param: string, cursor: string, label: string, rel: string) =>
    `<a rel="${rel}" href="/console/sessions?${[...keep, `${param}=${encodeURIComponent(cursor)}`].join('&')}">${label}</a>`;
  return layout(
    { ...ctx, current: 'sessions' },
    'Sessions',
    `<h1>Verification sessions</h1>
${chartSection(ctx, v.chart)}
<form method="get" action="/console/sessions" class="card filters" role="search" aria-label="Find sessions">
<div><label for="q">Session id</label><input id="q" name="q" value="${esc(f.q ?? '')}" placeholder="vs_…" spellcheck="false"></div>
<div><label for="status">Status</label><select id="status" name="status">${option('', 'Any')}${Object.entries(STATUS_LABELS)
      .map(([k, l]) => option(k, l))
      .join('')}</select></div>
<div><label for="client_reference_id">Client reference id</label><input id="client_reference_id" name="client_reference_id" value="${esc(f.client_reference_id ?? '')}"></div>
<div><label for="created_from">Created from</label><input type="date" id="created_from" name="created_from" value="${esc(f.created_from ?? '')}"></div>
<div><label for="created_to">Created until</label><input type="date" id="created_to" name="created_to" value="${esc(f.created_to ?? '')}"></div>
<div class="actions"><button type="submit">Search</button> <a href="/console/sessions">Clear</a></div></form>
${v.error ? `<p class="error" role="alert">${esc(v.error)}</p>` : ''}
<div class="table-wrap"><table class="list"><caption>Sessions, newest first</caption>
<thead><tr><th scope="col">Id</th><th scope="col">Status</th><th scope="col">Type</th><th scope="col">Client reference</th><th scope="col">Created</th><th scope="col">Last error</th></tr></thead>
<tbody>${rows || '<tr><td colspan="6">No sessions match.</td></tr>'}</tbody></table></div>
<nav class="pager" aria-label="Pages">${v.newerCursor ? pageLink('ending_before', v.newerCursor, '← Newer', 'prev') : ''} ${v.olderCursor ? pageLink('starting_after', v.olderCursor, 'Older →', 'next') : ''}</nav>`,
  );
}

/** What each `last_error.code` means for the operator. */
const LAST_ERROR_WORDS: Record<string, string> = {
  abandoned: 'The user did not finish in time, so the session was canceled.',
  consent_declined: 'The user declined to be verified.',
  country_not_supported: 'The document comes from a country that is not supported.',
  device_not_supported: "The user's device could not capture what was needed.",
  document_expired: 'The document has expired.',
  document_type_not_supported: 'That kind of document is not accepted for this session.',
  document_unverified_other: 'The document could not be verified (unreadable, edited, or not genuine).',
  email_unverified_other: 'The email address could not be verified.',
  email_verification_declined: 'The user declined to verify the email address.',
  id_number_insufficient_document_data: 'The document did not carry enough data to check the ID number.',
  id_number_mismatch: 'The ID number does not match the name and date of birth given.',
  id_number_unverified_other: 'The ID number could not be verified.',
  phone_unverified_other: 'The phone number could not be verified.',
  phone_verification_declined: 'The user declined to verify the phone number.',
  selfie_document_missing_photo: 'The document has no photo of a face to compare the selfie with.',
  selfie_face_mismatch: "The selfie's face does not match the document's photo.",
  selfie_manipulated: 'The selfie looks manipulated (a photo of a screen or an edited image).',
  selfie_unverified_other: 'The selfie could not be verified.',
  under_supported_age: 'The user is under the minimum age.',
};

export interface TimelineItem {
  event: Json;
  deliveries: Json[];
}

export interface SessionView {
  session: Json;
  report: Json | null;
  timeline: TimelineItem[];
  endpoints: Json[];
  images: { label: string; fileId: string }[];
  revealed: boolean;
  notice?: string;
  error?: string;
}

function field(label: string, value: string) {
  return `<div><dt>${esc(label)}</dt><dd>${value}</dd></div>`;
}

function masked(outputs: Json | null, revealed: boolean): string {
  if (!outputs) return '<p>None yet: the session has no verified outputs.</p>';
  const entries: [string, string][] = [];
  const walk = (o: unknown, path: string) => {
    if (o && typeof o === 'object') for (const [k, v] of Object.entries(o)) walk(v, path ? `${path}.${k}` : k);
    else if (o !== null && o !== undefined) entries.push([path, String(o)]);
  };
  walk(outputs, '');
  if (!entries.length) return '<p>None yet: the session has no verified outputs.</p>';
  return `<dl class="fields outputs">${entries.map(([k, v]) => field(k, revealed ? esc(v) : '<span class="masked">••••••</span>')).join('')}</dl>`;
}

function deliveryBlock(d: Json): string {
  const attempts = (d.attempts ?? [])
    .map(
      (a: Json) =>
        `<tr><td>${a.attempt}</td><td>${when(a.created)}</td><td>${a.status_code ?? '—'}</td><td>${a.duration_ms} ms</td><td>${a.succeeded ? 'Succeeded' : esc(a.error ?? 'Failed')}</td><td>${when(a.next_attempt)}</td></tr>`,
    )
    .join('');
  return `<div class="delivery"><p>To <code>${esc(d.webhook_endpoint)}</code>: <strong>${esc(d.status)}</strong>${d.status_reason ? ` (${esc(d.status_reason)})` : ''}, ${d.attempt_count} attempt${d.attempt_count === 1 ? '' : 's'}${d.next_attempt ? `, next retry ${when(d.next_attempt)}` : ''}</p>
${attempts ? `<div class="table-wrap"><table class="attempts"><caption>Attempts to ${esc(d.webhook_endpoint)}, newest first</caption><thead><tr><th scope="col">#</th><th scope="col">Started</th><th scope="col">Status code</th><th scope="col">Duration</th><th scope="col">Outcome</th><th scope="col">Next retry</th></tr></thead><tbody>${attempts}</tbody></table></div>` : ''}</div>`;
}

export function sessionPage(ctx: PageContext, v: SessionView): string {
  const s = v.session;
  const base = `/console/sessions/${esc(s.id)}`;
  const parts: string[] = [];
  parts.push(`<p><a href="/console/sessions">← All sessions</a></p>
<h1>Session <code id="session-id">${esc(s.id)}</code> <button type="button" class="secondary copy" data-copy="session-id" hidden>Copy id</button></h1>
${v.notice ? `<p class="notice" role="status">${esc(v.notice)}</p>` : ''}${v.error ? `<p class="error" role="alert">${esc(v.error)}</p>` : ''}`);
  const lastError = s.last_error
    ? `<strong>${esc(s.last_error.code ?? 'error')}</strong>: ${esc(LAST_ERROR_WORDS[s.last_error.code] ?? s.last_error.reason ?? '')}`
    : 'None';
  parts.push(`<section class="card" aria-labelledby="fields-title"><h2 id="fields-title">Fields</h2><dl class="fields">
${field('Status', badge(s.status))}${field('Type', esc(s.type ?? ''))}${field('Created', when(s.created))}
${field('Client reference id', esc(s.client_reference_id ?? '—'))}${field('Last error', lastError)}
${field('Redaction', s.redaction ? esc(s.redaction.status) : 'Not redacted')}${field('Verification flow', esc(s.verification_flow ?? '—'))}
${field('Metadata', Object.keys(s.metadata ?? {}).length ? esc(JSON.stringify(s.metadata)) : '—')}</dl></section>`);

  parts.push(`<section class="card" aria-labelledby="actions-title"><h2 id="actions-title">Actions</h2><div class="action-row">
<form method="post" action="${base}/cancel">${csrfField(ctx)}<button type="submit">Cancel session</button></form>
<details class="redact"><summary>Redact…</summary><form method="post" action="${base}/redact">${csrfField(ctx)}
<p id="redact-warning">Redacting deletes this session's personal data for good: the document and selfie images, the verified outputs, the provided details, the metadata, and the copies in its stored events and reports. The session and its status stay. This cannot be undone.</p>
<button type="submit" class="danger" aria-describedby="redact-warning">Redact permanently</button></form></details></div></section>`);

  parts.push(`<section class="card" aria-labelledby="outputs-title"><h2 id="outputs-title">Verified outputs</h2>${masked(s.verified_outputs, v.revealed)}
${!v.revealed && s.verified_outputs ? `<form method="post" action="${base}/reveal">${csrfField(ctx)}<button type="submit" class="secondary">Reveal verified outputs</button> <span class="hint">Each reveal is logged with its request id.</span></form>` : ''}</section>`);

  const r = v.report;
  parts.push(`<section class="card" aria-labelledby="report-title"><h2 id="report-title">Latest report</h2>${
    r
      ? `<dl class="fields">${field('Report', `<code>${esc(r.id)}</code>`)}${field('Created', when(r.created))}
${r.document ? field('Document check', esc(r.document.status ?? '') + (r.document.error ? ` — ${esc(r.document.error.reason ?? r.document.error.code ?? '')}` : '')) : ''}
${r.selfie ? field('Selfie check', esc(r.selfie.status ?? '') + (r.selfie.error ? ` — ${esc(r.selfie.error.reason ?? r.selfie.error.code ?? '')}` : '')) : ''}
${r.id_number ? field('ID number check', esc(r.id_number.status ?? '')) : ''}</dl>
${v.images.length ? `<div class="images">${v.images.map((i) => `<figure><img src="/console/files/${esc(i.fileId)}" alt="${esc(i.label)} of session ${esc(s.id)}" loading="lazy"><figcaption>${esc(i.label)}</figcaption></figure>`).join('')}</div>` : '<p>No images.</p>'}`
      : '<p>No report yet.</p>'
  }</section>`);

  const enabledEndpoints = v.endpoints.filter((e) => e.status === 'enabled');
  const timeline = v.timeline
    .map(
      (t) => `<li><h3><span class="event-type">${esc(String(t.event.type).replace('identity.verification_session.', ''))}</span> <code>${esc(t.event.id)}</code> ${when(t.event.created)}</h3>
${t.deliveries.length ? t.deliveries.map(deliveryBlock).join('') : '<p class="hint">No webhook deliveries.</p>'}
${enabledEndpoints.length ? `<form method="post" action="${base}/resend" class="inline">${csrfField(ctx)}<input type="hidden" name="event" value="${esc(t.event.id)}">
<label for="resend-${esc(t.event.id)}">Resend to</label><select id="resend-${esc(t.event.id)}" name="webhook_endpoint">${enabledEndpoints.map((e) => `<option value="${esc(e.id)}">${esc(e.url)}</option>`).join('')}</select>
<button type="submit" class="secondary">Resend</button></form>` : ''}</li>`,
    )
    .join('\n');
  parts.push(`<section class="card" aria-labelledby="timeline-title"><h2 id="timeline-title">Timeline</h2>${timeline ? `<ol class="timeline">${timeline}</ol>` : '<p>No events stored for this session.</p>'}</section>`);
  return layout({ ...ctx, current: 'sessions' }, `Session ${s.id}`, parts.join('\n'));
}

export interface EndpointStats {
  attempts: Json[];
  total: number;
  failed: number;
}

export function webhooksPage(
  ctx: PageContext,
  v: { endpoints: Json[]; stats: Map<string, EndpointStats>; created?: Json; error?: string; notice?: string; form?: Record<string, string> },
): string {
  const rows = v.endpoints
    .map((e) => {
      const st = v.stats.get(e.id) ?? { attempts: [], total: 0, failed: 0 };
      const rate = st.total ? `${Math.round((st.failed / st.total) * 100)}% (${st.failed} of ${st.total})` : 'no attempts';
      const action = (path: string, label: string, cls = 'secondary') =>
        `<form method="post" action="/console/webhooks/${esc(e.id)}/${path}">${csrfField(ctx)}<button type="submit" class="${cls}">${label}</button></form>`;
      return `<li class="card endpoint"><h2><code>${esc(e.url)}</code></h2>
<dl class="fields">${field('Id', `<code>${esc(e.id)}</code>`)}${field('Status', badge(e.status === 'enabled' ? 'verified' : 'canceled').replace(/>(Verified|Canceled)</, `>${e.status === 'enabled' ? 'Enabled' : 'Disabled'}<`))}
${field('Events', esc((e.enabled_events ?? []).join(', ')))}${field('Failure rate, 24 h', rate)}</dl>
<div class="action-row">${e.status === 'enabled' ? action('disable', 'Disable') : action('enable', 'Enable')}${action('delete', 'Delete', 'danger')}</div>
${st.attempts.length ? `<div class="table-wrap"><table><caption>Recent attempts to ${esc(e.url)}</caption><thead><tr><th scope="col">Event</th><th scope="col">Started</th><th scope="col">Status code</th><th scope="col">Duration</th><th scope="col">Outcome</th></tr></thead><tbody>${st.attempts
        .map((a) => `<tr><td><code>${esc(a.event)}</code></td><td>${when(a.created)}</td><td>${a.status_code ?? '—'}</td><td>${a.duration_ms} ms</td><td>${a.succeeded ? 'Succeeded' : esc(a.error ?? 'Failed')}</td></tr>`)
        .join('')}</tbody></table></div>` : '<p class="hint">No attempts in the last 24 hours.</p>'}</li>`;
    })
    .join('\n');
  const created = v.created
    ? `<div class="notice card" role="status"><p>Endpoint <code>${esc(v.created.id)}</code> created. Its signing secret is shown this once: copy it now.</p>
<p><code id="new-secret">${esc(v.created.secret)}</code> <button type="button" class="secondary copy" data-copy="new-secret" hidden>Copy secret</button></p></div>`
    : '';
  return layout(
    { ...ctx, current: 'webhooks' },
    'Webhooks',
    `<h1>Webhook endpoints</h1>${created}${v.notice ? `<p class="notice" role="status">${esc(v.notice)}</p>` : ''}${v.error ? `<p class="error" role="alert">${esc(v.error)}</p>` : ''}
<form method="post" action="/console/webhooks" class="card filters">${csrfField(ctx)}
<div class="wide"><label for="url">Endpoint URL</label><input id="url" name="url" type="url" required value="${esc(v.form?.url ?? '')}" placeholder="https://example.com/webhooks"></div>
<div><label for="enabled_events">Events</label><select id="enabled_events" name="enabled_events"><option value="*">All session events</option>
${['created', 'processing', 'verified', 'requires_input', 'canceled', 'redacted'].map((t) => `<option value="identity.verification_session.${t}">${t}</option>`).join('')}</select></div>
<div><label for="description">Description</label><input id="description" name="description" value="${esc(v.form?.description ?? '')}"></div>
<div class="actions"><button type="submit">Add endpoint</button></div></form>
${rows ? `<ul class="endpoints">${rows}</ul>` : '<p>No webhook endpoints yet.</p>'}`,
  );
}

export function eventsPage(ctx: PageContext, v: { events: Json[]; type: string; error?: string }): string {
  const types = ['created', 'processing', 'verified', 'requires_input', 'canceled', 'redacted'];
  return layout(
    { ...ctx, current: 'events' },
    'Events',
    `<h1>Events</h1>
<form method="get" action="/console/events" class="card filters" id="events-filter"><div><label for="type">Type</label><select id="type" name="type"><option value="">All</option>
${types.map((t) => `<option value="identity.verification_session.${t}"${v.type === `identity.verification_session.${t}` ? ' selected' : ''}>${t}</option>`).join('')}</select></div>
<div class="actions"><button type="submit">Show</button></div></form>
${v.error ? `<p class="error" role="alert">${esc(v.error)}</p>` : ''}
<p class="hint" id="live-state" role="status">Reload the page to see newer events.</p>
<div class="table-wrap"><table class="list"><caption>Recent events, newest first</caption><thead><tr><th scope="col">Event</th><th scope="col">Type</th><th scope="col">Session</th><th scope="col">Created</th></tr></thead>
<tbody id="events-body">${eventRows(v.events)}</tbody></table></div>`,
  );
}

export function eventRows(events: Json[]): string {
  return (
    events
      .map((e) => {
        const sid = e.data?.object?.id;
        return `<tr><td><code>${esc(e.id)}</code></td><td>${esc(e.type)}</td><td>${sid ? `<a href="/console/sessions/${esc(sid)}"><code>${esc(sid)}</code></a>` : '—'}</td><td>${when(e.created)}</td></tr>`;
      })
      .join('') || '<tr><td colspan="4">No events.</td></tr>'
  );
}
