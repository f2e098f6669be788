import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { App, type CfnElement } from 'aws-cdk-lib';
import type { Function as LambdaFunction } from 'aws-cdk-lib/aws-lambda';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newAccountId } from '../../lambdas/domain/ids.js';
import { ApiKeyStore, newSecretKey } from '../../lambdas/store/api-keys.js';
import { VerificationSessionsStack } from '../../lib/stack.js';
import { freshTable } from '../support/dynamo.js';

// What `cdk deploy` uploads must run: bundle the functions exactly as the
// stack does, load each bundle in a plain Node process (no tsx, no
// node_modules beside it); the API bundle is called with an API Gateway event
// against DynamoDB Local.
let outdir: string;
let bundle: string;
let publisherBundle: string;
let checksBundle: string;
let webhookBundles: { fanOut: string; delivery: string };
let redactionBundle: string;
let sweepBundle: string;

beforeAll(() => {
  outdir = mkdtempSync(join(tmpdir(), 'vs-synth-'));
  const cdkContext = JSON.parse(readFileSync(new URL('../../cdk.json', import.meta.url), 'utf8')).context;
  // Asset metadata (as the CLI enables it) names each function's bundle directory.
  const app = new App({ outdir, context: { ...cdkContext, 'aws:cdk:enable-asset-metadata': true } });
  const stack = new VerificationSessionsStack(app, 'BundleTest');
  const assembly = app.synth();
  const resources = assembly.getStackByName(stack.stackName).template.Resources;
  const bundleOf = (fn: LambdaFunction) => {
    const resource = resources[stack.getLogicalId(fn.node.defaultChild as CfnElement)];
    const assetPath = resource?.Metadata?.['aws:asset:path'];
    expect(assetPath, `asset of ${fn.node.path}`).toBeTypeOf('string');
    const file = join(outdir, assetPath, 'index.mjs');
    expect(existsSync(file), file).toBe(true);
    return file;
  };
  bundle = bundleOf(stack.api.handler);
  publisherBundle = bundleOf(stack.events.publisher);
  expect(publisherBundle).not.toBe(bundle);
  checksBundle = bundleOf(stack.checks.worker);
  expect(new Set([bundle, publisherBundle, checksBundle]).size).toBe(3);
  webhookBundles = { fanOut: bundleOf(stack.webhooks.fanOut), delivery: bundleOf(stack.webhooks.delivery) };
  expect(new Set([bundle, publisherBundle, checksBundle, ...Object.values(webhookBundles)]).size).toBe(5);
  redactionBundle = bundleOf(stack.redaction.worker);
  sweepBundle = bundleOf(stack.sweep.function);
}, 180_000);

afterAll(() => rmSync(outdir, { recursive: true, force: true }));

describe('the bundled API function', () => {
  it('is self-contained ESM that serves a create and a retrieve', async () => {
    const { endpoint, tableName, doc } = await freshTable('bundle');
    const key = newSecretKey(false);
    await new ApiKeyStore(doc, tableName).register(key, newAccountId());
    const script = join(outdir, 'invoke.mjs');
    writeFileSync(
      script,
      `
      const { handler } = await import(${JSON.stringify(bundle)});
      const event = (method, path, body) => ({
        version: '2.0', routeKey: '$default', rawPath: path, rawQueryString: '',
        headers: { authorization: 'Bearer ${key}', 'content-type': 'application/x-www-form-urlencoded' },
        requestContext: { domainName: 'abc.execute-api.eu-west-1.amazonaws.com', http: { method, path } },
        body, isBase64Encoded: false,
      });
      const created = await handler(event('POST', '/v1/identity/verification_sessions', 'type=document&metadata[a]=b'), {});
      const id = JSON.parse(created.body).id;
      const got = await handler(event('GET', '/v1/identity/verification_sessions/' + id), {});
      const chart = await handler(event('GET', '/console/assets/uplot.js'), {});
      const signIn = await handler(event('GET', '/console/sign-in'), {});
      console.log(JSON.stringify({ created, got, chart, signIn }));
      `,
    );
    const run = spawnSync(process.execPath, ['--enable-source-maps', script], {
      cwd: outdir,
      encoding: 'utf8',
      env: {
        PATH: process.env.PATH,
        TABLE_NAME: tableName,
        // Only named: neither a create nor a retrieve touches the bucket.
        FILES_BUCKET: 'files',
        AWS_REGION: 'eu-west-1',
        AWS_ACCESS_KEY_ID: 'local',
        AWS_SECRET_ACCESS_KEY: 'local',
        AWS_ENDPOINT_URL_DYNAMODB: endpoint,
        AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
        API_ACCESS_LOG: 'off',
      },
    });
    expect(run.stderr).toBe('');
    const { created, got, chart, signIn } = JSON.parse(run.stdout.trim().split('\n').pop()!);
    // The console's chart library travels with the bundle (lib/api.ts copies it beside index.mjs).
    expect(chart.statusCode).toBe(200);
    expect(chart.body).toContain('uPlot');
    expect(signIn.statusCode).toBe(200);
    expect(signIn.headers['content-security-policy']).toMatch(/script-src 'nonce-/);
    expect(created.statusCode).toBe(200);
    const body = JSON.parse(created.body);
    expect(body).toMatchObject({ object: 'identity.verification_session', status: 'requires_input', metadata: { a: 'b' } });
    expect(body.url).toMatch(/^https:\/\/abc\.execute-api\.eu-west-1\.amazonaws\.com\/verify\//);
    expect(got.statusCode).toBe(200);
    expect(JSON.parse(got.body).id).toBe(body.id);
    // A cold Node loading the whole bundle, under a shared machine's load.
  }, 90_000);
});

/**
 * Imports a bundle in a plain Node process with only `env` (plus PATH and a
 * region) set, evaluates `expression` with its `handler`, and returns what it printed.
 */
function runBundle(name: string, file: string, env: Record<string, string>, expression: string): unknown {
  const script = join(outdir, `load-${name}.mjs`);
  writeFileSync(script, `const { handler } = await import(${JSON.stringify(file)}); console.log(JSON.stringify(${expression}));`);
  const run = spawnSync(process.execPath, ['--enable-source-maps', script], {
    cwd: outdir,
    encoding: 'utf8',
    env: { PATH: process.env.PATH, AWS_REGION: 'eu-west-1', AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true', ...env },
  });
  expect(run.stderr).toBe('');
  return JSON.parse(run.stdout.trim());
}

describe('the bundled stream publisher', () => {
  it('is self-contained ESM that loads in plain Node and exports the handler', () => {
    expect(runBundle('publisher', publisherBundle, { TABLE_NAME: 'sessions', EVENT_BUS_NAME: 'sessions-events' }, 'typeof handler')).toBe('function');
  });
});

describe('the bundled checks worker', () => {
  it('is self-contained ESM that loads in plain Node and exports the handler', () => {
    const env = {
      TABLE_NAME: 'sessions',
      FILES_BUCKET: 'files',
      CHECKS_QUEUE_URL: 'https://sqs.eu-west-1.amazonaws.com/123456789012/checks',
    };
    expect(runBundle('checks', checksBundle, env, 'typeof handler')).toBe('function');
  });
});

describe('the bundled webhook functions', () => {
  it.each(['fanOut', 'delivery'] as const)('%s is self-contained ESM that loads in plain Node and handles an empty batch', (name) => {
    const env = {
      TABLE_NAME: 'sessions',
      WEBHOOK_DELIVERY_QUEUE_URL: 'https://sqs.eu-west-1.amazonaws.com/123456789012/webhook-delivery',
      WEBHOOK_DELIVERY_DLQ_URL: 'https://sqs.eu-west-1.amazonaws.com/123456789012/webhook-delivery-dlq',
      EVENT_BUS_NAME: 'sessions-events',
    };
    expect(runBundle(name, webhookBundles[name], env, 'await handler({ Records: [] })')).toEqual({ batchItemFailures: [] });
  });
});

describe('the bundled redaction worker and sweeper', () => {
  it('the redaction worker loads in plain Node and handles an empty batch', () => {
    const env = { TABLE_NAME: 'sessions', FILES_BUCKET: 'files', REDACTION_QUEUE_URL: 'https://sqs.eu-west-1.amazonaws.com/123456789012/redaction' };
    expect(runBundle('redaction', redactionBundle, env, 'await handler({ Records: [] })')).toEqual({ batchItemFailures: [] });
  });

  it('the sweeper loads in plain Node and refuses a nonsense setting at start', () => {
    expect(runBundle('sweep', sweepBundle, { TABLE_NAME: 'sessions', RETENTION_DAYS: '30' }, 'typeof handler')).toBe('function');
    const script = join(outdir, 'load-sweep-bad.mjs');
    writeFileSync(script, `await import(${JSON.stringify(sweepBundle)});`);
    const run = spawnSync(process.execPath, [script], { cwd: outdir, encoding: 'utf8', env: { PATH: process.env.PATH, AWS_REGION: 'eu-west-1', TABLE_NAME: 'sessions', RETENTION_DAYS: 'forever' } });
    expect(run.status).not.toBe(0);
    expect(run.stderr).toContain('RETENTION_DAYS must be a positive number of days');
  });
});
