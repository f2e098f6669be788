import { type ChildProcess, fork } from 'node:child_process';
import { timeOrderedId } from '../lambdas/domain/ids.js';
import { newSession } from '../lambdas/domain/session.js';

/**
 * The benchmarks' API client: a form POST or a GET with the service's test
 * key (and an Idempotency-Key when given). A 5xx stops the benchmark.
 */
export function benchClient(baseUrl: string, secretKey: string) {
  return async function call(method: string, path: string, body?: string, key?: string): Promise<{ status: number; body: any }> {
    const res = await fetch(baseUrl + path, {
      method,
      headers: {
        authorization: `Bearer ${secretKey}`,
        ...(body !== undefined ? { 'content-type': 'application/x-www-form-urlencoded' } : {}),
        ...(key ? { 'idempotency-key': key } : {}),
      },
      body,
    });
    const json = (await res.json()) as any;
    if (res.status >= 500) throw new Error(`${method} ${path}: ${res.status} ${JSON.stringify(json)}`);
    return { status: res.status, body: json };
  };
}

/**
 * Session records as the bench's create form makes them (the record the API
 * stores), each with a fresh id and times: what the raw PutItem and the bare
 * server write.
 */
export function sessionRecords(scope: { account: string; livemode: boolean }) {
  const template = newSession(
    {
      type: 'document',
      metadata: { order_id: 'ord_12345', customer: 'cus_42' },
      client_reference_id: 'user_42',
      options: { document: { allowed_types: ['passport', 'id_card'], require_matching_selfie: true } },
      provided_details: { email: 'jo@example.com' },
    },
    { id: timeOrderedId('vs'), scope, nowMs: Date.now(), request: null },
  );
  return () => {
    const nowMs = Date.now();
    return { ...template, id: timeOrderedId('vs', nowMs), created: Math.floor(nowMs / 1000), updated_ms: nowMs, state_since_ms: nowMs };
  };
}

export interface BenchServer {
  baseUrl: string;
  /** The server process's CPU time so far, in microseconds (user + system). */
  cpu(): Promise<number>;
  stop(): Promise<void>;
}

/**
 * A bench child process (bin/<script>) in Lambda's environment as the stack
 * sets it: access log and metrics on (their lines go to /dev/null), no SDK
 * tracing, no rate limit in the way of the bench.
 */
function forkBench(script: string, args: string[], extraEnv: Record<string, string>): ChildProcess {
  const { POWERTOOLS_METRICS_DISABLED: _m, API_ACCESS_LOG: _a, TRACE_SDK_CALLS: _t, ...env } = process.env;
  return fork(new URL(`./${script}`, import.meta.url).pathname, args, {
    // BENCH_SERVER_NODE_OPTIONS: more node flags for the bench's child processes, e.g. `--cpu-prof --cpu-prof-dir=/tmp/prof`.
    execArgv: ['--import', 'tsx', ...(process.env.BENCH_SERVER_NODE_OPTIONS?.split(/\s+/).filter(Boolean) ?? [])],
    env: {
      ...env,
      AWS_REGION: 'us-east-1',
      AWS_ACCESS_KEY_ID: 'local',
      AWS_SECRET_ACCESS_KEY: 'local',
      AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
      POWERTOOLS_SERVICE_NAME: 'verification-sessions',
      API_RATE_LIMIT_TEST: '1000000',
      ...extraEnv,
    },
    stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
  });
}

/**
 * The API handler's own CPU per call, create and retrieve, in milliseconds
 * (bin/bench-handler.ts): the handler as deployed, fed the local adapter's
 * event, DynamoDB answered from memory, so neither the SDK nor node:http nor
 * a wait is in it. After `warmup` calls of each, over 5 x `n` calls of each.
 */
export function measureHandlerCpu(opts: { createForm: string; warmup: number; n: number }): Promise<{ create: number; retrieve: number }> {
  const child = forkBench('bench-handler.ts', [], {
    BENCH_CREATE_FORM: opts.createForm,
    BENCH_WARMUP: String(opts.warmup),
    BENCH_N: String(opts.n),
  });
  return new Promise((resolve, reject) => {
    let answer: { create: number; retrieve: number } | undefined;
    child.on('message', (m: { handler?: { create: number; retrieve: number } }) => (answer = m.handler ?? answer));
    child.once('exit', (code) => (answer ? resolve(answer) : reject(new Error(`bench-handler exited (${code}) without an answer`))));
  });
}

/**
 * bin/bench-server.ts in a process of its own: `api` (the API Lambda handler
 * behind the local adapter) or `bare` (a bare node:http server making the
 * same DynamoDB call), with DynamoDB Local as the endpoint.
 */
export async function startBenchServer(kind: 'api' | 'bare', opts: { dynamoEndpoint: string; tableName: string; account: string }): Promise<BenchServer> {
  const child = forkBench('bench-server.ts', [kind], {
    TABLE_NAME: opts.tableName,
    FILES_BUCKET: 'bench-files',
    BENCH_ACCOUNT: opts.account,
    AWS_ENDPOINT_URL_DYNAMODB: opts.dynamoEndpoint,
  });
  const reply = <T>(key: string) =>
    new Promise<T>((resolve, reject) => {
      const onMessage = (m: Record<string, T>) => {
        if (!(key in m)) return;
        child.off('message', onMessage);
        child.off('exit', onExit);
        resolve(m[key]!);
      };
      const onExit = (code: number | null) => reject(new Error(`bench-server ${kind} exited (${code})`));
      child.on('message', onMessage);
      child.once('exit', onExit);
    });
  const port = await reply<number>('port');
  return {
    baseUrl: `http://127.0.0.1:${port}`,
    cpu: () => {
      const answer = reply<number>('cpu');
      child.send('cpu');
      return answer;
    },
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.disconnect();
      }),
  };
}
