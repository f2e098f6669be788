import { S3Client } from '@aws-sdk/client-s3';
import { describe, expect, it, vi } from 'vitest';
import { errorForLog, flushMetrics, logger, recordMetric, traced, tracer } from '../../lambdas/observability/powertools.js';
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
    expect(tracer.isTracingEnabled()).toBe(false);
    const client = new S3Client({ region: 'eu-west-1' });
    const stackBefore = client.middlewareStack.identify().length;
    expect(traced(client)).toBe(client);
    expect(client.middlewareStack.identify().length).toBe(stackBefore);
  });
});
