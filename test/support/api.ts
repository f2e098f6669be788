import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { startLocalService, type LocalService, type LocalServiceOptions } from '../../local/service.js';
import { freshTable } from './dynamo.js';
import { until } from './until.js';

export interface ApiResult {
  status: number;
  headers: Headers;
  body: any;
}

export type Call = (
  method: string,
  path: string,
  form?: string | Record<string, string>,
  opts?: { key?: string | null; headers?: Record<string, string> },
) => Promise<ApiResult>;

export type TestService = LocalService & { call: Call; doc: DynamoDBDocumentClient };

/** The local service (HTTP adapter + API handler) on a fresh table of the run's DynamoDB Local. */
export async function startTestService(opts: Omit<LocalServiceOptions, 'dynamoEndpoint' | 'tableName'> = {}): Promise<TestService> {
  const { endpoint, tableName, doc } = await freshTable('api');
  const service = await startLocalService({ port: 0, ...opts, dynamoEndpoint: endpoint, tableName });
  const call: Call = (method, path, form, opts = {}) =>
    request(service.baseUrl, opts.key === undefined ? service.secretKey : opts.key, method, path, form, opts.headers);
  return Object.assign(service, { call, doc });
}

export async function request(
  baseUrl: string,
  key: string | null,
  method: string,
  path: string,
  form?: string | Record<string, string>,
  headers: Record<string, string> = {},
): Promise<ApiResult> {
  const body = form === undefined ? undefined : typeof form === 'string' ? form : new URLSearchParams(form).toString();
  const res = await fetch(baseUrl + path, {
    method,
    headers: {
      ...(key ? { authorization: `Bearer ${key}` } : {}),
      ...(body !== undefined ? { 'content-type': 'application/x-www-form-urlencoded' } : {}),
      ...headers,
    },
    body,
  });
  const text = await res.text();
  return { status: res.status, headers: res.headers, body: JSON.parse(text) };
}

/** The session once its checks have ended (not `processing`), with its last report expanded. */
export async function settledSession(svc: TestService, id: string) {
  const r = await until(
    `the checks of ${id}`,
    () => svc.call('GET', `/v1/identity/verification_sessions/${id}?expand[]=last_verification_report`),
    (r) => r.body.status !== 'processing',
  );
  return r.body;
}
