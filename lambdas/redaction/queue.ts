import { SendMessageBatchCommand, type SQSClient } from '@aws-sdk/client-sqs';
import type { QueueSettings } from '../events/routing.js';

/**
 * Work for the redaction worker, one message per session:
 * - `finish`: redact every copy of a session whose redaction was asked for,
 *   then mark it redacted (sent by the stream publisher once the session's
 *   earlier events are stored);
 * - `files`: delete the session's files once more, after every upload URL
 *   issued before the redaction has expired (sent, delayed, by `finish`), and
 *   a last time a few minutes later, for an upload that began just before its
 *   URL expired and took a while.
 */
export interface RedactionMessage {
  kind: 'finish' | 'files';
  account: string;
  livemode: boolean;
  session: string;
  /** `files` only: the last pass, after a margin for an upload that began just before its URL expired. */
  last?: boolean;
}

export function parseRedactionMessage(body: string): RedactionMessage | undefined {
  try {
    const m = JSON.parse(body) as Partial<RedactionMessage>;
    if ((m.kind === 'finish' || m.kind === 'files') && typeof m.account === 'string' && typeof m.livemode === 'boolean' && typeof m.session === 'string')
      return m as RedactionMessage;
  } catch {
    // not JSON
  }
  return undefined;
}

/** The port the stream publisher and the redaction worker send through: SQS in AWS and under npm start. */
export interface RedactionQueue {
  /** Sends the messages, visible after `delaySeconds` (at most 900); throws if any was not accepted. */
  send(messages: RedactionMessage[], delaySeconds?: number): Promise<void>;
}

/** The redaction queue: CDK and the local runtime build it from these settings. */
export const REDACTION_QUEUE = {
  name: 'redaction',
  description: 'Sessions whose redaction was asked for: redact every copy, then mark them redacted',
  functionTimeoutSeconds: 60,
  queue: { visibilityTimeoutSeconds: 6 * 60, retentionSeconds: 4 * 24 * 3600, maxReceiveCount: 10, dlqRetentionSeconds: 14 * 24 * 3600, batchSize: 5 },
} as const satisfies { name: string; description: string; functionTimeoutSeconds: number; queue: QueueSettings };

/** SQS's largest DelaySeconds. */
export const MAX_DELAY_SECONDS = 900;

export class SqsRedactionQueue implements RedactionQueue {
  constructor(
    private readonly sqs: SQSClient,
    private readonly queueUrl: string | undefined,
  ) {}

  async send(messages: RedactionMessage[], delaySeconds = 0): Promise<void> {
    if (messages.length === 0) return;
    if (!this.queueUrl) throw new Error('the redaction queue URL is not configured');
    for (let i = 0; i < messages.length; i += 10) {
      const chunk = messages.slice(i, i + 10);
      const r = await this.sqs.send(
        new SendMessageBatchCommand({
          QueueUrl: this.queueUrl,
          Entries: chunk.map((m, j) => ({ Id: String(j), MessageBody: JSON.stringify(m), DelaySeconds: Math.min(delaySeconds, MAX_DELAY_SECONDS) })),
        }),
      );
      if (r.Failed?.length) throw new Error(`the redaction queue refused ${r.Failed.length} message(s): ${r.Failed[0].Code} ${r.Failed[0].Message ?? ''}`);
    }
  }
}
