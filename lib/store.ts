import { RemovalPolicy } from 'aws-cdk-lib';
import { AttributeType, Billing, StreamViewType, TableV2 } from 'aws-cdk-lib/aws-dynamodb';
import { Construct } from 'constructs';
import { STREAM_VIEW, TABLE_KEYS, TTL_ATTRIBUTE } from '../lambdas/store/table.js';

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
    });
  }
}
