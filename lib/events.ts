import { Duration, Stack } from 'aws-cdk-lib';
import { Alarm, ComparisonOperator, Stats, TreatMissingData } from 'aws-cdk-lib/aws-cloudwatch';
import type { ITableV2 } from 'aws-cdk-lib/aws-dynamodb';
import { EventBus, EventField, type EventPattern, Match, Rule, RuleTargetInput } from 'aws-cdk-lib/aws-events';
import { SqsQueue } from 'aws-cdk-lib/aws-events-targets';
import { FilterCriteria, StartingPosition } from 'aws-cdk-lib/aws-lambda';
import { DynamoEventSource, SqsDlq } from 'aws-cdk-lib/aws-lambda-event-sources';
import type { Queue } from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import {
  type EventPattern as RoutePattern,
  type PatternValue,
  ROUTES,
  type Route,
  type RouteName,
  type MessageShape,
  ROUTE_MESSAGE,
} from '../lambdas/events/routing.js';
import { STREAM_FILTER_PATTERN } from '../lambdas/store/table.js';
import { ServiceFunction } from './function.js';
import { encryptedQueue, queueWithDeadLetter } from './queues.js';
import { ACCOUNT_ITEMS, grantOnTableItems } from './store.js';
import { FUNCTION_MEMORY_MB } from './memory.js';

/** The routing table's pattern as CDK's EventPattern: `{ prefix }` becomes EventBridge's prefix matcher. */
export function toEventPattern(pattern: RoutePattern): EventPattern {
  const values = (allowed: readonly PatternValue[]) =>
    allowed.flatMap((value) => (typeof value === 'string' ? [value] : Match.prefix(value.prefix)));
  return { source: values(pattern.source), detailType: values(pattern['detail-type']) };
}

/** What the stack builds for one entry of the routing table. */
export interface RouteResources {
  /** The entry itself: consumers read `queue.batchSize` and the visibility timeout from it. */
  readonly route: Route;
  readonly rule: Rule;
  readonly queue: Queue;
  readonly deadLetterQueue: Queue;
  /** In alarm while the dead-letter queue holds any message. */
  readonly deadLetterAlarm: Alarm;
}

export interface EventsProps {
  /** The service table: its stream feeds the publisher, which stores each event in it. */
  readonly table: ITableV2;
}

/**
 * Session events, from the table's stream to the queues of their consumers:
 *
 *   table stream (session items only) -> publisher Lambda -> stored event + PutEvents
 *   -> the service's EventBridge bus -> one rule per route of lambdas/events/routing.ts
 *   -> that route's SQS queue (with a dead-letter queue)
 *
 * Consumers built later (checks worker, webhook fan-out) attach to `queues`.
 */
export class Events extends Construct {
  readonly bus: EventBus;
  readonly publisher: ServiceFunction;
  /** Where the stream mapping records batches it gave up on (their shard and sequence range, not the records). */
  readonly streamFailures: Queue;
  readonly routes: Readonly<Record<RouteName, RouteResources>>;
  /** Each route's queue by route name. */
  readonly queues: Readonly<Record<RouteName, Queue>>;
  /** One alarm per dead-letter queue (the stream failures queue and each route's DLQ), in alarm at the first message. */
  readonly alarms: readonly Alarm[];

  constructor(scope: Construct, id: string, props: EventsProps) {
    super(scope, id);

    this.bus = new EventBus(this, 'Bus', { eventBusName: `${Stack.of(this).stackName}-events` });

    this.publisher = new ServiceFunction(this, 'Publisher', {
      entry: 'lambdas/events/handler.ts',
      description: 'Table stream to stored events and the EventBridge bus',
      memorySize: FUNCTION_MEMORY_MB.publisher,
      timeout: Duration.seconds(60),
      environment: {
        TABLE_NAME: props.table.tableName,
        EVENT_BUS_NAME: this.bus.eventBusName,
      },
    });
    // The publisher stores each event with a conditional PutItem and adds its id
    // to the session's event list with an UpdateItem; the event source adds the
    // stream read permissions.
    // Events and session event lists are account items (A#).
    grantOnTableItems(props.table, this.publisher, ['dynamodb:PutItem', 'dynamodb:UpdateItem'], [ACCOUNT_ITEMS]);
    this.bus.grantPutEventsTo(this.publisher);

    this.streamFailures = encryptedQueue(this, 'StreamFailures', { retentionPeriod: Duration.days(14) });
    this.publisher.addEventSource(
      new DynamoEventSource(props.table, {
        startingPosition: StartingPosition.TRIM_HORIZON,
        // Session items only: the events the publisher stores (EV#) and the
        // idempotency and key records never invoke it.
        filters: [FilterCriteria.filter(STREAM_FILTER_PATTERN)],
        batchSize: 100,
        // Wait up to a second to fill a batch: under load, fuller PutEvents
        // chunks of 10 and fewer invocations; when idle, at most one second
        // added between a write and its event, small next to webhook delivery.
        maxBatchingWindow: Duration.seconds(1),
        // One concurrent batch per shard keeps each session's events in order.
        parallelizationFactor: 1,
        // Records the handler could not publish are reported one by one;
        // a batch that throws is split until the failing record is alone.
        reportBatchItemFailures: true,
        bisectBatchOnError: true,
        retryAttempts: 10,
        // Shorter than the stream's 24 hours of retention: a batch given up
        // for age leaves its shard and sequence numbers in streamFailures
        // while the records can still be read back from the stream.
        maxRecordAge: Duration.hours(12),
        onFailure: new SqsDlq(this.streamFailures),
      }),
    );
    const alarms = [this.deadLetterAlarm('StreamFailures', this.streamFailures)];

    const routes = {} as Record<RouteName, RouteResources>;
    const queues = {} as Record<RouteName, Queue>;
    for (const [name, route] of Object.entries(ROUTES) as [RouteName, Route][]) {
      const routeScope = new Construct(this, pascalCase(route.name));
      const { queue, deadLetterQueue } = queueWithDeadLetter(routeScope, route.queue);
      // The target grants events.amazonaws.com SendMessage on the queue,
      // conditioned on this rule's ARN. No target DLQ: delivery to a queue of
      // the same stack with SQS-managed keys fails only if that grant is
      // missing, and EventBridge retries for 24 hours meanwhile.
      const rule = new Rule(routeScope, 'Rule', {
        eventBus: this.bus,
        description: route.description,
        eventPattern: toEventPattern(route.pattern),
        // The queue gets a reference to the event, not a copy of the session (ROUTE_MESSAGE).
        targets: [new SqsQueue(queue, { message: RuleTargetInput.fromObject(toEventFields(ROUTE_MESSAGE)) })],
      });
      const deadLetterAlarm = this.deadLetterAlarm(`${pascalCase(route.name)}DeadLetter`, deadLetterQueue);
      alarms.push(deadLetterAlarm);
      routes[name] = { route, rule, queue, deadLetterQueue, deadLetterAlarm };
      queues[name] = queue;
    }
    this.routes = routes;
    this.queues = queues;
    this.alarms = alarms;
  }

  private deadLetterAlarm(id: string, queue: Queue): Alarm {
    return deadLetterAlarm(this, id, queue);
  }
}

/** An alarm in alarm at the first message waiting in a dead-letter queue. */
export function deadLetterAlarm(scope: Construct, id: string, queue: Queue): Alarm {
  return queue
    .metricApproximateNumberOfMessagesVisible({ period: Duration.minutes(1), statistic: Stats.MAXIMUM })
    .createAlarm(scope, `${id}Alarm`, {
      alarmDescription: `Messages are waiting in dead-letter queue ${queue.node.path}: inspect them, then redrive or delete`,
      threshold: 0,
      comparisonOperator: ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: 1,
      // SQS reports no datapoint for a queue that stays empty and unused.
      treatMissingData: TreatMissingData.NOT_BREACHING,
    });
}

/** A message shape of JSON paths as the input transformer's fields. */
function toEventFields(shape: MessageShape): unknown {
  if (typeof shape === 'string') return EventField.fromPath(shape);
  return Object.fromEntries(Object.entries(shape).map(([k, v]) => [k, toEventFields(v)]));
}

/** `webhooks` -> `Webhooks`, `checks-worker` -> `ChecksWorker`: a construct id or output name from a route name. */
export function pascalCase(name: string): string {
  return name
    .split(/[^A-Za-z0-9]+/)
    .filter(Boolean)
    .map((part) => part[0]!.toUpperCase() + part.slice(1))
    .join('');
}
