/**
 * `npm start`: the whole service on this machine.
 *   PORT              HTTP port (default 4010), on 127.0.0.1
 *   LOCAL_SECRET_KEY  a sk_test_... key to accept instead of a generated one
 *   DATA_DIR          keep DynamoDB Local's data in this directory (default: in memory)
 *   RETENTION_DAYS    redact sessions verified or canceled longer than this (default: never)
 *   ABANDON_AFTER_DAYS cancel (last_error abandoned) sessions awaiting input untouched longer than this (default: never)
 *   SWEEP_INTERVAL_SECONDS how often those sweeps and the stuck-checks sweep run (default 60)
 *   API_RATE_LIMIT_TEST requests per second per account before 429 rate_limit (default: no limit)
 */
import '../local/quiet-metrics.js';
import { mkdirSync } from 'node:fs';
import { resolve } from 'node:path';
import { rmSync, writeFileSync } from 'node:fs';
import { JavaMissingError } from '../local/dynamodb.js';
import { LOCAL_STATE_FILE } from '../local/state-file.js';
import { startLocalService } from '../local/service.js';
import { daysSetting } from '../lambdas/sweep/sweeper.js';
import { rateLimitFromEnv } from '../lambdas/api/rate-limit.js';

async function main() {
  // The SDK's notice about future Node versions is not for users of `npm start`.
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  const port = process.env.PORT ? Number(process.env.PORT) : 4010;
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new UsageError(`PORT must be a port number, got '${process.env.PORT}'.`);
  const dataDir = process.env.DATA_DIR ? resolve(process.env.DATA_DIR) : undefined;
  if (dataDir) mkdirSync(dataDir, { recursive: true });
  const secretKey = process.env.LOCAL_SECRET_KEY || undefined;
  if (secretKey && !/^sk_test_[0-9A-Za-z]{24,128}$/.test(secretKey))
    throw new UsageError('LOCAL_SECRET_KEY must look like sk_test_ followed by 24 to 128 letters and digits.');

  let sweep;
  let rateLimit;
  try {
    // Off unless asked for: a local run serves one developer (and the benchmarks).
    rateLimit = process.env.API_RATE_LIMIT_TEST ? rateLimitFromEnv(process.env, { livePerSecond: 0, testPerSecond: 0 }) : undefined;
    const interval = process.env.SWEEP_INTERVAL_SECONDS;
    if (interval !== undefined && !(Number(interval) > 0)) throw new Error(`SWEEP_INTERVAL_SECONDS must be a positive number, got '${interval}'`);
    sweep = {
      retentionMs: daysSetting('RETENTION_DAYS', process.env.RETENTION_DAYS),
      abandonAfterMs: daysSetting('ABANDON_AFTER_DAYS', process.env.ABANDON_AFTER_DAYS),
      intervalMs: interval ? Number(interval) * 1000 : undefined,
    };
  } catch (err) {
    throw new UsageError((err as Error).message);
  }

  const service = await startLocalService({ port, secretKey, dataDir, sweep, rateLimit, log: (l) => console.error(l) });
  const { hostname } = new URL(service.baseUrl);
  console.log(`Verification sessions API: ${service.baseUrl}/v1/identity/verification_sessions
Operator console: ${service.baseUrl}/console (sign in with the secret key below)
Test secret key: ${service.secretKey}
DynamoDB Local: ${service.dynamoEndpoint} (${dataDir ? `data in ${dataDir}` : 'in memory'}), table ${service.tableName}
Retention: ${process.env.RETENTION_DAYS ? `sessions verified or canceled are redacted after ${process.env.RETENTION_DAYS} days` : 'off (RETENTION_DAYS)'}; abandonment: ${process.env.ABANDON_AFTER_DAYS ? `sessions awaiting input are canceled after ${process.env.ABANDON_AFTER_DAYS} days untouched` : 'off (ABANDON_AFTER_DAYS)'}

Try it:
  curl ${service.baseUrl}/v1/identity/verification_sessions -u ${service.secretKey}: -d type=document

With stripe-node (npm install stripe), in an .mjs file:
  import Stripe from 'stripe';
  const stripe = new Stripe('${service.secretKey}', { host: '${hostname}', port: ${service.port}, protocol: 'http' });
  const session = await stripe.identity.verificationSessions.create({ type: 'document' });
  console.log(session.id, session.status, session.url);

Open a session's url in a browser to submit it (test mode: choose the outcome).
Watch events as they happen: npm run events

Ready. Ctrl-C stops the service.`);
  writeFileSync(LOCAL_STATE_FILE, JSON.stringify({
      baseUrl: service.baseUrl,
      secretKey: service.secretKey,
      pid: process.pid,
      // For `npm run keys`, which writes to the table directly.
      dynamoEndpoint: service.dynamoEndpoint,
      tableName: service.tableName,
    }), { mode: 0o600 });

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    // Whoever started us may be gone with our terminal: a failed write must not stop the shutdown.
    process.stdout.on('error', () => {});
    process.stderr.on('error', () => {});
    console.log(`\n${signal}: stopping...`);
    rmSync(LOCAL_STATE_FILE, { force: true });
    await service.stop();
    process.exit(0);
  };
  process.on('SIGINT', () => void stop('SIGINT'));
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGHUP', () => void stop('SIGHUP'));
  // If whatever started us goes away without passing on a signal, stop too:
  // DynamoDB Local's JVM must not outlive the service.
  const parent = process.ppid;
  setInterval(() => {
    if (process.ppid !== parent) void stop('parent process exited');
  }, 1000).unref();
}

class UsageError extends Error {}

main().catch((err) => {
  if (err instanceof JavaMissingError || err instanceof UsageError) console.error(err.message);
  else if ((err as NodeJS.ErrnoException).code === 'EADDRINUSE')
    console.error(`Port ${process.env.PORT ?? 4010} is in use: stop what runs there or set PORT to another port.`);
  else console.error(err instanceof Error ? (err.stack ?? err.message) : String(err));
  process.exit(1);
});
