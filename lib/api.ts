import { Duration, Stack } from 'aws-cdk-lib';
import { AccessLogFormat } from 'aws-cdk-lib/aws-apigateway';
import type { ICertificate } from 'aws-cdk-lib/aws-certificatemanager';
import { DomainName, HttpApi, HttpStage, LogGroupLogDestination } from 'aws-cdk-lib/aws-apigatewayv2';
import { HttpLambdaIntegration } from 'aws-cdk-lib/aws-apigatewayv2-integrations';
import type { ITableV2 } from 'aws-cdk-lib/aws-dynamodb';
import { PolicyStatement } from 'aws-cdk-lib/aws-iam';
import { LogGroup, RetentionDays } from 'aws-cdk-lib/aws-logs';
import type { IBucket } from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import { ServiceFunction } from './function.js';
import { grantOnTable } from './store.js';
import { FUNCTION_MEMORY_MB } from './memory.js';

/**
 * The DynamoDB actions the API handler performs, and nothing else.
 * TransactWriteItems has no IAM action of its own: each item in a transaction
 * is authorized as PutItem, UpdateItem or ConditionCheckItem on the table.
 */
export const API_TABLE_ACTIONS = [
  'dynamodb:GetItem',
  'dynamodb:BatchGetItem',
  'dynamodb:PutItem',
  'dynamodb:UpdateItem',
  'dynamodb:Query',
  'dynamodb:ConditionCheckItem',
] as const;

/**
 * The S3 actions the API handler needs on the users' images, on object keys
 * (`bucket/*`). A presigned URL carries the permissions of the function that
 * signed it: PutObject to presign the page's uploads, GetObject to presign the
 * 60-second downloads of the Files API (`/v1/files/{id}/contents` and file
 * links redirect to them; the function itself never fetches an image). It
 * never lists or deletes an image: the redaction worker deletes them
 * (lib/redaction.ts).
 */
export const API_OBJECT_ACTIONS = ['s3:PutObject', 's3:GetObject'] as const;

/** A custom domain for the API and the hosted page. */
export interface CustomDomain {
  /** `verify.example.com`: the host the stripe client and the users' browsers use. */
  readonly domainName: string;
  /** An ACM certificate for that name, in the stack's region. */
  readonly certificate: ICertificate;
}

export interface ApiProps {
  /** The service table the handler reads and writes. */
  readonly table: ITableV2;
  /** The users' images (lib/files.ts): the page uploads to it, redaction deletes from it. */
  readonly bucket: IBucket;
  /**
   * Steady-state request rate (per second) across all routes of the stage.
   * @default 100
   */
  readonly throttleRateLimit?: number;
  /**
   * Burst of requests the stage admits above the steady rate.
   * @default 200
   */
  readonly throttleBurstLimit?: number;
  /**
   * Serve the API and the hosted page on this domain; session URLs use it
   * (`PAGE_BASE_URL`). Point a CNAME (or alias) at `domainName.regionalDomainName`.
   * @default undefined (the execute-api URL only)
   */
  readonly domain?: CustomDomain;
}

/**
 * The Stripe-compatible HTTP API: an API Gateway HTTP API whose `$default`
 * route sends every request to one Lambda function. Routing by method and
 * path happens inside the handler, so `/v1/...` is served at the root of the
 * API's URL exactly as on api.stripe.com.
 */
export class Api extends Construct {
  readonly httpApi: HttpApi;
  readonly stage: HttpStage;
  readonly handler: ServiceFunction;
  /** `https://<api-id>.execute-api.<region>.amazonaws.com/` or `https://<custom domain>/`: the stripe client's host. */
  readonly url: string;
  /** The origin the hosted page is served from (no trailing slash): the custom domain's if set. */
  readonly pageOrigin: string;
  /** The custom domain, if one was given. */
  readonly domainName?: DomainName;

  constructor(scope: Construct, id: string, props: ApiProps) {
    super(scope, id);

    this.handler = new ServiceFunction(this, 'Handler', {
      entry: 'lambdas/api/handler.ts',
      description: 'Stripe-compatible HTTP API: every route of /v1',
      memorySize: FUNCTION_MEMORY_MB.api,
      timeout: Duration.seconds(10),
      environment: {
        TABLE_NAME: props.table.tableName,
        FILES_BUCKET: props.bucket.bucketName,
        // Session URLs point at the custom domain, whichever host the API was called on.
        ...(props.domain ? { PAGE_BASE_URL: `https://${props.domain.domainName}` } : {}),
      },
      // The console's chart library, served by the console itself (lambdas/console/assets.ts).
      assets: ['node_modules/uplot/dist/uPlot.iife.min.js', 'node_modules/uplot/dist/uPlot.min.css'],
    });

    grantOnTable(props.table, this.handler, ...API_TABLE_ACTIONS);
    // Exact actions rather than bucket.grantPut/grantDelete, which add object
    // tagging, retention, legal hold, Abort* and every DeleteObject* variant.
    this.handler.addToRolePolicy(
      new PolicyStatement({ actions: [...API_OBJECT_ACTIONS], resources: [props.bucket.arnForObjects('*')] }),
    );

    this.httpApi = new HttpApi(this, 'HttpApi', {
      description: 'Stripe-compatible Identity VerificationSession API',
      defaultIntegration: new HttpLambdaIntegration('Handler', this.handler),
      // The stage is added below: the implicit default stage takes neither
      // throttling nor access logging.
      createDefaultStage: false,
    });

    if (props.domain) {
      this.domainName = new DomainName(this, 'DomainName', {
        domainName: props.domain.domainName,
        certificate: props.domain.certificate,
      });
    }

    const accessLogs = new LogGroup(this, 'AccessLogs', { retention: RetentionDays.ONE_MONTH });
    this.stage = this.httpApi.addStage('DefaultStage', {
      stageName: '$default',
      autoDeploy: true,
      ...(this.domainName ? { domainMapping: { domainName: this.domainName } } : {}),
      throttle: {
        rateLimit: props.throttleRateLimit ?? 100,
        burstLimit: props.throttleBurstLimit ?? 200,
      },
      accessLogSettings: {
        destination: new LogGroupLogDestination(accessLogs),
        // One JSON object per request. No path, query string, headers or
        // body: those can carry API keys, the hosted page's token (it is a
        // path segment) and personal data. With the one `$default` route the
        // route key is always `$default`: the function's own access log, whose
        // paths are masked (maskPath), says which route ran, under the same
        // request id.
        format: AccessLogFormat.custom(
          JSON.stringify({
            requestId: '$context.requestId',
            requestTime: '$context.requestTime',
            sourceIp: '$context.identity.sourceIp',
            method: '$context.httpMethod',
            routeKey: '$context.routeKey',
            status: '$context.status',
            protocol: '$context.protocol',
            responseLength: '$context.responseLength',
            responseLatency: '$context.responseLatency',
            integrationLatency: '$context.integrationLatency',
            integrationError: '$context.integrationErrorMessage',
          }),
        ),
      },
    });
    this.url = props.domain ? `https://${props.domain.domainName}/` : this.stage.url;
    this.pageOrigin = props.domain
      ? `https://${props.domain.domainName}`
      : `https://${this.httpApi.apiId}.execute-api.${Stack.of(this).region}.${Stack.of(this).urlSuffix}`;
  }
}
