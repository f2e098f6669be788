/**
 * The one definition of the service's DynamoDB table. The CDK stack (lib/store.ts)
 * and the local runtime (local/dynamodb.ts) both build the table from it, so the
 * keys, the TTL attribute and the stream settings cannot drift apart.
 *
 * Item layout (single table):
 *   session         pk = "A#<account>#<test|live>"  sk = "VS#<vs_id>"
 *   idempotency     pk = "IK#<account>#<test|live>#<key>"  sk = "IK"
 *   api key         pk = "KEY#<sha256 of the key>"  sk = "KEY"
 * Sessions of one account and mode share a partition: a retrieve is one GetItem,
 * a list is one Query, and an account can never address another account's items.
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

/** Input for DynamoDB's CreateTable, used by the local runtime and tests. */
export function createTableInput(tableName: string) {
  return {
    TableName: tableName,
    AttributeDefinitions: [
      { AttributeName: TABLE_KEYS.partitionKey, AttributeType: 'S' as const },
      { AttributeName: TABLE_KEYS.sortKey, AttributeType: 'S' as const },
    ],
    KeySchema: [
      { AttributeName: TABLE_KEYS.partitionKey, KeyType: 'HASH' as const },
      { AttributeName: TABLE_KEYS.sortKey, KeyType: 'RANGE' as const },
    ],
    BillingMode: 'PAY_PER_REQUEST' as const,
    StreamSpecification: { StreamEnabled: true, StreamViewType: STREAM_VIEW },
  };
}
