import { marshall } from '@aws-sdk/util-dynamodb';
import type { APIGatewayProxyEventV2, DynamoDBStreamEvent } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { type SessionRecord, newSession, transition } from '../../lambdas/domain/session.js';
import { METRICS_NAMESPACE, METRICS_SERVICE } from '../../lambdas/observability/metric-names.js';
import { freshTable } from '../support/dynamo.js';

// What CloudWatch receives: the functions print embedded-metric-format JSON on
// stdout. The test run turns metrics off (vitest.config.ts); this file turns
// them on and builds the modules again, as a Lambda container would load them.
interface EmfLine {
  _aws: { CloudWatchMetrics: { Namespace: string; Dimensions: string[][]; Metrics: { Name: string; Unit: string }[] }[] };
  [key: string]: unknown;
}

const printed: string[] = [];
let modules: {
  app: typeof import('../../lambdas/api/app.js');
  publisher: typeof import('../../lambdas/events/publisher.js');
  powertools: typeof import('../../lambdas/observability/powertools.js');
  keys: typeof import('../../lambdas/store/api-keys.js');
  sessions: typeof import('../../lambdas/store/session-store.js');
  idempotency: typeof import('../../lambdas/store/idempotency.js');
};

beforeAll(async () => {
  vi.stubEnv('POWERTOOLS_METRICS_DISABLED', 'false');
  vi.resetModules();
  modules = {
    app: await import('../../lambdas/api/app.js'),
    publisher: await import('../../lambdas/events/publisher.js'),
    powertools: await import('../../lambdas/observability/powertools.js'),
    keys: await import('../../lambdas/store/api-keys.js'),
    sessions: await import('../../lambdas/store/session-store.js'),
    idempotency: await import('../../lambdas/store/idempotency.js'),
  };
  const write = process.stdout.write.bind(process.stdout);
  vi.spyOn(process.stdout, 'write').mockImplementation(((chunk: unknown, ...rest: unknown[]) => {
    if (typeof chunk === 'string' && chunk.includes('"_aws"')) {
      printed.push(chunk);
      return true;
    }
    return (write as (...a: unknown[]) => boolean)(chunk, ...rest);
  }) as typeof process.stdout.write);
});
afterAll(() => {
  vi.restoreAllMocks();
  vi.unstubAllEnvs();
});

/** The EMF lines printed while `fn` ran. */
async function emfDuring(fn: () => Promise<unknown>): Promise<EmfLine[]> {
  const from = printed.length;
  await fn();
  return printed.slice(from).flatMap((chunk) => chunk.trim().split('\n').map((l) => JSON.parse(l) as EmfLine));
}

/** Each metric of the lines with its value and dimensions. */
function metricsOf(lines: EmfLine[]) {
  return lines.flatMap((line) =>
    line._aws.CloudWatchMetrics.flatMap((d) =>
      d.Metrics.map((m) => ({
        namespace: d.Namespace,
        name: m.Name,
        unit: m.Unit,
        value: line[m.Name],
        dimensions: Object.fromEntries(d.Dimensions.flat().map((k) => [k, line[k]])),
      })),
    ),
  );
}

describe('metrics in CloudWatch embedded metric format', () => {
  it('the API handler prints no metric for a create or its replay: SessionsCreated is the publisher\'s count, one per created event', async () => {
    const { doc, tableName } = await freshTable('metrics');
    const { ApiKeyStore, newSecretKey } = modules.keys;
    const apiKeys = new ApiKeyStore(doc, tableName);
    const key = newSecretKey(false);
    await apiKeys.register(key, 'acct_0123456789abcdef');
    const handler = modules.app.createApiHandler({
      sessions: new modules.sessions.SessionStore(doc, tableName),
      idempotency: new modules.idempotency.IdempotencyStore(doc, tableName),
      apiKeys,
    } as never);
    const event = (idempotencyKey: string) =>
      ({
        version: '2.0',
        rawPath: '/v1/identity/verification_sessions',
        rawQueryString: '',
        headers: { authorization: `Bearer ${key}`, 'content-type': 'application/x-www-form-urlencoded', 'idempotency-key': idempotencyKey },
        requestContext: { domainName: 'abc.execute-api.eu-west-1.amazonaws.com', http: { method: 'POST', path: '/v1/identity/verification_sessions' } },
        body: 'type=document',
        isBase64Encoded: false,
      }) as unknown as APIGatewayProxyEventV2;

    const created = await emfDuring(async () => {
      const res = await handler(event('metrics-1'), {} as never);
      expect(res.statusCode).toBe(200);
    });
    expect(metricsOf(created)).toEqual([]);
    // The same request again is answered from the saved result: no second session, and no count either.
    const replayed = await emfDuring(async () => {
      const res = await handler(event('metrics-1'), {} as never);
      expect(res.headers?.['idempotent-replayed']).toBe('true');
    });
    expect(metricsOf(replayed)).toEqual([]);
  });

  it('the stream publisher counts each status change once, requires_input by last_error.code, and its lag', async () => {
    const s0 = newSession(
      { type: 'document' },
      { id: 'vs_0VcOcsy9AWLrEOraAjOXOWqM', scope: { account: 'acct_1', livemode: false }, nowMs: Date.now() - 5000, request: { id: 'req_1', idempotency_key: null } },
    );
    const SYSTEM = { updated_ms: Date.now() - 4000, last_request: null };
    const s1 = transition(s0, 'submit', SYSTEM);
    const s2 = transition(s1, 'checks_failed', SYSTEM, (s) => (s.last_error = { code: 'document_expired', reason: 'expired' }));
    const s3 = transition(s2, 'submit', SYSTEM);
    const s4 = transition(s3, 'checks_passed', SYSTEM);
    const writtenSeconds = Math.floor(Date.now() / 1000) - 3;
    const image = (s: SessionRecord) => marshall({ pk: 'A#acct_1#test', sk: `VS#${s.id}`, ...s }, { removeUndefinedValues: true }) as never;
    const batch: DynamoDBStreamEvent = {
      Records: ([[undefined, s0], [s0, s1], [s1, s2], [s2, s3], [s3, s4]] as [SessionRecord | undefined, SessionRecord][]).map(([before, after], i) => ({
        eventName: before ? 'MODIFY' : 'INSERT',
        dynamodb: {
          Keys: marshall({ pk: 'A#acct_1#test', sk: `VS#${after.id}` }) as never,
          OldImage: before && image(before),
          NewImage: image(after),
          SequenceNumber: String(100 + i),
          ApproximateCreationDateTime: writtenSeconds,
        },
      })),
    };
    const publisher = modules.powertools.instrumented(
      modules.publisher.createStreamPublisher({
        events: { linkToSession: async () => ({ redacted: false }), putIfAbsent: async () => true } as never,
        bus: { put: async () => ({ failed: [] }) },
        apiVersion: '2026-10-28.endive',
        redactions: { send: async () => {} },
      }),
    );
    const lines = await emfDuring(() => publisher(batch, {} as never));
    const metrics = metricsOf(lines);
    const byName = (name: string) => metrics.filter((m) => m.name === name);
    expect(byName('SessionsSubmitted').map((m) => m.value)).toEqual([[1, 1]]);
    expect(byName('SessionsVerified').map((m) => m.value)).toEqual([1]);
    expect(byName('SessionsRequiresInput')).toEqual([
      { namespace: METRICS_NAMESPACE, name: 'SessionsRequiresInput', unit: 'Count', value: 1, dimensions: { service: METRICS_SERVICE, error_code: 'document_expired' } },
    ]);
    const [lag] = byName('StreamPublisherLag');
    expect(lag).toMatchObject({ unit: 'Milliseconds', dimensions: { service: METRICS_SERVICE } });
    expect(lag.value).toBeGreaterThanOrEqual(3000);
    expect(lag.value).toBeLessThan(60_000);
    // One created event in the batch: one count, in the batch's one EMF line with the other counts.
    expect(byName('SessionsCreated')).toEqual([
      { namespace: METRICS_NAMESPACE, name: 'SessionsCreated', unit: 'Count', value: 1, dimensions: { service: METRICS_SERVICE } },
    ]);
  });
});
