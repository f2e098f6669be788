import { Duration } from 'aws-cdk-lib';
import type { ITableV2 } from 'aws-cdk-lib/aws-dynamodb';
import { PolicyStatement } from 'aws-cdk-lib/aws-iam';
import { SqsEventSource } from 'aws-cdk-lib/aws-lambda-event-sources';
import type { IBucket } from 'aws-cdk-lib/aws-s3';
import type { IQueue } from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { ROUTES } from '../lambdas/events/routing.js';
import { ServiceFunction } from './function.js';
import { ACCOUNT_ITEMS, grantOnTableItems } from './store.js';
import { FUNCTION_MEMORY_MB } from './memory.js';

/**
 * The checks worker's timeout: one batch of `ROUTES.checks.queue.batchSize`
 * sessions, each a Textract AnalyzeID and up to two Rekognition calls.
 */
export const CHECKS_TIMEOUT = Duration.seconds(60);

/**
 * The DynamoDB actions of the checks worker: it reads the session (GetItem)
 * and writes the session's transition and its new report in one
 * TransactWriteItems of two Puts, which IAM authorizes as PutItem per item.
 */
export const CHECKS_TABLE_ACTIONS = ['dynamodb:GetItem', 'dynamodb:PutItem'] as const;

/**
 * What the AWS provider calls. None of these actions supports resource-level
 * permissions or condition keys that would narrow them (they act on the bytes
 * sent in the request, not on an AWS resource), so their Resource is `*`.
 */
export const CHECKS_PROVIDER_ACTIONS = ['textract:AnalyzeID', 'rekognition:DetectFaces', 'rekognition:CompareFaces'] as const;

/**
 * Lambda refuses an SQS event source whose queue hides a received message for
 * less time than the function may run (a message would reappear while the
 * first invocation still works on it). CDK does not check this at synth and
 * CloudFormation fails only at deploy, so the stack checks it here.
 */
export function assertVisibilityCoversTimeout(visibilityTimeoutSeconds: number, timeout: Duration): void {
  if (visibilityTimeoutSeconds < timeout.toSeconds()) {
    throw new Error(
      `The checks queue's visibility timeout (${visibilityTimeoutSeconds} s, lambdas/events/routing.ts) must be at least the checks worker's timeout (${timeout.toSeconds()} s)`,
    );
  }
}

export interface ChecksProps {
  /** The service table: sessions are read from it, transitions and reports written to it. */
  readonly table: ITableV2;
  /** The users' images (lib/files.ts), read by the checks. */
  readonly bucket: IBucket;
  /** The `checks` route's queue (lib/events.ts): one message per session that entered `processing`. */
  readonly queue: IQueue;
  /**
   * Who runs the checks of live-mode sessions: `aws` (Textract AnalyzeID and
   * Rekognition) or `test` (the test provider's outcomes, for a demo stack or a
   * region without those services: no Textract or Rekognition permission is granted).
   * Test-mode sessions always use the test provider.
   * @default 'aws'
   */
  readonly provider?: CheckProvider;
  /**
   * Reserved concurrency of the worker, also the event source's maximum concurrency.
   * @default undefined (unreserved)
   */
  readonly concurrency?: number;
}

export type CheckProvider = 'aws' | 'test';

/**
 * The checks worker: consumes the checks route's queue, runs the session's
 * provider (the test provider for test mode, Textract and Rekognition for live
 * mode) and writes `verified` or `requires_input` with a VerificationReport.
 * It is the only function of the service that may call Textract and Rekognition.
 */
export class Checks extends Construct {
  readonly worker: ServiceFunction;

  constructor(scope: Construct, id: string, props: ChecksProps) {
    super(scope, id);

    const settings = ROUTES.checks.queue;
    assertVisibilityCoversTimeout(settings.visibilityTimeoutSeconds, CHECKS_TIMEOUT);

    this.worker = new ServiceFunction(this, 'Worker', {
      entry: 'lambdas/checks/handler.ts',
      description: 'Checks worker: runs the verification checks of submitted sessions',
      memorySize: FUNCTION_MEMORY_MB.checks,
      timeout: CHECKS_TIMEOUT,
      environment: {
        TABLE_NAME: props.table.tableName,
        FILES_BUCKET: props.bucket.bucketName,
        CHECKS_QUEUE_URL: props.queue.queueUrl,
        CHECKS_PROVIDER: props.provider ?? 'aws',
      },
      reservedConcurrentExecutions: props.concurrency,
    });

    // Receive, delete and GetQueueAttributes are granted by the event source.
    this.worker.addEventSource(
      new SqsEventSource(props.queue, {
        batchSize: settings.batchSize,
        // Each session is its own batch item: one failing check retries only that session.
        reportBatchItemFailures: true,
        // Pollers never outnumber the reserved executions: no throttled batch goes back to the queue.
        maxConcurrency: props.concurrency,
      }),
    );

    // Sessions and reports are account items (A#).
    grantOnTableItems(props.table, this.worker, CHECKS_TABLE_ACTIONS, [ACCOUNT_ITEMS]);
    // Reads the images of a session and nothing else on S3. ListBucket makes a
    // missing image (never uploaded, already expired or redacted) answer
    // 404 NoSuchKey, which the worker treats as "no file", instead of
    // 403 AccessDenied, which it would retry until the message is dead-lettered.
    this.worker.addToRolePolicy(
      new PolicyStatement({ actions: ['s3:GetObject'], resources: [props.bucket.arnForObjects('*')] }),
    );
    this.worker.addToRolePolicy(new PolicyStatement({ actions: ['s3:ListBucket'], resources: [props.bucket.bucketArn] }));
    // A session whose test outcome is "async" is postponed by hiding its message longer.
    props.queue.grant(this.worker, 'sqs:ChangeMessageVisibility');
    // Textract AnalyzeID and Rekognition DetectFaces/CompareFaces have no
    // resource-level scoping: Resource '*' is unavoidable. The scoping is the
    // principal instead: only this function's role gets these actions.
    if ((props.provider ?? 'aws') === 'aws') {
      this.worker.addToRolePolicy(new PolicyStatement({ actions: [...CHECKS_PROVIDER_ACTIONS], resources: ['*'] }));
    }
  }
}
