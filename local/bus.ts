import { randomUUID } from 'node:crypto';
import { SendMessageCommand, type SQSClient } from '@aws-sdk/client-sqs';
import { type BusEntry, type EventBus, type PutResult, assertPutEventsLimits } from '../lambdas/events/bus.js';
import { type BusEnvelope, ROUTES, type Route, type RouteName, matchesPattern, routeMessage } from '../lambdas/events/routing.js';

/** Sees each envelope after it was sent, with the routes (queues) it went to. */
export type BusListener = (envelope: BusEnvelope, routes: RouteName[]) => void;

/**
 * EventBridge for npm start: each published entry is wrapped as EventBridge
 * wraps it and sent to the queue of every route in the routing table whose
 * pattern matches, as the stack's rules and SQS targets do.
 */
export class LocalBus implements EventBus {
  private readonly listeners = new Set<BusListener>();

  constructor(
    private readonly sqs: SQSClient,
    private readonly queueUrls: Record<RouteName, { queue: string }>,
  ) {}

  /** Watch what goes over the bus (npm start's event log uses it). */
  subscribe(listener: BusListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Refuses what PutEvents refuses (more than 10 entries or 256 KB in one call), so npm start and the tests see what AWS would do. */
  async put(entries: BusEntry[]): Promise<PutResult> {
    assertPutEventsLimits(entries);
    const failed: PutResult['failed'] = [];
    await Promise.all(
      entries.map(async (entry, index) => {
        const envelope: BusEnvelope = {
          version: '0',
          id: randomUUID(),
          'detail-type': entry.detailType,
          source: entry.source,
          account: '000000000000',
          time: entry.time.toISOString().replace(/\.\d{3}Z$/, 'Z'),
          region: 'local',
          resources: entry.resources ?? [],
          detail: JSON.parse(entry.detail),
        };
        try {
          const routed: RouteName[] = [];
          for (const [name, route] of Object.entries(ROUTES) as [RouteName, Route][]) {
            if (!matchesPattern(route.pattern, envelope)) continue;
            await this.sqs.send(new SendMessageCommand({ QueueUrl: this.queueUrls[name].queue, MessageBody: JSON.stringify(routeMessage(envelope)) }));
            routed.push(name);
          }
          for (const l of this.listeners) l(envelope, routed);
        } catch (err) {
          failed.push({ index, code: 'InternalFailure', message: String(err) });
        }
      }),
    );
    return { failed };
  }
}
