import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';

/**
 * The console's static files, served by the console itself under
 * /console/assets (no CDN, no third-party origin): its stylesheet, its small
 * script (copy buttons, the live events view), the chart script, and uPlot.
 */
const STYLE = `
*{box-sizing:border-box}
body{font:15px/1.5 system-ui,sans-serif;margin:0;background:#f6f7f9;color:#1a1f36}
a{color:#3b34c9}code{font:13px/1.4 ui-monospace,monospace;overflow-wrap:anywhere}
.skip{position:absolute;left:-999px;top:0;background:#fff;padding:.5rem}.skip:focus{left:.5rem;z-index:2}
.top{display:flex;flex-wrap:wrap;align-items:center;gap:.5rem 1rem;padding:.6rem 1rem;background:#1a1f36;color:#fff}
.top a{color:#fff}.brand{font-weight:700;text-decoration:none}
.top nav ul{display:flex;gap:1rem;list-style:none;margin:0;padding:0}.top nav a[aria-current=page]{text-decoration:underline;text-underline-offset:4px;font-weight:600}
.signout{margin-left:auto}
.mode{font-size:.8rem;padding:.1rem .5rem;border-radius:99px}.mode.test{background:#ffd88a;color:#1a1f36}.mode.live{background:#b7f0cf;color:#1a1f36}
main{max-width:72rem;margin:0 auto;padding:1rem}
h1{font-size:1.5rem;overflow-wrap:anywhere}h1 button{font-size:.9rem;vertical-align:middle;margin:0 0 0 .5rem}h2{font-size:1.15rem;margin-top:0}h3{font-size:1rem;margin:.2rem 0}
.card{background:#fff;border-radius:8px;box-shadow:0 1px 3px #0002;padding:1rem;margin:0 0 1rem}
.narrow{max-width:28rem}
label{display:block;font-weight:600;margin:.2rem 0}
input,select{font:inherit;padding:.4rem;border:1px solid #6b7385;border-radius:4px;max-width:100%;background:#fff;color:#1a1f36}
input[type=password],input[type=url]{width:100%}
button{font:inherit;background:#4f46e5;color:#fff;border:1px solid #4f46e5;border-radius:6px;padding:.45rem 1rem;cursor:pointer;margin-top:.4rem}
button.secondary{background:#fff;color:#3b34c9}button.danger{background:#b42318;border-color:#b42318}
:focus-visible{outline:3px solid #f59e0b;outline-offset:2px}
.filters{display:flex;flex-wrap:wrap;gap:.75rem;align-items:flex-end}.filters .wide{flex:1 1 20rem}.filters .actions{display:flex;gap:.75rem;align-items:center}
.error{color:#b42318;font-weight:600}.notice{color:#05603a;font-weight:600}.hint{color:#4b5565;font-size:.9rem}
.table-wrap{overflow-x:auto}
table{border-collapse:collapse;width:100%;background:#fff}caption{text-align:left;font-weight:600;padding:.4rem 0}
th,td{text-align:left;padding:.4rem .5rem;border-bottom:1px solid #e3e6eb;vertical-align:top}
.badge{display:inline-block;font-size:.8rem;font-weight:600;padding:.05rem .55rem;border-radius:99px;white-space:nowrap}
.badge.requires_input{background:#fde7c3;color:#6b3d00}.badge.processing{background:#dbe6ff;color:#1d3f8a}
.badge.verified{background:#c9f2da;color:#0b5132}.badge.canceled{background:#e6e8ec;color:#333b48}
.fields{display:grid;grid-template-columns:repeat(auto-fill,minmax(15rem,1fr));gap:.5rem 1rem;margin:0}
.fields dt{font-size:.8rem;color:#4b5565}.fields dd{margin:0;overflow-wrap:anywhere}
.masked{letter-spacing:.15em}
.action-row{display:flex;flex-wrap:wrap;gap:1rem;align-items:flex-start}
details.redact summary{cursor:pointer;padding:.45rem 0;margin-top:.4rem;color:#b42318;font-weight:600}
.images{display:flex;flex-wrap:wrap;gap:1rem}.images figure{margin:0}.images img{max-width:16rem;max-height:12rem;border:1px solid #d5d9e0;border-radius:4px;background:#f0f1f4;min-width:2rem;min-height:2rem;image-rendering:pixelated}
.timeline{list-style:none;padding:0;margin:0}.timeline>li{border-left:3px solid #4f46e5;padding:.25rem 0 .75rem 1rem;margin-left:.25rem}
.event-type{font-weight:700}.delivery p{margin:.3rem 0}
form.inline{display:flex;flex-wrap:wrap;gap:.5rem;align-items:center}form.inline label{display:inline;font-weight:400}form.inline button{margin:0}
.endpoints{list-style:none;padding:0}
.chart-area{min-height:0;overflow:hidden}.totals{max-width:32rem}
.pager{display:flex;gap:1.5rem;margin:1rem 0}
@media (max-width:40rem){main{padding:.5rem}.card{padding:.75rem}.top nav ul{gap:.75rem}th,td{padding:.3rem}}
`;

/** Copy buttons (shown only when the script runs) and the live events view. */
const SCRIPT = `
(function(){
document.querySelectorAll('button.copy').forEach(function(b){
  var target=document.getElementById(b.dataset.copy);if(!target||!navigator.clipboard)return;
  b.hidden=false;
  b.addEventListener('click',function(){navigator.clipboard.writeText(target.textContent).then(function(){var t=b.textContent;b.textContent='Copied';setTimeout(function(){b.textContent=t;},1500);});});
});
var body=document.getElementById('events-body');
if(body){
  var state=document.getElementById('live-state'),type=document.getElementById('type');
  state.textContent='Live: new events appear here every few seconds.';
  async function poll(){
    try{
      var r=await fetch('/console/events.json?type='+encodeURIComponent(type.value),{headers:{accept:'application/json'},credentials:'same-origin'});
      if(r.status===401){state.textContent='Signed out: reload the page to sign in again.';return;}
      if(r.ok){var out=await r.json();body.innerHTML=out.rows;}
    }catch(e){state.textContent='Live view paused: the console could not be reached.';}
    setTimeout(poll,3000);
  }
  type.addEventListener('change',function(){poll();});
  setTimeout(poll,3000);
}
})();`;

/** Sessions per day by status, drawn with uPlot from the JSON the page carries. */
const CHART_SCRIPT = `
(function(){
var el=document.getElementById('chart'),data=document.getElementById('chart-data');
if(!el||!data||!window.uPlot)return;
var c=JSON.parse(data.textContent);
var colors={requires_input:'#c27a00',processing:'#3056c9',verified:'#0e8a53',canceled:'#6b7385'};
var xs=c.days.map(function(d){return Date.parse(d+'T00:00:00Z')/1000;});
var statuses=Object.keys(c.byStatus);
var series=[{}].concat(statuses.map(function(s){return {label:s,stroke:colors[s]||'#333',width:2,points:{show:false}};}));
function width(){return Math.max(240,Math.min(el.clientWidth||600,1100));}
var plot=new uPlot({width:width(),height:180,series:series,scales:{x:{time:true}},axes:[{},{}],legend:{show:true}},[xs].concat(statuses.map(function(s){return c.byStatus[s];})),el);
window.addEventListener('resize',function(){plot.setSize({width:width(),height:180});});
})();`;

const require_ = createRequire(import.meta.url);
/** A uPlot file: beside the Lambda bundle (lib/api.ts copies it there), else from node_modules (npm start, tests). */
function uplotFile(name: string): string | undefined {
  for (const path of [() => new URL(`./${name}`, import.meta.url), () => require_.resolve(`uplot/dist/${name}`)]) {
    try {
      return readFileSync(path(), 'utf8');
    } catch {
      // try the next place
    }
  }
  // Neither: the page keeps its table of totals.
  return undefined;
}

export interface Asset {
  type: string;
  body: string;
}

let uplot: { js?: string; css?: string } | undefined;

export function consoleAsset(name: string): Asset | undefined {
  uplot ??= { js: uplotFile('uPlot.iife.min.js'), css: uplotFile('uPlot.min.css') };
  switch (name) {
    case 'console.css':
      // uPlot's own stylesheet first, so the console's rules win.
      return { type: 'text/css; charset=utf-8', body: (uplot.css ?? '') + STYLE };
    case 'console.js':
      return { type: 'text/javascript; charset=utf-8', body: SCRIPT };
    case 'chart.js':
      return { type: 'text/javascript; charset=utf-8', body: CHART_SCRIPT };
    case 'uplot.js':
      return uplot.js ? { type: 'text/javascript; charset=utf-8', body: uplot.js } : undefined;
    default:
      return undefined;
  }
}
