import { Duration } from 'aws-cdk-lib';
import type { Alarm } from 'aws-cdk-lib/aws-cloudwatch';
import type { ITableV2 } from 'aws-cdk-lib/aws-dynamodb';
import { PolicyStatement } from 'aws-cdk-lib/aws-iam';
import type { IFunction } from 'aws-cdk-lib/aws-lambda';
import { SqsEventSource } from 'aws-cdk-lib/aws-lambda-event-sources';
import type { IBucket } from 'aws-cdk-lib/aws-s3';
import type { Queue } from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { REDACTION_QUEUE } from '../lambdas/redaction/queue.js';
import { assertVisibilityCoversTimeout } from './checks.js';
import { deadLetterAlarm } from './events.js';
import { ServiceFunction } from './function.js';
import { queueWithDeadLetter } from './queues.js';
import { ACCOUNT_ITEMS, IDEMPOTENCY_ITEMS, grantOnTableItems } from './store.js';
import { FUNCTION_MEMORY_MB } from './memory.js';

/**
 * The DynamoDB actions of the redaction worker: it reads the session and the
 * session's event list (GetItem), reads the events, saved results and reports
 * those name (BatchGetItem), rewrites them (UpdateItem for events and saved
 * results, PutItem for reports), and writes the finished session (PutItem).
 * Query only for reports of sessions stored before they listed their reports.
 * DeleteItem for the records of the session's files and their file links
 * (lambdas/store/file-record-store.ts), which must stop answering at once.
 */
export const REDACTION_TABLE_ACTIONS = ['dynamodb:GetItem', 'dynamodb:BatchGetItem', 'dynamodb:UpdateItem', 'dynamodb:PutItem', 'dynamodb:Query', 'dynamodb:DeleteItem'] as const;

export interface RedactionProps {
  readonly table: ITableV2;
  readonly bucket: IBucket;
  /** The stream publisher, which asks for redactions once a session's earlier events are stored. */
  readonly publisher: IFunction & { addEnvironment(key: string, value: string): unknown };
  /**
   * Reserved concurrency of the worker, also its event source's maximum concurrency (at least 2).
   * @default undefined (unreserved)
   */
  readonly concurrency?: number;
}

/**
 * Finishing redactions: a queue the stream publisher fills with sessions whose
 * redaction was asked for, and the worker that redacts every copy of their
 * personal data (events, saved results, reports, files) and marks them
 * redacted. A message it cannot finish ends in the dead-letter queue, whose
 * alarm asks a person to look.
 */
export class Redaction extends Construct {
  readonly queue: Queue;
  readonly deadLetterQueue: Queue;
  readonly worker: ServiceFunction;
  readonly alarm: Alarm;

  constructor(scope: Construct, id: string, props: RedactionProps) {
    super(scope, id);
    const settings = REDACTION_QUEUE.queue;
    const timeout = Duration.seconds(REDACTION_QUEUE.functionTimeoutSeconds);
    assertVisibilityCoversTimeout(settings.visibilityTimeoutSeconds, timeout);

    ({ queue: this.queue, deadLetterQueue: this.deadLetterQueue } = queueWithDeadLetter(this, settings));
    this.alarm = deadLetterAlarm(this, 'DeadLetter', this.deadLetterQueue);

    this.worker = new ServiceFunction(this, 'Worker', {
      entry: 'lambdas/redaction/handler.ts',
      description: 'Redaction worker: redacts every copy of a session\'s personal data, then marks it redacted',
      memorySize: FUNCTION_MEMORY_MB.redaction,
      timeout,
      environment: {
        TABLE_NAME: props.table.tableName,
        FILES_BUCKET: props.bucket.bucketName,
        REDACTION_QUEUE_URL: this.queue.queueUrl,
      },
      reservedConcurrentExecutions: props.concurrency,
    });
    this.worker.addEventSource(
      new SqsEventSource(this.queue, { batchSize: settings.batchSize, reportBatchItemFailures: true, maxConcurrency: props.concurrency }),
    );
    // The session's account items (A#) and the idempotency records (IK#) whose
    // saved responses hold its personal data; never the API keys (KEY#).
    grantOnTableItems(props.table, this.worker, REDACTION_TABLE_ACTIONS, [ACCOUNT_ITEMS, IDEMPOTENCY_ITEMS]);
    // Lists and deletes a session's files; reads none.
    this.worker.addToRolePolicy(new PolicyStatement({ actions: ['s3:DeleteObject'], resources: [props.bucket.arnForObjects('*')] }));
    this.worker.addToRolePolicy(new PolicyStatement({ actions: ['s3:ListBucket'], resources: [props.bucket.bucketArn] }));
    // The delayed second deletion of files goes through the same queue.
    this.queue.grantSendMessages(this.worker);

    this.queue.grantSendMessages(props.publisher);
    props.publisher.addEnvironment('REDACTION_QUEUE_URL', this.queue.queueUrl);
  }
}
