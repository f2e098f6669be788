import {
  BatchGetCommand,
  GetCommand,
  PutCommand,
  TransactWriteCommand,
  UpdateCommand,
  type DynamoDBDocumentClient,
} from '@aws-sdk/lib-dynamodb';
import type { ChangeStamp, Scope, SessionRecord, UpdateParams } from '../domain/session.js';
import { METADATA_LIMITS } from '../domain/params.js';
import { type Action, REFUSED_WHILE_REDACTING, type Status, allowedFrom, nextStatus } from '../domain/state-machine.js';
import { cancellationReasons, errorName, itemOnConditionFailure } from './dynamo.js';
import {
  type IdempotentRequest,
  type SavedResult,
  IdempotencyKeyTaken,
  fromItem,
  idempotencyKey,
  putSavedResult,
} from './idempotency.js';
import { SESSION_SK_PREFIX, SWEEP_INDEX } from './table.js';
import { compactSession, expandSession } from './session-item.js';
import { MAX_REPLAY_ENTRIES, MAX_UNDO_RECORDS, type ReplayEntry, undoName } from '../domain/saved-results.js';
import { type CreatedFilter, queryTimeOrderedPage } from './time-ordered-list.js';

/** Partition of one account in one mode. */
export const scopeKey = (scope: Scope) => `A#${scope.account}#${scope.livemode ? 'live' : 'test'}`;
export const sessionKey = (scope: Scope, id: string) => ({ pk: scopeKey(scope), sk: `${SESSION_SK_PREFIX}${id}` });

/**
 * The condition of a transition, generated from the state-machine table: the
 * current status must be one the action is allowed from, and (for a
 * read-modify-write) the version must be the one that was read.
 */
export function transitionCondition(action: Action, expectedVersion?: number) {
  const names: Record<string, string> = { '#status': 'status' };
  const values: Record<string, unknown> = {};
  const placeholders = allowedFrom(action).map((s, i) => {
    values[`:from${i}`] = s;
    return `:from${i}`;
  });
  let expression = `#status IN (${placeholders.join(', ')})`;
  if (REFUSED_WHILE_REDACTING.includes(action)) {
    // A session being redacted, or redacted, takes no change that could bring personal data back.
    names['#redaction'] = 'redaction';
    values[':noRedaction'] = null;
    expression += ' AND (attribute_not_exists(#redaction) OR #redaction = :noRedaction)';
  }
  if (expectedVersion !== undefined) {
    names['#version'] = 'version';
    values[':expectedVersion'] = expectedVersion;
    expression += ' AND #version = :expectedVersion';
  }
  return { expression, names, values };
}

/**
 * A keyed change made without a read: its result is saved on the session item
 * under `name` (see domain/saved-results.ts) by the same UpdateItem.
 */
export interface KeyedWrite {
  /** The key's name on the item (replayName). */
  name: string;
  entry: ReplayEntry;
}

/** A conditional write of one session; a failed condition becomes StaleSession with the item as it is now. */
async function orStale<T>(write: Promise<T>): Promise<T> {
  try {
    return await write;
  } catch (err) {
    if (errorName(err) === 'ConditionalCheckFailedException') throw new StaleSession(fromItem_(itemOnConditionFailure(err)));
    throw err;
  }
}

/** The session changed between read and write, or its status forbids the action. */
export class StaleSession extends Error {
  constructor(readonly current: SessionRecord | undefined) {
    super('session changed or is in another status');
  }
}

/** The sweep shard of a session: its id spreads sessions over the index's partitions. */
export function sweepShard(id: string): number {
  let h = 0;
  for (const c of id) h = (h * 31 + c.charCodeAt(0)) >>> 0;
  return h % SWEEP_INDEX.shards;
}
/** A shard's partition of the sweep index: every session of the shard, whatever its status. */
export const sweepPartition = (shard: number) => `SW#${shard}`;
/** The partitions of the layout before watch-from keys (`SW#<status or redacting>#<shard>`): the backfill re-keys them. */
export const isLegacySweepPartition = (pk: unknown) => typeof pk === 'string' && /^SW#[a-z_]+#\d+$/.test(pk);

/**
 * How far behind a write a session's watch-from time may be when the write
 * puts it into a state the hour-long sweeps watch (processing, or a redaction
 * in progress) and still be found by them: their window ends an hour before
 * now, so a watch-from less than half an hour old has not been passed yet.
 * Older, the write sets watch-from to its own time (an index move, on this write only).
 */
export const REKEY_OLDER_THAN_MS = 30 * 60 * 1000;

/** A session as stored: the record and its watch-from time (`sweep_at`), which the record carries from read to write. */
export type WatchedSession = SessionRecord & { [SWEEP_INDEX.sortKey]?: number };
/** A session's watch-from time, as read from the table (undefined: not in the index, or a record not yet stored). */
export const watchFrom = (s: SessionRecord) => (s as WatchedSession)[SWEEP_INDEX.sortKey];

/**
 * A session's place in the sweep index: its shard's partition, and a
 * watch-from time (`sweep_at`): the sweeps visit a session once their window
 * (the time before now they look back: an hour, the abandonment period, the
 * retention period) passes it, read it, and act when its own times say so.
 * Set at create and kept by ordinary writes (an update, a cancel, the checks'
 * verified or requires_input), so that those cost no index write. It moves
 * only when a write puts the session into a state the hour-long sweeps watch
 * (submitted, a redaction asked for) long after it (REKEY_OLDER_THAN_MS), and
 * when the sweeper re-keys a session it visited too early (off the hot path).
 * A redacted session leaves the index (unless it is still processing).
 */
export function sweepKeys(
  s: Pick<SessionRecord, 'id' | 'status' | 'redaction' | 'updated_ms' | 'state_since_ms'> & { sweep_at?: number },
  rekeyOlderThanMs = REKEY_OLDER_THAN_MS,
) {
  if (s.redaction?.status === 'redacted' && s.status !== 'processing') return {};
  const at = s[SWEEP_INDEX.sortKey];
  const enteredNow = (s.state_since_ms ?? s.updated_ms) === s.updated_ms;
  const hourly = s.status === 'processing' || s.redaction?.status === 'processing';
  const from = at === undefined || (hourly && enteredNow && at < s.updated_ms - rekeyOlderThanMs) ? s.updated_ms : at;
  return { [SWEEP_INDEX.partitionKey]: sweepPartition(sweepShard(s.id)), [SWEEP_INDEX.sortKey]: from };
}

/** A session's item: without its null fields (store/session-item.ts), with its sweep index keys. */
function toItem(s: SessionRecord, rekeyOlderThanMs: number | undefined) {
  const { [SWEEP_INDEX.sortKey]: _at, ...record } = s as WatchedSession;
  return { ...sessionKey(s, s.id), ...compactSession(record as SessionRecord), ...sweepKeys(s, rekeyOlderThanMs) };
}

type WriteCondition = { expression: string; names?: Record<string, string>; values?: Record<string, unknown> };
const CREATE_CONDITION: WriteCondition = { expression: 'attribute_not_exists(pk)' };

/** A conditional Put of a whole session: alone, or as one item of a transaction. */
function sessionPut(table: string, s: SessionRecord, cond: WriteCondition, rekeyOlderThanMs: number | undefined) {
  return {
    TableName: table,
    Item: toItem(s, rekeyOlderThanMs),
    ConditionExpression: cond.expression,
    ExpressionAttributeNames: cond.names,
    ExpressionAttributeValues: cond.values,
    ReturnValuesOnConditionCheckFailure: 'ALL_OLD' as const,
  };
}

/**
 * The DynamoDB inputs of a create (SessionStore.commit(s, 'create') without a
 * saved result) and of a retrieve (SessionStore.get): the bench's baselines
 * (bin/bench-server.ts, the raw calls in bin/bench.ts) send exactly these.
 */
export const createSessionInput = (table: string, s: SessionRecord, rekeyOlderThanMs?: number) =>
  ({ ...sessionPut(table, s, CREATE_CONDITION, rekeyOlderThanMs), ReturnConsumedCapacity: 'TOTAL' as const });
export const getSessionInput = (table: string, scope: Scope, id: string) =>
  ({ TableName: table, Key: sessionKey(scope, id), ConsistentRead: true, ReturnConsumedCapacity: 'TOTAL' as const });

function fromItem_(item: Record<string, unknown> | undefined): SessionRecord | undefined {
  if (!item) return undefined;
  // sweep_at stays on the record, so that a read-modify-write puts it back unchanged; one
  // keyed the old way is re-keyed from the write's time (sweepKeys), as the backfill would.
  // Null fields an item was written without are put back (store/session-item.ts).
  const { pk: _pk, sk: _sk, [SWEEP_INDEX.partitionKey]: spk, [SWEEP_INDEX.sortKey]: at, ...rest } = item;
  const s = expandSession(rest);
  return (at === undefined || isLegacySweepPartition(spk) ? s : { ...s, [SWEEP_INDEX.sortKey]: at }) as unknown as SessionRecord;
}
export { fromItem_ as sessionFromItem };

export interface ListQuery {
  limit: number;
  starting_after?: string;
  ending_before?: string;
  status?: Status;
  created?: CreatedFilter;
  client_reference_id?: string;
  related_customer?: string;
  related_customer_account?: string;
}

export interface SessionStoreOptions {
  /** REKEY_OLDER_THAN_MS, for a stuck-checks sweep with a shorter bound than an hour (tests). */
  rekeyOlderThanMs?: number;
}

export class SessionStore {
  constructor(
    private readonly doc: DynamoDBDocumentClient,
    readonly table: string,
    private readonly options: SessionStoreOptions = {},
  ) {}

  private sessionPut(s: SessionRecord, cond: WriteCondition) {
    return sessionPut(this.table, s, cond, this.options.rekeyOlderThanMs);
  }

  /**
   * A conditional UpdateItem of one session that must exist: a failed
   * condition becomes StaleSession with the item as it is now.
   */
  private updateOrStale(
    scope: Scope,
    id: string,
    u: { update: string; condition: string; names: Record<string, string>; values: Record<string, unknown>; returnNew?: boolean },
  ) {
    return orStale(this.doc.send(
      new UpdateCommand({
        TableName: this.table,
        Key: sessionKey(scope, id),
        UpdateExpression: u.update,
        ConditionExpression: u.condition,
        ExpressionAttributeNames: u.names,
        ExpressionAttributeValues: u.values,
        ...(u.returnNew ? { ReturnValues: 'ALL_NEW' as const } : {}),
        ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
        ReturnConsumedCapacity: 'TOTAL',
      }),
    ));
  }

  async get(scope: Scope, id: string): Promise<SessionRecord | undefined> {
    const r = await this.doc.send(new GetCommand(getSessionInput(this.table, scope, id)));
    return fromItem_(r.Item);
  }

  /** One consistent read of a session and of an idempotency key's saved result. */
  async getWithSavedResult(
    scope: Scope,
    id: string,
    key: string,
    nowMs: number,
  ): Promise<{ session?: SessionRecord; saved?: SavedResult }> {
    const keys = [sessionKey(scope, id), idempotencyKey(scope, key)];
    const r = await this.doc.send(
      new BatchGetCommand({
        RequestItems: { [this.table]: { Keys: keys, ConsistentRead: true } },
        ReturnConsumedCapacity: 'TOTAL',
      }),
    );
    // Two keys are far below BatchGetItem's limits; unprocessed keys happen only under throttling.
    if (Object.keys(r.UnprocessedKeys ?? {}).length > 0) throw new Error('BatchGetItem left keys unprocessed');
    const items = r.Responses?.[this.table] ?? [];
    const sessionItem = items.find((i) => i.sk === keys[0].sk);
    const savedItem = items.find((i) => i.sk === keys[1].sk);
    return { session: fromItem_(sessionItem), saved: fromItem(savedItem, nowMs) };
  }

  /**
   * Writes a new session or a transition computed in memory from `previous`:
   * one conditional write. With `saveResult` the response is saved under the
   * idempotency key in the same transaction.
   */
  async commit(
    next: SessionRecord,
    previous: { action: Action; version: number } | 'create',
    saveResult?: { req: IdempotentRequest; status: number; body: unknown; nowMs: number },
  ): Promise<void> {
    const cond = previous === 'create' ? CREATE_CONDITION : transitionCondition(previous.action, previous.version);
    const put = this.sessionPut(next, cond);
    if (!saveResult) {
      await orStale(this.doc.send(new PutCommand({ ...put, ReturnConsumedCapacity: 'TOTAL' })));
      return;
    }
    const { req, status, body, nowMs } = saveResult;
    try {
      await this.doc.send(
        new TransactWriteCommand({
          TransactItems: [{ Put: put }, { Put: putSavedResult(this.table, req, status, body, nowMs) }],
          ReturnConsumedCapacity: 'TOTAL',
        }),
      );
    } catch (err) {
      const reasons = cancellationReasons(err);
      if (!reasons) throw err;
      const [sessionReason, keyReason] = reasons;
      if (keyReason?.code === 'ConditionalCheckFailed') {
        const saved = fromItem(keyReason.item, nowMs);
        if (saved) throw new IdempotencyKeyTaken(saved);
      }
      if (sessionReason?.code === 'ConditionalCheckFailed') throw new StaleSession(fromItem_(sessionReason.item));
      throw err;
    }
  }

  /**
   * The checks' result: the session's transition, its new report and the
   * records of the files the report names, in one transaction. A redelivered message (same version, same report id) or a
   * racing worker finds the condition failed: StaleSession, nothing written.
   */
  async commitWithReport(
    next: SessionRecord,
    previous: { action: Action; version: number },
    report: { pk: string; sk: string } & Record<string, unknown>,
    files: ({ pk: string; sk: string } & Record<string, unknown>)[] = [],
  ): Promise<void> {
    const cond = transitionCondition(previous.action, previous.version);
    try {
      await this.doc.send(
        new TransactWriteCommand({
          TransactItems: [
            { Put: this.sessionPut(next, cond) },
            { Put: { TableName: this.table, Item: report, ConditionExpression: 'attribute_not_exists(pk)' } },
            // The records of the files the report names: they exist exactly when the report does.
            ...files.map((Item) => ({ Put: { TableName: this.table, Item } })),
          ],
        }),
      );
    } catch (err) {
      const reasons = cancellationReasons(err);
      if (reasons?.some((r) => r.code === 'ConditionalCheckFailed')) throw new StaleSession(fromItem_(reasons[0]?.item));
      throw err;
    }
  }

  /**
   * Cancels with one UpdateItem; the condition comes from the state machine.
   * Returns the new session, or throws StaleSession with the current one.
   */
  async cancel(scope: Scope, id: string, stamp: ChangeStamp, keyed?: KeyedWrite): Promise<SessionRecord> {
    const cond = transitionCondition('cancel');
    const to = nextStatus('cancel', 'requires_input')!;
    return this.update_(scope, id, stamp, keyed, {
      // A new state; the sweep index entry stays (the retention sweep finds the session by its watch-from time).
      set: ['#status = :to', '#stateSince = :updatedMs'],
      remove: [],
      condition: cond.expression,
      names: { ...cond.names, '#stateSince': 'state_since_ms' },
      values: { ...cond.values, ':to': to },
      undo: [['status', '#status']],
    });
  }

  /**
   * Updates fields with one UpdateItem that touches only what the request
   * names, so concurrent updates of different metadata keys both land.
   * The metadata key limit is part of the condition (assuming every key set is
   * new); when it is close, StaleSession hands the caller the current item for an
   * exact read-modify-write.
   */
  async updateFields(scope: Scope, id: string, params: UpdateParams, stamp: ChangeStamp, keyed?: KeyedWrite): Promise<SessionRecord> {
    const cond = transitionCondition('update');
    const names: Record<string, string> = { ...cond.names };
    const values: Record<string, unknown> = { ...cond.values };
    const set: string[] = [];
    const remove: string[] = [];
    // What each change overwrites, for the results of earlier keyed changes (field, its current value).
    const undo: [string, string][] = [];
    let condition = cond.expression;
    if (params.type) {
      names['#type'] = 'type';
      values[':type'] = params.type;
      set.push('#type = :type');
      undo.push(['type', '#type']);
    }
    if (params.options !== undefined) {
      names['#options'] = 'options';
      values[':options'] = params.options?.document ? { document: stripNull(params.options.document) } : {};
      set.push('#options = :options');
      undo.push(['options', '#options']);
    }
    if (params.type || params.options !== undefined) {
      // A session made from a verification flow keeps the flow's type and options: the read-modify-write path refuses it.
      names['#flow'] = 'verification_flow';
      condition += ' AND attribute_not_exists(#flow)';
    }
    if (params.provided_details !== undefined) {
      names['#pd'] = 'provided_details';
      // A null field is not stored (store/session-item.ts): clearing it removes the attribute.
      if (params.provided_details) {
        values[':pd'] = stripNull(params.provided_details);
        set.push('#pd = :pd');
      } else remove.push('#pd');
      undo.push(['provided_details', 'if_not_exists(#pd, :absent)']);
    }
    if (params.metadata !== undefined) {
      names['#md'] = 'metadata';
      if (params.metadata === null) {
        values[':emptyMap'] = {};
        set.push('#md = :emptyMap');
        undo.push(['metadata', '#md']);
      } else {
        let added = 0;
        Object.entries(params.metadata).forEach(([k, v], i) => {
          names[`#mk${i}`] = k;
          undo.push([`md|${k}`, `if_not_exists(#md.#mk${i}, :absent)`]);
          if (v === null) remove.push(`#md.#mk${i}`);
          else {
            values[`:mv${i}`] = v;
            set.push(`#md.#mk${i} = :mv${i}`);
            added++;
          }
        });
        if (added > 0) {
          values[':mdRoom'] = METADATA_LIMITS.keys - added;
          condition += ' AND size(#md) <= :mdRoom';
        }
      }
    }
    return this.update_(scope, id, stamp, keyed, { set, remove, condition, names, values, undo });
  }

  /**
   * One UpdateItem that also bumps the version and records who changed the
   * session when. Keyed: it also saves the result's entry and the values it
   * overwrites (for earlier keyed results), on the condition that the key has
   * no entry yet. Not keyed: only when the item holds no saved results (their
   * undo records would be missing), else StaleSession sends the caller to the
   * read-modify-write path, which keeps them.
   */
  private async update_(
    scope: Scope,
    id: string,
    stamp: ChangeStamp,
    keyed: KeyedWrite | undefined,
    expr: {
      set: string[];
      remove: string[];
      condition: string;
      names: Record<string, string>;
      values: Record<string, unknown>;
      undo: [string, string][];
    },
  ): Promise<SessionRecord> {
    // A change the system made has no last request: null fields are not stored (store/session-item.ts).
    const setLastRequest = stamp.last_request !== null;
    const set = ['#version = #version + :one', '#updatedMs = :updatedMs', ...(setLastRequest ? ['#lastRequest = :lastRequest'] : []), ...expr.set];
    const remove = [...(setLastRequest ? [] : ['#lastRequest']), ...expr.remove];
    const names: Record<string, string> = { ...expr.names, '#replays': 'replays' };
    const values: Record<string, unknown> = { ...expr.values };
    let condition = expr.condition;
    if (keyed) {
      names['#undo'] = 'undo';
      names['#rk'] = keyed.name;
      values[':entry'] = keyed.entry;
      values[':maxReplays'] = MAX_REPLAY_ENTRIES;
      values[':maxUndo'] = MAX_UNDO_RECORDS - expr.undo.length;
      set.push('#replays.#rk = :entry');
      if (expr.undo.some(([, current]) => current.includes(':absent'))) values[':absent'] = null;
      expr.undo.forEach(([field, current], i) => {
        names[`#ud${i}`] = undoName(stamp.updated_ms, keyed.name.slice(0, 4), field);
        set.push(`#undo.#ud${i} = ${current}`);
      });
      condition += ' AND attribute_not_exists(#replays.#rk) AND size(#replays) < :maxReplays AND size(#undo) <= :maxUndo';
    } else {
      values[':noEntries'] = 0;
      condition += ' AND (attribute_not_exists(#replays) OR size(#replays) = :noEntries)';
    }
    const r = await this.updateOrStale(scope, id, {
      update: `SET ${set.join(', ')}${remove.length ? ` REMOVE ${remove.join(', ')}` : ''}`,
      condition: `attribute_exists(pk) AND ${condition}`,
      names: { ...names, '#version': 'version', '#updatedMs': 'updated_ms', '#lastRequest': 'last_request' },
      values: { ...values, ':one': 1, ':updatedMs': stamp.updated_ms, ...(setLastRequest ? { ':lastRequest': stamp.last_request } : {}) },
      returnNew: true,
    });
    return fromItem_(r.Attributes)!;
  }

  /**
   * Saves a result that changed nothing (a refusal) on the session item, if
   * the key has no entry there yet. Throws StaleSession with the current
   * session when the key already has an entry (or the item is missing or
   * keeps no entries).
   */
  async saveEntry(scope: Scope, id: string, name: string, entry: ReplayEntry): Promise<void> {
    await this.updateOrStale(scope, id, {
      update: 'SET #replays.#rk = :entry',
      condition: 'attribute_exists(#replays) AND attribute_not_exists(#replays.#rk)',
      names: { '#replays': 'replays', '#rk': name },
      values: { ':entry': entry },
    });
  }

  /**
   * Counts `n` more upload URLs against the session's current attempt, with
   * one conditional UpdateItem: the session must still accept a submission
   * (the state machine's condition), be at `attempt`, and have issued at most
   * `max - n` so far. Not a change of the session: no version bump, no event.
   * Throws StaleSession with the current session when the condition fails.
   */
  async countUploads(scope: Scope, id: string, attempt: number, n: number, max: number): Promise<void> {
    const cond = transitionCondition('submit');
    await this.updateOrStale(scope, id, {
      update: 'ADD #issued :n',
      condition: `attribute_exists(pk) AND ${cond.expression} AND #attempt = :attempt AND (attribute_not_exists(#issued) OR #issued <= :room)`,
      names: { ...cond.names, '#issued': 'uploads_issued', '#attempt': 'attempt' },
      values: { ...cond.values, ':n': n, ':attempt': attempt, ':room': max - n },
    });
  }

  /**
   * The sweeper's re-key: sets the session's watch-from time (and its shard's
   * partition, which also moves a session keyed the old way) if the session
   * is still at `version`; not a change of the session (no version bump, no
   * event). Throws StaleSession with the current session when it changed.
   */
  async rekey(scope: Scope, id: string, version: number, at: number): Promise<void> {
    await this.updateOrStale(scope, id, {
      update: 'SET #spk = :spk, #sat = :sat',
      condition: 'attribute_exists(pk) AND #version = :version',
      names: { '#spk': SWEEP_INDEX.partitionKey, '#sat': SWEEP_INDEX.sortKey, '#version': 'version' },
      values: { ':spk': sweepPartition(sweepShard(id)), ':sat': at, ':version': version },
    });
  }

  /** Newest first; see queryTimeOrderedPage. */
  list(scope: Scope, q: ListQuery): Promise<{ data: SessionRecord[]; has_more: boolean }> {
    return queryTimeOrderedPage(
      this.doc,
      this.table,
      {
        pk: scopeKey(scope),
        skPrefix: SESSION_SK_PREFIX,
        idPrefix: 'vs',
        limit: q.limit,
        starting_after: q.starting_after,
        ending_before: q.ending_before,
        created: q.created,
        equals: {
          status: q.status,
          client_reference_id: q.client_reference_id,
          related_customer: q.related_customer,
          related_customer_account: q.related_customer_account,
        },
      },
      (item) => fromItem_(item)!,
    );
  }
}

function stripNull<T extends object>(o: T): T {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== null && v !== undefined)) as T;
}
