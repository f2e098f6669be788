import { App, RemovalPolicy } from 'aws-cdk-lib';
import type { CheckProvider } from '../lib/checks.js';
import type { LogLevel } from '../lib/function.js';
import { VerificationSessionsStack } from '../lib/stack.js';

const app = new App();

/**
 * A deploy setting: `cdk deploy -c alarmEmail=ops@example.com`, or the same
 * name in SCREAMING_SNAKE_CASE in the environment (`ALARM_EMAIL=...`).
 * README, "Deploy", lists them all.
 */
const setting = (name: string): string | undefined => {
  const fromContext = app.node.tryGetContext(name);
  const value = fromContext ?? process.env[name.replace(/[A-Z]/g, (c) => `_${c}`).toUpperCase()];
  return value === undefined || value === '' ? undefined : String(value);
};
const days = (name: string) => {
  const value = setting(name);
  return value === undefined ? undefined : Number(value);
};
const oneOf = <T extends string>(name: string, allowed: readonly T[]): T | undefined => {
  const value = setting(name);
  if (value !== undefined && !allowed.includes(value as T)) throw new Error(`${name} must be one of ${allowed.join(', ')}, got ${value}`);
  return value as T | undefined;
};

// No `env`: the stack is environment-agnostic and deploys to whatever account
// and region the CLI's credentials point at.
new VerificationSessionsStack(app, 'VerificationSessions', {
  description: 'Self-hosted Stripe Identity compatible verification sessions',
  // `-c deletionProtection=false` for a throwaway stack; on by default.
  deletionProtection: setting('deletionProtection') !== 'false',
  // `-c retentionDays=90 -c abandonAfterDays=7`: redact sessions verified or
  // canceled for 90 days, cancel sessions awaiting input untouched for 7 days. Off by default.
  retentionDays: days('retentionDays'),
  abandonAfterDays: days('abandonAfterDays'),
  alarmEmail: setting('alarmEmail'),
  checkProvider: oneOf<CheckProvider>('checkProvider', ['aws', 'test']),
  logLevel: oneOf<LogLevel>('logLevel', ['DEBUG', 'INFO', 'WARN', 'ERROR', 'SILENT']),
  // `-c traceSdkCalls=true`: X-Ray subsegments for every AWS call (costs cold start and CPU per request).
  traceSdkCalls: oneOf('traceSdkCalls', ['true', 'false']) === 'true',
  // `-c removalPolicy=destroy` for a throwaway stack: the table and bucket go with it.
  removalPolicy: oneOf('removalPolicy', ['retain', 'destroy']) === 'destroy' ? RemovalPolicy.DESTROY : RemovalPolicy.RETAIN,
  // `-c workerConcurrency=false` while the account is at the new-account quota of 10.
  workerConcurrency: setting('workerConcurrency') === 'false' ? false : undefined,
  alarmTopicArn: setting('alarmTopicArn'),
  // `-c domainName=verify.example.com -c certificateArn=arn:aws:acm:...`: both or neither.
  domainName: setting('domainName'),
  certificateArn: setting('certificateArn'),
});
