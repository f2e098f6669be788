/**
 * Memory of each function, in MB: Lambda bills duration by it (GB-s), and
 * gives CPU in proportion. The constructs and the benchmark's cost figure both
 * read it from here, so the priced figure follows a change.
 */
export const FUNCTION_MEMORY_MB = {
  api: 1024,
  publisher: 512,
  checks: 1024,
  fanout: 512,
  delivery: 512,
  redaction: 512,
  sweep: 256,
} as const;
