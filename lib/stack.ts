import { CfnOutput, Stack, type StackProps } from 'aws-cdk-lib';
import type { Construct } from 'constructs';
import { Api } from './api.js';
import { Store } from './store.js';

export interface VerificationSessionsStackProps extends StackProps {
  /**
   * Deletion protection on the table. Turn it off only for throwaway stacks.
   * @default true
   */
  readonly deletionProtection?: boolean;
}

/** The whole service in one stack: the table and the HTTP API in front of it. */
export class VerificationSessionsStack extends Stack {
  readonly store: Store;
  readonly api: Api;

  constructor(scope: Construct, id: string, props: VerificationSessionsStackProps = {}) {
    super(scope, id, props);

    this.store = new Store(this, 'Store', { deletionProtection: props.deletionProtection });
    this.api = new Api(this, 'Api', { table: this.store.table });

    new CfnOutput(this, 'ApiUrl', {
      description: 'Base URL of the API; its host name is the `host` option of the stripe client',
      value: this.api.url,
    });
    new CfnOutput(this, 'TableName', {
      description: 'DynamoDB table holding sessions, events and idempotency records',
      value: this.store.table.tableName,
    });
  }
}
