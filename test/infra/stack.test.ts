import { readFileSync } from 'node:fs';
import { App, type CfnElement } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { TABLE_KEYS, TTL_ATTRIBUTE } from '../../lambdas/store/table.js';
import { VerificationSessionsStack, type VerificationSessionsStackProps } from '../../lib/stack.js';

const API_ACTIONS = [
  'dynamodb:BatchGetItem',
  'dynamodb:ConditionCheckItem',
  'dynamodb:GetItem',
  'dynamodb:PutItem',
  'dynamodb:Query',
  'dynamodb:UpdateItem',
];

/** The feature flags `cdk synth` runs with, so the tests see the same template. */
const cdkContext = JSON.parse(readFileSync(new URL('../../cdk.json', import.meta.url), 'utf8')).context;

/** Synthesizes the stack without bundling the Lambda code (bundling takes seconds). */
function synthStack(props?: VerificationSessionsStackProps) {
  const app = new App({ context: { ...cdkContext, 'aws:cdk:bundling-stacks': [] } });
  const stack = new VerificationSessionsStack(app, 'Test', props);
  return { stack, template: Template.fromStack(stack) };
}
const synth = (props?: VerificationSessionsStackProps) => synthStack(props).template;

/** The one resource of a type, with its logical id. */
function only(template: Template, type: string) {
  const found = Object.entries(template.findResources(type));
  expect(found, `resources of type ${type}`).toHaveLength(1);
  const [id, resource] = found[0]!;
  return { id, properties: resource.Properties ?? {}, resource };
}

/** The API's function (the stack has others: the events publisher, workers), with its logical id. */
function apiFunction(stack: VerificationSessionsStack, template: Template) {
  const id = stack.getLogicalId(stack.api.handler.node.defaultChild as CfnElement);
  const resource = template.toJSON().Resources[id];
  expect(resource?.Type, 'API function').toBe('AWS::Lambda::Function');
  return { id, properties: resource.Properties, resource };
}

/** Every Action of every statement in the policies attached to a role. */
function actionsOfRole(template: Template, roleId: string): string[] {
  const policies = template.findResources('AWS::IAM::Policy', {
    Properties: { Roles: Match.arrayWith([{ Ref: roleId }]) },
  });
  return Object.values(policies).flatMap((policy) =>
    (policy.Properties.PolicyDocument.Statement as { Action: string | string[] }[]).flatMap((s) =>
      Array.isArray(s.Action) ? s.Action : [s.Action],
    ),
  );
}

describe('VerificationSessionsStack', () => {
  let template: Template;
  let stack: VerificationSessionsStack;
  beforeAll(() => {
    ({ stack, template } = synthStack());
  });

  describe('table', () => {
    it('is a TableV2 keyed by the shared definition', () => {
      const table = only(template, 'AWS::DynamoDB::GlobalTable');
      expect(table.properties.KeySchema).toEqual([
        { AttributeName: TABLE_KEYS.partitionKey, KeyType: 'HASH' },
        { AttributeName: TABLE_KEYS.sortKey, KeyType: 'RANGE' },
      ]);
      expect(table.properties.AttributeDefinitions).toEqual(
        expect.arrayContaining([
          { AttributeName: 'pk', AttributeType: 'S' },
          { AttributeName: 'sk', AttributeType: 'S' },
        ]),
      );
      expect(table.properties.BillingMode).toBe('PAY_PER_REQUEST');
    });

    it('expires items by the shared TTL attribute and streams both images', () => {
      template.hasResourceProperties('AWS::DynamoDB::GlobalTable', {
        TimeToLiveSpecification: { AttributeName: TTL_ATTRIBUTE, Enabled: true },
        StreamSpecification: { StreamViewType: 'NEW_AND_OLD_IMAGES' },
      });
    });

    it('has point-in-time recovery and deletion protection, and is retained', () => {
      const table = only(template, 'AWS::DynamoDB::GlobalTable');
      expect(table.properties.Replicas).toHaveLength(1);
      expect(table.properties.Replicas[0]).toMatchObject({
        PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
        DeletionProtectionEnabled: true,
      });
      expect(table.resource.DeletionPolicy).toBe('Retain');
      expect(table.resource.UpdateReplacePolicy).toBe('Retain');
    });

    it('can drop deletion protection for throwaway stacks', () => {
      const table = only(synth({ deletionProtection: false }), 'AWS::DynamoDB::GlobalTable');
      expect(table.properties.Replicas[0].DeletionProtectionEnabled).toBe(false);
    });
  });

  describe('API function', () => {
    it('runs Node 22 on arm64 with the table name in its environment', () => {
      const table = only(template, 'AWS::DynamoDB::GlobalTable');
      const fn = apiFunction(stack, template);
      expect(fn.properties).toMatchObject({
        Runtime: 'nodejs22.x',
        Architectures: ['arm64'],
        MemorySize: 1024,
        Timeout: 10,
        Handler: 'index.handler',
        Environment: {
          Variables: {
            TABLE_NAME: { Ref: table.id },
            POWERTOOLS_SERVICE_NAME: 'verification-sessions',
          },
        },
      });
    });

    it('logs to a log group with a finite retention', () => {
      const fn = apiFunction(stack, template);
      const logGroupId = fn.properties.LoggingConfig?.LogGroup?.Ref;
      expect(logGroupId, 'function log group').toBeTypeOf('string');
      const logGroup = template.toJSON().Resources[logGroupId];
      expect(logGroup.Type).toBe('AWS::Logs::LogGroup');
      expect(logGroup.Properties.RetentionInDays).toBe(30);
    });

    it('may use exactly the DynamoDB actions the handler needs, on the table only', () => {
      const table = only(template, 'AWS::DynamoDB::GlobalTable');
      const fn = apiFunction(stack, template);
      const roleId = fn.properties.Role['Fn::GetAtt'][0];
      // Other services' grants (the files bucket, the webhook delivery queue) are tested with their features.
      const actions = actionsOfRole(template, roleId).filter((action) => action.startsWith('dynamodb:'));

      expect([...actions].sort()).toEqual(API_ACTIONS);
      expect(actions).not.toContain('dynamodb:Scan');
      expect(actions).not.toContain('dynamodb:DeleteItem');
      expect(actions.filter((action) => action.includes('*'))).toEqual([]);

      const statements = Object.values(
        template.findResources('AWS::IAM::Policy', {
          Properties: { Roles: Match.arrayWith([{ Ref: roleId }]) },
        }),
      ).flatMap((policy) => policy.Properties.PolicyDocument.Statement);
      const onDynamo = statements.filter((s: { Action: string | string[] }) => [s.Action].flat().some((a) => a.startsWith('dynamodb:')));
      expect(onDynamo.length).toBeGreaterThan(0);
      for (const statement of onDynamo) {
        expect(statement.Effect).toBe('Allow');
        const resources = [statement.Resource].flat();
        expect(resources).toEqual([{ 'Fn::GetAtt': [table.id, 'Arn'] }]);
      }
    });
  });

  describe('HTTP API', () => {
    it('is an HTTP API whose $default route invokes the function', () => {
      const api = only(template, 'AWS::ApiGatewayV2::Api');
      expect(api.properties.ProtocolType).toBe('HTTP');

      const route = only(template, 'AWS::ApiGatewayV2::Route');
      expect(route.properties.RouteKey).toBe('$default');
      expect(route.properties.ApiId).toEqual({ Ref: api.id });

      const integration = only(template, 'AWS::ApiGatewayV2::Integration');
      expect(route.properties.Target).toEqual({
        'Fn::Join': ['', ['integrations/', { Ref: integration.id }]],
      });
      const fn = apiFunction(stack, template);
      expect(integration.properties).toMatchObject({
        IntegrationType: 'AWS_PROXY',
        PayloadFormatVersion: '2.0',
        IntegrationUri: { 'Fn::GetAtt': [fn.id, 'Arn'] },
      });
    });

    it('lets API Gateway invoke the function', () => {
      const fn = apiFunction(stack, template);
      template.hasResourceProperties('AWS::Lambda::Permission', {
        Action: 'lambda:InvokeFunction',
        Principal: 'apigateway.amazonaws.com',
        FunctionName: { 'Fn::GetAtt': [fn.id, 'Arn'] },
      });
    });

    it('serves a throttled, access-logged $default stage that deploys automatically', () => {
      const api = only(template, 'AWS::ApiGatewayV2::Api');
      const stage = only(template, 'AWS::ApiGatewayV2::Stage');
      expect(stage.properties).toMatchObject({
        ApiId: { Ref: api.id },
        StageName: '$default',
        AutoDeploy: true,
        DefaultRouteSettings: { ThrottlingRateLimit: 100, ThrottlingBurstLimit: 200 },
      });

      const destination = stage.properties.AccessLogSettings?.DestinationArn;
      expect(destination?.['Fn::GetAtt']?.[1]).toBe('Arn');
      const logGroup = template.toJSON().Resources[destination['Fn::GetAtt'][0]];
      expect(logGroup.Type).toBe('AWS::Logs::LogGroup');
      expect(logGroup.Properties.RetentionInDays).toBe(30);

      const format = JSON.parse(stage.properties.AccessLogSettings.Format);
      expect(format.requestId).toBe('$context.requestId');
      expect(format.status).toBe('$context.status');
      // The hosted page's token is a path segment: the access log names the route, never the path.
      expect(format.routeKey).toBe('$context.routeKey');
      expect(stage.properties.AccessLogSettings.Format).not.toMatch(/\$context\.(path|http\.path|requestPath|resourcePath)\b/);
    });
  });

  describe('outputs', () => {
    it('publishes the API URL at the root of the default stage', () => {
      const api = only(template, 'AWS::ApiGatewayV2::Api');
      const output = template.findOutputs('ApiUrl').ApiUrl;
      expect(output, 'ApiUrl output').toBeDefined();
      // The $default stage has no path segment: the URL ends right after the host.
      const [, parts] = output!.Value['Fn::Join'];
      expect(parts[0]).toBe('https://');
      expect(parts[1]).toEqual({ Ref: api.id });
      expect(parts.at(-1)).toBe('/');
    });

    it('publishes the table name', () => {
      const table = only(template, 'AWS::DynamoDB::GlobalTable');
      template.hasOutput('TableName', { Value: { Ref: table.id } });
    });
  });
});
