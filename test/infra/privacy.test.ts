import { readFileSync } from 'node:fs';
import { App, type CfnElement } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { REDACTION_QUEUE } from '../../lambdas/redaction/queue.js';
import { SWEEP_INDEX } from '../../lambdas/store/table.js';
import { SWEEP_SCHEDULE_MINUTES } from '../../lib/sweep.js';
import { VerificationSessionsStack, type VerificationSessionsStackProps } from '../../lib/stack.js';

const cdkContext = JSON.parse(readFileSync(new URL('../../cdk.json', import.meta.url), 'utf8')).context;

type Resource = { Type: string; Properties: Record<string, any> };
type Statement = { Effect: string; Action: string | string[]; Resource: unknown };

function synth(props: VerificationSessionsStackProps = {}) {
  const app = new App({ context: { ...cdkContext, 'aws:cdk:bundling-stacks': [] } });
  const stack = new VerificationSessionsStack(app, 'Test', props);
  const resources: Record<string, Resource> = Template.fromStack(stack).toJSON().Resources;
  const idOf = (c: { node: { defaultChild?: unknown } }) => stack.getLogicalId(c.node.defaultChild as CfnElement);
  const statementsOf = (fn: { role?: { node: { defaultChild?: unknown } } }): Statement[] =>
    Object.values(resources)
      .filter((r) => r.Type === 'AWS::IAM::Policy' && JSON.stringify(r.Properties.Roles).includes(idOf(fn.role!)))
      .flatMap((p) => p.Properties.PolicyDocument.Statement as Statement[]);
  return { stack, resources, idOf, statementsOf };
}

describe('Redaction and sweeps in the stack', () => {
  let s: ReturnType<typeof synth>;
  beforeAll(() => {
    s = synth();
  });

  it('has the sparse, keys-only sweep index from the shared table definition', () => {
    const table = s.resources[s.idOf(s.stack.store.table)]!;
    expect(table.Properties.GlobalSecondaryIndexes).toEqual([
      {
        IndexName: SWEEP_INDEX.name,
        KeySchema: [
          { AttributeName: SWEEP_INDEX.partitionKey, KeyType: 'HASH' },
          { AttributeName: SWEEP_INDEX.sortKey, KeyType: 'RANGE' },
        ],
        Projection: { ProjectionType: 'KEYS_ONLY' },
      },
    ]);
  });

  it('runs the redaction worker on its own encrypted queue, with a dead-letter queue that alarms', () => {
    const queue = s.resources[s.idOf(s.stack.redaction.queue)]!;
    expect(queue.Properties).toMatchObject({
      VisibilityTimeout: REDACTION_QUEUE.queue.visibilityTimeoutSeconds,
      SqsManagedSseEnabled: true,
      RedrivePolicy: { maxReceiveCount: REDACTION_QUEUE.queue.maxReceiveCount },
    });
    const mapping = Object.values(s.resources).find(
      (r) => r.Type === 'AWS::Lambda::EventSourceMapping' && JSON.stringify(r.Properties.EventSourceArn).includes(s.idOf(s.stack.redaction.queue)),
    )!;
    expect(mapping.Properties).toMatchObject({ FunctionName: { Ref: s.idOf(s.stack.redaction.worker) }, FunctionResponseTypes: ['ReportBatchItemFailures'] });
    const alarm = s.resources[s.idOf(s.stack.redaction.alarm)]!;
    expect(JSON.stringify(alarm.Properties.Dimensions)).toContain(s.idOf(s.stack.redaction.deadLetterQueue));
  });

  it('sends the route queues a reference to each event, never the session in it', () => {
    const targets = Object.values(s.resources)
      .filter((r) => r.Type === 'AWS::Events::Rule' && r.Properties.EventPattern)
      .flatMap((r) => r.Properties.Targets as { InputTransformer?: { InputPathsMap: Record<string, string>; InputTemplate: string } }[]);
    expect(targets.length).toBeGreaterThan(0);
    for (const t of targets) {
      const paths = Object.values(t.InputTransformer!.InputPathsMap);
      expect(paths).toContain('$.detail.data.object.id');
      for (const whole of ['$', '$.detail', '$.detail.data', '$.detail.data.object', '$.detail.data.previous_attributes']) expect(paths).not.toContain(whole);
      expect(paths.filter((p) => p.startsWith('$.detail.data.'))).toEqual(['$.detail.data.object.id', '$.detail.data.object.object']);
      // Whole values are inserted as JSON (not quoted), so booleans and arrays keep their type.
      expect(t.InputTransformer!.InputTemplate).toContain('"livemode":<detail-livemode>');
      expect(t.InputTransformer!.InputTemplate).toContain('"resources":<resources>');
    }
  });

  it('gives the sweeper Query on the sweep index only, and a schedule', () => {
    const statements = s.statementsOf(s.stack.sweep.function);
    const query = statements.filter((st) => [st.Action].flat().includes('dynamodb:Query'));
    expect(query).toHaveLength(1);
    expect(JSON.stringify(query[0]!.Resource)).toContain(`/index/${SWEEP_INDEX.name}`);
    const rule = s.resources[s.idOf(s.stack.sweep.rule)]!;
    expect(rule.Properties.ScheduleExpression).toBe(`rate(${SWEEP_SCHEDULE_MINUTES} minutes)`);
    const fn = s.resources[s.idOf(s.stack.sweep.function)]!;
    // Off by default: no retention or abandonment setting reaches the function.
    expect(fn.Properties.Environment.Variables).not.toHaveProperty('RETENTION_DAYS');
    expect(fn.Properties.Environment.Variables).not.toHaveProperty('ABANDON_AFTER_DAYS');
  });

  it('passes retention and abandonment settings to the sweeper, and refuses nonsense', () => {
    const set = synth({ retentionDays: 90, abandonAfterDays: 7 });
    const fn = set.resources[set.idOf(set.stack.sweep.function)]!;
    expect(fn.Properties.Environment.Variables).toMatchObject({ RETENTION_DAYS: '90', ABANDON_AFTER_DAYS: '7' });
    expect(() => synth({ retentionDays: 0 })).toThrow(/retentionDays must be a positive number/);
  });
});
