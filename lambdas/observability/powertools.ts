import { Logger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { MetricUnit, Metrics } from '@aws-lambda-powertools/metrics';
import type { Tracer } from '@aws-lambda-powertools/tracer';
import middy from '@middy/core';
import { METRICS_NAMESPACE, METRICS_SERVICE, type MetricName } from './metric-names.js';

/**
 * One logger, one metrics buffer and one tracer per function (per Lambda
 * container; `npm start` shares them between its handlers).
 *
 * Settings come from the environment the stack sets, with this project's
 * names as defaults:
 *   POWERTOOLS_SERVICE_NAME       `service` on every log line and metric
 *   POWERTOOLS_METRICS_NAMESPACE  the CloudWatch namespace the alarms read
 *   POWERTOOLS_LOG_LEVEL          DEBUG | INFO | WARN | ERROR (default INFO)
 *   POWERTOOLS_METRICS_DISABLED   `npm start` and the tests set it: no EMF lines
 *   TRACE_SDK_CALLS               `true`: X-Ray subsegments for the handler and each AWS call (below)
 */
const serviceName = process.env.POWERTOOLS_SERVICE_NAME || METRICS_SERVICE;

export const logger = new Logger({
  serviceName,
  logLevel: (process.env.POWERTOOLS_LOG_LEVEL || 'INFO') as 'INFO',
});

class ServiceMetrics extends Metrics {
  /** POWERTOOLS_METRICS_DISABLED (or POWERTOOLS_DEV): nothing is stored or printed. */
  get off(): boolean {
    return this.isDisabled();
  }
}

export const metrics = new ServiceMetrics({
  namespace: process.env.POWERTOOLS_METRICS_NAMESPACE || METRICS_NAMESPACE,
  serviceName,
});

/**
 * SDK tracing: the Powertools Tracer, with an X-Ray subsegment per handler and
 * per AWS SDK call. Only inside Lambda and only with TRACE_SDK_CALLS=true (the
 * stack's `traceSdkCalls` setting); the functions' active tracing gives each
 * invocation its Lambda segments without it.
 *
 * The tracer is imported only then: the X-Ray SDK under it loads cls-hooked,
 * which installs a process-wide async hook on import, whether tracing is on or
 * not. That hook ran on every promise of every request (8% of the API's busy
 * CPU under the bench), and the import cost the API bundle's cold start about
 * 70 ms of CPU. esbuild bundles a dynamic import lazily: the code is in the
 * bundle, but not evaluated unless this branch runs.
 */
export const sdkTracingWanted = process.env.TRACE_SDK_CALLS === 'true' && (process.env.AWS_EXECUTION_ENV ?? '') !== '';

const tracing = sdkTracingWanted ? await loadTracing() : undefined;

async function loadTracing() {
  const [{ Tracer }, { captureLambdaHandler }] = await Promise.all([
    import('@aws-lambda-powertools/tracer'),
    import('@aws-lambda-powertools/tracer/middleware'),
  ]);
  const tracer: Tracer = new Tracer({ serviceName });
  // POWERTOOLS_TRACE_ENABLED=false (or SAM / Amplify mocks) still turn it off.
  return tracer.isTracingEnabled() ? { tracer, captureLambdaHandler } : undefined;
}

/** Whether this process records SDK subsegments (TRACE_SDK_CALLS=true inside Lambda). */
export const sdkTracing = (): boolean => tracing !== undefined;

/**
 * Records one value of a metric. Without a dimension it joins the invocation's
 * EMF line (printed when the handler returns); with one, it is printed at once
 * on a line of its own, since an EMF line has one set of dimensions.
 */
export function recordMetric(name: MetricName, value = 1, dimension?: { name: string; value: string }): void {
  if (metrics.off) return;
  const unit = /Latency|Duration|Lag/.test(name) ? MetricUnit.Milliseconds : MetricUnit.Count;
  if (!dimension) {
    metrics.addMetric(name, unit, value);
    return;
  }
  const single = metrics.singleMetric();
  single.addDimension(dimension.name, dimension.value || 'none');
  single.addMetric(name, unit, value);
}

/** Prints the invocation's stored metrics, if any (never Powertools' "no metrics" warning). */
export function flushMetrics(): void {
  if (metrics.hasStoredMetrics()) metrics.publishStoredMetrics();
}

/**
 * The Powertools middlewares every function's handler goes through: the Lambda
 * context (request id, cold start) on each log line, with keys appended by the
 * handler dropped after the invocation; with SDK tracing, the handler's X-Ray
 * subsegment; the handler itself flushes the metrics (withMetricsFlushed).
 */
export function observe<H extends middy.MiddyfiedHandler<any, any>>(handler: H): H {
  handler.use(injectLambdaContext(logger, { resetKeys: true }));
  if (tracing) handler.use(tracing.captureLambdaHandler(tracing.tracer, { captureResponse: false }));
  return handler;
}

/** A plain async handler, wrapped in middy with the middlewares of `observe`. */
export function instrumented<E, R>(handler: (event: E) => Promise<R>) {
  return observe(middy<E, R>().handler((event: E) => withMetricsFlushed(() => handler(event))));
}

/** Runs a handler's work and prints its metrics when it ends, returned or thrown. */
export async function withMetricsFlushed<R>(work: () => Promise<R>): Promise<R> {
  try {
    return await work();
  } finally {
    flushMetrics();
  }
}

/**
 * An AWS SDK v3 client with X-Ray subsegments for its calls, with SDK tracing;
 * the client itself otherwise (and always outside Lambda: no X-Ray daemon
 * locally or in tests).
 */
export function traced<C>(client: C): C {
  return tracing ? tracing.tracer.captureAWSv3Client(client) : client;
}

/**
 * The default of the workers' `log` port: a JSON line (`{"level", "message", ...}`)
 * written through the logger, so it gets the logger's fields (service, Lambda
 * request id, persistent keys). Tests and `npm start` pass their own port.
 */
export function logLine(line: string): void {
  let fields: Record<string, unknown>;
  try {
    fields = JSON.parse(line) as Record<string, unknown>;
  } catch {
    logger.info(line);
    return;
  }
  const { level, message, ...rest } = fields;
  const text = typeof message === 'string' ? message : '';
  if (level === 'error') logger.error(text, rest);
  else if (level === 'warn') logger.warn(text, rest);
  else if (level === 'debug') logger.debug(text, rest);
  else logger.info(text, rest);
}

/**
 * A caught error as a log attribute: name, message and stack only. Powertools
 * would also log the error's own properties, and an AWS SDK error can carry
 * the item it was about (a conditional write's old item: personal data).
 */
export function errorForLog(err: unknown): { name: string; message: string; stack?: string } {
  return err instanceof Error ? { name: err.name, message: err.message, stack: err.stack } : { name: 'Error', message: String(err) };
}
