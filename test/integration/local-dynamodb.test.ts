import { spawn } from 'node:child_process';
import { connect, createServer } from 'node:net';
import { networkInterfaces } from 'node:os';
import { join } from 'node:path';
import { describe, expect, inject, it, vi } from 'vitest';
import { startDynamoDbLocal } from '../../local/dynamodb.js';

/**
 * `npm start` and the tests run DynamoDB Local, which accepts any signature:
 * whoever reaches it can read and write the table (sessions, verified
 * outputs, webhook secrets). It must be reachable from this machine only,
 * and its JVM, in a process group of its own (out of reach of a terminal's
 * Ctrl-C, so the service stops in order), must still end with the process
 * that started it.
 */
const endpoint = () => new URL(inject('dynamoEndpoint'));

/** Whether a TCP connection to host:port is accepted. */
const accepts = (host: string, port: number) =>
  new Promise<boolean>((resolve) => {
    const socket = connect({ host, port });
    socket.setTimeout(3000, () => (socket.destroy(), resolve(false)));
    socket.once('connect', () => (socket.end(), resolve(true)));
    socket.once('error', () => resolve(false));
  });

const otherAddresses = Object.values(networkInterfaces())
  .flat()
  .filter((a) => a !== undefined && !a.internal && a.family === 'IPv4')
  .map((a) => a!.address);

describe('DynamoDB Local under npm start and the tests', () => {
  it('answers on 127.0.0.1', async () => {
    expect(endpoint().hostname).toBe('127.0.0.1');
    expect(await accepts('127.0.0.1', Number(endpoint().port))).toBe(true);
  });

  it.skipIf(otherAddresses.length === 0)("refuses connections to this machine's other addresses", async () => {
    for (const address of otherAddresses) expect(await accepts(address, Number(endpoint().port)), address).toBe(false);
  });

  it('ends with the process that started it, even one killed with SIGKILL', async () => {
    const root = join(import.meta.dirname, '..', '..');
    const starter = spawn(
      process.execPath,
      ['--import', 'tsx', '-e', "const m = await import('./local/dynamodb.ts'); const d = await m.startDynamoDbLocal(); console.log('port', d.port); setInterval(() => {}, 1000);"],
      { cwd: root, env: { ...process.env, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' }, stdio: ['ignore', 'pipe', 'inherit'] },
    );
    const port = await new Promise<number>((resolve, reject) => {
      let out = '';
      starter.stdout!.on('data', (d: Buffer) => {
        out += d.toString();
        const m = /port (\d+)/.exec(out);
        if (m) resolve(Number(m[1]));
      });
      starter.once('exit', (code) => reject(new Error(`the starter exited (${code}) before DynamoDB Local answered`)));
    });
    expect(await accepts('127.0.0.1', port)).toBe(true);
    starter.kill('SIGKILL');
    for (let i = 0; i < 100 && (await accepts('127.0.0.1', port)); i++) await new Promise((r) => setTimeout(r, 100));
    expect(await accepts('127.0.0.1', port)).toBe(false);
  }, 90_000);

  it('a start that fails (its port taken) is an error, never a start on every interface instead', async () => {
    const holder = createServer();
    await new Promise<void>((resolve) => holder.listen(0, '127.0.0.1', resolve));
    const port = (holder.address() as { port: number }).port;
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => {});
    try {
      await expect(startDynamoDbLocal({ port })).rejects.toThrow(/DynamoDB Local exited during start-up/);
      expect(warn).not.toHaveBeenCalled();
      for (const address of otherAddresses) expect(await accepts(address, port), address).toBe(false);
    } finally {
      warn.mockRestore();
      holder.close();
    }
  }, 90_000);
});
