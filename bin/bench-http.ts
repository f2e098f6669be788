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
 * bin/bench-server.ts in a process of its own: `api` (the API Lambda handler
 * behind the local adapter) or `bare` (a bare node:http server making the
 * same DynamoDB call). The environment is Lambda's as the stack sets it, with
 * DynamoDB Local as the endpoint: access log and metrics on (their lines go
 * to /dev/null), no SDK tracing, no rate limit in the way of the bench.
 */
export async function startBenchServer(kind: 'api' | 'bare', opts: { dynamoEndpoint: string; tableName: string; account: string }): Promise<BenchServer> {
  const { POWERTOOLS_METRICS_DISABLED: _m, API_ACCESS_LOG: _a, TRACE_SDK_CALLS: _t, ...env } = process.env;
  const child: ChildProcess = fork(new URL('./bench-server.ts', import.meta.url).pathname, [kind], {
    // BENCH_SERVER_NODE_OPTIONS: more node flags for the server processes, e.g. `--cpu-prof --cpu-prof-dir=/tmp/prof`.
    execArgv: ['--import', 'tsx', ...(process.env.BENCH_SERVER_NODE_OPTIONS?.split(/\s+/).filter(Boolean) ?? [])],
    env: {
      ...env,
      TABLE_NAME: opts.tableName,
      FILES_BUCKET: 'bench-files',
      BENCH_ACCOUNT: opts.account,
      AWS_ENDPOINT_URL_DYNAMODB: opts.dynamoEndpoint,
      AWS_REGION: 'us-east-1',
      AWS_ACCESS_KEY_ID: 'local',
      AWS_SECRET_ACCESS_KEY: 'local',
      AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
      POWERTOOLS_SERVICE_NAME: 'verification-sessions',
      API_RATE_LIMIT_TEST: '1000000',
    },
    stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
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
