import { CfnOutput, Duration, Stack } from 'aws-cdk-lib';
import { Alarm, ComparisonOperator, Stats, TreatMissingData } from 'aws-cdk-lib/aws-cloudwatch';
import type { ITableV2 } from 'aws-cdk-lib/aws-dynamodb';
import type { IEventBus } from 'aws-cdk-lib/aws-events';
import type { IFunction } from 'aws-cdk-lib/aws-lambda';
import { SqsEventSource } from 'aws-cdk-lib/aws-lambda-event-sources';
import type { Queue } from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { ROUTES, WEBHOOK_DELIVERY_QUEUE } from '../lambdas/events/routing.js';
import { ServiceFunction } from './function.js';
import { queueWithDeadLetter } from './queues.js';
import { ACCOUNT_ITEMS, grantOnTableItems } from './store.js';
import { FUNCTION_MEMORY_MB } from './memory.js';

/**
 * The DynamoDB actions of the fan-out: read the account's endpoints (Query) and
 * create each delivery (one conditional PutItem).
 */
export const FAN_OUT_TABLE_ACTIONS = ['dynamodb:Query', 'dynamodb:PutItem'] as const;

/**
 * The DynamoDB actions of the delivery worker: read a batch's deliveries with
 * their endpoints and events (BatchGetItem), list an event's deliveries for a
 * resend's payload count (Query), write the delivery (one conditional
 * PutItem), and the endpoint's failure streak or disabling (UpdateItem).
 */
export const DELIVERY_TABLE_ACTIONS = ['dynamodb:BatchGetItem', 'dynamodb:Query', 'dynamodb:PutItem', 'dynamodb:UpdateItem'] as const;

export interface WebhooksProps {
  readonly table: ITableV2;
  /** The webhooks route's queue (every session event), which the fan-out consumes. */
  readonly eventsQueue: Queue;
  /** Where the endpoint-disabled event goes. */
  readonly bus: IEventBus;
  /** The API function: it sends resends to the delivery queue. */
  readonly api: IFunction & { addEnvironment(key: string, value: string): unknown };
  /**
   * Reserved concurrency of the fan-out and of the delivery worker (also their
   * event sources' maximum concurrency), so a backlog of slow endpoints cannot
   * take the executions the API needs.
   * @default undefined (unreserved)
   */
  readonly concurrency?: { readonly fanOut?: number; readonly delivery?: number };
}

/**
 * Webhooks: the fan-out from the webhooks route queue to one delivery message
 * per (event, endpoint), and the delivery worker that signs, POSTs and retries
 * them by visibility changes on the delivery queue, with a dead-letter queue
 * for schedules spent (sent by the worker, with the attempt history) and for
 * messages the worker keeps failing on (redrive).
 *
 *   webhooks route queue -> fan-out Lambda -> delivery queue -> delivery Lambda -> merchant endpoint
 *                                                   |-> delivery dead-letter queue (alarmed)
 */
export class Webhooks extends Construct {
  readonly fanOut: ServiceFunction;
  readonly delivery: ServiceFunction;
  readonly deliveryQueue: Queue;
  readonly deliveryDeadLetterQueue: Queue;
  /** In alarm as soon as the delivery dead-letter queue holds a message. */
  readonly deliveryDeadLetterAlarm: Alarm;

  constructor(scope: Construct, id: string, props: WebhooksProps) {
    super(scope, id);
    const settings = WEBHOOK_DELIVERY_QUEUE.queue;

    const delivery = queueWithDeadLetter(this, settings, { queue: 'DeliveryQueue', deadLetter: 'DeliveryDeadLetterQueue' });
    this.deliveryQueue = delivery.queue;
    this.deliveryDeadLetterQueue = delivery.deadLetterQueue;

    this.fanOut = new ServiceFunction(this, 'FanOut', {
      entry: 'lambdas/webhooks/fanout-handler.ts',
      description: 'Session events to one webhook delivery per subscribed endpoint',
      memorySize: FUNCTION_MEMORY_MB.fanout,
      // Within the webhooks route queue's visibility timeout, as Lambda requires.
      timeout: Duration.seconds(Math.min(60, ROUTES.webhooks.queue.visibilityTimeoutSeconds)),
      environment: {
        TABLE_NAME: props.table.tableName,
        WEBHOOK_DELIVERY_QUEUE_URL: this.deliveryQueue.queueUrl,
      },
      reservedConcurrentExecutions: props.concurrency?.fanOut,
    });
    grantOnTableItems(props.table, this.fanOut, FAN_OUT_TABLE_ACTIONS, [ACCOUNT_ITEMS]);
    this.deliveryQueue.grantSendMessages(this.fanOut);
    this.fanOut.addEventSource(
      new SqsEventSource(props.eventsQueue, {
        batchSize: ROUTES.webhooks.queue.batchSize,
        reportBatchItemFailures: true,
        maxConcurrency: props.concurrency?.fanOut,
      }),
    );

    this.delivery = new ServiceFunction(this, 'Delivery', {
      entry: 'lambdas/webhooks/delivery-handler.ts',
      description: 'Signed webhook POSTs, retried with backoff by SQS visibility changes',
      memorySize: FUNCTION_MEMORY_MB.delivery,
      timeout: Duration.seconds(WEBHOOK_DELIVERY_QUEUE.functionTimeoutSeconds),
      environment: {
        TABLE_NAME: props.table.tableName,
        WEBHOOK_DELIVERY_QUEUE_URL: this.deliveryQueue.queueUrl,
        WEBHOOK_DELIVERY_DLQ_URL: this.deliveryDeadLetterQueue.queueUrl,
        EVENT_BUS_NAME: props.bus.eventBusName,
      },
      reservedConcurrentExecutions: props.concurrency?.delivery,
    });
    grantOnTableItems(props.table, this.delivery, DELIVERY_TABLE_ACTIONS, [ACCOUNT_ITEMS]);
    // The event source grants receiving, deleting and ChangeMessageVisibility on the delivery queue.
    this.delivery.addEventSource(
      new SqsEventSource(this.deliveryQueue, {
        batchSize: settings.batchSize,
        reportBatchItemFailures: true,
        maxConcurrency: props.concurrency?.delivery,
      }),
    );
    this.deliveryDeadLetterQueue.grantSendMessages(this.delivery);
    props.bus.grantPutEventsTo(this.delivery);

    // Resends: the API puts a message on the delivery queue.
    this.deliveryQueue.grantSendMessages(props.api);
    props.api.addEnvironment('WEBHOOK_DELIVERY_QUEUE_URL', this.deliveryQueue.queueUrl);

    this.deliveryDeadLetterAlarm = this.deliveryDeadLetterQueue
      .metricApproximateNumberOfMessagesVisible({ period: Duration.minutes(1), statistic: Stats.MAXIMUM })
      .createAlarm(this, 'DeliveryDeadLetterAlarm', {
        alarmDescription:
          'Webhook deliveries whose retry schedule is spent (or that the worker kept failing on) wait in the delivery dead-letter queue: each message names the delivery and its attempts; resend with POST /v1/events/{id}/retry',
        threshold: 0,
        comparisonOperator: ComparisonOperator.GREATER_THAN_THRESHOLD,
        evaluationPeriods: 1,
        treatMissingData: TreatMissingData.NOT_BREACHING,
      });

    // At the stack's top level, so the output keeps this plain name.
    new CfnOutput(Stack.of(this), 'WebhookDeliveryDeadLetterQueueUrl', {
      description: 'SQS dead-letter queue of webhook deliveries whose retry schedule is spent, each with its attempt history',
      value: this.deliveryDeadLetterQueue.queueUrl,
    });
  }
}
