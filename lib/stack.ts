import { CfnOutput, Stack, type StackProps } from 'aws-cdk-lib';
import type { Construct } from 'constructs';
import { Api } from './api.js';
import { Checks } from './checks.js';
import { Events, pascalCase } from './events.js';
import { FILE_RETENTION_DAYS, Files } from './files.js';
import { Redaction } from './redaction.js';
import { Store } from './store.js';
import { Sweep } from './sweep.js';
import { Webhooks } from './webhooks.js';

export interface VerificationSessionsStackProps extends StackProps {
  /**
   * Deletion protection on the table. Turn it off only for throwaway stacks.
   * @default true
   */
  readonly deletionProtection?: boolean;
  /**
   * Redact sessions `verified` or `canceled` for longer than this many days.
   * @default undefined (never)
   */
  readonly retentionDays?: number;
  /**
   * Cancel sessions left in `requires_input`, untouched for this many days, as abandoned.
   * @default undefined (never)
   */
  readonly abandonAfterDays?: number;
}

/** The whole service in one stack: the table, the HTTP API in front of it, and the events pipeline behind it. */
export class VerificationSessionsStack extends Stack {
  readonly store: Store;
  readonly api: Api;
  readonly events: Events;
  readonly files: Files;
  readonly checks: Checks;
  readonly webhooks: Webhooks;
  readonly redaction: Redaction;
  readonly sweep: Sweep;

  constructor(scope: Construct, id: string, props: VerificationSessionsStackProps = {}) {
    super(scope, id, props);

    this.store = new Store(this, 'Store', { deletionProtection: props.deletionProtection });
    this.files = new Files(this, 'Files');
    this.api = new Api(this, 'Api', { table: this.store.table, bucket: this.files.bucket });
    this.events = new Events(this, 'Events', { table: this.store.table });
    this.checks = new Checks(this, 'Checks', { table: this.store.table, bucket: this.files.bucket, queue: this.events.queues.checks });
    this.redaction = new Redaction(this, 'Redaction', { table: this.store.table, bucket: this.files.bucket, publisher: this.events.publisher });
    this.sweep = new Sweep(this, 'Sweep', { table: this.store.table, redactionQueue: this.redaction.queue, retentionDays: props.retentionDays, abandonAfterDays: props.abandonAfterDays });
    this.webhooks = new Webhooks(this, 'Webhooks', { table: this.store.table, eventsQueue: this.events.queues.webhooks, bus: this.events.bus, api: this.api.handler });

    new CfnOutput(this, 'ApiUrl', {
      description: 'Base URL of the API; its host name is the `host` option of the stripe client',
      value: this.api.url,
    });
    new CfnOutput(this, 'TableName', {
      description: 'DynamoDB table holding sessions, events and idempotency records',
      value: this.store.table.tableName,
    });
    new CfnOutput(this, 'EventBusName', {
      description: 'EventBridge bus the session events are published to; add your own rules on it',
      value: this.events.bus.eventBusName,
    });
    new CfnOutput(this, 'EventBusArn', {
      description: 'ARN of the session events bus',
      value: this.events.bus.eventBusArn,
    });
    for (const { route, queue } of Object.values(this.events.routes)) {
      new CfnOutput(this, `${pascalCase(route.name)}QueueUrl`, {
        description: `SQS queue of the ${route.name} route (${route.description})`,
        value: queue.queueUrl,
      });
    }
    new CfnOutput(this, 'FilesBucketName', {
      description: `S3 bucket holding the users' uploaded images (expired after ${FILE_RETENTION_DAYS} days, deleted on redaction)`,
      value: this.files.bucket.bucketName,
    });
  }
}
