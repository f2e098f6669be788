/**
 * The one definition of the service's DynamoDB table. The CDK stack (lib/store.ts)
 * and the local runtime (local/dynamodb.ts) both build the table from it, so the
 * keys, the TTL attribute and the stream settings cannot drift apart.
 *
 * Item layout (single table):
 *   session         pk = "A#<account>#<test|live>"  sk = "VS#<vs_id>"
 *   event           pk = "A#<account>#<test|live>"  sk = "EV#<evt_id>"   (TTL 30 days)
 *   session events  pk = "A#<account>#<test|live>"  sk = "VE#<vs_id>"    (the ids of the session's stored events,
 *                   for redaction; TTL 30 days after the last)
 *   webhook endpoint pk = "A#<account>#<test|live>"  sk = "WE#<we_id>"   (a deleted one: TTL 30 days)
 *   endpoint count  pk = "A#<account>#<test|live>"  sk = "WECOUNT"       (endpoints not deleted, for the limit of 16)
 *   webhook delivery pk = "A#<account>#<test|live>"  sk = "WD#<evt_id>#<we_id>"  (one per event and endpoint,
 *                   with its attempt history; TTL 30 days after its last change)
 *   report          pk = "A#<account>#<test|live>"  sk = "VR#<vr_id>"
 *   verification flow pk = "A#<account>#<test|live>"  sk = "VF#<vf_id>"   (an extension: a preset of type and options)
 *   file            pk = "A#<account>#<test|live>"  sk = "FILE#<file_id>"  (one uploaded image: storage key, session,
 *                   content type, size, the ids of its links; written with the report that names it;
 *                   TTL when the bucket's lifecycle rule deletes the image; redaction deletes it)
 *   file link       pk = "A#<account>#<test|live>"  sk = "FL#<link_id>"    (TTL the file's; redaction deletes it)
 *   settings        pk = "A#<account>#<test|live>"  sk = "SETTINGS"        (an extension: the hosted page's branding)
 *   idempotency     pk = "IK#<account>#<test|live>#<key>"  sk = "IK"
 *   api key         pk = "KEY#<sha256 of the key>"  sk = "KEY"
 * Sessions of one account and mode share a partition: a retrieve is one GetItem,
 * a list is one Query, and an account can never address another account's items.
 *
 * One sparse index, `sweep` (keys only): every session not yet redacted
 * carries sweep_pk = "SW#<shard>" (shard from its id) and sweep_at = a
 * watch-from time (ms), set at create and kept by ordinary writes (update,
 * cancel, the checks' verdict: no index write). It moves only when a submit or
 * a redact comes long after it, and when the sweeper re-keys a session it
 * read before it was due; a finished redaction removes it. The sweeps
 * (retention, abandonment, stuck checks, stuck redactions) read it as windows
 * trailing now, each with a watermark per shard in the item
 * pk = "A#~sweep", sk = "WATERMARKS" (lambdas/sweep/sweeper.ts).
 */
export const TABLE_KEYS = {
  partitionKey: 'pk',
  sortKey: 'sk',
} as const;

/** Epoch-seconds attribute that DynamoDB's TTL deletes items by. */
export const TTL_ATTRIBUTE = 'expires_at';

/** Stream view the events publisher needs: both images of every change. */
export const STREAM_VIEW = 'NEW_AND_OLD_IMAGES' as const;

/** Sort-key prefix of session items (the stream filter uses it too). */
export const SESSION_SK_PREFIX = 'VS#';
/** Sort-key prefix of VerificationReports. */
export const REPORT_SK_PREFIX = 'VR#';
/** Sort-key prefix of verification flows. */
export const FLOW_SK_PREFIX = 'VF#';
/** Sort-key prefix of file records (the Files API's `file_...` objects). */
export const FILE_SK_PREFIX = 'FILE#';
/** Sort-key prefix of file links. */
export const FILE_LINK_SK_PREFIX = 'FL#';
/** Sort key of an account's settings (POST /v1/identity/settings). */
export const SETTINGS_SK = 'SETTINGS';
/** Sort-key prefix of stored events. */
export const EVENT_SK_PREFIX = 'EV#';
/** Sort-key prefix of the per-session list of stored events. */
export const SESSION_EVENTS_SK_PREFIX = 'VE#';
/** Sort-key prefix of webhook endpoints: an account's endpoints are one Query. */
export const WEBHOOK_ENDPOINT_SK_PREFIX = 'WE#';
/** Sort key of the per-account count of endpoints (outside the WE# range). */
export const WEBHOOK_ENDPOINT_COUNT_SK = 'WECOUNT';
/** Sort-key prefix of webhook deliveries: `WD#<evt_id>#` lists one event's deliveries. */
export const WEBHOOK_DELIVERY_SK_PREFIX = 'WD#';

/**
 * Which stream records the events publisher receives: changes of session items
 * only. In Lambda's filter-criteria syntax (the CDK stack uses it as is) and as
 * a predicate (the local stream poller applies the same rule).
 */
export const STREAM_FILTER_PATTERN = { dynamodb: { Keys: { sk: { S: [{ prefix: SESSION_SK_PREFIX }] } } } };
export const isSessionStreamRecord = (keys: { sk?: { S?: string } } | undefined) =>
  keys?.sk?.S?.startsWith(SESSION_SK_PREFIX) ?? false;

/** The sweep index: its name, keys, and how many shards spread its partitions. */
export const SWEEP_INDEX = { name: 'sweep', partitionKey: 'sweep_pk', sortKey: 'sweep_at', shards: 4 } as const;

/** Input for DynamoDB's CreateTable, used by the local runtime and tests. */
export function createTableInput(tableName: string) {
  return {
    TableName: tableName,
    AttributeDefinitions: [
      { AttributeName: TABLE_KEYS.partitionKey, AttributeType: 'S' as const },
      { AttributeName: TABLE_KEYS.sortKey, AttributeType: 'S' as const },
      { AttributeName: SWEEP_INDEX.partitionKey, AttributeType: 'S' as const },
      { AttributeName: SWEEP_INDEX.sortKey, AttributeType: 'N' as const },
    ],
    KeySchema: [
      { AttributeName: TABLE_KEYS.partitionKey, KeyType: 'HASH' as const },
      { AttributeName: TABLE_KEYS.sortKey, KeyType: 'RANGE' as const },
    ],
    GlobalSecondaryIndexes: [
      {
        IndexName: SWEEP_INDEX.name,
        KeySchema: [
          { AttributeName: SWEEP_INDEX.partitionKey, KeyType: 'HASH' as const },
          { AttributeName: SWEEP_INDEX.sortKey, KeyType: 'RANGE' as const },
        ],
        Projection: { ProjectionType: 'KEYS_ONLY' as const },
      },
    ],
    BillingMode: 'PAY_PER_REQUEST' as const,
    StreamSpecification: { StreamEnabled: true, StreamViewType: STREAM_VIEW },
  };
}
