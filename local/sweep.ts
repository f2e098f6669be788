import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { type SweepSettings, sweep } from '../lambdas/sweep/sweeper.js';
import { SessionStore } from '../lambdas/store/session-store.js';
import type { RedactionQueue } from '../lambdas/redaction/queue.js';

/** How often `npm start` sweeps, unless told otherwise (the stack's schedule is lib/sweep.ts). */
export const LOCAL_SWEEP_INTERVAL_MS = 60_000;

export interface LocalSweepOptions extends SweepSettings {
  /** Time between runs (default LOCAL_SWEEP_INTERVAL_MS). */
  intervalMs?: number;
}

/** The scheduled sweeps under npm start: a timer in place of the stack's scheduled rule. */
export function startLocalSweep(opts: LocalSweepOptions & { doc: DynamoDBDocumentClient; tableName: string; redactions: RedactionQueue; log?: (line: string) => void }) {
  const deps = { doc: opts.doc, table: opts.tableName, sessions: new SessionStore(opts.doc, opts.tableName), redactions: opts.redactions, log: opts.log ?? (() => {}) };
  let running: Promise<unknown> | undefined;
  const timer = setInterval(() => {
    // One run at a time: a tick while a run is still going is skipped, not queued (a slow
    // machine would otherwise pile runs up, and stopping would wait for all of them).
    if (running) return;
    running = sweep(deps, opts)
      .catch((err) => opts.log?.(JSON.stringify({ level: 'error', message: 'sweep failed', error: String(err) })))
      .finally(() => (running = undefined));
  }, opts.intervalMs ?? LOCAL_SWEEP_INTERVAL_MS);
  return {
    stop: async () => {
      clearInterval(timer);
      await running;
    },
  };
}
