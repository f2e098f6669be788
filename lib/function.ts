import { fileURLToPath } from 'node:url';
import type { Duration } from 'aws-cdk-lib';
import { Architecture, Runtime, Tracing } from 'aws-cdk-lib/aws-lambda';
import { NodejsFunction, OutputFormat } from 'aws-cdk-lib/aws-lambda-nodejs';
import { LogGroup, RetentionDays } from 'aws-cdk-lib/aws-logs';
import type { Construct } from 'constructs';
import { METRICS_NAMESPACE, METRICS_SERVICE } from '../lambdas/observability/metric-names.js';

/** Absolute path of a file or directory given relative to the repository root. */
export const repoPath = (relative: string) => fileURLToPath(new URL(`../${relative}`, import.meta.url));

/** Powertools log levels (POWERTOOLS_LOG_LEVEL). */
export type LogLevel = 'DEBUG' | 'INFO' | 'WARN' | 'ERROR' | 'SILENT';

/** The log level every function of the service gets unless the service says otherwise. */
export const DEFAULT_LOG_LEVEL: LogLevel = 'INFO';

export interface ServiceFunctionProps {
  /** The handler module, relative to the repository root (`lambdas/api/handler.ts`). Its export must be `handler`. */
  readonly entry: string;
  /** Variables the handler reads; the Powertools service name, metrics namespace and log level are added. */
  readonly environment: Record<string, string>;
  readonly timeout: Duration;
  readonly memorySize: number;
  /** What the function does, as shown in the Lambda console. */
  readonly description?: string;
  /**
   * Powertools Logger level.
   * @default INFO
   */
  readonly logLevel?: LogLevel;
  /**
   * Concurrent executions set aside for (and capped at) this function.
   * @default undefined (shares the account's unreserved pool)
   */
  readonly reservedConcurrentExecutions?: number;
  /** Files (relative to the repository root) copied beside the bundle, e.g. a browser script a page serves. */
  readonly assets?: string[];
}

/**
 * A Lambda function of the service, defined once for all of them: one ESM
 * bundle made by the local esbuild (no Docker), Node 22 on arm64, the AWS SDK
 * bundled at the version in package-lock.json, minified, X-Ray active tracing
 * on (the service adds TRACE_SDK_CALLS for SDK subsegments when asked),
 * Powertools configured by environment, and a log group kept for a month.
 *
 * No `NODE_OPTIONS=--enable-source-maps`: with it, Node parses the bundle's
 * 2.9 MB source map when the module loads: the API bundle's module init in
 * plain Node went from a median of 367 to 510 ms with the flag (21 runs each,
 * on a loaded 2-core machine; README, "Source maps"). The map is still built, so a
 * minified stack trace can be mapped back offline from cdk.out.
 *
 * The log group is created next to the function, as `<id>Logs` in the same
 * scope, so the API function's resources keep the logical ids they had before
 * this construct existed.
 */
export class ServiceFunction extends NodejsFunction {
  constructor(scope: Construct, id: string, props: ServiceFunctionProps) {
    super(scope, id, {
      entry: repoPath(props.entry),
      handler: 'handler',
      description: props.description,
      projectRoot: repoPath(''),
      depsLockFilePath: repoPath('package-lock.json'),
      runtime: Runtime.NODEJS_22_X,
      architecture: Architecture.ARM_64,
      memorySize: props.memorySize,
      timeout: props.timeout,
      tracing: Tracing.ACTIVE,
      reservedConcurrentExecutions: props.reservedConcurrentExecutions,
      // `this.logGroup` returns it.
      logGroup: new LogGroup(scope, `${id}Logs`, { retention: RetentionDays.ONE_MONTH }),
      environment: {
        ...props.environment,
        // The names the dashboard and alarms read (lambdas/observability/metric-names.ts).
        POWERTOOLS_SERVICE_NAME: METRICS_SERVICE,
        POWERTOOLS_METRICS_NAMESPACE: METRICS_NAMESPACE,
        POWERTOOLS_LOG_LEVEL: props.logLevel ?? DEFAULT_LOG_LEVEL,
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
        commandHooks: props.assets?.length
          ? {
              beforeBundling: () => [],
              beforeInstall: () => [],
              afterBundling: (inputDir: string, outputDir: string) => props.assets!.map((a) => `cp "${inputDir}/${a}" "${outputDir}/"`),
            }
          : undefined,
      },
    });
  }
}
