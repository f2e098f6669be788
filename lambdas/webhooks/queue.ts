import { ChangeMessageVisibilityCommand, SendMessageBatchCommand, SendMessageCommand, type SQSClient } from '@aws-sdk/client-sqs';

/** What a delivery queue message says: which delivery, and which generation of it. */
export interface DeliveryMessage {
  delivery: string;
  account: string;
  livemode: boolean;
  generation: number;
  /**
   * The endpoints the fan-out made deliveries of the same event for (ids only):
   * the worker reads those deliveries with its batch to put the event's
   * pending_webhooks in the payload. A resend's message has none; the worker
   * then lists the event's deliveries.
   */
  siblings?: string[];
}

export function parseDeliveryMessage(body: string): DeliveryMessage | undefined {
  try {
    const m = JSON.parse(body) as Partial<DeliveryMessage>;
    const siblingsOk = m.siblings === undefined || (Array.isArray(m.siblings) && m.siblings.every((e) => typeof e === 'string'));
    if (typeof m.delivery === 'string' && typeof m.account === 'string' && typeof m.livemode === 'boolean' && Number.isInteger(m.generation) && siblingsOk)
      return m as DeliveryMessage;
  } catch {
    // not JSON: unreadable like any other malformed body
  }
  return undefined;
}

/**
 * The port the fan-out, the API (resend) and the delivery worker use: SQS in
 * AWS and under npm start (the emulator), a recording fake in unit tests.
 */
export interface DeliveryQueue {
  /** Sends one message per delivery; throws if any was not accepted. */
  enqueue(messages: DeliveryMessage[]): Promise<void>;
  /** Keeps a received message invisible for `seconds` (at most 12 h) from now. */
  hideFor(receiptHandle: string, seconds: number): Promise<void>;
  /** Sends a body to the dead-letter queue. */
  deadLetter(body: unknown): Promise<void>;
}

/** SendMessageBatch takes at most 10 entries. */
const SEND_BATCH = 10;

export class SqsDeliveryQueue implements DeliveryQueue {
  /** Undefined urls fail when used, not when built: the API Lambda loads even where webhooks are not configured. */
  constructor(
    private readonly sqs: SQSClient,
    private readonly queueUrl: string | undefined,
    private readonly deadLetterUrl?: string,
  ) {}

  private url(which: 'queue' | 'dlq'): string {
    const url = which === 'queue' ? this.queueUrl : this.deadLetterUrl;
    if (!url) throw new Error(`the webhook delivery ${which === 'queue' ? 'queue' : 'dead-letter queue'} URL is not configured`);
    return url;
  }

  async enqueue(messages: DeliveryMessage[]): Promise<void> {
    for (let i = 0; i < messages.length; i += SEND_BATCH) {
      const chunk = messages.slice(i, i + SEND_BATCH);
      const r = await this.sqs.send(
        new SendMessageBatchCommand({
          QueueUrl: this.url('queue'),
          Entries: chunk.map((m, j) => ({ Id: String(j), MessageBody: JSON.stringify(m) })),
        }),
      );
      if (r.Failed?.length) throw new Error(`SendMessageBatch refused ${r.Failed.length} of ${chunk.length}: ${r.Failed.map((f) => f.Code).join(', ')}`);
    }
  }

  async hideFor(receiptHandle: string, seconds: number): Promise<void> {
    await this.sqs.send(
      new ChangeMessageVisibilityCommand({ QueueUrl: this.url('queue'), ReceiptHandle: receiptHandle, VisibilityTimeout: Math.max(0, Math.ceil(seconds)) }),
    );
  }

  async deadLetter(body: unknown): Promise<void> {
    await this.sqs.send(new SendMessageCommand({ QueueUrl: this.url('dlq'), MessageBody: JSON.stringify(body) }));
  }
}
