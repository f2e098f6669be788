import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // One DynamoDB Local for the whole run; each test file makes its own table.
    globalSetup: ['test/support/global-setup.ts'],
    reporters: ['default', './test/support/summary-reporter.ts'],
    testTimeout: 30_000,
    hookTimeout: 120_000,
    env: {
      AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
      // The API's one-line-per-request access log is noise in test output.
      API_ACCESS_LOG: 'off',
      // No EMF metric lines in test output; the metrics tests turn them on for themselves.
      POWERTOOLS_METRICS_DISABLED: 'true',
    },
  },
});
