/**
 * The hosted page's script (inline, under the page's nonce). Without it the
 * form still posts as plain HTML.
 *
 * - Each chosen photo is decoded with createImageBitmap (EXIF orientation
 *   applied), drawn on a canvas at most PHOTO_MAX_SIDE px on its longest side
 *   and re-encoded as JPEG at PHOTO_QUALITY. Re-encoding writes no metadata,
 *   so EXIF (GPS included) never leaves the device. A file the browser cannot
 *   decode (a PDF, a text, a damaged JPEG, a HEIC this browser cannot read)
 *   gets error_not_image on its photo at once, is never uploaded, and stops
 *   the submission until another is chosen. A decoded picture the canvas
 *   cannot re-encode is sent as it is if it is JPEG, PNG or WebP (storage's
 *   10 MB cap still applies).
 * - A preview with "Retake" replaces the file input once a photo is ready.
 * - On submit, each photo not yet stored is uploaded with its presigned POST
 *   by XMLHttpRequest, whose upload progress drives a <progress> bar. A
 *   failed upload keeps its photo and offers "Try again"; photos already
 *   uploaded are not sent again. A slot's presigned POST is kept and reused
 *   (a retry, a retaken photo: same key, same content type) until
 *   URL_MARGIN_SECONDS before it expires, or until storage refuses it (403),
 *   so retries on a bad connection ask the API for no new upload URL and do
 *   not use up the attempt's allowance (MAX_UPLOADS_PER_ATTEMPT).
 * - After the submission the form is replaced by the thank-you message
 *   (focus on its heading, the message in the status region), as the
 *   no-JavaScript path answers with the thank-you page.
 * - Words come from the page's catalogue (#page-strings); status goes to a
 *   polite live region, errors to an alert region.
 */
import { ALLOWED_CONTENT_TYPES, UPLOAD_URL_SECONDS } from '../store/file-store.js';

export const PHOTO_MAX_SIDE = 2000;
export const PHOTO_QUALITY = 0.85;
/** A kept upload URL is not used in its last minute (the upload itself takes time). */
export const URL_MARGIN_SECONDS = 60;

export const PAGE_SCRIPT = `
(function(){
var MAX_SIDE=${PHOTO_MAX_SIDE},QUALITY=${PHOTO_QUALITY},URL_LIFE_MS=${(UPLOAD_URL_SECONDS - URL_MARGIN_SECONDS) * 1000},STORED_TYPES=${JSON.stringify(ALLOWED_CONTENT_TYPES)};
var S=JSON.parse(document.getElementById('page-strings').textContent);
function t(k,v){return S[k].replace(/\\{(\\w+)\\}/g,function(w,n){return v&&Object.prototype.hasOwnProperty.call(v,n)?v[n]:w;});}
var form=document.getElementById('verify'),statusEl=document.getElementById('status'),alertEl=document.getElementById('alert');
function say(text){statusEl.textContent=text;}
// An alert supersedes the status line: it must not go on saying 'Uploading' beside an error.
function shout(text){say('');alertEl.textContent='';setTimeout(function(){alertEl.textContent=text;},50);}
var slots=[];
Array.prototype.forEach.call(form.querySelectorAll('.photo'),function(box){
  var s={name:box.dataset.slot,label:box.dataset.label,input:box.querySelector('input[type=file]'),preview:box.querySelector('.preview'),
    img:box.querySelector('.preview img'),progress:box.querySelector('progress'),error:box.querySelector('.slot-error'),retry:box.querySelector('.retry'),
    blob:null,type:null,uploaded:false,ready:Promise.resolve(),url:null,up:null,bad:null};
  slots.push(s);
  s.input.addEventListener('change',function(){s.ready=prepare(s);});
  box.querySelector('.retake').addEventListener('click',function(){s.input.click();});
  s.retry.addEventListener('click',function(){upload([s]).then(function(ok){if(ok)s.preview.querySelector('button').focus();});});
});
function setError(s,text){
  s.error.textContent=text||'';s.error.hidden=!text;
  if(text)s.input.setAttribute('aria-describedby',s.error.id);else s.input.removeAttribute('aria-describedby');
}
async function shrink(bmp){
  var k=Math.min(1,MAX_SIDE/Math.max(bmp.width,bmp.height));
  var w=Math.max(1,Math.round(bmp.width*k)),h=Math.max(1,Math.round(bmp.height*k));
  var c=document.createElement('canvas');c.width=w;c.height=h;
  var g=c.getContext('2d');g.fillStyle='#fff';g.fillRect(0,0,w,h);g.imageSmoothingQuality='high';g.drawImage(bmp,0,0,w,h);
  if(bmp.close)bmp.close();
  var blob=await new Promise(function(r){c.toBlob(r,'image/jpeg',QUALITY);});
  c.width=c.height=0;
  if(!blob)throw new Error('encode');
  return blob;
}
function notImage(s){
  // Not a picture this browser can read (a PDF, a text, a damaged or HEIC file): said at once, never uploaded.
  var m=t('error_not_image',{photo:s.label});
  s.bad=m;s.blob=null;s.preview.hidden=true;s.input.hidden=false;setError(s,m);shout(m);
}
// A photo sent as the person picked it, if it is of a type storage takes (STORED_TYPES); else it is no picture to send.
function asIs(s,f){
  if(STORED_TYPES.indexOf(f.type)<0){notImage(s);return false;}
  s.blob=f;s.type=f.type;return true;
}
async function prepare(s){
  var f=s.input.files&&s.input.files[0];
  s.uploaded=false;s.blob=null;s.bad=null;setError(s,'');s.retry.hidden=true;s.progress.hidden=true;
  if(s.url){URL.revokeObjectURL(s.url);s.url=null;}
  if(!f){s.preview.hidden=true;s.input.hidden=false;return;}
  say(t('status_preparing',{photo:s.label}));
  var bmp;
  if(typeof createImageBitmap!=='function'){
    // A browser that cannot decode here (an older Safari).
    if(!asIs(s,f))return;
  }else{
    try{bmp=await createImageBitmap(f,{imageOrientation:'from-image'});}catch(e){notImage(s);return;}
    try{
      s.blob=await shrink(bmp);s.type='image/jpeg';
    }catch(e){
      // Read, but not re-encoded here (a canvas too large for this device).
      if(!asIs(s,f))return;
    }
  }
  s.url=URL.createObjectURL(s.blob);s.img.src=s.url;
  var hadFocus=document.activeElement===s.input;
  s.preview.hidden=false;s.input.hidden=true;
  if(hadFocus)s.preview.querySelector('button').focus();
  say(t('status_ready',{photo:s.label}));
}
function post(u,s){
  return new Promise(function(resolve){
    var x=new XMLHttpRequest();x.open('POST',u.url);
    x.upload.addEventListener('progress',function(e){if(e.lengthComputable)s.progress.value=Math.round(100*e.loaded/e.total);});
    x.onload=function(){resolve({ok:x.status>=200&&x.status<300,status:x.status,text:x.responseText||''});};
    x.onerror=x.onabort=x.ontimeout=function(){resolve({ok:false,status:0,text:''});};
    var fd=new FormData();Object.keys(u.fields).forEach(function(k){fd.append(k,u.fields[k]);});
    fd.append('file',s.blob,s.name+(s.type==='image/jpeg'?'.jpg':''));x.send(fd);
  });
}
async function upload(list){
  await Promise.all(list.map(function(s){return s.ready;}));
  list=list.filter(function(s){return s.blob&&!s.uploaded;});
  if(!list.length)return true;
  // Upload URLs only for slots without a usable one: a retry reuses the slot's URL.
  // The wall clock: performance.now() may stand still while a phone sleeps, and the URL's expiry does not.
  var now=Date.now();
  var need=list.filter(function(s){return !(s.up&&s.up.type===s.type&&now-s.up.at<URL_LIFE_MS);});
  if(need.length){
    var ask=new URLSearchParams();need.forEach(function(s){ask.append('files['+s.name+']',s.type);});
    var r=null,out={};
    try{
      r=await fetch(form.dataset.uploads,{method:'POST',body:ask,headers:{accept:'application/json'}});
      out=await r.json().catch(function(){return {};});
    }catch(e){r=null;}
    if(!r){
      // No answer at all (connection lost): the same as a failed upload, for each photo.
      var lost=null;
      list.forEach(function(s){var m=t('error_upload_failed',{photo:s.label});setError(s,m);s.retry.hidden=false;lost=lost||m;});
      shout(lost);return false;
    }
    if(!r.ok){shout(out.error&&out.error.message||t('error_generic'));return false;}
    need.forEach(function(s){s.up={type:s.type,at:now,post:out.uploads[s.name]};});
  }
  var failed=null;
  for(var i=0;i<list.length;i++){
    var s=list[i];setError(s,'');s.retry.hidden=true;s.progress.value=0;s.progress.hidden=false;
    say(t('status_uploading',{photo:s.label}));
    var res=await post(s.up.post,s);
    if(res.ok){s.uploaded=true;s.progress.value=100;say(t('status_uploaded',{photo:s.label}));continue;}
    // Refused by storage (an expired or unusable policy): the next try asks for a new URL.
    if(res.status===403)s.up=null;
    s.progress.hidden=true;
    var msg=/EntityTooLarge/.test(res.text)?t('error_upload_too_large',{photo:s.label}):t('error_upload_failed',{photo:s.label});
    setError(s,msg);s.retry.hidden=false;failed=failed||msg;
  }
  if(failed){shout(failed);return false;}
  return true;
}
// Submitted: the page ends as the no-JavaScript path's thank-you page does. The form (and the
// language links, which would open a used link) give way to the heading and the message; the
// status region is kept (moved, not recreated) so that the message is announced, and the
// heading takes the focus, so nothing is left to press.
function finish(){
  var main=form.parentNode,h=document.createElement('h1');
  h.id='done-title';h.tabIndex=-1;h.textContent=t('done_title');
  alertEl.textContent='';say('');
  while(main.firstChild)main.removeChild(main.firstChild);
  main.appendChild(h);main.appendChild(statusEl);
  document.title=t('done_title');
  window.scrollTo(0,0);h.focus();
  say(t('done_message'));
}
var busy=false;
form.addEventListener('submit',async function(ev){
  ev.preventDefault();if(busy)return;busy=true;form.setAttribute('aria-busy','true');
  try{
    await Promise.all(slots.map(function(s){return s.ready;}));
    // A picked file that is not a picture is not silently left out: the person chooses another first.
    var bad=slots.filter(function(s){return s.bad;});
    if(bad.length){shout(bad[0].bad);bad[0].input.focus();return;}
    if(!(await upload(slots)))return;
    var data=new URLSearchParams();
    slots.forEach(function(s){if(s.uploaded)data.append('uploaded[]',s.name);});
    new FormData(form).forEach(function(v,k){if(typeof v==='string'&&v!=='')data.append(k,v);});
    if(!form.elements.test_async||!form.elements.test_async.checked)data.delete('test_delay_seconds');
    if(data.get('test_outcome')!=='unverified')data.delete('test_error_code');
    say(t('status_submitting'));
    var r=await fetch(form.action,{method:'POST',body:data,headers:{accept:'application/json'}});
    var out=await r.json().catch(function(){return {};});
    if(!r.ok){shout(out.error&&out.error.message||t('error_generic'));return;}
    finish();
    if(out.redirect_url)window.location.assign(out.redirect_url);
  }catch(e){shout(t('error_generic'));}
  finally{busy=false;form.removeAttribute('aria-busy');}
});
})();`;
