import { Duration } from 'aws-cdk-lib';
import { Queue, QueueEncryption } from 'aws-cdk-lib/aws-sqs';
import type { Construct } from 'constructs';
import type { QueueSettings } from '../lambdas/events/routing.js';

/** An SQS-encrypted, TLS-only queue: every queue of the service is one. */
export function encryptedQueue(scope: Construct, id: string, props: { retentionPeriod: Duration; visibilityTimeout?: Duration; deadLetterQueue?: { queue: Queue; maxReceiveCount: number } }): Queue {
  return new Queue(scope, id, { ...props, encryption: QueueEncryption.SQS_MANAGED, enforceSSL: true });
}

/**
 * A work queue and its dead-letter queue, from the settings the local runtime
 * uses too (lambdas/events/routing.ts, lambdas/redaction/queue.ts).
 */
export function queueWithDeadLetter(
  scope: Construct,
  settings: QueueSettings,
  ids: { queue: string; deadLetter: string } = { queue: 'Queue', deadLetter: 'DeadLetterQueue' },
): { queue: Queue; deadLetterQueue: Queue } {
  const deadLetterQueue = encryptedQueue(scope, ids.deadLetter, { retentionPeriod: Duration.seconds(settings.dlqRetentionSeconds) });
  const queue = encryptedQueue(scope, ids.queue, {
    visibilityTimeout: Duration.seconds(settings.visibilityTimeoutSeconds),
    retentionPeriod: Duration.seconds(settings.retentionSeconds),
    deadLetterQueue: { queue: deadLetterQueue, maxReceiveCount: settings.maxReceiveCount },
  });
  return { queue, deadLetterQueue };
}
