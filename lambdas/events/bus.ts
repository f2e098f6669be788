import { type EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';

/** One event for the bus, in EventBridge's PutEvents terms. */
export interface BusEntry {
  source: string;
  detailType: string;
  /** JSON text of the detail (the Stripe-shaped event). */
  detail: string;
  time: Date;
  resources?: string[];
}

export interface PutResult {
  /** Indexes (into the entries given) that were not accepted, with the reason. */
  failed: { index: number; code: string; message: string }[];
}

/** The port the stream publisher publishes through: EventBridge in AWS, a local bus under npm start. */
export interface EventBus {
  put(entries: BusEntry[]): Promise<PutResult>;
}

/** PutEvents accepts at most 10 entries per call. */
export const PUT_EVENTS_MAX_ENTRIES = 10;

export class EventBridgeBus implements EventBus {
  constructor(
    private readonly client: EventBridgeClient,
    private readonly busName: string,
  ) {}

  async put(entries: BusEntry[]): Promise<PutResult> {
    if (entries.length > PUT_EVENTS_MAX_ENTRIES) throw new Error(`PutEvents takes at most ${PUT_EVENTS_MAX_ENTRIES} entries`);
    const r = await this.client.send(
      new PutEventsCommand({
        Entries: entries.map((e) => ({
          EventBusName: this.busName,
          Source: e.source,
          DetailType: e.detailType,
          Detail: e.detail,
          Time: e.time,
          Resources: e.resources,
        })),
      }),
    );
    const failed: PutResult['failed'] = [];
    (r.Entries ?? []).forEach((entry, index) => {
      if (entry.ErrorCode) failed.push({ index, code: entry.ErrorCode, message: entry.ErrorMessage ?? '' });
    });
    return { failed };
  }
}
