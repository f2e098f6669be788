import { readFileSync } from 'node:fs';
import { App, type CfnElement } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { ROUTES, WEBHOOK_DELIVERY_QUEUE } from '../../lambdas/events/routing.js';
import { DELIVERY_TIMEOUT_MS } from '../../lambdas/webhooks/deliver.js';
import { MAX_SQS_VISIBILITY_SECONDS } from '../../lambdas/webhooks/schedule.js';
import { VerificationSessionsStack } from '../../lib/stack.js';
import { DELIVERY_TABLE_ACTIONS, FAN_OUT_TABLE_ACTIONS } from '../../lib/webhooks.js';

const TRACING_ACTIONS = ['xray:PutTraceSegments', 'xray:PutTelemetryRecords'];

/** The feature flags `cdk synth` runs with, so the tests see the same template. */
const cdkContext = JSON.parse(readFileSync(new URL('../../cdk.json', import.meta.url), 'utf8')).context;

type Resource = { Type: string; Properties: Record<string, any> };
type Statement = { Effect: string; Action: string | string[]; Resource: unknown };
type WithChild = { node: { defaultChild?: unknown } };
const json = (v: unknown) => JSON.stringify(v);
const actionsOf = (s: Statement) => [s.Action].flat();

describe('Webhooks', () => {
  let stack: VerificationSessionsStack;
  let template: Template;
  let resources: Record<string, Resource>;
  const idOf = (c: WithChild) => stack.getLogicalId(c.node.defaultChild as CfnElement);
  const ref = (c: WithChild) => ({ Ref: idOf(c) });
  const arnOf = (c: WithChild) => ({ 'Fn::GetAtt': [idOf(c), 'Arn'] });
  const ofType = (type: string) => Object.entries(resources).filter(([, r]) => r.Type === type);
  const statementsOf = (fn: { role?: WithChild }): Statement[] =>
    ofType('AWS::IAM::Policy')
      .filter(([, p]) => (p.Properties.Roles as unknown[]).some((r) => json(r) === json(ref(fn.role!))))
      .flatMap(([, p]) => p.Properties.PolicyDocument.Statement as Statement[]);
  /** Every (action, resource) pair a function's role is allowed. */
  const grantsOf = (fn: { role?: WithChild }) =>
    statementsOf(fn).flatMap((s) => {
      expect(s.Effect).toBe('Allow');
      return actionsOf(s).flatMap((action) => [s.Resource].flat().map((resource) => ({ action, resource: json(resource) })));
    });
  const mappingOf = (fn: WithChild) => {
    const found = ofType('AWS::Lambda::EventSourceMapping').filter(([, m]) => json(m.Properties.FunctionName) === json(ref(fn)));
    expect(found).toHaveLength(1);
    return found[0]![1].Properties;
  };

  beforeAll(() => {
    const app = new App({ context: { ...cdkContext, 'aws:cdk:bundling-stacks': [] } });
    stack = new VerificationSessionsStack(app, 'Test');
    template = Template.fromStack(stack);
    resources = template.toJSON().Resources;
  });

  describe('delivery queue', () => {
    it("has the routing module's settings: 14 days, a high receive count, its own encrypted dead-letter queue", () => {
      const s = WEBHOOK_DELIVERY_QUEUE.queue;
      expect(s.retentionSeconds).toBe(14 * 24 * 3600);
      expect(s.maxReceiveCount).toBeGreaterThanOrEqual(50);
      expect(resources[idOf(stack.webhooks.deliveryQueue)]!.Properties).toEqual({
        VisibilityTimeout: s.visibilityTimeoutSeconds,
        MessageRetentionPeriod: s.retentionSeconds,
        RedrivePolicy: { deadLetterTargetArn: arnOf(stack.webhooks.deliveryDeadLetterQueue), maxReceiveCount: s.maxReceiveCount },
        SqsManagedSseEnabled: true,
      });
      expect(resources[idOf(stack.webhooks.deliveryDeadLetterQueue)]!.Properties).toEqual({
        MessageRetentionPeriod: s.dlqRetentionSeconds,
        SqsManagedSseEnabled: true,
      });
    });

    it('survives the live schedule, and its default visibility covers six delivery timeouts', () => {
      // About 3.2 days of retries, well inside the retention.
      expect(WEBHOOK_DELIVERY_QUEUE.queue.retentionSeconds).toBeGreaterThan(4 * 24 * 3600);
      const fn = resources[idOf(stack.webhooks.delivery)]!.Properties;
      expect(fn.Timeout).toBe(WEBHOOK_DELIVERY_QUEUE.functionTimeoutSeconds);
      expect(fn.Timeout * 1000).toBeGreaterThan(DELIVERY_TIMEOUT_MS * 2);
      expect(WEBHOOK_DELIVERY_QUEUE.queue.visibilityTimeoutSeconds).toBeGreaterThanOrEqual(6 * fn.Timeout);
      expect(WEBHOOK_DELIVERY_QUEUE.queue.visibilityTimeoutSeconds).toBeLessThanOrEqual(MAX_SQS_VISIBILITY_SECONDS);
    });

    it('alarms as soon as its dead-letter queue holds a message', () => {
      expect(resources[idOf(stack.webhooks.deliveryDeadLetterAlarm)]!.Properties).toMatchObject({
        Namespace: 'AWS/SQS',
        MetricName: 'ApproximateNumberOfMessagesVisible',
        Dimensions: [{ Name: 'QueueName', Value: { 'Fn::GetAtt': [idOf(stack.webhooks.deliveryDeadLetterQueue), 'QueueName'] } }],
        ComparisonOperator: 'GreaterThanThreshold',
        Threshold: 0,
        EvaluationPeriods: 1,
        TreatMissingData: 'notBreaching',
      });
    });

    it('publishes the dead-letter queue URL', () => {
      template.hasOutput('WebhookDeliveryDeadLetterQueueUrl', { Value: ref(stack.webhooks.deliveryDeadLetterQueue) });
    });
  });

  describe('fan-out function', () => {
    it('consumes the webhooks route queue in batches with partial failures', () => {
      expect(mappingOf(stack.webhooks.fanOut)).toMatchObject({
        EventSourceArn: arnOf(stack.events.queues.webhooks),
        BatchSize: ROUTES.webhooks.queue.batchSize,
        FunctionResponseTypes: ['ReportBatchItemFailures'],
      });
      const fn = resources[idOf(stack.webhooks.fanOut)]!.Properties;
      expect(fn.Timeout).toBeLessThanOrEqual(ROUTES.webhooks.queue.visibilityTimeoutSeconds);
      expect(fn).toMatchObject({
        Runtime: 'nodejs22.x',
        Architectures: ['arm64'],
        Environment: { Variables: { TABLE_NAME: ref(stack.store.table), WEBHOOK_DELIVERY_QUEUE_URL: ref(stack.webhooks.deliveryQueue) } },
      });
    });

    it('may query and write the table, send to the delivery queue, consume its own queue, and nothing else', () => {
      const grants = grantsOf(stack.webhooks.fanOut);
      const table = json(arnOf(stack.store.table));
      expect(grants.filter((g) => g.action.startsWith('dynamodb:')).map((g) => g.action).sort()).toEqual([...FAN_OUT_TABLE_ACTIONS].sort());
      expect(grants.filter((g) => g.action.startsWith('dynamodb:')).every((g) => g.resource === table)).toBe(true);
      const sqs = grants.filter((g) => g.action.startsWith('sqs:'));
      expect(sqs.filter((g) => g.action === 'sqs:SendMessage').map((g) => g.resource)).toEqual([json(arnOf(stack.webhooks.deliveryQueue))]);
      const consumed = json(arnOf(stack.events.queues.webhooks));
      expect(sqs.filter((g) => g.resource === consumed).map((g) => g.action).sort()).toEqual(
        ['sqs:ChangeMessageVisibility', 'sqs:DeleteMessage', 'sqs:GetQueueAttributes', 'sqs:GetQueueUrl', 'sqs:ReceiveMessage'].sort(),
      );
      // Active tracing adds the X-Ray writes (their Resource is "*": X-Ray has no resource-level permissions).
      expect(grants.filter((g) => !/^(dynamodb|sqs):/.test(g.action) && !TRACING_ACTIONS.includes(g.action))).toEqual([]);
      expect(grants.filter((g) => g.action.includes('*'))).toEqual([]);
    });
  });

  describe('delivery function', () => {
    it('consumes the delivery queue in batches with partial failures', () => {
      expect(mappingOf(stack.webhooks.delivery)).toMatchObject({
        EventSourceArn: arnOf(stack.webhooks.deliveryQueue),
        BatchSize: WEBHOOK_DELIVERY_QUEUE.queue.batchSize,
        FunctionResponseTypes: ['ReportBatchItemFailures'],
      });
      expect(resources[idOf(stack.webhooks.delivery)]!.Properties.Environment.Variables).toMatchObject({
        TABLE_NAME: ref(stack.store.table),
        WEBHOOK_DELIVERY_QUEUE_URL: ref(stack.webhooks.deliveryQueue),
        WEBHOOK_DELIVERY_DLQ_URL: ref(stack.webhooks.deliveryDeadLetterQueue),
        EVENT_BUS_NAME: ref(stack.events.bus),
      });
    });

    it('may read and write the table, change visibility on its queue, send to its dead-letter queue, put events on the bus, and nothing else', () => {
      const grants = grantsOf(stack.webhooks.delivery);
      const table = json(arnOf(stack.store.table));
      const dynamo = grants.filter((g) => g.action.startsWith('dynamodb:'));
      expect(dynamo.map((g) => g.action).sort()).toEqual([...DELIVERY_TABLE_ACTIONS].sort());
      expect(dynamo.every((g) => g.resource === table)).toBe(true);
      expect(grants.filter((g) => g.action === 'sqs:ChangeMessageVisibility').map((g) => g.resource)).toEqual([json(arnOf(stack.webhooks.deliveryQueue))]);
      expect(grants.filter((g) => g.action === 'sqs:SendMessage').map((g) => g.resource)).toEqual([json(arnOf(stack.webhooks.deliveryDeadLetterQueue))]);
      expect(grants.filter((g) => g.action.startsWith('events:'))).toEqual([{ action: 'events:PutEvents', resource: json(arnOf(stack.events.bus)) }]);
      expect(grants.filter((g) => !/^(dynamodb|sqs|events):/.test(g.action) && !TRACING_ACTIONS.includes(g.action))).toEqual([]);
      expect(grants.filter((g) => g.action.includes('*'))).toEqual([]);
      // Never deletes items, never scans.
      expect(grants.map((g) => g.action)).not.toContain('dynamodb:DeleteItem');
      expect(grants.map((g) => g.action)).not.toContain('dynamodb:Scan');
    });
  });

  describe('API function', () => {
    it('may send resends to the delivery queue, and knows its URL', () => {
      const grants = grantsOf(stack.api.handler).filter((g) => g.action.startsWith('sqs:'));
      expect(grants.filter((g) => g.action === 'sqs:SendMessage').map((g) => g.resource)).toEqual([json(arnOf(stack.webhooks.deliveryQueue))]);
      expect(grants.every((g) => g.resource === json(arnOf(stack.webhooks.deliveryQueue)))).toBe(true);
      expect(grants.map((g) => g.action)).not.toContain('sqs:ReceiveMessage');
      expect(resources[idOf(stack.api.handler)]!.Properties.Environment.Variables.WEBHOOK_DELIVERY_QUEUE_URL).toEqual(ref(stack.webhooks.deliveryQueue));
    });
  });
});
