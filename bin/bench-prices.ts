/**
 * AWS list prices the benchmark's cost figure multiplies by: us-east-1, on
 * demand, no free tier, first pricing tier. Written down from the public
 * pricing pages named below as they stood in late 2026 (this machine cannot
 * reach them: check them before relying on a figure).
 */
export const PRICES_AS_OF = '2026-12-01 (us-east-1 list prices, first tier, free tier ignored)';

export const PRICES = {
  /** https://aws.amazon.com/api-gateway/pricing/ — HTTP APIs, first 300 million requests a month. */
  httpApiPerMillionRequests: 1.0,
  /** https://aws.amazon.com/lambda/pricing/ — Arm (Graviton2), first 7.5 billion GB-s a month. */
  lambdaArmPerGbSecond: 0.0000133334,
  lambdaPerMillionRequests: 0.2,
  /** https://aws.amazon.com/dynamodb/pricing/on-demand/ — standard table class (after the November 2024 cut). */
  dynamoPerMillionWriteUnits: 0.625,
  dynamoPerMillionReadUnits: 0.125,
  dynamoStoragePerGbMonth: 0.25,
  /**
   * DynamoDB Streams read requests. GetRecords made by a Lambda trigger are
   * free ("no charge for GetRecords API calls invoked by AWS Lambda as part of
   * DynamoDB triggers"), which is how the publisher reads the stream.
   */
  streamsPerMillionReadRequests: 0.2,
  /** https://aws.amazon.com/eventbridge/pricing/ — custom events, each 64 KB chunk of a PutEvents entry is one event. */
  eventBridgePerMillionEvents: 1.0,
  /** https://aws.amazon.com/sqs/pricing/ — standard queues, each 64 KB chunk of a request is one request. */
  sqsPerMillionRequests: 0.4,
  /** https://aws.amazon.com/s3/pricing/ — S3 Standard. */
  s3PutPerThousand: 0.005,
  s3GetPerThousand: 0.0004,
  s3StoragePerGbMonth: 0.023,
  /** https://aws.amazon.com/cloudwatch/pricing/ — Logs, standard class ingestion. */
  logsIngestionPerGb: 0.5,
  /** https://aws.amazon.com/textract/pricing/ — AnalyzeID, per page, first million pages a month. */
  textractAnalyzeIdPerPage: 0.025,
  /** https://aws.amazon.com/rekognition/pricing/ — Image APIs group 1 (CompareFaces), per image, first million a month. */
  rekognitionCompareFacesPerImage: 0.001,
} as const;

/** Lambda bills duration in 1 ms steps. */
export const LAMBDA_BILLING_STEP_MS = 1;
/** What CloudWatch Logs receives from Lambda itself per invocation (START, END, REPORT lines), roughly. */
export const LAMBDA_PLATFORM_LOG_BYTES = 350;
