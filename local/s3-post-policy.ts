import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { type IncomingMessage, type Server, type ServerResponse, createServer, request as httpRequest } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * S3's evaluation of a browser-based POST upload (its signed policy), for the
 * local stand-in: s3rver 3.7.1 stores POST uploads but ignores the policy, so
 * without this a page could upload any size, type or key locally that S3
 * refuses. The rules follow S3's documentation of POST policies
 * (https://docs.aws.amazon.com/AmazonS3/latest/API/sigv4-HTTPPOSTConstructPolicy.html):
 * the signature covers the base64 policy; the policy must not have expired;
 * every condition must hold (exact match, `eq`, `starts-with`,
 * `content-length-range` on the file's size); every form field before the
 * file must be named by a condition, except the signature, the policy, the
 * file and `x-ignore-*` fields. Field names compare case-insensitively, values
 * exactly.
 */

/** An error S3 answers with, in its own XML shape. */
export interface S3Refusal {
  status: number;
  code: string;
  message: string;
  detail?: Record<string, string | number>;
}

export interface PostUpload {
  bucket: string;
  /** The form fields before the file, in order. */
  fields: [string, string][];
  fileSize: number;
}

type Condition = Record<string, string> | [string, string, string | number, (string | number)?];

const EXEMPT_FIELDS = new Set(['x-amz-signature', 'file', 'policy']);

const denied = (message: string): S3Refusal => ({ status: 403, code: 'AccessDenied', message });
const policyDenied = (why: string) => denied(`Invalid according to Policy: ${why}`);

const hmac = (key: Buffer | string, data: string) => createHmac('sha256', key).update(data, 'utf8').digest();

/** The SigV4 signature of a POST policy (the string to sign is the base64 policy itself). */
export function signPolicy(policyBase64: string, secretAccessKey: string, date: string, region: string, service = 's3'): string {
  const key = hmac(hmac(hmac(hmac(`AWS4${secretAccessKey}`, date), region), service), 'aws4_request');
  return createHmac('sha256', key).update(policyBase64, 'utf8').digest('hex');
}

/**
 * Undefined when S3 would store the upload; otherwise the error S3 answers
 * with. `credentials` maps access key ids to their secrets.
 */
export function evaluatePostPolicy(upload: PostUpload, credentials: Record<string, string>, nowMs: number): S3Refusal | undefined {
  const field = new Map<string, string>();
  for (const [name, value] of upload.fields) if (!field.has(name.toLowerCase())) field.set(name.toLowerCase(), value);

  const policyBase64 = field.get('policy');
  if (policyBase64 === undefined) return denied('Access Denied');
  const credential = field.get('x-amz-credential') ?? '';
  const [accessKeyId, date, region, service, terminator] = credential.split('/');
  if (field.get('x-amz-algorithm') !== 'AWS4-HMAC-SHA256' || !date || !region || service !== 's3' || terminator !== 'aws4_request')
    return { status: 400, code: 'InvalidArgument', message: 'POST requires X-Amz-Algorithm AWS4-HMAC-SHA256 and a valid X-Amz-Credential', detail: { ArgumentName: 'x-amz-credential', ArgumentValue: credential } };
  const secret = credentials[accessKeyId ?? ''];
  if (secret === undefined)
    return { status: 403, code: 'InvalidAccessKeyId', message: 'The AWS Access Key Id you provided does not exist in our records.', detail: { AWSAccessKeyId: accessKeyId ?? '' } };
  const expected = Buffer.from(signPolicy(policyBase64, secret, date, region), 'hex');
  const given = Buffer.from(field.get('x-amz-signature') ?? '', 'hex');
  if (given.length !== expected.length || !timingSafeEqual(given, expected))
    return {
      status: 403,
      code: 'SignatureDoesNotMatch',
      message: 'The request signature we calculated does not match the signature you provided. Check your key and signing method.',
    };

  let policy: { expiration?: string; conditions?: Condition[] };
  try {
    policy = JSON.parse(Buffer.from(policyBase64, 'base64').toString('utf8'));
  } catch {
    return { status: 400, code: 'InvalidPolicyDocument', message: 'Invalid Policy: Invalid JSON.' };
  }
  const expiresMs = Date.parse(policy.expiration ?? '');
  if (!Array.isArray(policy.conditions) || Number.isNaN(expiresMs))
    return { status: 400, code: 'InvalidPolicyDocument', message: 'Invalid Policy: Policy missing expiration or conditions.' };
  if (expiresMs < nowMs) return policyDenied('Policy expired.');

  // The bucket is the one addressed, whatever a field says.
  const valueOf = (name: string) => (name.toLowerCase() === 'bucket' ? upload.bucket : field.get(name.toLowerCase()));
  const named = new Set<string>();
  for (const c of policy.conditions) {
    if (Array.isArray(c)) {
      const [op, target, arg, arg2] = c;
      if (op === 'content-length-range') {
        const min = Number(target);
        const max = Number(arg);
        if (upload.fileSize > max)
          return { status: 400, code: 'EntityTooLarge', message: 'Your proposed upload exceeds the maximum allowed size', detail: { ProposedSize: upload.fileSize, MaxSizeAllowed: max } };
        if (upload.fileSize < min)
          return { status: 400, code: 'EntityTooSmall', message: 'Your proposed upload is smaller than the minimum allowed size', detail: { ProposedSize: upload.fileSize, MinSizeAllowed: min } };
        continue;
      }
      if ((op !== 'eq' && op !== 'starts-with') || typeof target !== 'string' || !target.startsWith('$') || typeof arg !== 'string' || arg2 !== undefined)
        return { status: 400, code: 'InvalidPolicyDocument', message: `Invalid Policy: Invalid Condition: ${JSON.stringify(c)}` };
      const name = target.slice(1);
      named.add(name.toLowerCase());
      const value = valueOf(name);
      if (value === undefined || (op === 'eq' ? value !== arg : !value.startsWith(arg)))
        return policyDenied(`Policy Condition failed: ${JSON.stringify(c)}`);
    } else {
      for (const [name, expectedValue] of Object.entries(c)) {
        named.add(name.toLowerCase());
        if (valueOf(name) !== expectedValue) return policyDenied(`Policy Condition failed: ${JSON.stringify(['eq', `$${name}`, expectedValue])}`);
      }
    }
  }
  const extra = [...field.keys()].filter((n) => !EXEMPT_FIELDS.has(n) && !n.startsWith('x-ignore-') && !named.has(n));
  if (extra.length > 0) return policyDenied(`Extra input fields: ${extra.join(', ')}`);
  return undefined;
}

const xmlEscape = (v: string) => v.replace(/[<>&'"]/g, (c) => `&#${c.charCodeAt(0)};`);

/** The XML body S3 sends with an error. */
export function s3ErrorXml(r: S3Refusal, requestId: string): string {
  const detail = Object.entries(r.detail ?? {})
    .map(([k, v]) => `<${k}>${xmlEscape(String(v))}</${k}>`)
    .join('');
  return `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${r.code}</Code><Message>${xmlEscape(r.message)}</Message>${detail}<RequestId>${requestId}</RequestId><HostId>${requestId}</HostId></Error>`;
}

/**
 * A body larger than this is refused before it is read to the end. S3 itself
 * reads up to 5 GB; here the page's files are capped far below this.
 */
export const FRONT_MAX_BODY_BYTES = 64 * 1024 * 1024;

export interface PostPolicyFront {
  endpoint: string;
  stop(): Promise<void>;
}

/** A POST to a bucket's root without a query (?delete is DeleteObjects): a browser upload. */
function isFormUpload(req: IncomingMessage): string | undefined {
  if (req.method !== 'POST') return undefined;
  const url = new URL(req.url ?? '/', 'http://front');
  const m = /^\/([^/]+)\/?$/.exec(url.pathname);
  if (!m || url.search !== '' || !/^multipart\/form-data/i.test(req.headers['content-type'] ?? '')) return undefined;
  return decodeURIComponent(m[1]!);
}

/**
 * An HTTP front on 127.0.0.1 for s3rver: every request passes through
 * unchanged, except browser POST uploads, whose signed policy is evaluated
 * first (evaluatePostPolicy). A refused upload gets S3's error, with the CORS
 * header the bucket's rule gives, so the page sees what it would see on S3.
 */
export async function startPostPolicyFront(opts: { target: string; credentials: Record<string, string> }): Promise<PostPolicyFront> {
  const target = new URL(opts.target);

  const pass = (req: IncomingMessage, res: ServerResponse, body?: Buffer) => {
    const upstream = httpRequest(
      { host: target.hostname, port: target.port, method: req.method, path: req.url, headers: req.headers },
      (up) => {
        res.writeHead(up.statusCode ?? 502, up.headers);
        up.pipe(res);
      },
    );
    upstream.on('error', (err) => {
      if (!res.headersSent) res.writeHead(502, { 'content-type': 'text/plain' });
      res.end(String(err));
    });
    if (body) upstream.end(body);
    else req.pipe(upstream);
  };

  const refuse = (req: IncomingMessage, res: ServerResponse, r: S3Refusal) => {
    const requestId = randomBytes(8).toString('hex').toUpperCase();
    const headers: Record<string, string> = { 'content-type': 'application/xml', 'x-amz-request-id': requestId };
    if (req.headers.origin) headers['access-control-allow-origin'] = '*';
    res.writeHead(r.status, headers);
    res.end(s3ErrorXml(r, requestId));
  };

  const server: Server = createServer((req, res) => {
    const bucket = isFormUpload(req);
    if (bucket === undefined) return pass(req, res);
    const chunks: Buffer[] = [];
    let size = 0;
    let refused = false;
    req.on('data', (chunk: Buffer) => {
      if (refused) return;
      size += chunk.length;
      if (size > FRONT_MAX_BODY_BYTES) {
        refused = true;
        refuse(req, res, { status: 400, code: 'EntityTooLarge', message: 'Your proposed upload exceeds the maximum allowed size', detail: { ProposedSize: size } });
        req.resume();
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', async () => {
      if (refused) return;
      const body = Buffer.concat(chunks);
      let form: FormData;
      try {
        form = await new Response(body, { headers: { 'content-type': req.headers['content-type']! } }).formData();
      } catch {
        return refuse(req, res, { status: 400, code: 'MalformedPOSTRequest', message: 'The body of your POST request is not well-formed multipart/form-data.' });
      }
      const fields: [string, string][] = [];
      let fileSize: number | undefined;
      for (const [name, value] of form.entries()) {
        if (name.toLowerCase() === 'file') {
          fileSize = typeof value === 'string' ? Buffer.byteLength(value) : value.size;
          break; // S3 ignores what follows the file
        }
        if (typeof value === 'string') fields.push([name, value]);
      }
      if (fileSize === undefined)
        return refuse(req, res, { status: 400, code: 'InvalidArgument', message: 'POST requires exactly one file upload per request.', detail: { ArgumentName: 'file', ArgumentValue: 0 } });
      const refusal = evaluatePostPolicy({ bucket, fields, fileSize }, opts.credentials, Date.now());
      if (refusal) return refuse(req, res, refusal);
      pass(req, res, body);
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    stop: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
