import { Duration } from 'aws-cdk-lib';
import {
  Alarm,
  AlarmStatusWidget,
  ComparisonOperator,
  Dashboard,
  GraphWidget,
  type IAlarm,
  type IMetric,
  MathExpression,
  Metric,
  Stats,
  TextWidget,
  TreatMissingData,
} from 'aws-cdk-lib/aws-cloudwatch';
import { SnsAction } from 'aws-cdk-lib/aws-cloudwatch-actions';
import type { HttpApi } from 'aws-cdk-lib/aws-apigatewayv2';
import type { Function as LambdaFunction } from 'aws-cdk-lib/aws-lambda';
import type { ITopic } from 'aws-cdk-lib/aws-sns';
import type { Queue } from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { METRIC, METRICS_NAMESPACE, METRICS_SERVICE, type MetricName } from '../lambdas/observability/metric-names.js';

/** The thresholds of the alarms (README, "Alarms"). */
export const ALARM_THRESHOLDS = {
  /** Oldest unprocessed stream record the publisher may leave behind, in ms (sessions' events wait this long). */
  streamIteratorAgeMs: 5 * 60_000,
  /** Share of API responses that are 5xx, in percent, over 5 minutes with at least `minRequests`. */
  api5xxPercent: 1,
  /** p99 of API Gateway's latency, in ms, three 5-minute periods in a row. */
  apiP99LatencyMs: 2_500,
  /** Share of webhook attempts that failed, in percent, over 15 minutes with at least `minAttempts`. */
  webhookFailurePercent: 25,
  /** Share of check runs that ended in an error (not a verdict), in percent, over 15 minutes with at least `minRuns`. */
  checksErrorPercent: 10,
  /** Below these counts a rate alarm stays quiet: one failure out of three is no incident. */
  minRequests: 20,
  minAttempts: 10,
  minRuns: 5,
} as const;

/** A business metric the functions publish (Powertools EMF: dimension `service`, plus `extra`). */
export function serviceMetric(name: MetricName, options: { statistic?: string; period?: Duration; extra?: Record<string, string>; label?: string } = {}): Metric {
  return new Metric({
    namespace: METRICS_NAMESPACE,
    metricName: name,
    dimensionsMap: { service: METRICS_SERVICE, ...options.extra },
    statistic: options.statistic ?? Stats.SUM,
    period: options.period ?? Duration.minutes(5),
    label: options.label,
  });
}

export interface MonitoredFunction {
  /** Short name used in alarm ids and on the dashboard (`Api`, `ChecksWorker`). */
  readonly name: string;
  readonly fn: LambdaFunction;
}

export interface MonitoringProps {
  /** Where every alarm (and its return to OK) is sent. */
  readonly topic: ITopic;
  readonly httpApi: HttpApi;
  /** Every function of the service: errors and throttles are alarmed for each. */
  readonly functions: readonly MonitoredFunction[];
  /** The stream publisher: its event source's iterator age is alarmed. */
  readonly publisher: LambdaFunction;
  /** Alarms made elsewhere (one per dead-letter queue) that get the topic as their action too. */
  readonly deadLetterAlarms: readonly Alarm[];
  /** Work queues shown on the dashboard (depth and age of the oldest message). */
  readonly queues: Readonly<Record<string, Queue>>;
  /** Dashboard name. */
  readonly dashboardName?: string;
}

/**
 * The service's alarms, all sent to one SNS topic, and one dashboard with the
 * business metrics (lambdas/observability/metric-names.ts) beside the
 * technical ones. Plain CloudWatch: every alarm is listed, and what each means
 * and what to do is in the README ("Alarms").
 */
export class Monitoring extends Construct {
  readonly alarms: Alarm[] = [];
  readonly dashboard: Dashboard;
  private readonly action: SnsAction;

  constructor(scope: Construct, id: string, props: MonitoringProps) {
    super(scope, id);
    this.action = new SnsAction(props.topic);
    const t = ALARM_THRESHOLDS;

    for (const alarm of props.deadLetterAlarms) this.track(alarm);

    // Stream publisher behind: events (and so webhooks, checks and redactions) are late.
    this.track(
      props.publisher
        .metric('IteratorAge', { statistic: Stats.MAXIMUM, period: Duration.minutes(1) })
        .createAlarm(this, 'StreamIteratorAgeAlarm', {
          alarmDescription: `The stream publisher is more than ${t.streamIteratorAgeMs / 60_000} minutes behind the table: session events, webhooks and checks are late. Look at the publisher's errors and throttles.`,
          threshold: t.streamIteratorAgeMs,
          comparisonOperator: ComparisonOperator.GREATER_THAN_THRESHOLD,
          evaluationPeriods: 5,
          datapointsToAlarm: 5,
          treatMissingData: TreatMissingData.NOT_BREACHING,
        }),
    );

    for (const { name, fn } of props.functions) {
      this.track(
        fn.metricErrors({ period: Duration.minutes(5), statistic: Stats.SUM }).createAlarm(this, `${name}ErrorsAlarm`, {
          alarmDescription: `Function ${name} failed an invocation (an uncaught error or a timeout): read its log group for the request id.`,
          threshold: 0,
          comparisonOperator: ComparisonOperator.GREATER_THAN_THRESHOLD,
          evaluationPeriods: 1,
          treatMissingData: TreatMissingData.NOT_BREACHING,
        }),
      );
      this.track(
        fn.metricThrottles({ period: Duration.minutes(5), statistic: Stats.SUM }).createAlarm(this, `${name}ThrottlesAlarm`, {
          alarmDescription: `Function ${name} was throttled: the account's (or its reserved) concurrency is used up. Check ConcurrentExecutions across the account.`,
          threshold: 0,
          comparisonOperator: ComparisonOperator.GREATER_THAN_THRESHOLD,
          evaluationPeriods: 1,
          treatMissingData: TreatMissingData.NOT_BREACHING,
        }),
      );
    }

    const period = Duration.minutes(5);
    const requests = props.httpApi.metricCount({ period, statistic: Stats.SUM });
    const serverErrors = props.httpApi.metricServerError({ period, statistic: Stats.SUM });
    const api5xxRate = new MathExpression({
      expression: `IF(requests >= ${t.minRequests}, 100 * errors / requests, 0)`,
      usingMetrics: { requests, errors: serverErrors },
      period,
      label: 'API 5xx (%)',
    });
    this.track(
      api5xxRate.createAlarm(this, 'Api5xxRateAlarm', {
        alarmDescription: `More than ${t.api5xxPercent}% of API responses were 5xx in 5 minutes: the API function's errors alarm and its log group say why.`,
        threshold: t.api5xxPercent,
        comparisonOperator: ComparisonOperator.GREATER_THAN_THRESHOLD,
        evaluationPeriods: 1,
        treatMissingData: TreatMissingData.NOT_BREACHING,
      }),
    );
    const latencyP99 = props.httpApi.metricLatency({ period, statistic: Stats.p(99) });
    this.track(
      latencyP99.createAlarm(this, 'ApiLatencyP99Alarm', {
        alarmDescription: `The API's p99 latency stayed above ${t.apiP99LatencyMs} ms for 15 minutes: look at DynamoDB throttling and the API function's duration and traces.`,
        threshold: t.apiP99LatencyMs,
        comparisonOperator: ComparisonOperator.GREATER_THAN_THRESHOLD,
        evaluationPeriods: 3,
        datapointsToAlarm: 3,
        treatMissingData: TreatMissingData.NOT_BREACHING,
      }),
    );

    const slow = Duration.minutes(15);
    const attempt = (outcome: string) => serviceMetric(METRIC.webhookAttempts, { period: slow, extra: { outcome } });
    const webhookFailureRate = new MathExpression({
      expression: `IF(FILL(failed, 0) + FILL(succeeded, 0) >= ${t.minAttempts}, 100 * FILL(failed, 0) / (FILL(failed, 0) + FILL(succeeded, 0)), 0)`,
      usingMetrics: { failed: attempt('failed'), succeeded: attempt('succeeded') },
      period: slow,
      label: 'Webhook attempts failed (%)',
    });
    this.track(
      webhookFailureRate.createAlarm(this, 'WebhookFailureRateAlarm', {
        alarmDescription: `More than ${t.webhookFailurePercent}% of webhook attempts failed in 15 minutes: one merchant endpoint down, or outbound network trouble. The delivery worker's log names the endpoints; an endpoint failing for days is disabled by the service.`,
        threshold: t.webhookFailurePercent,
        comparisonOperator: ComparisonOperator.GREATER_THAN_THRESHOLD,
        evaluationPeriods: 1,
        treatMissingData: TreatMissingData.NOT_BREACHING,
      }),
    );

    const run = (outcome: string) => serviceMetric(METRIC.checksRuns, { period: slow, extra: { outcome } });
    const checksErrorRate = new MathExpression({
      expression: `IF(FILL(error, 0) + FILL(verified, 0) + FILL(requiresInput, 0) >= ${t.minRuns}, 100 * FILL(error, 0) / (FILL(error, 0) + FILL(verified, 0) + FILL(requiresInput, 0)), 0)`,
      usingMetrics: { error: run('error'), verified: run('verified'), requiresInput: run('requires_input') },
      period: slow,
      label: 'Check runs in error (%)',
    });
    this.track(
      checksErrorRate.createAlarm(this, 'ChecksErrorRateAlarm', {
        alarmDescription: `More than ${t.checksErrorPercent}% of check runs ended in an error (not a verdict) in 15 minutes: Textract or Rekognition refusing (quota, region, permissions) or images unreadable. The checks worker's log says which.`,
        threshold: t.checksErrorPercent,
        comparisonOperator: ComparisonOperator.GREATER_THAN_THRESHOLD,
        evaluationPeriods: 1,
        treatMissingData: TreatMissingData.NOT_BREACHING,
      }),
    );

    this.dashboard = new Dashboard(this, 'Dashboard', {
      dashboardName: props.dashboardName,
      defaultInterval: Duration.hours(6),
    });
    const business = (name: MetricName, label: string) => serviceMetric(name, { label });
    const byDimension = (name: MetricName, dimension: string, statistic = 'Sum') =>
      new MathExpression({
        expression: `SEARCH('{${METRICS_NAMESPACE},service,${dimension}} MetricName="${name}" service="${METRICS_SERVICE}"', '${statistic}', 300)`,
        usingMetrics: {},
        label: '',
        period: Duration.minutes(5),
      });
    const graph = (title: string, left: IMetric[], right: IMetric[] = [], width = 8) => new GraphWidget({ title, left, right, width, height: 6 });

    this.dashboard.addWidgets(new TextWidget({ markdown: '## Sessions and deliveries (what users and merchants see)', width: 24, height: 1 }));
    this.dashboard.addWidgets(
      graph('Sessions', [
        business(METRIC.sessionsCreated, 'created'),
        business(METRIC.sessionsSubmitted, 'submitted'),
        business(METRIC.sessionsVerified, 'verified'),
        business(METRIC.sessionsCanceled, 'canceled'),
        business(METRIC.sessionsRedacted, 'redacted'),
      ]),
      graph('Sessions requiring input, by last_error.code', [byDimension(METRIC.sessionsRequiresInput, 'error_code')]),
      graph('Check runs by outcome; duration', [byDimension(METRIC.checksRuns, 'outcome')], [
        serviceMetric(METRIC.checksDuration, { statistic: Stats.p(50), label: 'duration p50 (ms)' }),
        serviceMetric(METRIC.checksDuration, { statistic: Stats.p(99), label: 'duration p99 (ms)' }),
      ]),
    );
    this.dashboard.addWidgets(
      graph('Webhook attempts by outcome', [byDimension(METRIC.webhookAttempts, 'outcome')], [webhookFailureRate]),
      graph('Webhook delivery latency (ms)', [
        serviceMetric(METRIC.webhookDeliveryLatency, { statistic: Stats.p(50), label: 'p50' }),
        serviceMetric(METRIC.webhookDeliveryLatency, { statistic: Stats.p(99), label: 'p99' }),
      ]),
      graph('Stream publisher lag (ms); rate limited', [
        serviceMetric(METRIC.streamPublisherLag, { statistic: Stats.p(99), label: 'lag p99' }),
        props.publisher.metric('IteratorAge', { statistic: Stats.MAXIMUM, label: 'iterator age max' }),
      ], [serviceMetric(METRIC.rateLimited, { label: '429 answers' })]),
    );
    this.dashboard.addWidgets(new TextWidget({ markdown: '## API, functions and queues', width: 24, height: 1 }));
    this.dashboard.addWidgets(
      graph('API requests and errors', [
        requests.with({ label: 'requests' }),
        props.httpApi.metricClientError({ period, statistic: Stats.SUM, label: '4xx' }),
        serverErrors.with({ label: '5xx' }),
      ], [api5xxRate]),
      graph('API latency (ms)', [
        props.httpApi.metricLatency({ period, statistic: Stats.p(50), label: 'p50' }),
        latencyP99.with({ label: 'p99' }),
        props.httpApi.metricIntegrationLatency({ period, statistic: Stats.p(99), label: 'integration p99' }),
      ]),
      graph('Function errors and throttles', props.functions.map(({ name, fn }) => fn.metricErrors({ period, label: `${name} errors` })), props.functions.map(({ name, fn }) => fn.metricThrottles({ period, label: `${name} throttles` }))),
    );
    this.dashboard.addWidgets(
      graph('Function duration p99 (ms)', props.functions.map(({ name, fn }) => fn.metricDuration({ period, statistic: Stats.p(99), label: name }))),
      graph('Concurrent executions (max)', props.functions.map(({ name, fn }) => fn.metric('ConcurrentExecutions', { period, statistic: Stats.MAXIMUM, label: name }))),
      graph(
        'Queues: messages waiting; oldest (s)',
        Object.entries(props.queues).map(([name, queue]) => queue.metricApproximateNumberOfMessagesVisible({ period, statistic: Stats.MAXIMUM, label: name })),
        Object.entries(props.queues).map(([name, queue]) => queue.metricApproximateAgeOfOldestMessage({ period, statistic: Stats.MAXIMUM, label: `${name} oldest` })),
      ),
    );
    this.dashboard.addWidgets(new AlarmStatusWidget({ title: 'Alarms', alarms: this.alarms as IAlarm[], width: 24, height: 6 }));
  }

  /** Sends an alarm (and its return to OK) to the topic and lists it on the dashboard. */
  private track(alarm: Alarm): void {
    alarm.addAlarmAction(this.action);
    alarm.addOkAction(this.action);
    this.alarms.push(alarm);
  }
}
