import { type CfnElement, Stack, Validations } from 'aws-cdk-lib';
import type { IBucket } from 'aws-cdk-lib/aws-s3';
import type { IConstruct } from 'constructs';
import type { ServiceFunction } from './function.js';

/** One acknowledged cdk-nag finding: where, which, and why it stays. */
export interface NagAcknowledgement {
  /** The construct the finding is on (its path below the service). */
  readonly construct: IConstruct;
  /** The finding id as cdk-nag 3 reports it (`AwsSolutions::AwsSolutions-IAM5[Resource::*]`). */
  readonly id: string;
  readonly reason: string;
}

const BASIC_EXECUTION_ROLE = 'AwsSolutions::AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]';

/** The findings every function of the service has, and why each stays. */
export function functionAcknowledgements(fn: ServiceFunction, extraWildcardReason?: string): NagAcknowledgement[] {
  const role = fn.role!;
  return [
    {
      construct: role,
      id: BASIC_EXECUTION_ROLE,
      reason:
        'AWSLambdaBasicExecutionRole holds only logs:CreateLogGroup, CreateLogStream and PutLogEvents; the function writes to its own log group (30 days). An inline copy scoped to that group would still end in a log-stream wildcard (IAM5) and add nothing.',
    },
    {
      construct: role.node.findChild('DefaultPolicy'),
      id: 'AwsSolutions::AwsSolutions-IAM5[Resource::*]',
      reason:
        'xray:PutTraceSegments and xray:PutTelemetryRecords (active tracing) support no resource-level permissions, so their Resource is "*".' +
        (extraWildcardReason ? ` ${extraWildcardReason}` : ''),
    },
    {
      construct: fn,
      id: 'AwsSolutions::AwsSolutions-L1',
      reason:
        'Node.js 22 is the runtime the project builds for (esbuild target node22) and tests; AWS supports it in Lambda until 2027-04-30. Moving to Node.js 24 is a deliberate upgrade with its own cold-start measurement, not a nag fix.',
    },
  ];
}

/** The finding on a role whose functions read or write the users' images by key. */
export function imageObjectsAcknowledgement(fn: ServiceFunction, bucket: IBucket, what: string): NagAcknowledgement {
  const bucketId = Stack.of(bucket).getLogicalId(bucket.node.defaultChild as CfnElement);
  return {
    construct: fn.role!.node.findChild('DefaultPolicy'),
    id: `AwsSolutions::AwsSolutions-IAM5[Resource::<${bucketId}.Arn>/*]`,
    reason: `${what} on objects of the images bucket only. Object keys are <account>/<mode>/<session>/..., made per session by the service: no narrower prefix holds every session's images.`,
  };
}

/** Applies acknowledgements (no effect without the cdk-nag plugin; with it, they silence exactly these findings). */
export function acknowledge(acknowledgements: readonly NagAcknowledgement[]): void {
  for (const { construct, id, reason } of acknowledgements) Validations.of(construct).acknowledge({ id, reason });
}
