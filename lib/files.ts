import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import { BlockPublicAccess, Bucket, BucketEncryption, HttpMethods, ObjectOwnership } from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import { FILE_RETENTION_DAYS } from '../lambdas/store/file-store.js';

/**
 * How long a user's image is kept (defined beside the file store, which dates
 * the Files API's `expires_at` by it). The images are needed only for the
 * checks and for a later review of their outcome; a redaction deletes a
 * session's images at once, well before this.
 */
export { FILE_RETENTION_DAYS };

/** A multipart upload the browser never finished is aborted (and its parts deleted) after this many days. */
export const INCOMPLETE_UPLOAD_DAYS = 1;

export interface FilesProps {
  /**
   * What happens to the bucket when it leaves the stack.
   * @default RemovalPolicy.RETAIN (users' images outlive a stack mistake; the lifecycle rule still empties the bucket)
   */
  readonly removalPolicy?: RemovalPolicy;
}

/**
 * The users' images: the hosted page uploads them straight to S3 with
 * presigned POSTs made by the API function, the checks worker reads them, a
 * redaction deletes them, and the lifecycle rule expires whatever is left.
 * Private (no public access, no ACLs), encrypted at rest with S3-managed keys,
 * reachable over TLS only.
 */
export class Files extends Construct {
  readonly bucket: Bucket;

  constructor(scope: Construct, id: string, props: FilesProps = {}) {
    super(scope, id);

    this.bucket = new Bucket(this, 'Bucket', {
      blockPublicAccess: BlockPublicAccess.BLOCK_ALL,
      // ACLs are disabled: every object belongs to the bucket owner, whoever uploaded it.
      objectOwnership: ObjectOwnership.BUCKET_OWNER_ENFORCED,
      // SSE-S3, the encryption the presigned uploads ask for (AES256).
      encryption: BucketEncryption.S3_MANAGED,
      enforceSSL: true,
      // No versions: a deleted image (redaction) must be gone, not kept as a noncurrent version.
      versioned: false,
      lifecycleRules: [
        {
          id: 'ExpireUserImages',
          expiration: Duration.days(FILE_RETENTION_DAYS),
          abortIncompleteMultipartUploadAfter: Duration.days(INCOMPLETE_UPLOAD_DAYS),
        },
      ],
      // CORS: allowUploadsFrom, once the page's origin is known.
      removalPolicy: props.removalPolicy ?? RemovalPolicy.RETAIN,
    });
  }

  /**
   * Let the hosted page, served from `origin` (`https://host`, no path), POST
   * its presigned uploads to the bucket from the browser. Only that origin and
   * only POST: a multipart form POST sends no custom header, so no header is
   * allowed and none is preflighted. The POST itself still needs a policy the
   * API signed for one key, content type, encryption and size range.
   */
  allowUploadsFrom(origin: string): void {
    this.bucket.addCorsRule({ allowedOrigins: [origin], allowedMethods: [HttpMethods.POST], maxAge: 3600 });
  }
}
