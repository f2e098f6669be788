import { readFileSync } from 'node:fs';
import { App, type CfnElement, Validations } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import { Bucket } from 'aws-cdk-lib/aws-s3';
import { AwsSolutionsChecks } from 'cdk-nag';
import type { IConstruct } from 'constructs';
import { beforeAll, describe, expect, it } from 'vitest';
import { METRIC, METRICS_NAMESPACE, METRICS_SERVICE } from '../../lambdas/observability/metric-names.js';
import { DEFAULT_WORKER_CONCURRENCY } from '../../lib/service.js';
import { VerificationSessionsStack, type VerificationSessionsStackProps } from '../../lib/stack.js';

// The operator's view of the stack: what each function may do, what alarms
// whom, what is traced and measured, and what cdk-nag says about all of it.

const cdkContext = JSON.parse(readFileSync(new URL('../../cdk.json', import.meta.url), 'utf8')).context;

/** Synthesizes the stack without bundling; `nag` runs the AwsSolutions rules during synth. */
function synth(props: VerificationSessionsStackProps = {}, options: { nag?: boolean; extra?: (stack: VerificationSessionsStack) => void } = {}) {
  const app = new App({ context: { ...cdkContext, 'aws:cdk:bundling-stacks': [] } });
  const stack = new VerificationSessionsStack(app, 'Ops', props);
  options.extra?.(stack);
  if (options.nag) Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
  const assembly = app.synth();
  const template = assembly.getStackByName(stack.stackName).template as { Resources: Record<string, Resource>; Outputs: Record<string, { Value: unknown }> };
  return { app, stack, template };
}

interface Resource {
  Type: string;
  Properties: Record<string, any>;
}
interface Statement {
  Effect: string;
  Action: string | string[];
  Resource: unknown;
  Condition?: Record<string, any>;
}

const idOf = (stack: VerificationSessionsStack, construct: IConstruct) => stack.getLogicalId(construct.node.defaultChild as CfnElement);
const ofType = (template: { Resources: Record<string, Resource> }, type: string) => Object.entries(template.Resources).filter(([, r]) => r.Type === type);

/** The statements of every policy attached to a function's role. */
function statementsOf(template: { Resources: Record<string, Resource> }, functionId: string): Statement[] {
  const roleId = template.Resources[functionId]!.Properties.Role['Fn::GetAtt'][0];
  return ofType(template, 'AWS::IAM::Policy')
    .filter(([, p]) => p.Properties.Roles.some((r: { Ref?: string }) => r.Ref === roleId))
    .flatMap(([, p]) => p.Properties.PolicyDocument.Statement as Statement[]);
}
const actionsOf = (s: Statement) => [s.Action].flat();

const TRACING = ['xray:PutTelemetryRecords', 'xray:PutTraceSegments'];
const SQS_SEND = ['sqs:GetQueueAttributes', 'sqs:GetQueueUrl', 'sqs:SendMessage'];
const SQS_CONSUME = ['sqs:ChangeMessageVisibility', 'sqs:DeleteMessage', 'sqs:GetQueueAttributes', 'sqs:GetQueueUrl', 'sqs:ReceiveMessage'];
const STREAM_READ = ['dynamodb:DescribeStream', 'dynamodb:GetRecords', 'dynamodb:GetShardIterator', 'dynamodb:ListStreams'];

/** Every action each function's role allows, as a set: adding one is a decision this test records. */
const EXPECTED_ACTIONS: Record<string, string[]> = {
  api: [
    'dynamodb:BatchGetItem', 'dynamodb:ConditionCheckItem', 'dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:Query', 'dynamodb:UpdateItem',
    's3:GetObject', 's3:PutObject', ...SQS_SEND, ...TRACING,
  ],
  publisher: [...STREAM_READ, 'dynamodb:PutItem', 'dynamodb:UpdateItem', 'events:PutEvents', ...SQS_SEND, ...TRACING],
  checks: [
    'dynamodb:GetItem', 'dynamodb:PutItem', 'rekognition:CompareFaces', 'rekognition:DetectFaces', 's3:GetObject', 's3:ListBucket',
    ...SQS_CONSUME, 'textract:AnalyzeID', ...TRACING,
  ],
  redaction: [
    'dynamodb:BatchGetItem', 'dynamodb:DeleteItem', 'dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:Query', 'dynamodb:UpdateItem',
    's3:DeleteObject', 's3:ListBucket', ...SQS_CONSUME, 'sqs:SendMessage', ...TRACING,
  ],
  sweep: ['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:Query', 'dynamodb:UpdateItem', ...SQS_SEND, ...TRACING],
  fanOut: ['dynamodb:PutItem', 'dynamodb:Query', ...SQS_CONSUME, 'sqs:SendMessage', ...TRACING],
  delivery: ['dynamodb:BatchGetItem', 'dynamodb:PutItem', 'dynamodb:Query', 'dynamodb:UpdateItem', 'events:PutEvents', ...SQS_CONSUME, 'sqs:SendMessage', ...TRACING],
};

/** Which partition keys each function's item actions are limited to (`dynamodb:LeadingKeys`); `null`: not limited. */
const EXPECTED_LEADING_KEYS: Record<string, string[] | null> = {
  // The API reads and writes API keys (KEY#) and idempotency records (IK#) as well as account items: no narrower set exists.
  api: null,
  publisher: ['A#*'],
  checks: ['A#*'],
  redaction: ['A#*', 'IK#*'],
  sweep: ['A#*'],
  fanOut: ['A#*'],
  delivery: ['A#*'],
};

// Each synth takes a few seconds alone, far longer on a shared, loaded machine.
describe('the stack an operator deploys', { timeout: 180_000 }, () => {
  let stack: VerificationSessionsStack;
  let template: ReturnType<typeof synth>['template'];
  let functions: Record<string, string>;
  beforeAll(() => {
    ({ stack, template } = synth({ alarmEmail: 'ops@example.com' }));
    functions = {
      api: idOf(stack, stack.api.handler),
      publisher: idOf(stack, stack.events.publisher),
      checks: idOf(stack, stack.checks.worker),
      redaction: idOf(stack, stack.redaction.worker),
      sweep: idOf(stack, stack.sweep.function),
      fanOut: idOf(stack, stack.webhooks.fanOut),
      delivery: idOf(stack, stack.webhooks.delivery),
    };
  });

  it('has seven functions, all covered by these tests', () => {
    expect(ofType(template, 'AWS::Lambda::Function').map(([id]) => id).sort()).toEqual(Object.values(functions).sort());
  });

  describe('roles', () => {
    it.each(Object.keys(EXPECTED_ACTIONS))('%s may do exactly its listed actions', (name) => {
      const actions = [...new Set(statementsOf(template, functions[name]!).flatMap(actionsOf))].sort();
      expect(actions).toEqual([...new Set(EXPECTED_ACTIONS[name])].sort());
      expect(statementsOf(template, functions[name]!).every((s) => s.Effect === 'Allow')).toBe(true);
    });

    it.each(Object.keys(EXPECTED_LEADING_KEYS))("%s's item actions on the table are limited to its own partition keys", (name) => {
      const tableArn = { 'Fn::GetAtt': [idOf(stack, stack.store.table), 'Arn'] };
      const onTable = statementsOf(template, functions[name]!).filter((s) => JSON.stringify([s.Resource].flat()) === JSON.stringify([tableArn]));
      expect(onTable.length, 'statements on the table').toBeGreaterThan(0);
      for (const statement of onTable) {
        const expected = EXPECTED_LEADING_KEYS[name];
        if (expected === null) expect(statement.Condition).toBeUndefined();
        else expect(statement.Condition).toEqual({ 'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': expected } });
      }
    });

    it("lets another app's role read account items, and nothing else, with grantReadAccountData", () => {
      const { stack: withReader, template: readerTemplate } = synth({}, {
        extra: (s) => s.service.grantReadAccountData(new Role(s, 'Reporting', { assumedBy: new ServicePrincipal('lambda.amazonaws.com') })),
      });
      const roleId = withReader.getLogicalId(withReader.node.findChild('Reporting').node.defaultChild as CfnElement);
      const statements = ofType(readerTemplate, 'AWS::IAM::Policy')
        .filter(([, p]) => p.Properties.Roles.some((r: { Ref?: string }) => r.Ref === roleId))
        .flatMap(([, p]) => p.Properties.PolicyDocument.Statement as Statement[]);
      expect(statements).toEqual([
        {
          Effect: 'Allow',
          Action: ['dynamodb:BatchGetItem', 'dynamodb:GetItem', 'dynamodb:Query'],
          Resource: { 'Fn::GetAtt': [idOf(withReader, withReader.store.table), 'Arn'] },
          Condition: { 'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': ['A#*'] } },
        },
      ]);
    });

    it('gives Textract and Rekognition to no one with the test check provider', () => {
      const { stack: testStack, template: testTemplate } = synth({ checkProvider: 'test' });
      const worker = testTemplate.Resources[idOf(testStack, testStack.checks.worker)]!;
      expect(worker.Properties.Environment.Variables.CHECKS_PROVIDER).toBe('test');
      const all = ofType(testTemplate, 'AWS::IAM::Policy').flatMap(([, p]) => (p.Properties.PolicyDocument.Statement as Statement[]).flatMap(actionsOf));
      expect(all.filter((a) => /^(textract|rekognition):/.test(a))).toEqual([]);
    });
  });

  describe('functions', () => {
    it('are traced by X-Ray and configure Powertools, without the source-map flag', () => {
      for (const [name, id] of Object.entries(functions)) {
        const { Properties } = template.Resources[id]!;
        expect(Properties.TracingConfig, name).toEqual({ Mode: 'Active' });
        expect(Properties.Environment.Variables, name).toMatchObject({
          POWERTOOLS_SERVICE_NAME: METRICS_SERVICE,
          POWERTOOLS_METRICS_NAMESPACE: METRICS_NAMESPACE,
          POWERTOOLS_LOG_LEVEL: 'INFO',
        });
        expect(Properties.Environment.Variables.NODE_OPTIONS, name).toBeUndefined();
        // Active tracing only: no X-Ray SDK loaded, no subsegment per AWS call (traceSdkCalls).
        expect(Properties.Environment.Variables.TRACE_SDK_CALLS, name).toBeUndefined();
      }
    });

    it('record a subsegment per AWS call in every function with traceSdkCalls', () => {
      const { template: sdk } = synth({ traceSdkCalls: true });
      const functionsOf = ofType(sdk, 'AWS::Lambda::Function');
      expect(functionsOf.map(([, f]) => f.Properties.Environment.Variables.TRACE_SDK_CALLS)).toEqual(Array(7).fill('true'));
      expect(functionsOf.map(([, f]) => f.Properties.TracingConfig)).toEqual(Array(7).fill({ Mode: 'Active' }));
    });

    it('take the log level from the service props', () => {
      const { template: debug } = synth({ logLevel: 'DEBUG' });
      const levels = ofType(debug, 'AWS::Lambda::Function').map(([, f]) => f.Properties.Environment.Variables.POWERTOOLS_LOG_LEVEL);
      expect(levels).toEqual(Array(7).fill('DEBUG'));
    });

    it('reserve concurrency for the workers only, with event sources that never poll beyond it', () => {
      const reserved = Object.fromEntries(Object.entries(functions).map(([name, id]) => [name, template.Resources[id]!.Properties.ReservedConcurrentExecutions]));
      expect(reserved).toEqual({
        api: undefined,
        publisher: undefined,
        checks: DEFAULT_WORKER_CONCURRENCY.checks,
        redaction: DEFAULT_WORKER_CONCURRENCY.redaction,
        sweep: DEFAULT_WORKER_CONCURRENCY.sweep,
        fanOut: DEFAULT_WORKER_CONCURRENCY.webhookFanOut,
        delivery: DEFAULT_WORKER_CONCURRENCY.webhookDelivery,
      });
      // Well inside a default account (1,000, of which 100 must stay unreserved).
      expect(Object.values(reserved).reduce((sum: number, n) => sum + (n ?? 0), 0)).toBeLessThanOrEqual(50);
      for (const [, mapping] of ofType(template, 'AWS::Lambda::EventSourceMapping')) {
        const target = Object.entries(functions).find(([, id]) => JSON.stringify(mapping.Properties.FunctionName).includes(id))![0];
        if (target === 'publisher') continue;
        expect(mapping.Properties.ScalingConfig, target).toEqual({ MaximumConcurrency: reserved[target] });
      }
    });

    it('refuse a worker concurrency an SQS event source cannot take', () => {
      expect(() => synth({ workerConcurrency: { redaction: 1 } })).toThrow(/workerConcurrency.redaction must be an integer of at least 2/);
    });

    it('reserve nothing when the account cannot (new-account quota)', () => {
      const { template: none } = synth({ workerConcurrency: false });
      expect(ofType(none, 'AWS::Lambda::Function').map(([, f]) => f.Properties.ReservedConcurrentExecutions)).toEqual(Array(7).fill(undefined));
      expect(ofType(none, 'AWS::Lambda::EventSourceMapping').map(([, m]) => m.Properties.ScalingConfig)).toEqual(Array(5).fill(undefined));
    });
  });

  describe('alarms', () => {
    const topicRef = () => ({ Ref: ofType(template, 'AWS::SNS::Topic')[0]![0] });

    it('send every alarm, and its return to OK, to the one topic, which mails the given address', () => {
      expect(ofType(template, 'AWS::SNS::Topic')).toHaveLength(1);
      const alarms = ofType(template, 'AWS::CloudWatch::Alarm');
      expect(alarms.length).toBeGreaterThan(0);
      for (const [id, alarm] of alarms) {
        expect(alarm.Properties.AlarmActions, id).toEqual([topicRef()]);
        expect(alarm.Properties.OKActions, id).toEqual([topicRef()]);
        expect(alarm.Properties.AlarmDescription, id).toBeTypeOf('string');
      }
      Template.fromStack(stack).hasResourceProperties('AWS::SNS::Subscription', { Protocol: 'email', Endpoint: 'ops@example.com', TopicArn: topicRef() });
    });

    it('cover every dead-letter queue, the stream, every function, the API and the business failure rates', () => {
      const alarms = ofType(template, 'AWS::CloudWatch::Alarm').map(([, a]) => a.Properties);
      const watchedQueues = alarms
        .filter((a) => a.Namespace === 'AWS/SQS' && a.MetricName === 'ApproximateNumberOfMessagesVisible')
        .map((a) => a.Dimensions[0].Value['Fn::GetAtt'][0])
        .sort();
      expect(watchedQueues).toEqual(stack.service.deadLetterQueues.map((q) => idOf(stack, q)).sort());

      const onFunction = (metric: string) =>
        alarms.filter((a) => a.Namespace === 'AWS/Lambda' && a.MetricName === metric).map((a) => a.Dimensions[0].Value.Ref).sort();
      expect(onFunction('Errors')).toEqual(Object.values(functions).sort());
      expect(onFunction('Throttles')).toEqual(Object.values(functions).sort());
      expect(onFunction('IteratorAge')).toEqual([functions.publisher]);

      const apiId = idOf(stack, stack.api.httpApi);
      const latency = alarms.find((a) => a.MetricName === 'Latency');
      expect(latency).toMatchObject({ Namespace: 'AWS/ApiGateway', ExtendedStatistic: 'p99', Dimensions: [{ Name: 'ApiId', Value: { Ref: apiId } }] });

      const math = (needle: string) => alarms.find((a) => JSON.stringify(a.Metrics ?? []).includes(needle));
      const fiveXx = math('"MetricName":"5xx"');
      expect(fiveXx?.Metrics.find((m: { ReturnData?: boolean }) => m.ReturnData !== false).Expression).toMatch(/100 \* errors \/ requests/);

      const webhooks = math(METRIC.webhookAttempts)!;
      const stats = webhooks.Metrics.filter((m: { MetricStat?: unknown }) => m.MetricStat).map((m: any) => m.MetricStat.Metric);
      expect(stats).toEqual(
        expect.arrayContaining(
          ['failed', 'succeeded'].map((outcome) => ({
            Namespace: METRICS_NAMESPACE,
            MetricName: METRIC.webhookAttempts,
            Dimensions: expect.arrayContaining([{ Name: 'service', Value: METRICS_SERVICE }, { Name: 'outcome', Value: outcome }]),
          })),
        ),
      );
      const checks = math(METRIC.checksRuns)!;
      const outcomes = checks.Metrics.filter((m: any) => m.MetricStat).map((m: any) => m.MetricStat.Metric.Dimensions.find((d: any) => d.Name === 'outcome').Value);
      expect(outcomes.sort()).toEqual(['error', 'requires_input', 'verified']);
    });

    it("accept only TLS publishes, and this account's alarms as publishers", () => {
      const [, policy] = ofType(template, 'AWS::SNS::TopicPolicy')[0]!;
      const statements = policy.Properties.PolicyDocument.Statement as (Statement & { Principal: unknown })[];
      expect(statements.find((s) => s.Effect === 'Deny')).toMatchObject({ Action: 'sns:Publish', Condition: { Bool: { 'aws:SecureTransport': 'false' } } });
      const allow = statements.find((s) => s.Effect === 'Allow')!;
      expect(allow).toMatchObject({ Action: 'sns:Publish', Principal: { Service: 'cloudwatch.amazonaws.com' }, Resource: topicRef() });
      expect(allow.Condition!.StringEquals).toEqual({ 'aws:SourceAccount': { Ref: 'AWS::AccountId' } });
    });

    it('can go to an existing topic instead', () => {
      const arn = 'arn:aws:sns:eu-west-1:123456789012:pager';
      const { template: existing } = synth({ alarmTopicArn: arn });
      expect(ofType(existing, 'AWS::SNS::Topic')).toEqual([]);
      for (const [, alarm] of ofType(existing, 'AWS::CloudWatch::Alarm')) expect(alarm.Properties.AlarmActions).toEqual([arn]);
      expect(existing.Outputs.AlarmTopicArn?.Value).toBe(arn);
    });
  });

  it('has one dashboard with every business metric beside the API and functions', () => {
    const dashboards = ofType(template, 'AWS::CloudWatch::Dashboard');
    expect(dashboards).toHaveLength(1);
    const body = JSON.stringify(dashboards[0]![1].Properties.DashboardBody);
    for (const name of Object.values(METRIC)) expect(body, name).toContain(name);
    for (const technical of ['AWS/ApiGateway', 'AWS/Lambda', 'AWS/SQS', 'IteratorAge', 'ConcurrentExecutions']) expect(body).toContain(technical);
  });

  describe('HTTP API and bucket', () => {
    it('logs access without any path, query string or header', () => {
      const [, stage] = ofType(template, 'AWS::ApiGatewayV2::Stage')[0]!;
      const format = JSON.parse(stage.Properties.AccessLogSettings.Format);
      expect(Object.keys(format).sort()).toEqual(
        ['integrationError', 'integrationLatency', 'method', 'protocol', 'requestId', 'requestTime', 'responseLatency', 'responseLength', 'routeKey', 'sourceIp', 'status'],
      );
      expect(stage.Properties.AccessLogSettings.Format).not.toMatch(/path|querystring|header|authorizer/i);
    });

    it('serves a custom domain: session URLs, bucket CORS and the API URL use it', () => {
      const { stack: custom, template: customTemplate } = synth({
        domainName: 'verify.example.com',
        certificateArn: 'arn:aws:acm:eu-west-1:123456789012:certificate/abc',
      });
      const api = customTemplate.Resources[idOf(custom, custom.api.handler)]!;
      expect(api.Properties.Environment.Variables.PAGE_BASE_URL).toBe('https://verify.example.com');
      const [, bucket] = ofType(customTemplate, 'AWS::S3::Bucket')[0]!;
      expect(bucket.Properties.CorsConfiguration.CorsRules).toEqual([{ AllowedMethods: ['POST'], AllowedOrigins: ['https://verify.example.com'], MaxAge: 3600 }]);
      expect(customTemplate.Outputs.ApiUrl?.Value).toBe('https://verify.example.com/');
      const [, domain] = ofType(customTemplate, 'AWS::ApiGatewayV2::DomainName')[0]!;
      expect(domain.Properties.DomainName).toBe('verify.example.com');
      expect(ofType(customTemplate, 'AWS::ApiGatewayV2::ApiMapping')).toHaveLength(1);
      expect(() => synth({ domainName: 'verify.example.com' })).toThrow(/go together/);
    });
  });

  it('publishes the API URL, the bus name and ARN, and the alarm topic ARN', () => {
    expect(Object.keys(template.Outputs)).toEqual(expect.arrayContaining(['ApiUrl', 'EventBusName', 'EventBusArn', 'AlarmTopicArn']));
    expect(template.Outputs.AlarmTopicArn!.Value).toEqual({ Ref: ofType(template, 'AWS::SNS::Topic')[0]![0] });
    expect(template.Outputs.EventBusArn!.Value).toEqual({ 'Fn::GetAtt': [idOf(stack, stack.service.bus), 'Arn'] });
  });

  describe('cdk-nag AwsSolutions', () => {
    it('finds nothing unacknowledged in the full stack', () => {
      expect(() => synth({ alarmEmail: 'ops@example.com' }, { nag: true })).not.toThrow();
    });

    it('still catches a finding (the rules really run)', () => {
      const careless = (s: VerificationSessionsStack) => void new Bucket(s, 'Careless');
      expect(() => synth({}, { nag: true, extra: careless })).toThrow(/AwsSolutions-S1/);
    });

    it('acknowledges only what the README lists, each with a reason', () => {
      const acknowledged = stack.service.nagAcknowledgements;
      const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
      for (const { id, reason } of acknowledged) {
        expect(reason.length, id).toBeGreaterThan(60);
        expect(readme, id).toContain(`\`${id.replace('AwsSolutions::', '')}\``);
      }
      // 3 per function (managed logging policy, X-Ray's "*", runtime), 3 image-object wildcards, bucket logs, API authorizer, stream failures queue.
      expect(acknowledged).toHaveLength(7 * 3 + 3 + 3);
    });
  });

  it('matches the reviewed template (asset hashes normalised)', async () => {
    const normalised = JSON.stringify(template, null, 2).replace(/[0-9a-f]{64}/g, '<asset-hash>');
    await expect(normalised).toMatchFileSnapshot('__snapshots__/stack.template.json');
  });
});
