import { GetCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { Scope } from '../domain/session.js';
import { type SettingsRecord, emptySettings } from '../domain/settings.js';
import { type SaveWith, putWithSavedResult } from './idempotency.js';
import { scopeKey } from './session-store.js';
import { SETTINGS_SK } from './table.js';

/** An account's settings, in its partition like its sessions. */
export const settingsKey = (scope: Scope) => ({ pk: scopeKey(scope), sk: SETTINGS_SK });

/** Another write changed the settings between the read and this write. */
export class SettingsChanged extends Error {}

export class SettingsStore {
  constructor(
    private readonly doc: DynamoDBDocumentClient,
    readonly table: string,
  ) {}

  /** The account's settings (empty ones when never set); consistent for the API, eventually consistent for the page. */
  async get(scope: Scope, consistent = true): Promise<SettingsRecord> {
    const r = await this.doc.send(
      new GetCommand({ TableName: this.table, Key: settingsKey(scope), ConsistentRead: consistent, ReturnConsumedCapacity: 'TOTAL' }),
    );
    if (!r.Item) return emptySettings(scope);
    const { pk: _pk, sk: _sk, ...rest } = r.Item;
    return rest as SettingsRecord;
  }

  /**
   * Writes the next settings if nobody else wrote since `expectedVersion` was
   * read (else SettingsChanged); with `save`, in one transaction with the
   * Idempotency-Key's saved result.
   */
  async put(next: SettingsRecord, expectedVersion: number, save?: SaveWith): Promise<void> {
    const put = {
      TableName: this.table,
      Item: { ...settingsKey(next), ...next },
      ConditionExpression: 'attribute_not_exists(pk) OR version = :v',
      ExpressionAttributeValues: { ':v': expectedVersion },
    };
    await putWithSavedResult(this.doc, put, save, () => {
      throw new SettingsChanged();
    });
  }
}
