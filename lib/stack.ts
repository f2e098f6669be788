import { CfnOutput, Stack, type StackProps } from 'aws-cdk-lib';
import { Certificate } from 'aws-cdk-lib/aws-certificatemanager';
import { Topic } from 'aws-cdk-lib/aws-sns';
import type { Construct } from 'constructs';
import { pascalCase } from './events.js';
import { FILE_RETENTION_DAYS } from './files.js';
import { VerificationService, type VerificationServiceProps } from './service.js';

export interface VerificationSessionsStackProps extends StackProps, VerificationServiceProps {
  /** An existing SNS topic for the alarms, by ARN (`-c alarmTopicArn=...`). */
  readonly alarmTopicArn?: string;
  /** A custom domain for the API and hosted page; needs `certificateArn` (an ACM certificate in the stack's region). */
  readonly domainName?: string;
  readonly certificateArn?: string;
}

/**
 * The service in a stack of its own (bin/app.ts): one VerificationService and
 * the outputs an operator needs after `cdk deploy`.
 */
export class VerificationSessionsStack extends Stack {
  readonly service: VerificationService;

  constructor(scope: Construct, id: string, props: VerificationSessionsStackProps = {}) {
    super(scope, id, props);

    // `Default`: the resources keep the logical ids they had before the construct existed.
    if ((props.domainName === undefined) !== (props.certificateArn === undefined)) {
      throw new Error('domainName and certificateArn go together');
    }
    this.service = new VerificationService(this, 'Default', {
      ...props,
      alarmTopic: props.alarmTopic ?? (props.alarmTopicArn ? Topic.fromTopicArn(this, 'AlarmTopicImport', props.alarmTopicArn) : undefined),
      domain:
        props.domain ??
        (props.domainName && props.certificateArn
          ? { domainName: props.domainName, certificate: Certificate.fromCertificateArn(this, 'Certificate', props.certificateArn) }
          : undefined),
    });
    const service = this.service;

    new CfnOutput(this, 'ApiUrl', {
      description: 'Base URL of the API; its host name is the `host` option of the stripe client',
      value: service.apiUrl,
    });
    if (service.api.domainName) {
      new CfnOutput(this, 'CustomDomainTarget', {
        description: 'Point a CNAME (or Route 53 alias) for the custom domain at this host name',
        value: service.api.domainName.regionalDomainName,
      });
    }
    new CfnOutput(this, 'TableName', {
      description: 'DynamoDB table holding sessions, events and idempotency records',
      value: service.table.tableName,
    });
    new CfnOutput(this, 'EventBusName', {
      description: 'EventBridge bus the session events are published to; add your own rules on it',
      value: service.bus.eventBusName,
    });
    new CfnOutput(this, 'EventBusArn', {
      description: 'ARN of the session events bus',
      value: service.bus.eventBusArn,
    });
    new CfnOutput(this, 'AlarmTopicArn', {
      description: 'SNS topic every alarm of the service is sent to; subscribe your pager to it',
      value: service.alarmTopic.topicArn,
    });
    new CfnOutput(this, 'DashboardName', {
      description: 'CloudWatch dashboard with the business and technical metrics',
      value: service.monitoring.dashboard.dashboardName,
    });
    for (const { route, queue } of Object.values(service.events.routes)) {
      new CfnOutput(this, `${pascalCase(route.name)}QueueUrl`, {
        description: `SQS queue of the ${route.name} route (${route.description})`,
        value: queue.queueUrl,
      });
    }
    new CfnOutput(this, 'FilesBucketName', {
      description: `S3 bucket holding the users' uploaded images (expired after ${FILE_RETENTION_DAYS} days, deleted on redaction)`,
      value: service.files.bucket.bucketName,
    });
  }

  // The parts, as before the construct existed (tests and scripts read them here).
  get store() { return this.service.store; }
  get files() { return this.service.files; }
  get api() { return this.service.api; }
  get events() { return this.service.events; }
  get checks() { return this.service.checks; }
  get webhooks() { return this.service.webhooks; }
  get redaction() { return this.service.redaction; }
  get sweep() { return this.service.sweep; }
}
