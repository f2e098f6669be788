import { ArnFormat, RemovalPolicy, Stack } from 'aws-cdk-lib';
import type { TableV2 } from 'aws-cdk-lib/aws-dynamodb';
import type { EventBus } from 'aws-cdk-lib/aws-events';
import { type IGrantable, PolicyStatement, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import { type ITopic, Topic } from 'aws-cdk-lib/aws-sns';
import { EmailSubscription } from 'aws-cdk-lib/aws-sns-subscriptions';
import type { Queue } from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import type { RouteName } from '../lambdas/events/routing.js';
import { Api, type CustomDomain } from './api.js';
import { type CheckProvider, Checks } from './checks.js';
import { Events } from './events.js';
import { Files } from './files.js';
import { DEFAULT_LOG_LEVEL, type LogLevel, type ServiceFunction } from './function.js';
import { Monitoring } from './monitoring.js';
import { type NagAcknowledgement, acknowledge, functionAcknowledgements, imageObjectsAcknowledgement } from './nag.js';
import { Redaction } from './redaction.js';
import { ACCOUNT_ITEMS, Store, grantOnTableItems } from './store.js';
import { Sweep } from './sweep.js';
import { Webhooks } from './webhooks.js';

/**
 * Reserved concurrency of the workers. Each is also its SQS event source's
 * maximum concurrency, so Lambda never polls more batches than may run (a
 * throttled batch would go back to the queue and count towards its DLQ).
 * 23 in all: an account at the default quota of 1,000 keeps 977 for the API
 * and everything else. The API and the stream publisher (one batch per shard)
 * are not reserved.
 */
export interface WorkerConcurrency {
  readonly checks: number;
  readonly webhookFanOut: number;
  readonly webhookDelivery: number;
  readonly redaction: number;
  readonly sweep: number;
}

export const DEFAULT_WORKER_CONCURRENCY: WorkerConcurrency = {
  // Textract AnalyzeID's default quota is a few requests per second per region.
  checks: 5,
  webhookFanOut: 5,
  // Waits on merchants' endpoints (up to the delivery timeout each).
  webhookDelivery: 10,
  // SQS event sources need a maximum concurrency of at least 2.
  redaction: 2,
  sweep: 1,
};

export interface VerificationServiceProps {
  /**
   * Send every alarm to this address (SNS email subscription; confirm the mail AWS sends).
   * @default none: subscribe to `alarmTopic` yourself
   */
  readonly alarmEmail?: string;
  /**
   * Send the alarms to this existing topic instead of a new one.
   * @default a new topic
   */
  readonly alarmTopic?: ITopic;
  /**
   * Redact sessions verified or canceled for longer than this many days.
   * @default undefined (never)
   */
  readonly retentionDays?: number;
  /**
   * Cancel sessions left in `requires_input`, untouched for this many days.
   * @default undefined (never)
   */
  readonly abandonAfterDays?: number;
  /**
   * Who runs live-mode checks: `aws` (Textract and Rekognition) or `test`.
   * @default 'aws'
   */
  readonly checkProvider?: CheckProvider;
  /**
   * Serve the API and the hosted page on this domain (session URLs, bucket CORS use it).
   * @default the execute-api URL
   */
  readonly domain?: CustomDomain;
  /**
   * Powertools log level of every function.
   * @default 'INFO'
   */
  readonly logLevel?: LogLevel;
  /**
   * X-Ray subsegments for each handler and each AWS SDK call (the Powertools
   * Tracer, TRACE_SDK_CALLS=true). Active tracing is on either way and gives
   * each invocation its Lambda segments; the SDK adds the calls' timings at a
   * price: about 70 ms of CPU at cold start and a process-wide async hook on
   * every request (README, "Observability").
   * @default false
   */
  readonly traceSdkCalls?: boolean;
  /**
   * The table and the images bucket when they leave the stack.
   * @default RemovalPolicy.RETAIN
   */
  readonly removalPolicy?: RemovalPolicy;
  /**
   * Deletion protection on the table.
   * @default true
   */
  readonly deletionProtection?: boolean;
  /**
   * Reserved concurrency of the workers, or `false` for none: an account still
   * at Lambda's new-account quota of 10 concurrent executions cannot reserve any.
   * @default DEFAULT_WORKER_CONCURRENCY
   */
  readonly workerConcurrency?: Partial<WorkerConcurrency> | false;
}

/**
 * The whole verification service as one construct: the table, the images
 * bucket, the Stripe-compatible HTTP API and its hosted page, the events
 * pipeline with its consumers (checks, webhooks, redaction, sweeps), and the
 * alarms and dashboard. `VerificationSessionsStack` is one stack holding one;
 * another CDK app can put it in a stack of its own.
 *
 * Created with the id `Default`, its resources keep the logical ids they had
 * when they sat directly in the stack (CDK leaves `Default` out of logical ids).
 */
export class VerificationService extends Construct {
  readonly store: Store;
  readonly files: Files;
  readonly api: Api;
  readonly events: Events;
  readonly checks: Checks;
  readonly webhooks: Webhooks;
  readonly redaction: Redaction;
  readonly sweep: Sweep;
  readonly monitoring: Monitoring;
  /** Where every alarm goes. */
  readonly alarmTopic: ITopic;
  /** The cdk-nag AwsSolutions findings this service keeps, each with its reason (README, "cdk-nag"). */
  readonly nagAcknowledgements: readonly NagAcknowledgement[];

  constructor(scope: Construct, id: string, props: VerificationServiceProps = {}) {
    super(scope, id);
    const removalPolicy = props.removalPolicy ?? RemovalPolicy.RETAIN;
    const concurrency = props.workerConcurrency === false ? undefined : { ...DEFAULT_WORKER_CONCURRENCY, ...props.workerConcurrency };
    if (concurrency) {
      // An SQS event source's maximum concurrency is at least 2; the sweeper has none.
      for (const [worker, n] of Object.entries(concurrency)) {
        const minimum = worker === 'sweep' ? 1 : 2;
        if (!Number.isInteger(n) || n < minimum) throw new Error(`workerConcurrency.${worker} must be an integer of at least ${minimum}, got ${n}`);
      }
    }

    this.store = new Store(this, 'Store', { deletionProtection: props.deletionProtection, removalPolicy });
    this.files = new Files(this, 'Files', { removalPolicy });
    this.api = new Api(this, 'Api', { table: this.store.table, bucket: this.files.bucket, domain: props.domain });
    this.files.allowUploadsFrom(this.api.pageOrigin);
    this.events = new Events(this, 'Events', { table: this.store.table });
    this.checks = new Checks(this, 'Checks', {
      table: this.store.table,
      bucket: this.files.bucket,
      queue: this.events.queues.checks,
      provider: props.checkProvider,
      concurrency: concurrency?.checks,
    });
    this.redaction = new Redaction(this, 'Redaction', {
      table: this.store.table,
      bucket: this.files.bucket,
      publisher: this.events.publisher,
      concurrency: concurrency?.redaction,
    });
    this.sweep = new Sweep(this, 'Sweep', {
      table: this.store.table,
      redactionQueue: this.redaction.queue,
      retentionDays: props.retentionDays,
      abandonAfterDays: props.abandonAfterDays,
      concurrency: concurrency?.sweep,
    });
    this.webhooks = new Webhooks(this, 'Webhooks', {
      table: this.store.table,
      eventsQueue: this.events.queues.webhooks,
      bus: this.events.bus,
      api: this.api.handler,
      concurrency: concurrency && { fanOut: concurrency.webhookFanOut, delivery: concurrency.webhookDelivery },
    });

    for (const { fn } of this.functions) {
      fn.addEnvironment('POWERTOOLS_LOG_LEVEL', props.logLevel ?? DEFAULT_LOG_LEVEL);
      if (props.traceSdkCalls) fn.addEnvironment('TRACE_SDK_CALLS', 'true');
    }

    if (props.alarmTopic) {
      this.alarmTopic = props.alarmTopic;
    } else {
      const topic = new Topic(this, 'AlarmTopic', { displayName: 'Verification sessions alarms', enforceSSL: true });
      // The TLS-only topic policy replaces SNS's default one: let this account's
      // CloudWatch alarms publish explicitly.
      topic.addToResourcePolicy(
        new PolicyStatement({
          principals: [new ServicePrincipal('cloudwatch.amazonaws.com')],
          actions: ['sns:Publish'],
          resources: [topic.topicArn],
          conditions: {
            StringEquals: { 'aws:SourceAccount': Stack.of(this).account },
            ArnLike: { 'aws:SourceArn': Stack.of(this).formatArn({ service: 'cloudwatch', resource: 'alarm', resourceName: '*', arnFormat: ArnFormat.COLON_RESOURCE_NAME }) },
          },
        }),
      );
      this.alarmTopic = topic;
    }
    if (props.alarmEmail) this.alarmTopic.addSubscription(new EmailSubscription(props.alarmEmail));

    this.monitoring = new Monitoring(this, 'Monitoring', {
      topic: this.alarmTopic,
      httpApi: this.api.httpApi,
      functions: this.functions,
      publisher: this.events.publisher,
      deadLetterAlarms: [...this.events.alarms, this.webhooks.deliveryDeadLetterAlarm, this.redaction.alarm],
      queues: { ...this.queues },
    });

    const bucket = this.files.bucket;
    this.nagAcknowledgements = [
      ...this.functions.flatMap(({ fn }) =>
        functionAcknowledgements(
          fn,
          fn === this.checks.worker && (props.checkProvider ?? 'aws') === 'aws'
            ? 'textract:AnalyzeID, rekognition:DetectFaces and rekognition:CompareFaces act on the image bytes sent, not on an AWS resource: they have no resource-level permissions either; only this role has them.'
            : undefined,
        ),
      ),
      imageObjectsAcknowledgement(this.api.handler, bucket, 's3:PutObject and s3:GetObject, to presign the hosted page\'s uploads and the Files API\'s 60-second downloads,'),
      imageObjectsAcknowledgement(this.checks.worker, bucket, 's3:GetObject of the session\'s images for the checks,'),
      imageObjectsAcknowledgement(this.redaction.worker, bucket, 's3:DeleteObject of a redacted session\'s images,'),
      {
        construct: bucket.node.defaultChild!,
        id: 'AwsSolutions::AwsSolutions-S1',
        reason:
          'No S3 server access logs: they would copy object keys (account and session ids) and end users\' IP addresses into a second bucket that redaction does not reach. Each presigned upload and download is already logged by the API function under its request id.',
      },
      {
        construct: this.api.httpApi.node.findChild('DefaultRoute').node.defaultChild!,
        id: 'AwsSolutions::AwsSolutions-APIG4',
        reason:
          'Authorization is Stripe\'s: the handler checks the secret key (Bearer or Basic) of every /v1 request against the hashed keys in the table, and the hosted page\'s routes against the session\'s unguessable token. An API Gateway authorizer cannot express either and would add a second invocation per request.',
      },
      {
        construct: this.events.streamFailures.node.defaultChild!,
        id: 'AwsSolutions::AwsSolutions-SQS3',
        reason:
          'This queue is itself a dead-letter destination: the table stream mapping\'s on-failure destination (batches it gave up on). It is alarmed at its first message like the other dead-letter queues.',
      },
    ];
    acknowledge(this.nagAcknowledgements);
  }

  /** Every function of the service, by a short name. */
  get functions(): { name: string; fn: ServiceFunction }[] {
    return [
      { name: 'Api', fn: this.api.handler },
      { name: 'StreamPublisher', fn: this.events.publisher },
      { name: 'ChecksWorker', fn: this.checks.worker },
      { name: 'WebhookFanOut', fn: this.webhooks.fanOut },
      { name: 'WebhookDelivery', fn: this.webhooks.delivery },
      { name: 'RedactionWorker', fn: this.redaction.worker },
      { name: 'Sweep', fn: this.sweep.function },
    ];
  }

  /** The service table (sessions, events, reports, webhooks, idempotency records, API key hashes). */
  get table(): TableV2 {
    return this.store.table;
  }

  /** The EventBridge bus the session events are published to: add your own rules on it. */
  get bus(): EventBus {
    return this.events.bus;
  }

  /** Base URL of the API (and the hosted page): the stripe client's host. */
  get apiUrl(): string {
    return this.api.url;
  }

  /** The work queues: each route's queue, the webhook deliveries and the redactions. */
  get queues(): Readonly<Record<RouteName | 'webhookDelivery' | 'redaction', Queue>> {
    return { ...this.events.queues, webhookDelivery: this.webhooks.deliveryQueue, redaction: this.redaction.queue };
  }

  /** Every dead-letter queue (each alarmed at its first message). */
  get deadLetterQueues(): Queue[] {
    return [
      this.events.streamFailures,
      ...Object.values(this.events.routes).map((route) => route.deadLetterQueue),
      this.webhooks.deliveryDeadLetterQueue,
      this.redaction.deadLetterQueue,
    ];
  }

  /**
   * Read access to the accounts' items (sessions, events, reports, webhook
   * endpoints): GetItem, BatchGetItem and Query on partition keys `A#...`
   * only, never the API keys' hashes or the idempotency records. For a
   * reporting job or an export of your own.
   */
  grantReadAccountData(grantee: IGrantable): void {
    grantOnTableItems(this.store.table, grantee, ['dynamodb:GetItem', 'dynamodb:BatchGetItem', 'dynamodb:Query'], [ACCOUNT_ITEMS]);
  }

  /** PutEvents on the service's bus (a test harness or a replay tool). */
  grantPutEvents(grantee: IGrantable): void {
    this.events.bus.grantPutEventsTo(grantee);
  }
}
