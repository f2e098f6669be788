import { DescribeTableCommand, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import {
  DescribeStreamCommand,
  DynamoDBStreamsClient,
  GetRecordsCommand,
  GetShardIteratorCommand,
  type _Record as StreamRecord,
} from '@aws-sdk/client-dynamodb-streams';
import { GetCommand, PutCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { DynamoDBBatchResponse, DynamoDBRecord, DynamoDBStreamEvent } from 'aws-lambda';
import { isSessionStreamRecord } from '../lambdas/store/table.js';
import { localClientConfig } from './dynamodb.js';
import { invocation } from './invocations.js';

export type StreamHandler = (event: DynamoDBStreamEvent) => Promise<DynamoDBBatchResponse | void>;

export interface StreamPollerOptions {
  endpoint: string;
  tableName: string;
  /** Where the last processed sequence number per shard is kept across restarts. */
  checkpoints: DynamoDBDocumentClient;
  handler: StreamHandler;
  batchSize?: number;
  idleDelayMs?: number;
  log?: (line: string) => void;
}

type AttributeValue = Record<string, unknown>;

/**
 * DynamoDB Local writes an empty map into stream images as `{}` instead of
 * `{"M": {}}` (real DynamoDB Streams and Lambda do not), which no unmarshaller
 * accepts. Restore the type, at any depth.
 */
export function repairEmptyMaps(image: Record<string, AttributeValue> | undefined): Record<string, AttributeValue> | undefined {
  if (!image) return image;
  const repair = (av: AttributeValue): AttributeValue => {
    if (Object.keys(av).length === 0) return { M: {} };
    if (av.M) return { M: repairEmptyMaps(av.M as Record<string, AttributeValue>) };
    if (Array.isArray(av.L)) return { L: (av.L as AttributeValue[]).map(repair) };
    return av;
  };
  return Object.fromEntries(Object.entries(image).map(([k, v]) => [k, repair(v)]));
}

/** In Lambda's stream event shape: the SDK's records carry Dates and need a few renamings. */
function toLambdaRecord(r: StreamRecord, streamArn: string): DynamoDBRecord {
  return {
    eventID: r.eventID,
    eventName: r.eventName as DynamoDBRecord['eventName'],
    eventVersion: r.eventVersion ?? '1.1',
    eventSource: 'aws:dynamodb',
    awsRegion: r.awsRegion ?? 'us-east-1',
    eventSourceARN: streamArn,
    dynamodb: {
      ApproximateCreationDateTime: r.dynamodb?.ApproximateCreationDateTime
        ? Math.floor(new Date(r.dynamodb.ApproximateCreationDateTime).getTime() / 1000)
        : undefined,
      Keys: r.dynamodb?.Keys as never,
      NewImage: repairEmptyMaps(r.dynamodb?.NewImage as unknown as Record<string, AttributeValue>) as never,
      OldImage: repairEmptyMaps(r.dynamodb?.OldImage as unknown as Record<string, AttributeValue>) as never,
      SequenceNumber: r.dynamodb?.SequenceNumber,
      SizeBytes: r.dynamodb?.SizeBytes,
      StreamViewType: r.dynamodb?.StreamViewType as never,
    },
  };
}

/**
 * What Lambda's event source mapping does in AWS, for DynamoDB Local: reads the
 * table's stream, keeps only the records the mapping's filter keeps (session
 * items), invokes the handler with batches in order, and honours
 * `batchItemFailures` by reading again from the first failed record.
 */
export class StreamPoller {
  private stopped = false;
  private loop?: Promise<void>;
  private readonly streams: DynamoDBStreamsClient;
  private readonly log: (line: string) => void;

  constructor(private readonly opts: StreamPollerOptions) {
    this.streams = new DynamoDBStreamsClient(localClientConfig(opts.endpoint));
    this.log = opts.log ?? (() => {});
  }

  async start(): Promise<void> {
    const ddb = new DynamoDBClient(localClientConfig(this.opts.endpoint));
    const table = await ddb.send(new DescribeTableCommand({ TableName: this.opts.tableName }));
    ddb.destroy();
    const streamArn = table.Table?.LatestStreamArn;
    if (!streamArn) throw new Error(`Table ${this.opts.tableName} has no stream`);
    this.loop = this.run(streamArn).catch((err) => this.log(`stream poller stopped: ${err instanceof Error ? err.stack : err}`));
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.loop;
    this.streams.destroy();
  }

  private checkpointKey(shardId: string) {
    return { pk: `LOCAL#stream#${this.opts.tableName}`, sk: shardId };
  }

  private async iteratorFor(streamArn: string, shardId: string, from?: { at: string }): Promise<string | undefined> {
    let input: ConstructorParameters<typeof GetShardIteratorCommand>[0];
    if (from) input = { StreamArn: streamArn, ShardId: shardId, ShardIteratorType: 'AT_SEQUENCE_NUMBER', SequenceNumber: from.at };
    else {
      const saved = await this.opts.checkpoints.send(new GetCommand({ TableName: this.opts.tableName, Key: this.checkpointKey(shardId) }));
      const after = saved.Item?.sequence_number as string | undefined;
      input = after
        ? { StreamArn: streamArn, ShardId: shardId, ShardIteratorType: 'AFTER_SEQUENCE_NUMBER', SequenceNumber: after }
        : { StreamArn: streamArn, ShardId: shardId, ShardIteratorType: 'TRIM_HORIZON' };
    }
    return (await this.streams.send(new GetShardIteratorCommand(input))).ShardIterator;
  }

  private async run(streamArn: string): Promise<void> {
    const iterators = new Map<string, string | undefined>();
    const batchSize = this.opts.batchSize ?? 100;
    const idle = this.opts.idleDelayMs ?? 25;
    while (!this.stopped) {
      // New shards appear when DynamoDB rolls them over; closed ones end with no next iterator.
      const desc = await this.streams.send(new DescribeStreamCommand({ StreamArn: streamArn }));
      for (const shard of desc.StreamDescription?.Shards ?? []) {
        if (shard.ShardId && !iterators.has(shard.ShardId)) iterators.set(shard.ShardId, await this.iteratorFor(streamArn, shard.ShardId));
      }
      let busy = false;
      for (const [shardId, iterator] of iterators) {
        if (!iterator || this.stopped) continue;
        const out = await this.streams.send(new GetRecordsCommand({ ShardIterator: iterator, Limit: batchSize }));
        const records = out.Records ?? [];
        let next = out.NextShardIterator;
        const wanted = records.filter((r) => isSessionStreamRecord(r.dynamodb?.Keys as { sk?: { S?: string } }));
        if (wanted.length > 0) {
          busy = true;
          const result = await invocation('publisher', () => this.opts.handler({ Records: wanted.map((r) => toLambdaRecord(r, streamArn)) }));
          const failed = result?.batchItemFailures?.[0]?.itemIdentifier;
          if (failed) {
            this.log(`stream handler reported a failure at ${failed}; retrying from there`);
            next = await this.iteratorFor(streamArn, shardId, { at: failed });
            iterators.set(shardId, next);
            await new Promise((r) => setTimeout(r, 500));
            continue;
          }
        }
        // Checkpoint only after session records: a checkpoint write is itself a
        // (filtered-out) stream record, and checkpointing that would never end.
        const last = records[records.length - 1]?.dynamodb?.SequenceNumber;
        if (last && wanted.length > 0)
          await this.opts.checkpoints.send(
            new PutCommand({ TableName: this.opts.tableName, Item: { ...this.checkpointKey(shardId), sequence_number: last } }),
          );
        iterators.set(shardId, next);
      }
      if (!busy) await new Promise((r) => setTimeout(r, idle));
    }
  }
}
