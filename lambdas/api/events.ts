import { invalidRequest, resourceMissing } from '../domain/errors.js';
import { checkCursors } from './list-cursors.js';
import { SESSION_EVENT_TYPES, renderEvent } from '../domain/event.js';
import { isTimeOrderedId } from '../domain/ids.js';
import { arrayOf, bool, int, obj, parseParams, range, str } from '../domain/params.js';
import type { EventListQuery, EventStore } from '../store/event-store.js';
import type { HttpResponse } from './http.js';
import type { CallContext } from './sessions.js';

export interface EventDeps {
  events: EventStore;
}

const EVENTS_URL = '/v1/events';

const LIST_PARAMS = obj({
  limit: int(1, 100),
  starting_after: str(5000, false),
  ending_before: str(5000, false),
  created: range(),
  type: str(5000, false),
  types: arrayOf(str(5000, false), 20),
  delivery_success: bool(),
  expand: arrayOf(str(5000, false), 20),
});

/** `type` is an event type or a prefix with `*`, e.g. identity.verification_session.*. */
function checkTypePattern(pattern: string, param: string) {
  const star = pattern.indexOf('*');
  const valid =
    star === -1 ? true : star === pattern.length - 1 && (pattern === '*' || pattern.endsWith('.*'));
  if (!valid)
    throw invalidRequest(`Invalid ${param}: '*' may only end a type, as in identity.verification_session.*.`, { param });
}

export async function listEvents(deps: EventDeps, ctx: CallContext, raw: unknown): Promise<HttpResponse> {
  const p = parseParams<Omit<EventListQuery, 'limit'> & { limit?: number; expand?: string[] }>(LIST_PARAMS, raw);
  if (p.type !== undefined && p.types !== undefined)
    throw invalidRequest('You may only specify one of these parameters: type, types.', { code: 'parameters_exclusive', param: 'types' });
  checkCursors(p, 'evt', (id, param) => resourceMissing('event', id, param));
  if (p.type) checkTypePattern(p.type, 'type');
  p.types?.forEach((t, i) => {
    if (!(SESSION_EVENT_TYPES as string[]).includes(t))
      throw invalidRequest(`Invalid types[${i}]: '${t}' is not an event type of this service.`, { param: `types[${i}]` });
  });
  if (p.expand?.length) throw invalidRequest('Events have no expandable fields.', { param: 'expand[0]' });
  const page = await deps.events.list(ctx.scope, {
    limit: p.limit ?? 10,
    starting_after: p.starting_after,
    ending_before: p.ending_before,
    created: p.created,
    type: p.type === '*' ? undefined : p.type,
    types: p.types,
    delivery_success: p.delivery_success,
  });
  return { status: 200, body: { object: 'list', data: page.data.map(renderEvent), has_more: page.has_more, url: EVENTS_URL } };
}

export async function retrieveEvent(deps: EventDeps, ctx: CallContext, id: string, raw: unknown): Promise<HttpResponse> {
  parseParams(obj({ expand: arrayOf(str(5000, false), 20) }), raw);
  const event = isTimeOrderedId(id, 'evt') ? await deps.events.get(ctx.scope, id) : undefined;
  if (!event) throw resourceMissing('event', id);
  return { status: 200, body: renderEvent(event) };
}
