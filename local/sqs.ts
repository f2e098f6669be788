import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { CreateQueueCommand, GetQueueAttributesCommand, SQSClient } from '@aws-sdk/client-sqs';
import { createSqsServer } from 'local-aws-sqs';
import { type QueueSettings, ROUTES, type Route, type RouteName } from '../lambdas/events/routing.js';

export interface LocalQueues {
  endpoint: string;
  client: SQSClient;
  /** Queue URL of each route, and of its dead-letter queue. */
  urls: Record<RouteName, { queue: string; dlq: string }>;
  stop(): Promise<void>;
}

export const sqsClientConfig = (endpoint: string) => ({
  endpoint,
  region: 'us-east-1',
  credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
});

/**
 * The SQS wire-protocol emulator (local-aws-sqs) on 127.0.0.1, with a queue and
 * a dead-letter queue per route of the routing table, set up as the CDK stack
 * sets them up.
 */
export async function startLocalQueues(opts: { port?: number; prefix?: string } = {}): Promise<LocalQueues> {
  const server: Server = await createSqsServer({ port: opts.port ?? 0, hostname: '127.0.0.1', emulateQueueCreationLifecycle: false });
  const endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const client = new SQSClient(sqsClientConfig(endpoint));
  const urls = {} as LocalQueues['urls'];
  for (const [name, route] of Object.entries(ROUTES) as [RouteName, Route][]) {
    urls[name] = await createQueueWithDeadLetter(client, `${opts.prefix ?? ''}${route.name}`, route.queue);
  }
  return {
    endpoint,
    client,
    urls,
    stop: async () => {
      client.destroy();
      server.closeAllConnections?.();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** A queue and its dead-letter queue, with the settings the CDK stack gives them. */
export async function createQueueWithDeadLetter(client: SQSClient, name: string, settings: QueueSettings): Promise<{ queue: string; dlq: string }> {
  const dlq = (
    await client.send(new CreateQueueCommand({ QueueName: `${name}-dlq`, Attributes: { MessageRetentionPeriod: String(settings.dlqRetentionSeconds) } }))
  ).QueueUrl!;
  const dlqArn = (await client.send(new GetQueueAttributesCommand({ QueueUrl: dlq, AttributeNames: ['QueueArn'] }))).Attributes!.QueueArn!;
  const queue = (
    await client.send(
      new CreateQueueCommand({
        QueueName: name,
        Attributes: {
          VisibilityTimeout: String(settings.visibilityTimeoutSeconds),
          MessageRetentionPeriod: String(settings.retentionSeconds),
          RedrivePolicy: JSON.stringify({ deadLetterTargetArn: dlqArn, maxReceiveCount: settings.maxReceiveCount }),
        },
      }),
    )
  ).QueueUrl!;
  return { queue, dlq };
}
