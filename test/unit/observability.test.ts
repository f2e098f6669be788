import { execFileSync } from 'node:child_process';
import { S3Client } from '@aws-sdk/client-s3';
import { describe, expect, it, vi } from 'vitest';
import { errorForLog, flushMetrics, logger, recordMetric, sdkTracing, traced } from '../../lambdas/observability/powertools.js';
import { METRIC } from '../../lambdas/observability/metric-names.js';

/** What the process printed while `fn` ran (the logger and metrics write to the streams directly). */
function printed(fn: () => void): string {
  const chunks: string[] = [];
  const spies = [process.stdout, process.stderr].map((s) =>
    vi.spyOn(s, 'write').mockImplementation(((chunk: unknown) => (chunks.push(String(chunk)), true)) as typeof s.write),
  );
  try {
    fn();
  } finally {
    for (const spy of spies) spy.mockRestore();
  }
  return chunks.join('');
}

describe('observability outside Lambda', () => {
  it('an error is logged by name, message and stack, never with the data an SDK error carries', () => {
    const err = Object.assign(new Error('The conditional request failed'), {
      name: 'ConditionalCheckFailedException',
      Item: { email: { S: 'jo.private@example.com' } },
    });
    const line = JSON.parse(printed(() => logger.error('request failed', { error: errorForLog(err) })));
    expect(line).toMatchObject({ level: 'ERROR', message: 'request failed', service: 'verification-sessions' });
    expect(line.error).toMatchObject({ name: 'ConditionalCheckFailedException', message: 'The conditional request failed' });
    expect(JSON.stringify(line)).not.toContain('jo.private@example.com');
  });

  it('metrics are off in the tests and under npm start: nothing is printed', () => {
    expect(process.env.POWERTOOLS_METRICS_DISABLED).toBe('true');
    const out = printed(() => {
      recordMetric(METRIC.sessionsCreated);
      recordMetric(METRIC.webhookAttempts, 1, { name: 'outcome', value: 'failed' });
      flushMetrics();
    });
    expect(out).toBe('');
  });

  it('tracing is off outside Lambda, so SDK clients are left as they are', () => {
    expect(sdkTracing()).toBe(false);
    const client = new S3Client({ region: 'eu-west-1' });
    const stackBefore = client.middlewareStack.identify().length;
    expect(traced(client)).toBe(client);
    expect(client.middlewareStack.identify().length).toBe(stackBefore);
  });
});

/**
 * The observability module imported in a fresh Node process with `env`: how
 * many async hooks were created while it loaded, whether SDK tracing is on,
 * and how many middlewares `traced` added to an SDK client.
 */
function loadedWith(env: Record<string, string>): { hooks: number; tracing: boolean; added: number } {
  const script = `
    import asyncHooks from 'node:async_hooks';
    let hooks = 0;
    const createHook = asyncHooks.createHook;
    asyncHooks.createHook = (...args) => (hooks++, createHook(...args));
    const m = await import('./lambdas/observability/powertools.ts');
    const { S3Client } = await import('@aws-sdk/client-s3');
    const client = new S3Client({ region: 'eu-west-1' });
    const before = client.middlewareStack.identify().length;
    m.traced(client);
    console.log(JSON.stringify({ hooks, tracing: m.sdkTracing(), added: client.middlewareStack.identify().length - before }));
  `;
  const { TRACE_SDK_CALLS: _t, AWS_EXECUTION_ENV: _e, ...base } = process.env;
  const out = execFileSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
    env: { ...base, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true', ...env },
    encoding: 'utf8',
  });
  return JSON.parse(out.trim().split('\n').pop()!);
}

describe('SDK tracing (the X-Ray SDK and its async hook)', () => {
  it('is not loaded in a Lambda without TRACE_SDK_CALLS: no async hook, clients untouched', () => {
    expect(loadedWith({ AWS_EXECUTION_ENV: 'AWS_Lambda_nodejs22.x' })).toEqual({ hooks: 0, tracing: false, added: 0 });
  });

  it('is not loaded outside Lambda even with TRACE_SDK_CALLS=true', () => {
    expect(loadedWith({ TRACE_SDK_CALLS: 'true' })).toEqual({ hooks: 0, tracing: false, added: 0 });
  });

  it('with TRACE_SDK_CALLS=true inside Lambda, SDK clients get X-Ray subsegments', () => {
    const loaded = loadedWith({ AWS_EXECUTION_ENV: 'AWS_Lambda_nodejs22.x', TRACE_SDK_CALLS: 'true' });
    expect(loaded.tracing).toBe(true);
    expect(loaded.hooks).toBeGreaterThan(0);
    expect(loaded.added).toBeGreaterThan(0);
  });
});
