import { type ApiError, invalidRequest } from '../domain/errors.js';
import { isTimeOrderedId } from '../domain/ids.js';

/**
 * The cursors of a list request: at most one of starting_after and
 * ending_before, each an id of the listed kind (ids carry their time, so a
 * well-formed id is a position even when its object is gone).
 */
export function checkCursors(
  p: { starting_after?: string; ending_before?: string },
  idPrefix: string,
  missing: (id: string, param: string) => ApiError,
): void {
  if (p.starting_after !== undefined && p.ending_before !== undefined)
    throw invalidRequest('You may only specify one of these parameters: starting_after, ending_before.', {
      code: 'parameters_exclusive',
      param: 'ending_before',
    });
  for (const param of ['starting_after', 'ending_before'] as const) {
    const cursor = p[param];
    if (cursor !== undefined && !isTimeOrderedId(cursor, idPrefix)) throw missing(cursor, param);
  }
}
