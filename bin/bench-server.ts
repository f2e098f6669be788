/**
 * One of the bench's HTTP servers, in a process of its own (spawned by
 * startBenchServer in bin/bench-http.ts), as Lambda runs the API in a process
 * of its own:
 *
 *   api   the API Lambda handler module as deployed (lambdas/api/handler.ts),
 *         behind the local API Gateway adapter (local/http-adapter.ts); no
 *         background workers in the process (in AWS they are other functions)
 *   bare  a bare node:http server making the same DynamoDB call per request
 *         (the create's PutItem of the same item, sweep-index keys included, or
 *         the retrieve's GetItem: createSessionInput, getSessionInput) and answering its
 *         JSON: what any HTTP server in front of DynamoDB costs on this machine
 *
 * The parent passes the table, DynamoDB endpoint and account in the
 * environment (TABLE_NAME, AWS_ENDPOINT_URL_DYNAMODB, BENCH_ACCOUNT). Over
 * IPC this process sends `{ port }` once listening, and answers `'cpu'` with
 * its CPU microseconds so far (user + system), so the parent can take the
 * server's own CPU per call apart from the client's.
 */
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { GetCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import { documentClient } from '../lambdas/store/dynamo.js';
import { createSessionInput, getSessionInput } from '../lambdas/store/session-store.js';
import { sessionRecords } from './bench-http.js';

const kind = process.argv[2];
const table = process.env.TABLE_NAME!;
const scope = { account: process.env.BENCH_ACCOUNT!, livemode: false };

const readBody = (req: IncomingMessage) =>
  new Promise<string>((resolve) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString('utf8')));
    req.on('end', () => resolve(body));
  });

function bareServer(): Server {
  const doc = documentClient();
  const freshRecord = sessionRecords(scope);
  return createServer(async (req, res) => {
    let item: unknown;
    if (req.method === 'POST') {
      await readBody(req);
      const rec = freshRecord();
      await doc.send(new PutCommand(createSessionInput(table, rec)));
      item = rec;
    } else {
      const id = req.url!.slice(req.url!.lastIndexOf('/') + 1);
      item = (await doc.send(new GetCommand(getSessionInput(table, scope, id)))).Item;
    }
    const body = JSON.stringify(item);
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) }).end(body);
  });
}

async function apiServer(): Promise<Server> {
  const [{ handler }, { createLocalHttpServer }] = await Promise.all([import('../lambdas/api/handler.js'), import('../local/http-adapter.js')]);
  return createLocalHttpServer(handler);
}

if (kind !== 'api' && kind !== 'bare') throw new Error(`usage: bench-server.ts api|bare (got ${kind})`);
const server = kind === 'api' ? await apiServer() : bareServer();
server.keepAliveTimeout = 65_000; // as the local service's server: clients keep their connections
server.listen(0, '127.0.0.1', () => process.send!({ port: (server.address() as AddressInfo).port }));
process.on('message', (m) => {
  if (m === 'cpu') {
    const u = process.cpuUsage();
    process.send!({ cpu: u.user + u.system });
  }
});
process.on('disconnect', () => process.exit(0));
