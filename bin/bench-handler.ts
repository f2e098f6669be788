/**
 * The API handler's own CPU per call, in a process of its own (forked by
 * measureHandlerCpu in bin/bench-http.ts): the handler module's code as
 * deployed (createApiHandler with the real stores, middy, Powertools, access
 * log and metrics on), fed the API Gateway event the local adapter makes from
 * the bench's request, with DynamoDB answered from memory. What is left out is
 * what the bare server pays too: the AWS SDK's work per call, node:http and
 * the wait for DynamoDB. Its log lines go to /dev/null, as the servers' do.
 *
 * Over IPC it sends `{ handler: { create, retrieve } }`, CPU milliseconds per
 * call (user + system), after BENCH_WARMUP calls of each, over BENCH_N * 5.
 */
import type { IncomingMessage } from 'node:http';
import { GetCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import type { Context } from 'aws-lambda';
import { createApiHandler } from '../lambdas/api/app.js';
import { newAccountId } from '../lambdas/domain/ids.js';
import { ApiKeyStore, newSecretKey } from '../lambdas/store/api-keys.js';
import { IdempotencyStore } from '../lambdas/store/idempotency.js';
import { SessionStore } from '../lambdas/store/session-store.js';
import { toApiGatewayEvent } from '../local/http-adapter.js';

/** GetItem and PutItem on a Map: enough for create, retrieve and the key lookup. */
class MemoryDocumentClient {
  private readonly items = new Map<string, Record<string, unknown>>();
  async send(command: unknown): Promise<unknown> {
    if (command instanceof GetCommand) {
      const { pk, sk } = command.input.Key as { pk: string; sk: string };
      return { Item: this.items.get(`${pk}\u0000${sk}`) };
    }
    if (command instanceof PutCommand) {
      const item = command.input.Item as { pk: string; sk: string };
      this.items.set(`${item.pk}\u0000${item.sk}`, item);
      return {};
    }
    throw new Error(`bench-handler: ${(command as object).constructor.name} is not answered from memory`);
  }
}

const doc = new MemoryDocumentClient() as never;
const apiKeys = new ApiKeyStore(doc, 'memory');
const secretKey = newSecretKey(false);
await apiKeys.register(secretKey, newAccountId());
const handler = createApiHandler({ sessions: new SessionStore(doc, 'memory'), idempotency: new IdempotencyStore(doc, 'memory'), apiKeys } as never);

const context = {
  callbackWaitsForEmptyEventLoop: false,
  functionName: 'bench-api',
  functionVersion: '$LATEST',
  invokedFunctionArn: 'arn:aws:lambda:local:000000000000:function:bench-api',
  memoryLimitInMB: '1024',
  awsRequestId: 'bench',
  logGroupName: 'bench',
  logStreamName: 'bench',
  getRemainingTimeInMillis: () => 10_000,
} as Context;

/** The request as benchClient sends it (fetch's headers), turned into the event by the local adapter. */
function event(method: string, url: string, body = '') {
  const headers: Record<string, string> = {
    host: '127.0.0.1:3000',
    connection: 'keep-alive',
    authorization: `Bearer ${secretKey}`,
    accept: '*/*',
    'accept-language': '*',
    'sec-fetch-mode': 'cors',
    'user-agent': 'node',
    'accept-encoding': 'gzip, deflate',
  };
  if (body) {
    headers['content-type'] = 'application/x-www-form-urlencoded';
    headers['content-length'] = String(Buffer.byteLength(body));
  }
  const req = { method, url, headers, httpVersion: '1.1', socket: { remoteAddress: '127.0.0.1' } } as unknown as IncomingMessage;
  return toApiGatewayEvent(req, Buffer.from(body));
}

const SESSIONS = '/v1/identity/verification_sessions';
const createForm = process.env.BENCH_CREATE_FORM!;
async function call(method: string, url: string, body?: string) {
  const r = await handler(event(method, url, body), context);
  if (r.statusCode !== 200) throw new Error(`bench-handler: ${method} ${url} answered ${r.statusCode}: ${r.body}`);
  return r;
}
const existing = (JSON.parse((await call('POST', SESSIONS, createForm)).body!) as { id: string }).id;
const ops = {
  create: () => call('POST', SESSIONS, createForm),
  retrieve: () => call('GET', `${SESSIONS}/${existing}`),
};

const warmup = Number(process.env.BENCH_WARMUP ?? 1000);
const n = Number(process.env.BENCH_N ?? 200) * 5;
for (let i = 0; i < warmup; i++) for (const op of Object.values(ops)) await op();
const perCall: Record<string, number> = {};
for (const [name, op] of Object.entries(ops)) {
  const before = process.cpuUsage();
  for (let i = 0; i < n; i++) await op();
  const used = process.cpuUsage(before);
  perCall[name] = (used.user + used.system) / n / 1000;
}
process.send!({ handler: perCall });
process.disconnect();
