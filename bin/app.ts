import { App } from 'aws-cdk-lib';
import { VerificationSessionsStack } from '../lib/stack.js';

const app = new App();

// `cdk deploy -c deletionProtection=false` for a throwaway stack; on by default.
const deletionProtection = String(app.node.tryGetContext('deletionProtection') ?? true) !== 'false';

// No `env`: the stack is environment-agnostic and deploys to whatever account
// and region the CLI's credentials point at.
new VerificationSessionsStack(app, 'VerificationSessions', {
  description: 'Self-hosted Stripe Identity compatible verification sessions',
  deletionProtection,
});
