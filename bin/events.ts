/**
 * `npm run events`: watch the events of a running `npm start` as they happen,
 * one line each (like `stripe listen`, without forwarding).
 *   --json     print each event's full JSON
 *   --history  print the stored events first (newest 100), then follow
 * It finds the service through the file npm start writes (or BASE_URL and
 * LOCAL_SECRET_KEY in the environment).
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { LOCAL_STATE_FILE } from '../local/state-file.js';

const { values } = parseArgs({ options: { json: { type: 'boolean', default: false }, history: { type: 'boolean', default: false } } });

function target(): { baseUrl: string; secretKey: string } {
  if (process.env.BASE_URL && process.env.LOCAL_SECRET_KEY) return { baseUrl: process.env.BASE_URL, secretKey: process.env.LOCAL_SECRET_KEY };
  try {
    return JSON.parse(readFileSync(LOCAL_STATE_FILE, 'utf8'));
  } catch {
    console.error('No running `npm start` found. Start it first, or set BASE_URL and LOCAL_SECRET_KEY.');
    process.exit(1);
  }
}

const { baseUrl, secretKey } = target();
interface StripeEvent {
  id: string;
  type: string;
  created: number;
  request: { id: string | null } | null;
  data: { object: { id: string; status?: string } };
}

async function page(query: string): Promise<StripeEvent[]> {
  const res = await fetch(`${baseUrl}/v1/events?${query}`, { headers: { authorization: `Bearer ${secretKey}` } });
  if (!res.ok) throw new Error(`GET /v1/events: ${res.status} ${await res.text()}`);
  return ((await res.json()) as { data: StripeEvent[] }).data;
}

function show(e: StripeEvent) {
  if (values.json) return console.log(JSON.stringify(e, null, 2));
  const time = new Date(e.created * 1000).toISOString().slice(11, 19);
  console.log(`${time}  ${e.id}  ${e.type.padEnd(44)}  ${e.data.object.id}  ${e.data.object.status ?? ''}  ${e.request?.id ?? '(system)'}`);
}

let newest: string | undefined;
try {
  const latest = await page('limit=100');
  if (values.history) latest.slice().reverse().forEach(show);
  newest = latest[0]?.id;
} catch (err) {
  console.error(`Cannot reach ${baseUrl}: ${(err as Error).message}`);
  process.exit(1);
}
console.error(`Watching events at ${baseUrl} (Ctrl-C to stop)...`);
for (;;) {
  try {
    // ending_before returns the events just newer than the cursor, newest first.
    const fresh: StripeEvent[] = newest ? await page(`limit=100&ending_before=${newest}`) : await page('limit=100');
    if (fresh.length > 0) {
      fresh.slice().reverse().forEach(show);
      newest = fresh[0].id;
    }
  } catch (err) {
    console.error(`(${(err as Error).message}; retrying)`);
  }
  await new Promise((r) => setTimeout(r, 250));
}
