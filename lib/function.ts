import { fileURLToPath } from 'node:url';
import type { Duration } from 'aws-cdk-lib';
import { Architecture, Runtime } from 'aws-cdk-lib/aws-lambda';
import { NodejsFunction, OutputFormat } from 'aws-cdk-lib/aws-lambda-nodejs';
import { LogGroup, RetentionDays } from 'aws-cdk-lib/aws-logs';
import type { Construct } from 'constructs';

/** Absolute path of a file or directory given relative to the repository root. */
export const repoPath = (relative: string) => fileURLToPath(new URL(`../${relative}`, import.meta.url));

export interface ServiceFunctionProps {
  /** The handler module, relative to the repository root (`lambdas/api/handler.ts`). Its export must be `handler`. */
  readonly entry: string;
  /** Variables the handler reads; `NODE_OPTIONS=--enable-source-maps` is added. */
  readonly environment: Record<string, string>;
  readonly timeout: Duration;
  readonly memorySize: number;
  /** What the function does, as shown in the Lambda console. */
  readonly description?: string;
  /** Files (relative to the repository root) copied beside the bundle, e.g. a browser script a page serves. */
  readonly assets?: string[];
}

/**
 * A Lambda function of the service, defined once for all of them: one ESM
 * bundle made by the local esbuild (no Docker), Node 22 on arm64, the AWS SDK
 * bundled at the version in package-lock.json, minified with a source map,
 * and a log group kept for a month.
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
      // `this.logGroup` returns it.
      logGroup: new LogGroup(scope, `${id}Logs`, { retention: RetentionDays.ONE_MONTH }),
      environment: {
        ...props.environment,
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
