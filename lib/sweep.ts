import { Duration } from 'aws-cdk-lib';
import type { ITableV2 } from 'aws-cdk-lib/aws-dynamodb';
import { Rule, Schedule } from 'aws-cdk-lib/aws-events';
import { PolicyStatement } from 'aws-cdk-lib/aws-iam';
import type { IQueue } from 'aws-cdk-lib/aws-sqs';
import { LambdaFunction } from 'aws-cdk-lib/aws-events-targets';
import { Construct } from 'constructs';
import { SWEEP_INDEX } from '../lambdas/store/table.js';
import { ServiceFunction } from './function.js';
import { ACCOUNT_ITEMS, grantOnTableItems } from './store.js';
import { FUNCTION_MEMORY_MB } from './memory.js';

/** How often the sweeps run in AWS. */
export const SWEEP_SCHEDULE_MINUTES = 15;

/**
 * The DynamoDB actions of the sweeper: Query on the sweep index, GetItem of
 * each session found and of its watermark items (`A#~sweep`), the
 * transition's conditional PutItem and the watermarks' PutItem, and the
 * conditional UpdateItem that re-keys a session visited before it was due.
 */
export const SWEEP_TABLE_ACTIONS = ['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem'] as const;

export interface SweepProps {
  readonly table: ITableV2;
  /** Where stuck redactions are asked for again (lib/redaction.ts). */
  readonly redactionQueue: IQueue;
  /**
   * Redact sessions that have been `verified` or `canceled` for longer than
   * this many days, through the same transition as the API's redact.
   * @default undefined (never)
   */
  readonly retentionDays?: number;
  /**
   * Cancel sessions left in `requires_input`, untouched for longer than this
   * many days, with `last_error.code: abandoned`.
   * @default undefined (never)
   */
  readonly abandonAfterDays?: number;
  /**
   * Reserved concurrency: 1 keeps two sweeps (a slow one and the next
   * schedule, or a retry) from working on the same sessions at once.
   * @default undefined (unreserved)
   */
  readonly concurrency?: number;
}

/**
 * The scheduled sweeps (lambdas/sweep): retention and abandonment when set,
 * and always the stuck-checks sweep that sends a session processing for over
 * an hour back to requires_input, and the sweep that asks again for a
 * redaction unfinished after an hour.
 */
export class Sweep extends Construct {
  readonly function: ServiceFunction;
  readonly rule: Rule;

  constructor(scope: Construct, id: string, props: SweepProps) {
    super(scope, id);
    for (const [name, days] of [['retentionDays', props.retentionDays], ['abandonAfterDays', props.abandonAfterDays]] as const) {
      if (days !== undefined && !(days > 0)) throw new Error(`${name} must be a positive number of days, got ${days}`);
    }
    this.function = new ServiceFunction(this, 'Function', {
      entry: 'lambdas/sweep/handler.ts',
      description: 'Scheduled sweeps: retention, abandoned sessions, stuck checks',
      memorySize: FUNCTION_MEMORY_MB.sweep,
      timeout: Duration.minutes(5),
      environment: {
        TABLE_NAME: props.table.tableName,
        REDACTION_QUEUE_URL: props.redactionQueue.queueUrl,
        ...(props.retentionDays !== undefined ? { RETENTION_DAYS: String(props.retentionDays) } : {}),
        ...(props.abandonAfterDays !== undefined ? { ABANDON_AFTER_DAYS: String(props.abandonAfterDays) } : {}),
      },
      reservedConcurrentExecutions: props.concurrency,
    });
    // Sessions and the sweeps' watermarks are A# items.
    grantOnTableItems(props.table, this.function, SWEEP_TABLE_ACTIONS, [ACCOUNT_ITEMS]);
    // Query on the sweep index only, not on the table.
    this.function.addToRolePolicy(
      new PolicyStatement({ actions: ['dynamodb:Query'], resources: [`${props.table.tableArn}/index/${SWEEP_INDEX.name}`] }),
    );
    props.redactionQueue.grantSendMessages(this.function);
    this.rule = new Rule(this, 'Schedule', {
      description: 'Runs the sweeps',
      schedule: Schedule.rate(Duration.minutes(SWEEP_SCHEDULE_MINUTES)),
      targets: [new LambdaFunction(this.function, { retryAttempts: 2 })],
    });
  }
}
