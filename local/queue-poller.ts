import { DeleteMessageBatchCommand, GetQueueAttributesCommand, ReceiveMessageCommand, type SQSClient } from '@aws-sdk/client-sqs';
import type { SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';
import { invocation } from './invocations.js';

export type QueueHandler = (event: SQSEvent) => Promise<SQSBatchResponse | void>;

export interface QueuePollerOptions {
  sqs: SQSClient;
  queueUrl: string;
  handler: QueueHandler;
  batchSize?: number;
  idleDelayMs?: number;
  log?: (line: string) => void;
}

/**
 * What Lambda's SQS event source mapping does, for the SQS emulator: receives
 * batches, invokes the handler with Lambda's event shape, deletes the messages
 * the handler did not report in `batchItemFailures`, and leaves the reported
 * ones to reappear when their visibility timeout ends. A handler that throws
 * fails the whole batch.
 *
 * Receives use WaitTimeSeconds 0: the emulator's long poll waits its full time
 * unless a whole batch is available.
 */
export class QueuePoller {
  private stopped = false;
  private loop?: Promise<void>;
  private arn = '';

  constructor(private readonly opts: QueuePollerOptions) {}

  async start(): Promise<void> {
    const attrs = await this.opts.sqs.send(new GetQueueAttributesCommand({ QueueUrl: this.opts.queueUrl, AttributeNames: ['QueueArn'] }));
    this.arn = attrs.Attributes?.QueueArn ?? '';
    this.loop = this.run();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.loop;
  }

  private async run(): Promise<void> {
    const log = this.opts.log ?? (() => {});
    while (!this.stopped) {
      let received = 0;
      try {
        const r = await this.opts.sqs.send(
          new ReceiveMessageCommand({
            QueueUrl: this.opts.queueUrl,
            MaxNumberOfMessages: this.opts.batchSize ?? 10,
            WaitTimeSeconds: 0,
            // The emulator ignores MessageSystemAttributeNames; the older name works.
            AttributeNames: ['All'],
            MessageAttributeNames: ['All'],
          }),
        );
        const messages = r.Messages ?? [];
        received = messages.length;
        if (messages.length > 0) {
          const records: SQSRecord[] = messages.map((m) => ({
            messageId: m.MessageId!,
            receiptHandle: m.ReceiptHandle!,
            body: m.Body ?? '',
            attributes: {
              ApproximateReceiveCount: m.Attributes?.ApproximateReceiveCount ?? '1',
              SentTimestamp: m.Attributes?.SentTimestamp ?? String(Date.now()),
              SenderId: m.Attributes?.SenderId ?? 'local',
              ApproximateFirstReceiveTimestamp: m.Attributes?.ApproximateFirstReceiveTimestamp ?? String(Date.now()),
            },
            messageAttributes: {},
            md5OfBody: m.MD5OfBody ?? '',
            eventSource: 'aws:sqs',
            eventSourceARN: this.arn,
            awsRegion: 'us-east-1',
          }));
          let failed = new Set<string>(records.map((x) => x.messageId));
          try {
            const result = await invocation(queueName(this.opts.queueUrl), () => this.opts.handler({ Records: records }));
            failed = new Set((result?.batchItemFailures ?? []).map((f) => f.itemIdentifier));
          } catch (err) {
            log(`queue handler failed for ${this.opts.queueUrl}: ${err instanceof Error ? err.stack : err}`);
          }
          const done = records.filter((x) => !failed.has(x.messageId));
          if (done.length > 0)
            await this.opts.sqs.send(
              new DeleteMessageBatchCommand({
                QueueUrl: this.opts.queueUrl,
                Entries: done.map((x, i) => ({ Id: String(i), ReceiptHandle: x.receiptHandle })),
              }),
            );
        }
      } catch (err) {
        if (!this.stopped) log(`queue poller error on ${this.opts.queueUrl}: ${err instanceof Error ? err.message : err}`);
      }
      if (received === 0 && !this.stopped) await new Promise((r) => setTimeout(r, this.opts.idleDelayMs ?? 50));
    }
  }
}

/** A queue's name, the last part of its URL: the function that polls it. */
const queueName = (url: string) => url.slice(url.lastIndexOf('/') + 1);
