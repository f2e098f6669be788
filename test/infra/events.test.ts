import { readFileSync } from 'node:fs';
import { App, type CfnElement } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { EVENT_SOURCE, ROUTES, type Route } from '../../lambdas/events/routing.js';
import { STREAM_FILTER_PATTERN } from '../../lambdas/store/table.js';
import { pascalCase } from '../../lib/events.js';
import { VerificationSessionsStack } from '../../lib/stack.js';

/** The feature flags `cdk synth` runs with, so the tests see the same template. */
const cdkContext = JSON.parse(readFileSync(new URL('../../cdk.json', import.meta.url), 'utf8')).context;

type Resource = { Type: string; Properties: Record<string, any> };
type Statement = { Effect: string; Action: string | string[]; Resource: unknown; Principal?: unknown; Condition?: unknown };

const routes = Object.values(ROUTES) as Route[];
const actionsOf = (statement: Statement) => [statement.Action].flat();

describe('Events', () => {
  let stack: VerificationSessionsStack;
  let template: Template;
  let resources: Record<string, Resource>;
  /** Logical id of a construct's CloudFormation resource. */
  const idOf = (construct: { node: { defaultChild?: unknown } }) =>
    stack.getLogicalId(construct.node.defaultChild as CfnElement);
  const ref = (construct: { node: { defaultChild?: unknown } }) => ({ Ref: idOf(construct) });
  const arnOf = (construct: { node: { defaultChild?: unknown } }) => ({ 'Fn::GetAtt': [idOf(construct), 'Arn'] });
  const ofType = (type: string) => Object.entries(resources).filter(([, r]) => r.Type === type);
  /** The statements of the identity policies attached to a function's role. */
  const roleStatements = (fn: { role?: { node: { defaultChild?: unknown } } }): Statement[] => {
    const roleRef = ref(fn.role!);
    return ofType('AWS::IAM::Policy')
      .filter(([, p]) => (p.Properties.Roles as unknown[]).some((r) => JSON.stringify(r) === JSON.stringify(roleRef)))
      .flatMap(([, p]) => p.Properties.PolicyDocument.Statement as Statement[]);
  };
  const queuePolicyStatements = (queue: { node: { defaultChild?: unknown } }): Statement[] =>
    ofType('AWS::SQS::QueuePolicy')
      .filter(([, p]) => (p.Properties.Queues as unknown[]).some((q) => JSON.stringify(q) === JSON.stringify(ref(queue))))
      .flatMap(([, p]) => p.Properties.PolicyDocument.Statement as Statement[]);

  beforeAll(() => {
    const app = new App({ context: { ...cdkContext, 'aws:cdk:bundling-stacks': [] } });
    stack = new VerificationSessionsStack(app, 'Test');
    template = Template.fromStack(stack);
    resources = template.toJSON().Resources;
  });

  describe('stream publisher', () => {
    it('reads the table stream, session items only, in bounded, bisected, partially failing batches', () => {
      // The queue consumers (checks, webhooks) have mappings of their own; this one reads the stream.
      const mappings = ofType('AWS::Lambda::EventSourceMapping').filter(([, m]) => JSON.stringify(m.Properties.EventSourceArn).includes('StreamArn'));
      expect(mappings).toHaveLength(1);
      const [, mapping] = mappings[0]!;
      const { events, store } = stack;
      expect(mapping.Properties).toMatchObject({
        FunctionName: ref(events.publisher),
        EventSourceArn: { 'Fn::GetAtt': [idOf(store.table), 'StreamArn'] },
        StartingPosition: 'TRIM_HORIZON',
        BatchSize: 100,
        MaximumBatchingWindowInSeconds: 1,
        ParallelizationFactor: 1,
        BisectBatchOnFunctionError: true,
        MaximumRetryAttempts: 10,
        FunctionResponseTypes: ['ReportBatchItemFailures'],
        DestinationConfig: { OnFailure: { Destination: arnOf(events.streamFailures) } },
      });
      expect(mapping.Properties.MaximumRecordAgeInSeconds).toBeGreaterThan(0);
      // Records older than the stream's 24 h retention cannot be read back.
      expect(mapping.Properties.MaximumRecordAgeInSeconds).toBeLessThan(24 * 3600);

      const filters = mapping.Properties.FilterCriteria.Filters as { Pattern: string }[];
      expect(filters).toHaveLength(1);
      expect(JSON.parse(filters[0]!.Pattern)).toEqual(STREAM_FILTER_PATTERN);
      expect(filters[0]!.Pattern).toBe('{"dynamodb":{"Keys":{"sk":{"S":[{"prefix":"VS#"}]}}}}');
    });

    it('runs with the table and bus names, 60 s and 512 MB', () => {
      const { events, store } = stack;
      expect(resources[idOf(events.publisher)]!.Properties).toMatchObject({
        Runtime: 'nodejs22.x',
        Architectures: ['arm64'],
        Handler: 'index.handler',
        Timeout: 60,
        MemorySize: 512,
        Environment: {
          Variables: {
            TABLE_NAME: ref(store.table),
            EVENT_BUS_NAME: ref(events.bus),
            POWERTOOLS_SERVICE_NAME: 'verification-sessions',
          },
        },
      });
    });

    it('may put items on the table, add to session event lists, and put events on the bus, and write nothing else', () => {
      const { events, store } = stack;
      const statements = roleStatements(events.publisher);
      expect(statements.every((s) => s.Effect === 'Allow')).toBe(true);

      const tableArn = arnOf(store.table);
      const onTable = statements.filter((s) => JSON.stringify(s.Resource) === JSON.stringify(tableArn));
      expect(onTable.flatMap(actionsOf)).toEqual(['dynamodb:PutItem', 'dynamodb:UpdateItem']);

      const onBus = statements.filter((s) => JSON.stringify(s.Resource) === JSON.stringify(arnOf(events.bus)));
      expect(onBus.flatMap(actionsOf)).toEqual(['events:PutEvents']);

      const dynamodb = statements.flatMap(actionsOf).filter((a) => a.startsWith('dynamodb:'));
      const writes = dynamodb.filter((a) => /Put|Update|Delete|Write|Create|\*/.test(a));
      expect(writes).toEqual(['dynamodb:PutItem', 'dynamodb:UpdateItem']);
      // Reading is limited to the stream (granted by the event source).
      const streamArn = JSON.stringify({ 'Fn::GetAtt': [idOf(store.table), 'StreamArn'] });
      for (const s of statements.filter((st) => actionsOf(st).some((a) => /GetRecords|GetShardIterator/.test(a)))) {
        expect(JSON.stringify(s.Resource)).toBe(streamArn);
      }
      expect(statements.flatMap(actionsOf).filter((a) => a.includes('*'))).toEqual([]);
    });

    it('sends given-up batches to an encrypted stream failures queue kept 14 days', () => {
      const queue = resources[idOf(stack.events.streamFailures)]!;
      expect(queue.Properties).toMatchObject({ MessageRetentionPeriod: 14 * 24 * 3600, SqsManagedSseEnabled: true });
      const sendMessage = roleStatements(stack.events.publisher).filter((s) => actionsOf(s).includes('sqs:SendMessage'));
      // ...and redactions to the redaction queue, nothing else.
      expect(sendMessage.flatMap((s) => s.Resource)).toEqual([arnOf(stack.events.streamFailures), arnOf(stack.redaction.queue)]);
    });
  });

  describe('bus', () => {
    it('is the service bus, named after the stack', () => {
      const buses = ofType('AWS::Events::EventBus');
      expect(buses).toHaveLength(1);
      expect(buses[0]![1].Properties.Name).toBe('Test-events');
    });
  });

  describe('routes', () => {
    it('has one rule per routing table entry, all on the service bus', () => {
      // The sweeps' schedule (on the default bus) is the only other rule.
      const rules = ofType('AWS::Events::Rule').filter(([, r]) => r.Properties.ScheduleExpression === undefined);
      expect(rules).toHaveLength(routes.length);
      for (const [, rule] of rules) expect(rule.Properties.EventBusName).toEqual(ref(stack.events.bus));
      expect(Object.keys(stack.events.queues).sort()).toEqual(Object.keys(ROUTES).sort());
    });

    describe.each(routes)('$name', (route) => {
      const built = () => stack.events.routes[route.name as keyof typeof ROUTES];

      it("matches the route's pattern, with prefixes as EventBridge prefix matchers, into its queue", () => {
        const rule = resources[idOf(built().rule)]!;
        // The routing table writes patterns in EventBridge's own JSON syntax.
        expect(rule.Properties.EventPattern).toEqual(route.pattern);
        expect(rule.Properties.EventPattern.source).toEqual([EVENT_SOURCE]);
        expect(rule.Properties.Description).toBe(route.description);
        expect(rule.Properties.State).toBe('ENABLED');
        expect(rule.Properties.Targets).toHaveLength(1);
        expect(rule.Properties.Targets[0].Arn).toEqual(arnOf(built().queue));
      });

      it("has the routing table's queue settings and a dead-letter queue", () => {
        const queue = resources[idOf(built().queue)]!;
        expect(queue.Properties).toEqual({
          VisibilityTimeout: route.queue.visibilityTimeoutSeconds,
          MessageRetentionPeriod: route.queue.retentionSeconds,
          RedrivePolicy: { deadLetterTargetArn: arnOf(built().deadLetterQueue), maxReceiveCount: route.queue.maxReceiveCount },
          SqsManagedSseEnabled: true,
        });
        const dlq = resources[idOf(built().deadLetterQueue)]!;
        expect(dlq.Type).toBe('AWS::SQS::Queue');
        expect(dlq.Properties).toEqual({
          MessageRetentionPeriod: route.queue.dlqRetentionSeconds,
          SqsManagedSseEnabled: true,
        });
      });

      it('lets EventBridge send to the queue only on behalf of its rule, and only over TLS', () => {
        const statements = queuePolicyStatements(built().queue);
        const allows = statements.filter((s) => s.Effect === 'Allow');
        expect(allows).toHaveLength(1);
        expect(allows[0]).toMatchObject({
          Principal: { Service: 'events.amazonaws.com' },
          Resource: arnOf(built().queue),
          Condition: { ArnEquals: { 'aws:SourceArn': arnOf(built().rule) } },
        });
        expect(actionsOf(allows[0]!)).toContain('sqs:SendMessage');
        expect(actionsOf(allows[0]!).filter((a) => a !== 'sqs:SendMessage' && !a.startsWith('sqs:GetQueue'))).toEqual([]);
        for (const queue of [built().queue, built().deadLetterQueue]) {
          expect(queuePolicyStatements(queue)).toContainEqual(
            expect.objectContaining({
              Effect: 'Deny',
              Action: 'sqs:*',
              Condition: { Bool: { 'aws:SecureTransport': 'false' } },
            }),
          );
        }
      });

      it('alarms as soon as its dead-letter queue holds a message', () => {
        const alarm = resources[idOf(built().deadLetterAlarm)]!;
        expect(alarm.Properties).toMatchObject({
          Namespace: 'AWS/SQS',
          MetricName: 'ApproximateNumberOfMessagesVisible',
          Dimensions: [{ Name: 'QueueName', Value: { 'Fn::GetAtt': [idOf(built().deadLetterQueue), 'QueueName'] } }],
          ComparisonOperator: 'GreaterThanThreshold',
          Threshold: 0,
          EvaluationPeriods: 1,
          TreatMissingData: 'notBreaching',
        });
      });

      it('publishes the queue URL', () => {
        template.hasOutput(`${pascalCase(route.name)}QueueUrl`, { Value: ref(built().queue) });
      });
    });

    it('alarms on every dead-letter queue, the stream failures queue included', () => {
      const watched = ofType('AWS::CloudWatch::Alarm')
        .filter(([, a]) => a.Properties.Namespace === 'AWS/SQS')
        .map(([, a]) => JSON.stringify(a.Properties.Dimensions[0].Value));
      const deadLetterQueues = [stack.events.streamFailures, ...Object.values(stack.events.routes).map((r) => r.deadLetterQueue)];
      // Every queue of the stack that is some queue's redrive target is a dead-letter queue too (the webhook delivery DLQ).
      const redriveTargets = ofType('AWS::SQS::Queue')
        .map(([, q]) => q.Properties.RedrivePolicy?.deadLetterTargetArn?.['Fn::GetAtt']?.[0] as string | undefined)
        .filter((id): id is string => id !== undefined);
      const deadLetterIds = [...new Set([idOf(stack.events.streamFailures), ...redriveTargets])];
      expect(redriveTargets).toEqual(expect.arrayContaining(deadLetterQueues.slice(1).map(idOf)));
      expect(watched.sort()).toEqual(deadLetterIds.map((id) => JSON.stringify({ 'Fn::GetAtt': [id, 'QueueName'] })).sort());
      expect(stack.events.alarms).toHaveLength(deadLetterQueues.length);
    });
  });

  describe('outputs', () => {
    it('publishes the bus name and ARN next to the existing outputs', () => {
      template.hasOutput('EventBusName', { Value: ref(stack.events.bus) });
      template.hasOutput('EventBusArn', { Value: arnOf(stack.events.bus) });
      template.hasOutput('ApiUrl', Match.anyValue());
      template.hasOutput('TableName', Match.anyValue());
    });
  });
});
