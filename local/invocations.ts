import { performance } from 'node:perf_hooks';

/**
 * How long each local "Lambda invocation" took, handler start to result: what
 * Lambda bills as duration. The benchmark prices a session's functions from
 * these instead of assuming; nothing else listens. `fn` is the function's name
 * as the benchmark knows it: `api`, `publisher`, or the queue a worker polls.
 */
export type InvocationObserver = (fn: string, ms: number) => void;

let observer: InvocationObserver | undefined;

/** Starts (or, with no argument, stops) reporting invocation durations. */
export function observeInvocations(o?: InvocationObserver): void {
  observer = o;
}

/** Runs one invocation of `fn`, reporting its duration when someone listens. */
export async function invocation<T>(fn: string, run: () => Promise<T>): Promise<T> {
  if (!observer) return run();
  const started = performance.now();
  try {
    return await run();
  } finally {
    observer?.(fn, performance.now() - started);
  }
}
