import { App } from 'aws-cdk-lib';
import { VerificationSessionsStack } from '../lib/stack.js';

const app = new App();

// `cdk deploy -c deletionProtection=false` for a throwaway stack; on by default.
const deletionProtection = String(app.node.tryGetContext('deletionProtection') ?? true) !== 'false';

// `cdk deploy -c retentionDays=90 -c abandonAfterDays=7`: redact sessions verified or
// canceled for 90 days, cancel sessions awaiting input untouched for 7 days. Off by default.
const days = (name: string) => {
  const value = app.node.tryGetContext(name);
  return value === undefined || value === '' ? undefined : Number(value);
};

// No `env`: the stack is environment-agnostic and deploys to whatever account
// and region the CLI's credentials point at.
new VerificationSessionsStack(app, 'VerificationSessions', {
  description: 'Self-hosted Stripe Identity compatible verification sessions',
  deletionProtection,
  retentionDays: days('retentionDays'),
  abandonAfterDays: days('abandonAfterDays'),
});
