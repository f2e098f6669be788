/**
 * Errors a caller can hit, in Stripe's shape: HTTP status, error type, code,
 * the parameter concerned and a message a person can act on. Anything else that
 * escapes a handler is rendered as a generic `api_error` without details.
 */
export type StripeErrorType =
  | 'invalid_request_error'
  | 'authentication_error'
  | 'idempotency_error'
  | 'rate_limit_error'
  | 'api_error';

export interface ApiErrorBody {
  type: StripeErrorType;
  message: string;
  code?: string;
  param?: string;
}

export class ApiError extends Error {
  readonly status: number;
  readonly type: StripeErrorType;
  readonly code?: string;
  readonly param?: string;
  /** Tells Stripe clients whether retrying the same request can help. */
  readonly shouldRetry?: boolean;

  constructor(
    status: number,
    type: StripeErrorType,
    message: string,
    opts: { code?: string; param?: string; shouldRetry?: boolean } = {},
  ) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.type = type;
    this.code = opts.code;
    this.param = opts.param;
    this.shouldRetry = opts.shouldRetry;
  }

  toBody(): { error: ApiErrorBody } {
    const error: ApiErrorBody = { type: this.type, message: this.message };
    if (this.code !== undefined) error.code = this.code;
    if (this.param !== undefined) error.param = this.param;
    return { error };
  }
}

export const invalidRequest = (message: string, opts: { code?: string; param?: string } = {}) =>
  new ApiError(400, 'invalid_request_error', message, opts);

export const parameterUnknown = (param: string) =>
  invalidRequest(`Received unknown parameter: ${param}`, { code: 'parameter_unknown', param });

export const parameterMissing = (param: string) =>
  invalidRequest(`Missing required param: ${param}.`, { code: 'parameter_missing', param });

export const resourceMissing = (what: string, id: string, param = 'id') =>
  new ApiError(404, 'invalid_request_error', `No such ${what}: '${id}'`, {
    code: 'resource_missing',
    param,
  });

/**
 * A missing or wrong API key. Stripe sends `invalid_request_error` with a 401
 * on the wire (its clients pick their authentication error class from the
 * status), so this does too.
 */
export const authenticationFailed = (message: string) =>
  new ApiError(401, 'invalid_request_error', message);

export const internalError = () =>
  new ApiError(500, 'api_error', 'An unexpected error occurred on our side. Retry the request; if it keeps failing, contact the operator of this service.', {
    shouldRetry: true,
  });
