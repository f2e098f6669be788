import { fileURLToPath } from 'node:url';
import { Duration } from 'aws-cdk-lib';
import { AccessLogFormat } from 'aws-cdk-lib/aws-apigateway';
import { HttpApi, HttpStage, LogGroupLogDestination } from 'aws-cdk-lib/aws-apigatewayv2';
import { HttpLambdaIntegration } from 'aws-cdk-lib/aws-apigatewayv2-integrations';
import type { ITableV2 } from 'aws-cdk-lib/aws-dynamodb';
import { Architecture, Runtime } from 'aws-cdk-lib/aws-lambda';
import { NodejsFunction, OutputFormat } from 'aws-cdk-lib/aws-lambda-nodejs';
import { LogGroup, RetentionDays } from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';

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

const repoPath = (relative: string) => fileURLToPath(new URL(`../${relative}`, import.meta.url));

export interface ApiProps {
  /** The service table the handler reads and writes. */
  readonly table: ITableV2;
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
  readonly handler: NodejsFunction;
  /** `https://<api-id>.execute-api.<region>.amazonaws.com/`: the stripe client's host. */
  readonly url: string;

  constructor(scope: Construct, id: string, props: ApiProps) {
    super(scope, id);

    this.handler = new NodejsFunction(this, 'Handler', {
      entry: repoPath('lambdas/api/handler.ts'),
      handler: 'handler',
      projectRoot: repoPath(''),
      depsLockFilePath: repoPath('package-lock.json'),
      runtime: Runtime.NODEJS_22_X,
      architecture: Architecture.ARM_64,
      memorySize: 1024,
      timeout: Duration.seconds(10),
      logGroup: new LogGroup(this, 'HandlerLogs', { retention: RetentionDays.ONE_MONTH }),
      environment: {
        TABLE_NAME: props.table.tableName,
        NODE_OPTIONS: '--enable-source-maps',
      },
      bundling: {
        // Local esbuild (a devDependency): synth never needs Docker.
        forceDockerBundling: false,
        format: OutputFormat.ESM,
        target: 'node22',
        // Prefer the ESM build of dependencies that ship both.
        mainFields: ['module', 'main'],
        // CommonJS dependencies inside an ESM bundle still call require().
        // The alias keeps the banner from clashing with a bundled module that
        // imports createRequire itself.
        banner:
          "import { createRequire as bannerCreateRequire } from 'module'; const require = bannerCreateRequire(import.meta.url);",
        // Bundle the AWS SDK as well: the version is the one in package-lock.json,
        // not whatever the runtime ships, and tree-shaking cuts cold start.
        externalModules: [],
        minify: true,
        sourceMap: true,
      },
    });

    props.table.grant(this.handler, ...API_TABLE_ACTIONS);

    this.httpApi = new HttpApi(this, 'HttpApi', {
      description: 'Stripe-compatible Identity VerificationSession API',
      defaultIntegration: new HttpLambdaIntegration('Handler', this.handler),
      // The stage is added below: the implicit default stage takes neither
      // throttling nor access logging.
      createDefaultStage: false,
    });

    const accessLogs = new LogGroup(this, 'AccessLogs', { retention: RetentionDays.ONE_MONTH });
    this.stage = this.httpApi.addStage('DefaultStage', {
      stageName: '$default',
      autoDeploy: true,
      throttle: {
        rateLimit: props.throttleRateLimit ?? 100,
        burstLimit: props.throttleBurstLimit ?? 200,
      },
      accessLogSettings: {
        destination: new LogGroupLogDestination(accessLogs),
        // One JSON object per request. No query string, headers or body:
        // those can carry API keys and personal data.
        format: AccessLogFormat.custom(
          JSON.stringify({
            requestId: '$context.requestId',
            requestTime: '$context.requestTime',
            sourceIp: '$context.identity.sourceIp',
            method: '$context.httpMethod',
            path: '$context.path',
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
    this.url = this.stage.url;
  }
}
