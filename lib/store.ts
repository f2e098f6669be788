import { RemovalPolicy } from 'aws-cdk-lib';
import { AttributeType, Billing, ProjectionType, StreamViewType, TableV2 } from 'aws-cdk-lib/aws-dynamodb';
import { Construct } from 'constructs';
import { type IGrantable, PolicyStatement } from 'aws-cdk-lib/aws-iam';
import type { ITableV2 } from 'aws-cdk-lib/aws-dynamodb';
import { STREAM_VIEW, SWEEP_INDEX, TABLE_KEYS, TTL_ATTRIBUTE } from '../lambdas/store/table.js';

export interface StoreProps {
  /**
   * Refuse DeleteTable while enabled, even from CloudFormation.
   * @default true
   */
  readonly deletionProtection?: boolean;
  /**
   * What happens to the table when it leaves the stack.
   * @default RemovalPolicy.RETAIN (sessions and events outlive a stack mistake)
   */
  readonly removalPolicy?: RemovalPolicy;
}

/**
 * The service's single DynamoDB table: sessions, events, idempotency records
 * and API keys. Keys, TTL attribute and stream view come from
 * lambdas/store/table.ts, the definition the local runtime uses too.
 */
export class Store extends Construct {
  readonly table: TableV2;

  constructor(scope: Construct, id: string, props: StoreProps = {}) {
    super(scope, id);

    this.table = new TableV2(this, 'Table', {
      partitionKey: { name: TABLE_KEYS.partitionKey, type: AttributeType.STRING },
      sortKey: { name: TABLE_KEYS.sortKey, type: AttributeType.STRING },
      billing: Billing.onDemand(),
      timeToLiveAttribute: TTL_ATTRIBUTE,
      // The events publisher derives each event from the old and new image.
      dynamoStream: StreamViewType[STREAM_VIEW],
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      deletionProtection: props.deletionProtection ?? true,
      removalPolicy: props.removalPolicy ?? RemovalPolicy.RETAIN,
      // Sessions a scheduled sweep may act on (lambdas/sweep): keys only, so it stays small.
      globalSecondaryIndexes: [
        {
          indexName: SWEEP_INDEX.name,
          partitionKey: { name: SWEEP_INDEX.partitionKey, type: AttributeType.STRING },
          sortKey: { name: SWEEP_INDEX.sortKey, type: AttributeType.NUMBER },
          projectionType: ProjectionType.KEYS_ONLY,
        },
      ],
    });
  }
}

/**
 * DynamoDB actions on the table itself, not on its indexes: `table.grant`
 * adds `<table>/index/*` as soon as the table has an index, and only the
 * sweeper reads the sweep index (lib/sweep.ts grants it that alone).
 */
export function grantOnTable(table: ITableV2, grantee: IGrantable, ...actions: string[]): void {
  grantee.grantPrincipal.addToPrincipalPolicy(new PolicyStatement({ actions, resources: [table.tableArn] }));
}

/**
 * Partition-key prefixes (lambdas/store/table.ts): `A#` is everything of an
 * account (sessions, events, reports, files, webhooks), `IK#` its idempotency
 * records. API keys (`KEY#`) are neither.
 */
export const ACCOUNT_ITEMS = 'A#*';
export const IDEMPOTENCY_ITEMS = 'IK#*';

/**
 * Like grantOnTable, but only on items whose partition key matches one of
 * `partitionKeyPatterns` (`dynamodb:LeadingKeys`): a worker that only ever
 * touches account items cannot read or write the API keys' hashes.
 */
export function grantOnTableItems(table: ITableV2, grantee: IGrantable, actions: readonly string[], partitionKeyPatterns: readonly string[]): void {
  grantee.grantPrincipal.addToPrincipalPolicy(
    new PolicyStatement({
      actions: [...actions],
      resources: [table.tableArn],
      conditions: { 'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': [...partitionKeyPatterns] } },
    }),
  );
}
