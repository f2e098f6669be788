/**
 * `npm run backfill-sweep -- --table <TableName output>`
 * Re-keys the sessions stored before the sweep index existed, or keyed the old
 * way (`SW#<status>#<shard>`), as the sweeps find them now (`SW#<shard>` and a
 * watch-from time; see lambdas/sweep/backfill.ts), so that retention,
 * abandonment and the stuck sweeps see them. Run once after upgrading a
 * deployment; a second run finds nothing to do. Uses the AWS credentials and
 * region of the environment (AWS_PROFILE, AWS_REGION); `--endpoint` points it
 * at another DynamoDB (DynamoDB Local under `npm start` with DATA_DIR).
 */
import { parseArgs } from 'node:util';
import { documentClient } from '../lambdas/store/dynamo.js';
import { backfillSweepIndex } from '../lambdas/sweep/backfill.js';
import { localClientConfig } from '../local/dynamodb.js';

const { values } = parseArgs({ options: { table: { type: 'string' }, endpoint: { type: 'string' } } });
if (!values.table) {
  console.error('Usage: npm run backfill-sweep -- --table <TableName from the stack outputs> [--endpoint http://127.0.0.1:PORT]');
  process.exit(2);
}
const doc = documentClient(values.endpoint ? localClientConfig(values.endpoint) : {});
const { scanned, updated } = await backfillSweepIndex(doc, values.table);
console.log(`scanned ${scanned} items; ${updated} sessions re-keyed in the sweep index`);
doc.destroy();
