import { readFileSync } from 'node:fs';
import { App, type CfnElement, Duration } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { ROUTES } from '../../lambdas/events/routing.js';
import { assertVisibilityCoversTimeout } from '../../lib/checks.js';
import { FILE_RETENTION_DAYS } from '../../lib/files.js';
import { VerificationSessionsStack } from '../../lib/stack.js';

/** The feature flags `cdk synth` runs with, so the tests see the same template. */
const cdkContext = JSON.parse(readFileSync(new URL('../../cdk.json', import.meta.url), 'utf8')).context;

type Resource = { Type: string; Properties: Record<string, any>; DeletionPolicy?: string; UpdateReplacePolicy?: string };
type Statement = { Effect: string; Action: string | string[]; Resource: unknown; Principal?: unknown; Condition?: unknown };
/** One action allowed on one resource (the resource as JSON, so intrinsics compare by value). */
type Grant = { action: string; resource: string };

const PROVIDER_ACTIONS = ['rekognition:CompareFaces', 'rekognition:DetectFaces', 'textract:AnalyzeID'];
const isProviderAction = (action: string) => /^(textract|rekognition):/i.test(action) || action === '*';
const json = (value: unknown) => JSON.stringify(value);

describe('Checks and files', () => {
  let stack: VerificationSessionsStack;
  let template: Template;
  let resources: Record<string, Resource>;
  type WithChild = { node: { defaultChild?: unknown } };
  const idOf = (construct: WithChild) => stack.getLogicalId(construct.node.defaultChild as CfnElement);
  const ref = (construct: WithChild) => ({ Ref: idOf(construct) });
  const arnOf = (construct: WithChild) => ({ 'Fn::GetAtt': [idOf(construct), 'Arn'] });
  const ofType = (type: string) => Object.entries(resources).filter(([, r]) => r.Type === type);
  const bucket = () => stack.files.bucket;
  const bucketArn = () => json(arnOf(bucket()));
  const objectsArn = () => json({ 'Fn::Join': ['', [arnOf(bucket()), '/*']] });

  /** The statements of the identity policies attached to a role, by the role's logical id. */
  const statementsOfRole = (roleId: string): Statement[] => [
    ...ofType('AWS::IAM::Policy')
      .filter(([, p]) => (p.Properties.Roles as unknown[]).some((r) => json(r) === json({ Ref: roleId })))
      .flatMap(([, p]) => p.Properties.PolicyDocument.Statement as Statement[]),
    // Inline policies written on the role itself, should anything add one.
    ...((resources[roleId]?.Properties.Policies ?? []) as { PolicyDocument: { Statement: Statement[] } }[]).flatMap(
      (p) => p.PolicyDocument.Statement,
    ),
  ];
  const roleIdOf = (fn: { role?: WithChild }) => idOf(fn.role!);
  /** Every (action, resource) pair the role's Allow statements grant; a statement with no Deny is a cross product. */
  const grantsOfRole = (roleId: string): Grant[] =>
    statementsOfRole(roleId).flatMap((s) => {
      expect(s.Effect, `statement of ${roleId}`).toBe('Allow');
      return [s.Action].flat().flatMap((action) => [s.Resource].flat().map((r) => ({ action, resource: json(r) })));
    });
  const s3GrantsOf = (roleId: string) => grantsOfRole(roleId).filter((g) => g.action.startsWith('s3:'));
  const sorted = (grants: Grant[]) => [...grants].sort((a, b) => `${a.action}${a.resource}`.localeCompare(`${b.action}${b.resource}`));

  beforeAll(() => {
    const app = new App({ context: { ...cdkContext, 'aws:cdk:bundling-stacks': [] } });
    stack = new VerificationSessionsStack(app, 'Test');
    template = Template.fromStack(stack);
    resources = template.toJSON().Resources;
  });

  describe('files bucket', () => {
    const theBucket = () => resources[idOf(bucket())]!;

    it('is private, owner-enforced and encrypted with S3-managed keys', () => {
      expect(theBucket().Properties).toMatchObject({
        PublicAccessBlockConfiguration: {
          BlockPublicAcls: true,
          BlockPublicPolicy: true,
          IgnorePublicAcls: true,
          RestrictPublicBuckets: true,
        },
        OwnershipControls: { Rules: [{ ObjectOwnership: 'BucketOwnerEnforced' }] },
        BucketEncryption: { ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } }] },
      });
      // Unversioned: a redacted image must be gone, not kept as a noncurrent version.
      expect(theBucket().Properties.VersioningConfiguration?.Status).not.toBe('Enabled');
    });

    it('is retained when it leaves the stack', () => {
      expect(theBucket().DeletionPolicy).toBe('Retain');
      expect(theBucket().UpdateReplacePolicy).toBe('Retain');
    });

    it('expires images after 30 days and aborts unfinished uploads after a day', () => {
      expect(FILE_RETENTION_DAYS).toBe(30);
      expect(theBucket().Properties.LifecycleConfiguration).toEqual({
        Rules: [
          {
            Id: 'ExpireUserImages',
            Status: 'Enabled',
            ExpirationInDays: 30,
            AbortIncompleteMultipartUpload: { DaysAfterInitiation: 1 },
          },
        ],
      });
    });

    it("lets the hosted page's origin (the API's own) POST presigned form uploads, and nothing else", () => {
      const rules = theBucket().Properties.CorsConfiguration.CorsRules;
      const apiOrigin = {
        'Fn::Join': ['', ['https://', ref(stack.api.httpApi), '.execute-api.', { Ref: 'AWS::Region' }, '.', { Ref: 'AWS::URLSuffix' }]],
      };
      expect(rules).toEqual([expect.objectContaining({ AllowedMethods: ['POST'], AllowedOrigins: [apiOrigin] })]);
      expect(rules[0].AllowedHeaders).toBeUndefined();
    });

    it('refuses every request without TLS and allows no one through its bucket policy', () => {
      const policies = ofType('AWS::S3::BucketPolicy').filter(([, p]) => json(p.Properties.Bucket) === json(ref(bucket())));
      expect(policies).toHaveLength(1);
      const statements = policies[0]![1].Properties.PolicyDocument.Statement as Statement[];
      expect(statements.filter((s) => s.Effect === 'Allow')).toEqual([]);
      expect(statements).toContainEqual(
        expect.objectContaining({
          Effect: 'Deny',
          Action: 's3:*',
          Principal: { AWS: '*' },
          Condition: { Bool: { 'aws:SecureTransport': 'false' } },
          Resource: [arnOf(bucket()), { 'Fn::Join': ['', [arnOf(bucket()), '/*']] }],
        }),
      );
    });
  });

  describe('checks worker', () => {
    const worker = () => stack.checks.worker;
    const checksQueue = () => stack.events.routes.checks.queue;

    it('runs Node 22 on arm64, 60 s and 1024 MB, with the table, bucket and queue in its environment', () => {
      expect(resources[idOf(worker())]!.Properties).toMatchObject({
        Runtime: 'nodejs22.x',
        Architectures: ['arm64'],
        Handler: 'index.handler',
        Timeout: 60,
        MemorySize: 1024,
        Environment: {
          Variables: {
            TABLE_NAME: ref(stack.store.table),
            FILES_BUCKET: ref(bucket()),
            CHECKS_QUEUE_URL: ref(checksQueue()),
            POWERTOOLS_SERVICE_NAME: 'verification-sessions',
          },
        },
      });
    });

    it("consumes the checks route's queue in batches of the routing table's size, reporting item failures", () => {
      const mappings = ofType('AWS::Lambda::EventSourceMapping').filter(
        ([, m]) => json(m.Properties.FunctionName) === json(ref(worker())),
      );
      expect(mappings).toHaveLength(1);
      expect(mappings[0]![1].Properties).toMatchObject({
        EventSourceArn: arnOf(checksQueue()),
        BatchSize: ROUTES.checks.queue.batchSize,
        FunctionResponseTypes: ['ReportBatchItemFailures'],
      });
      // No other function drains the checks queue.
      const onQueue = ofType('AWS::Lambda::EventSourceMapping').filter(
        ([, m]) => json(m.Properties.EventSourceArn) === json(arnOf(checksQueue())),
      );
      expect(onQueue).toHaveLength(1);
    });

    it('hides a received message at least as long as the worker may run', () => {
      const queue = resources[idOf(checksQueue())]!;
      const fn = resources[idOf(worker())]!;
      expect(queue.Properties.VisibilityTimeout).toBe(ROUTES.checks.queue.visibilityTimeoutSeconds);
      expect(queue.Properties.VisibilityTimeout).toBeGreaterThanOrEqual(fn.Properties.Timeout);
      expect(() => assertVisibilityCoversTimeout(30, Duration.seconds(60))).toThrow(/visibility timeout \(30 s.*timeout \(60 s\)/);
      expect(() => assertVisibilityCoversTimeout(60, Duration.seconds(60))).not.toThrow();
    });

    it('reads sessions and writes transitions and reports (PutItem), on the table only', () => {
      const dynamodb = grantsOfRole(roleIdOf(worker())).filter((g) => g.action.startsWith('dynamodb:'));
      expect(sorted(dynamodb)).toEqual([
        { action: 'dynamodb:GetItem', resource: json(arnOf(stack.store.table)) },
        { action: 'dynamodb:PutItem', resource: json(arnOf(stack.store.table)) },
      ]);
    });

    it('reads images and lists the bucket, and may not write or delete any', () => {
      expect(sorted(s3GrantsOf(roleIdOf(worker())))).toEqual([
        { action: 's3:GetObject', resource: objectsArn() },
        { action: 's3:ListBucket', resource: bucketArn() },
      ]);
    });

    it('may change the visibility of, receive and delete messages of the checks queue only', () => {
      const sqs = grantsOfRole(roleIdOf(worker())).filter((g) => g.action.startsWith('sqs:'));
      expect(sqs.map((g) => g.action)).toEqual(
        expect.arrayContaining(['sqs:ChangeMessageVisibility', 'sqs:ReceiveMessage', 'sqs:DeleteMessage']),
      );
      expect(sqs.map((g) => g.action)).not.toContain('sqs:SendMessage');
      for (const grant of sqs) expect(grant.resource).toBe(json(arnOf(checksQueue())));
    });

    it("has Textract and Rekognition, on '*' (they have no resource-level permissions), and no other wildcard", () => {
      const grants = grantsOfRole(roleIdOf(worker()));
      const provider = grants.filter((g) => isProviderAction(g.action));
      expect(provider.map((g) => g.action).sort()).toEqual(PROVIDER_ACTIONS);
      for (const grant of provider) expect(grant.resource).toBe('"*"');
      // Besides the provider, only active tracing's X-Ray writes (no resource-level permissions in X-Ray).
      expect(grants.filter((g) => g.resource === '"*"' && !isProviderAction(g.action)).map((g) => g.action).sort()).toEqual([
        'xray:PutTelemetryRecords',
        'xray:PutTraceSegments',
      ]);
      expect(grants.filter((g) => g.action.includes('*'))).toEqual([]);
    });
  });

  describe('least privilege across roles', () => {
    it('gives Textract and Rekognition to the checks worker and to no other role', () => {
      const roles = ofType('AWS::IAM::Role').map(([id]) => id);
      expect(roles).toContain(roleIdOf(stack.checks.worker));
      expect(roles).toContain(roleIdOf(stack.api.handler));
      const withProvider = roles.filter((roleId) => grantsOfRole(roleId).some((g) => isProviderAction(g.action)));
      expect(withProvider).toEqual([roleIdOf(stack.checks.worker)]);
      // Nor through an AWS managed policy.
      for (const [, role] of ofType('AWS::IAM::Role')) {
        expect(json(role.Properties.ManagedPolicyArns ?? [])).not.toMatch(/Textract|Rekognition|AdministratorAccess|PowerUser/i);
      }
    });

    it('lets the API presign uploads and downloads (the Files API), but never list or delete images', () => {
      const apiRole = roleIdOf(stack.api.handler);
      expect(sorted(s3GrantsOf(apiRole))).toEqual(sorted([
        { action: 's3:GetObject', resource: objectsArn() },
        { action: 's3:PutObject', resource: objectsArn() },
      ]));
      const actions = grantsOfRole(apiRole).map((g) => g.action);
      // GetObject is the only read: no version, ACL, tagging or attribute reads.
      expect(actions.filter((a) => /^s3:Get/i.test(a))).toEqual(['s3:GetObject']);
      expect(actions.filter((a) => /^s3:(List|Delete)/i.test(a))).toEqual([]);
      expect(actions.filter(isProviderAction)).toEqual([]);
    });

    it('has the bucket name in the API environment', () => {
      expect(resources[idOf(stack.api.handler)]!.Properties.Environment.Variables.FILES_BUCKET).toEqual(ref(bucket()));
    });

    it('gives no other role any access to the bucket', () => {
      const allowed = [roleIdOf(stack.api.handler), roleIdOf(stack.checks.worker), roleIdOf(stack.redaction.worker)];
      for (const [roleId] of ofType('AWS::IAM::Role').filter(([id]) => !allowed.includes(id))) {
        const onBucket = grantsOfRole(roleId).filter((g) => g.action.startsWith('s3:') || g.resource.includes(idOf(bucket())));
        expect(onBucket, roleId).toEqual([]);
      }
    });

    it('lets the redaction worker list and delete files, never read or write them', () => {
      const grants = grantsOfRole(roleIdOf(stack.redaction.worker)).filter((g) => g.action.startsWith('s3:'));
      expect(grants.map((g) => g.action).sort()).toEqual(['s3:DeleteObject', 's3:ListBucket']);
    });
  });

  describe('outputs', () => {
    it('publishes the files bucket name', () => {
      template.hasOutput('FilesBucketName', { Value: ref(bucket()) });
    });
  });
});
