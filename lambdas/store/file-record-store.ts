import { DeleteCommand, GetCommand, TransactWriteCommand, UpdateCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { FileLinkRecord, FileRecord } from '../domain/file.js';
import type { Scope } from '../domain/session.js';
import { batchGetAll, cancellationReasons, errorName } from './dynamo.js';
import { scopeKey } from './session-store.js';
import { FILE_LINK_SK_PREFIX, FILE_SK_PREFIX } from './table.js';

export const fileRecordKey = (scope: Scope, id: string) => ({ pk: scopeKey(scope), sk: `${FILE_SK_PREFIX}${id}` });
export const fileRecordItem = (f: FileRecord) => ({ ...fileRecordKey(f, f.id), ...f });
const fileLinkKey = (scope: Scope, id: string) => ({ pk: scopeKey(scope), sk: `${FILE_LINK_SK_PREFIX}${id}` });

function strip<T>(item: Record<string, unknown>): T {
  const { pk: _pk, sk: _sk, ...rest } = item;
  return rest as T;
}

/** The file a link was asked for does not exist (or is being redacted). */
export class FileGone extends Error {}

/**
 * Records of the user's images (FILE#<file_id>) and of their file links
 * (FL#<link_id>), in the account's partition: another account's key never
 * reaches them. The checks worker writes the file records with the report
 * (SessionStore.commitWithReport); redaction deletes them with their links.
 */
export class FileRecordStore {
  constructor(
    private readonly doc: DynamoDBDocumentClient,
    readonly table: string,
  ) {}

  /** A file that is readable now: recorded, not being redacted, not past its expiry. */
  async get(scope: Scope, id: string, nowSeconds: number): Promise<FileRecord | undefined> {
    const r = await this.doc.send(new GetCommand({ TableName: this.table, Key: fileRecordKey(scope, id), ConsistentRead: true }));
    const f = r.Item ? strip<FileRecord>(r.Item) : undefined;
    return f && !f.redacted && f.expires_at > nowSeconds ? f : undefined;
  }

  async getLink(scope: Scope, id: string): Promise<FileLinkRecord | undefined> {
    const r = await this.doc.send(new GetCommand({ TableName: this.table, Key: fileLinkKey(scope, id), ConsistentRead: true }));
    return r.Item ? strip<FileLinkRecord>(r.Item) : undefined;
  }

  async getLinks(scope: Scope, ids: string[]): Promise<FileLinkRecord[]> {
    const found = (await batchGetAll(this.doc, this.table, ids.map((id) => fileLinkKey(scope, id)))).map((i) => strip<FileLinkRecord>(i));
    return found.sort((a, b) => b.created - a.created || (a.id < b.id ? 1 : -1));
  }

  /**
   * Stores a link and lists it on its file, in one transaction conditioned on
   * the file existing and not being redacted: redaction marks the file first,
   * so every link it reads from the file is every link there is.
   */
  async createLink(link: FileLinkRecord): Promise<void> {
    try {
      await this.doc.send(
        new TransactWriteCommand({
          TransactItems: [
            {
              Update: {
                TableName: this.table,
                Key: fileRecordKey(link, link.file),
                UpdateExpression: 'SET link_ids = list_append(if_not_exists(link_ids, :none), :id)',
                ConditionExpression: 'attribute_exists(pk) AND attribute_not_exists(redacted)',
                ExpressionAttributeValues: { ':none': [], ':id': [link.id] },
              },
            },
            { Put: { TableName: this.table, Item: { ...fileLinkKey(link, link.id), ...link }, ConditionExpression: 'attribute_not_exists(pk)' } },
          ],
        }),
      );
    } catch (err) {
      if (cancellationReasons(err)?.[0]?.code === 'ConditionalCheckFailed') throw new FileGone();
      throw err;
    }
  }

  /**
   * Redaction: marks each file redacted (no read and no new link from then
   * on), deletes its links, then the file record. Idempotent: a file already
   * deleted is skipped. Returns how many records were deleted.
   */
  async redact(scope: Scope, fileIds: string[]): Promise<number> {
    let deleted = 0;
    for (const id of fileIds) {
      let file: FileRecord;
      try {
        const r = await this.doc.send(
          new UpdateCommand({
            TableName: this.table,
            Key: fileRecordKey(scope, id),
            UpdateExpression: 'SET redacted = :t',
            ConditionExpression: 'attribute_exists(pk)',
            ExpressionAttributeValues: { ':t': true },
            ReturnValues: 'ALL_NEW',
          }),
        );
        file = strip<FileRecord>(r.Attributes!);
      } catch (err) {
        if (errorName(err) === 'ConditionalCheckFailedException') continue;
        throw err;
      }
      for (const linkId of file.link_ids ?? []) {
        await this.doc.send(new DeleteCommand({ TableName: this.table, Key: fileLinkKey(scope, linkId) }));
        deleted += 1;
      }
      await this.doc.send(new DeleteCommand({ TableName: this.table, Key: fileRecordKey(scope, id) }));
      deleted += 1;
    }
    return deleted;
  }
}
