/**
 * `npm run keys -- create|list|revoke`: the secret API keys of a deployment, or
 * of a running `npm start`.
 *
 *   create [--live] [--account acct_...]   a new key, printed once (only its SHA-256 digest is stored)
 *   list [--json]                           every key: id, hint (sk_test_...wxyz), mode, account, created, revoked
 *   revoke <key_id | sk_...>                refuses the key from now on; API instances that
 *                                           looked it up recently accept it until their cache
 *                                           entry ends (API_KEY_CACHE_SECONDS, default 300 s)
 * Where:
 *   --table <TableName output>   a deployed stack, with the AWS credentials and region
 *                                of the environment (AWS_PROFILE, AWS_REGION)
 *   --endpoint <url>             another DynamoDB (DynamoDB Local), with --table
 *   (neither)                    the running `npm start`, found through its state file
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { newAccountId } from '../lambdas/domain/ids.js';
import { ApiKeyStore, KEY_CACHE_SECONDS, type KeySummary, keyHint, keyId, newSecretKey } from '../lambdas/store/api-keys.js';
import { documentClient } from '../lambdas/store/dynamo.js';
import { localClientConfig } from '../local/dynamodb.js';
import { LOCAL_STATE_FILE } from '../local/state-file.js';

export const KEYS_USAGE = `Usage:
  npm run keys -- create [--live] [--account acct_...] [--table <TableName> [--endpoint <url>]]
  npm run keys -- list [--json] [--table <TableName> [--endpoint <url>]]
  npm run keys -- revoke <key_id | sk_...> [--table <TableName> [--endpoint <url>]]
Without --table: the running \`npm start\`.`;

export interface CommandResult {
  code: number;
  out: string[];
  err: string[];
}

function target(table: string | undefined, endpoint: string | undefined, stateFile: string): { table: string; endpoint?: string; local: boolean } | string {
  if (table) return { table, endpoint, local: endpoint !== undefined };
  if (endpoint) return '--endpoint needs --table.';
  try {
    const state = JSON.parse(readFileSync(stateFile, 'utf8')) as { dynamoEndpoint?: string; tableName?: string };
    if (state.dynamoEndpoint && state.tableName) return { table: state.tableName, endpoint: state.dynamoEndpoint, local: true };
  } catch {
    // no running npm start
  }
  return 'No --table given and no running `npm start` found (start it, or name a deployed stack\'s table with --table).';
}

const date = (seconds: number) => new Date(seconds * 1000).toISOString().replace(/\.\d+Z$/, 'Z');

function row(k: KeySummary): string {
  return [k.id, k.hint.padEnd(21), k.livemode ? 'live' : 'test', k.account, date(k.created), k.revoked ? `revoked ${date(k.revoked)}` : 'active'].join('  ');
}

/** Runs one command; what it prints is returned (the tests read it). */
export async function keysCommand(argv: string[], opts: { stateFile?: string } = {}): Promise<CommandResult> {
  const out: string[] = [];
  const err: string[] = [];
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        table: { type: 'string' },
        endpoint: { type: 'string' },
        live: { type: 'boolean', default: false },
        account: { type: 'string' },
        json: { type: 'boolean', default: false },
      },
    });
  } catch (e) {
    return { code: 2, out, err: [(e as Error).message, KEYS_USAGE] };
  }
  const { values, positionals } = parsed;
  const [command, ...rest] = positionals;
  if (!command || !['create', 'list', 'revoke'].includes(command) || (command === 'revoke' ? rest.length !== 1 : rest.length !== 0))
    return { code: 2, out, err: [KEYS_USAGE] };
  const where = target(values.table, values.endpoint, opts.stateFile ?? LOCAL_STATE_FILE);
  if (typeof where === 'string') return { code: 2, out, err: [where] };

  const doc = documentClient(where.endpoint ? localClientConfig(where.endpoint) : {});
  const keys = new ApiKeyStore(doc, where.table, { cacheSeconds: 0 });
  try {
    if (command === 'create') {
      // Url tokens and client secrets carry the account id, in this exact form.
      if (values.account && !/^acct_[0-9A-Za-z]{16}$/.test(values.account))
        return { code: 2, out, err: ['--account must be acct_ followed by 16 letters and digits (as `list` shows them).'] };
      if (values.live && where.local && !values.table) return { code: 2, out, err: ['`npm start` runs test mode only: create a test key (without --live).'] };
      const key = newSecretKey(values.live ?? false);
      const account = values.account ?? newAccountId();
      await keys.register(key, account);
      out.push(`id: ${keyId(key)} (${keyHint(key)})`, `account: ${account}`, `secret key (shown once, not stored): ${key}`);
    } else if (command === 'list') {
      const all = await keys.list();
      if (values.json) out.push(JSON.stringify(all, null, 2));
      else if (all.length === 0) out.push('No keys.');
      else out.push(...all.map(row));
    } else {
      const revoked = await keys.revoke(rest[0]);
      if (!revoked) return { code: 1, out, err: [`No key ${rest[0].startsWith('sk_') ? keyHint(rest[0]) : rest[0]} in ${where.table}.`] };
      out.push(
        `revoked: ${row(revoked)}`,
        `API instances that used it in the last ${KEY_CACHE_SECONDS} seconds (API_KEY_CACHE_SECONDS, if the stack sets it) accept it until their cached entry ends.`,
      );
    }
    return { code: 0, out, err };
  } finally {
    doc.destroy();
  }
}
