import { beforeAll, describe, expect, it } from 'vitest';
import type { FileLinkRecord, FileRecord } from '../../lambdas/domain/file.js';
import { newAccountId, randomId } from '../../lambdas/domain/ids.js';
import { FileGone, FileRecordStore, fileRecordItem } from '../../lambdas/store/file-record-store.js';
import { PutCommand } from '@aws-sdk/lib-dynamodb';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { freshTable } from '../support/dynamo.js';

let store: FileRecordStore;
let doc: DynamoDBDocumentClient;
let table: string;
const scope = { account: newAccountId(), livemode: false };
const NOW = Math.floor(Date.now() / 1000);

beforeAll(async () => {
  ({ doc, tableName: table } = await freshTable('files'));
  store = new FileRecordStore(doc, table);
});

async function storedFile(): Promise<FileRecord> {
  const f: FileRecord = {
    id: randomId('file', 24),
    ...scope,
    session: 'vs_x',
    slot: 'document_front',
    storage_key: `${scope.account}/test/vs_x/1/document_front`,
    content_type: 'image/png',
    size: 70,
    created: NOW,
    expires_at: NOW + 30 * 86400,
  };
  await doc.send(new PutCommand({ TableName: table, Item: fileRecordItem(f) }));
  return f;
}
const linkTo = (f: FileRecord): FileLinkRecord => ({
  id: randomId('link', 24),
  ...scope,
  file: f.id,
  created: NOW,
  link_expires_at: null,
  expires_at: f.expires_at,
  metadata: {},
  secret: 'x'.repeat(32),
});

describe('file records', () => {
  it('redaction deletes a file and every link made before it; a link asked for afterwards is refused', async () => {
    const f = await storedFile();
    const links = [linkTo(f), linkTo(f)];
    for (const l of links) await store.createLink(l);
    expect((await store.get(scope, f.id, NOW))!.link_ids).toEqual(links.map((l) => l.id));

    expect(await store.redact(scope, [f.id])).toBe(3);
    expect(await store.get(scope, f.id, NOW)).toBeUndefined();
    for (const l of links) expect(await store.getLink(scope, l.id)).toBeUndefined();
    await expect(store.createLink(linkTo(f))).rejects.toBeInstanceOf(FileGone);
    // A retried redaction finds nothing left to do.
    expect(await store.redact(scope, [f.id])).toBe(0);
  });

  it('a file marked by a redaction under way is unreadable and takes no new link', async () => {
    const f = await storedFile();
    await doc.send(new PutCommand({ TableName: table, Item: { ...fileRecordItem(f), redacted: true } }));
    expect(await store.get(scope, f.id, NOW)).toBeUndefined();
    await expect(store.createLink(linkTo(f))).rejects.toBeInstanceOf(FileGone);
  });

  it('a file past its expiry is not readable, and another account never reads it', async () => {
    const f = await storedFile();
    expect(await store.get(scope, f.id, f.expires_at)).toBeUndefined();
    expect(await store.get({ account: newAccountId(), livemode: false }, f.id, NOW)).toBeUndefined();
    expect(await store.get({ ...scope, livemode: true }, f.id, NOW)).toBeUndefined();
    expect(await store.get(scope, f.id, NOW)).toBeDefined();
  });
});
