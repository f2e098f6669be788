/**
 * `npm run create-key -- --table <TableName output> [--live] [--account acct_...]`
 * Creates a secret API key for a deployed stack. Only the key's SHA-256 digest
 * is stored; the key itself is printed once and cannot be recovered.
 * Uses the AWS credentials and region of the environment (AWS_PROFILE, AWS_REGION).
 */
import { parseArgs } from 'node:util';
import { newAccountId } from '../lambdas/domain/ids.js';
import { ApiKeyStore, newSecretKey } from '../lambdas/store/api-keys.js';
import { documentClient } from '../lambdas/store/dynamo.js';

const { values } = parseArgs({
  options: {
    table: { type: 'string' },
    live: { type: 'boolean', default: false },
    account: { type: 'string' },
  },
});
if (!values.table) {
  console.error('Usage: npm run create-key -- --table <TableName from the stack outputs> [--live] [--account acct_...]');
  process.exit(2);
}
// Url tokens and client secrets carry the account id, in this exact form.
if (values.account && !/^acct_[0-9A-Za-z]{16}$/.test(values.account)) {
  console.error('--account must be acct_ followed by 16 letters and digits (as a key created without --account prints).');
  process.exit(2);
}
const doc = documentClient();
const key = newSecretKey(values.live ?? false);
const account = values.account ?? newAccountId();
await new ApiKeyStore(doc, values.table).register(key, account);
console.log(`account: ${account}\nsecret key (shown once): ${key}`);
doc.destroy();
