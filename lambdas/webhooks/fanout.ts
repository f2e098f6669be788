import type { SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';
import type { Scope } from '../domain/session.js';
import { newDelivery } from '../domain/webhook-delivery.js';
import { endpointWantsEvent } from '../domain/webhook-endpoint.js';
import { type BusEnvelope, accountFromResources } from '../events/routing.js';
import type { DeliveryStore } from '../store/delivery-store.js';
import type { StoredEndpoint, WebhookEndpointStore } from '../store/webhook-store.js';
import type { DeliveryMessage, DeliveryQueue } from './queue.js';
import { logLine } from '../observability/powertools.js';

export interface FanOutDeps {
  endpoints: WebhookEndpointStore;
  deliveries: DeliveryStore;
  queue: DeliveryQueue;
  now?: () => number;
  log?: (line: string) => void;
}

interface EventDetail {
  id: string;
  object: string;
  type: string;
  livemode: boolean;
}

class UnreadableMessage extends Error {}

function readEnvelope(record: SQSRecord): { scope: Scope; event: EventDetail } {
  let envelope: BusEnvelope;
  try {
    envelope = JSON.parse(record.body) as BusEnvelope;
  } catch {
    throw new UnreadableMessage('the message body is not JSON');
  }
  const event = envelope.detail as EventDetail | undefined;
  const account = accountFromResources(envelope.resources);
  if (!account) throw new UnreadableMessage('the envelope names no account in resources');
  if (event?.object !== 'event' || typeof event.id !== 'string' || typeof event.type !== 'string' || typeof event.livemode !== 'boolean')
    throw new UnreadableMessage('the detail is not an event');
  return { scope: { account, livemode: event.livemode }, event };
}

/**
 * The consumer of the webhooks route queue: for each event, one delivery per
 * enabled endpoint of its account and mode that wants its type, each created
 * once (one conditional PutItem; the event's pending_webhooks is counted from
 * the deliveries when it is read) and sent to the delivery queue, naming the
 * event's other deliveries so the worker can count them for the payload. A redelivered message finds
 * its deliveries made and sends only those not yet attempted (a crash may have
 * come between the write and the send); the worker drops the extra copy.
 * A record that fails is reported alone in batchItemFailures; one that can
 * never succeed fails every time and ends in the route's dead-letter queue.
 */
export function createFanOut(deps: FanOutDeps) {
  const now = deps.now ?? Date.now;
  const log = deps.log ?? logLine;

  return async (batch: SQSEvent): Promise<SQSBatchResponse> => {
    // Endpoints are read once per account and mode per batch.
    const endpointsOf = new Map<string, Promise<StoredEndpoint[]>>();
    const failures: SQSBatchResponse['batchItemFailures'] = [];
    await Promise.all(
      batch.Records.map(async (record) => {
        try {
          const { scope, event } = readEnvelope(record);
          const key = `${scope.account}#${scope.livemode}`;
          if (!endpointsOf.has(key)) endpointsOf.set(key, deps.endpoints.listAll(scope));
          const wanted = (await endpointsOf.get(key)!).filter((e) => endpointWantsEvent(e, event.type));
          const siblings = wanted.length > 1 ? wanted.map((e) => e.id) : undefined;
          const messages = await Promise.all(
            wanted.map(async (endpoint): Promise<DeliveryMessage | undefined> => {
              const delivery = newDelivery(scope, event, endpoint.id, now());
              const r = await deps.deliveries.create(delivery);
              const current = r.created ? delivery : r.existing;
              if (!r.created && (current.status !== 'pending' || current.attempt_count > 0)) return undefined;
              return { delivery: current.id, account: scope.account, livemode: scope.livemode, generation: current.generation, siblings: siblings ?? [] };
            }),
          );
          await deps.queue.enqueue(messages.filter((m): m is DeliveryMessage => m !== undefined));
        } catch (err) {
          log(
            JSON.stringify({
              level: 'error',
              message: err instanceof UnreadableMessage ? `unreadable webhooks message: ${err.message}` : 'fan-out failed',
              messageId: record.messageId,
              error: err instanceof Error ? err.message : String(err),
            }),
          );
          failures.push({ itemIdentifier: record.messageId });
        }
      }),
    );
    return { batchItemFailures: failures };
  };
}
