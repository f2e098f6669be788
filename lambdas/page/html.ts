/**
 * The hosted verification page: plain, accessible HTML with a small inline
 * script that uploads the images straight to storage and then submits. No
 * framework; every piece of user data is escaped.
 */
import { DOCUMENT_TYPES, LAST_ERROR_CODES, type SessionRecord, checkTypeOf } from '../domain/session.js';

export const escapeHtml = (s: string) =>
  s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

const DOCUMENT_LABELS: Record<string, string> = {
  driving_license: "Driver's license",
  id_card: 'Identity card',
  passport: 'Passport',
};

const STYLE = `
body{font:16px/1.5 system-ui,sans-serif;margin:0;background:#f6f7f9;color:#1a1f36}
main{max-width:34rem;margin:2rem auto;background:#fff;padding:2rem;border-radius:8px;box-shadow:0 1px 3px #0002}
h1{font-size:1.4rem;margin-top:0}fieldset{border:1px solid #d5d9e0;border-radius:6px;margin:0 0 1.25rem;padding:1rem}
legend{font-weight:600;padding:0 .25rem}label{display:block;margin:.35rem 0}input[type=text],input[type=number],select{font:inherit;padding:.35rem;border:1px solid #8a94a6;border-radius:4px}
button{font:inherit;background:#635bff;color:#fff;border:0;border-radius:6px;padding:.6rem 1.2rem;cursor:pointer}button:disabled{opacity:.6}
.test{border-color:#f5a623;background:#fffaf0}.hint{color:#5b6475;font-size:.9rem}#status{min-height:1.5rem;margin-top:1rem}.error{color:#b42318}
:focus-visible{outline:3px solid #635bff;outline-offset:2px}`;

function layout(title: string, body: string, nonce: string): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<meta name="robots" content="noindex"><title>${escapeHtml(title)}</title><style nonce="${nonce}">${STYLE}</style></head>
<body><main>${body}</main></body></html>`;
}

/** A page that only explains (expired link, already submitted, canceled...). */
export function messagePage(title: string, message: string, nonce: string): string {
  return layout(title, `<h1>${escapeHtml(title)}</h1><p>${escapeHtml(message)}</p>`, nonce);
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

export function verificationPage(
  s: SessionRecord,
  opts: { submitPath: string; uploadsPath: string; nonce: string },
): string {
  const need = requirements(s);
  const parts: string[] = [`<h1>Verify your identity</h1>`];
  if (s.last_error)
    parts.push(`<p class="error" role="alert">Your last attempt could not be verified: ${escapeHtml(s.last_error.reason)} Please try again.</p>`);
  parts.push(`<form id="verify" method="post" action="${escapeHtml(opts.submitPath)}" data-uploads="${escapeHtml(opts.uploadsPath)}" novalidate>`);

  if (need.document) {
    parts.push(`<fieldset><legend>Your identity document</legend>`);
    need.documentTypes.forEach((t, i) => {
      parts.push(
        `<label><input type="radio" name="document_type" value="${t}"${i === 0 ? ' checked' : ''} required> ${escapeHtml(DOCUMENT_LABELS[t] ?? t)}</label>`,
      );
    });
    parts.push(
      `<label for="document_front">Photo of the front</label><input type="file" id="document_front" name="document_front" accept="image/jpeg,image/png,image/webp" capture="environment">`,
      `<label for="document_back">Photo of the back (not needed for a passport)</label><input type="file" id="document_back" name="document_back" accept="image/jpeg,image/png,image/webp" capture="environment">`,
      `<p class="hint">JPEG, PNG or WebP, up to 10 MB each.</p></fieldset>`,
    );
  }
  if (need.selfie)
    parts.push(
      `<fieldset><legend>A photo of your face</legend><label for="selfie">Selfie</label><input type="file" id="selfie" name="selfie" accept="image/jpeg,image/png,image/webp" capture="user"><p class="hint">Your face alone, well lit, looking at the camera.</p></fieldset>`,
    );
  if (need.idNumber) {
    parts.push(`<fieldset><legend>Your ID number</legend>`);
    if (need.personDetails)
      parts.push(
        `<label for="first_name">First name</label><input type="text" id="first_name" name="first_name" autocomplete="given-name">`,
        `<label for="last_name">Last name</label><input type="text" id="last_name" name="last_name" autocomplete="family-name">`,
        `<label for="dob">Date of birth</label><input type="text" id="dob" name="dob" placeholder="YYYY-MM-DD" autocomplete="bday" inputmode="numeric">`,
      );
    parts.push(
      `<label for="id_number_type">Type</label><select id="id_number_type" name="id_number_type"><option value="us_ssn">US Social Security number</option><option value="br_cpf">Brazil CPF</option><option value="sg_nric">Singapore NRIC</option></select>`,
      `<label for="id_number">Number</label><input type="text" id="id_number" name="id_number" autocomplete="off"></fieldset>`,
    );
  }
  if (!s.livemode) {
    parts.push(
      `<fieldset class="test"><legend>Test mode: choose the outcome</legend>`,
      `<p class="hint">Nothing is checked in test mode; files are optional.</p>`,
      `<label><input type="radio" name="test_outcome" value="verified" checked> Verification success</label>`,
      `<label><input type="radio" name="test_outcome" value="unverified"> Verification failure</label>`,
      `<label for="test_error_code">Error to report on failure</label><select id="test_error_code" name="test_error_code">${LAST_ERROR_CODES.map(
        (c) => `<option value="${c}"${c === 'document_unverified_other' ? ' selected' : ''}>${c}</option>`,
      ).join('')}</select>`,
      `<label><input type="checkbox" id="test_async" name="test_async" value="true"> Async: stay in processing for a while first</label>`,
      `<label for="test_delay_seconds">Seconds in processing (async only)</label><input type="number" id="test_delay_seconds" name="test_delay_seconds" value="10" min="0" max="600">`,
      `</fieldset>`,
    );
  }
  parts.push(`<button type="submit" id="submit">Submit</button><div id="status" role="status" aria-live="polite"></div></form>`);
  parts.push(`<script nonce="${opts.nonce}">${SCRIPT}</script>`);
  return layout('Verify your identity', parts.join('\n'), opts.nonce);
}

/**
 * Uploads the chosen images with presigned POSTs (a multipart form: the
 * signed fields first, the file last), then submits the form as
 * form-encoded data and follows the redirect the server names.
 */
const SCRIPT = `
(function(){
var form=document.getElementById('verify'),status=document.getElementById('status'),btn=document.getElementById('submit');
function say(t,err){status.textContent=t;status.className=err?'error':'';}
form.addEventListener('submit',async function(ev){
  ev.preventDefault();btn.disabled=true;
  try{
    var slots=['document_front','document_back','selfie'].filter(function(n){var i=form.elements[n];return i&&i.files&&i.files.length;});
    var data=new URLSearchParams();
    if(slots.length){
      say('Uploading...');
      var ask=new URLSearchParams();slots.forEach(function(n){ask.append('files['+n+']',form.elements[n].files[0].type||'image/jpeg');});
      var r=await fetch(form.dataset.uploads,{method:'POST',body:ask,headers:{accept:'application/json'}});
      var up=await r.json();if(!r.ok)throw new Error(up.error&&up.error.message||'Upload refused');
      for(var n of slots){var f=form.elements[n].files[0];var u=up.uploads[n];
        var fd=new FormData();Object.keys(u.fields).forEach(function(k){fd.append(k,u.fields[k]);});fd.append('file',f);
        var put=await fetch(u.url,{method:'POST',body:fd});if(!put.ok)throw new Error('Upload of '+n+' failed ('+put.status+')');
        data.append('uploaded[]',n);}
    }
    new FormData(form).forEach(function(v,k){if(typeof v==='string'&&v!=='')data.append(k,v);});
    if(!form.elements.test_async||!form.elements.test_async.checked)data.delete('test_delay_seconds');
    data.delete('test_async');
    if(data.get('test_outcome')!=='unverified')data.delete('test_error_code');
    say('Submitting...');
    var s=await fetch(form.action,{method:'POST',body:data,headers:{accept:'application/json'}});
    var out=await s.json();if(!s.ok)throw new Error(out.error&&out.error.message||'Submission refused');
    say('Thank you. Your information was submitted and is being checked.');
    if(out.redirect_url)window.location.assign(out.redirect_url);
  }catch(e){say(e.message,true);btn.disabled=false;}
});
})();`;
