import { invalidRequest, parameterMissing, parameterUnknown } from './errors.js';

/**
 * Validation of Stripe-style parameters as `qs` parses them from a form body or
 * a query string: every leaf is a string, booleans are "true"/"false" in any case, an empty
 * string unsets, arrays come as `[0]`-indexed or `[]` keys. A failure throws an
 * ApiError in Stripe's shape whose `param` is the bracketed name the caller sent
 * (`options[document][allowed_types][0]`), and nothing is changed.
 *
 * A parsed value of `null` means "the caller sent an empty string: unset it";
 * `undefined` means "not sent".
 */
export type Schema =
  | { kind: 'string'; max?: number; unsettable?: boolean }
  | { kind: 'boolean' }
  | { kind: 'integer'; min?: number; max?: number }
  | { kind: 'enum'; values: readonly string[]; unsettable?: boolean }
  | { kind: 'array'; items: Schema; max?: number }
  | { kind: 'object'; fields: Record<string, Schema>; required?: readonly string[]; unsettable?: boolean }
  | { kind: 'url'; max?: number; unsettable?: boolean }
  | { kind: 'metadata' }
  | { kind: 'range' }; // an integer, or {gt, gte, lt, lte}

export const METADATA_LIMITS = { keys: 50, keyLength: 40, valueLength: 500 } as const;
/**
 * Keys refused in metadata: a plain object cannot hold them as data (setting
 * `__proto__` changes the prototype instead), and form parsers drop them
 * silently. Refusing them says so instead of losing them.
 */
export const RESERVED_KEYS: readonly string[] = ['__proto__', 'constructor', 'prototype'];

/**
 * A stored string may take at most 3 bytes per character of its limit once
 * written as JSON (UTF-8, escapes included), so that an event carrying a
 * session at every limit stays under EventBridge's 256 KB per PutEvents call
 * (test/unit/events-bounds.test.ts measures the margin). Every printable
 * character is at most 3 bytes per UTF-16 unit, so text in any script passes;
 * only control characters that JSON writes as `\u0001` (six bytes) count
 * more. Without it, 5,000 such characters in one parameter would be 30 KB of
 * event, and a session at every limit about 317 KB. The check needs only the
 * request, so every write path (the update's single UpdateItem included)
 * enforces it.
 */
export const JSON_BYTES_PER_CHARACTER = 3;

const jsonBytes = (value: string) => Buffer.byteLength(JSON.stringify(value), 'utf8') - 2;

function assertJsonSize(value: string, maxCharacters: number, param: string, what = param) {
  const bytes = jsonBytes(value);
  if (bytes > JSON_BYTES_PER_CHARACTER * maxCharacters)
    throw invalidRequest(
      `Invalid ${what}: it takes ${bytes} bytes as JSON, and at most ${JSON_BYTES_PER_CHARACTER * maxCharacters} are allowed (${JSON_BYTES_PER_CHARACTER} per character of its ${maxCharacters}-character limit; a control character such as U+0001 takes 6).`,
      { param },
    );
}

export const str = (max = 5000, unsettable = true): Schema => ({ kind: 'string', max, unsettable });
export const bool = (): Schema => ({ kind: 'boolean' });
export const int = (min?: number, max?: number): Schema => ({ kind: 'integer', min, max });
export const oneOf = (values: readonly string[], unsettable = false): Schema => ({ kind: 'enum', values, unsettable });
export const arrayOf = (items: Schema, max = 100): Schema => ({ kind: 'array', items, max });
export type ObjectSchema = Extract<Schema, { kind: 'object' }>;
export const obj = (fields: Record<string, Schema>, opts: { required?: string[]; unsettable?: boolean } = {}): ObjectSchema => ({
  kind: 'object',
  fields,
  ...opts,
});
/** An absolute http(s) URL (see httpUrlProblem). */
export const url = (max = 5000, unsettable = true): Schema => ({ kind: 'url', max, unsettable });
export const metadata = (): Schema => ({ kind: 'metadata' });
export const range = (): Schema => ({ kind: 'range' });

/**
 * Why `value` is not a URL the service may send a browser to, or undefined if
 * it is one: it must be absolute, http or https, with a host, and hold no
 * control characters. The WHATWG parser silently drops tabs and line breaks
 * and trims C0 controls, so those are looked for in the raw string first; a
 * CR or LF that reached a Location header would make the response invalid.
 */
export function httpUrlProblem(value: string): string | undefined {
  if (/[\u0000-\u001f\u007f-\u009f]/.test(value)) return 'must not contain control characters (such as a line break or tab)';
  let parsed: URL;
  try {
    parsed = new URL(value);
  } catch {
    return 'must be an absolute URL, such as https://example.com/done';
  }
  if (parsed.protocol !== 'https:' && parsed.protocol !== 'http:') return 'must be an http or https URL';
  if (parsed.hostname === '') return 'must name a host';
  return undefined;
}

/**
 * The address to redirect a browser to for a stored URL, in its ASCII form
 * (a Location header holds no other characters), or undefined when the value
 * is not one httpUrlProblem accepts: then the caller does not redirect.
 */
export function redirectTarget(value: string | null | undefined): string | undefined {
  if (!value || httpUrlProblem(value) !== undefined) return undefined;
  return new URL(value).href;
}

/** Validates `input` (the whole parsed body or query) against an object schema. */
export function parseParams<T>(schema: ObjectSchema, input: unknown): T {
  if (input === undefined || input === null || input === '') return parseObject(schema, {}, '') as T;
  return parseObject(schema, input, '') as T;
}

const child = (parent: string, key: string | number) => (parent === '' ? String(key) : `${parent}[${key}]`);

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function describe(v: unknown): string {
  return typeof v === 'string' ? JSON.stringify(v) : isPlainObject(v) ? 'a hash' : Array.isArray(v) ? 'an array' : String(v);
}

function emptyNotAllowed(param: string) {
  return invalidRequest(
    `You passed an empty string for '${param}'. We assume empty values are an attempt to unset a parameter; however '${param}' cannot be unset. You should remove '${param}' from your request or supply a non-empty value.`,
    { code: 'parameter_invalid_empty', param },
  );
}

/** Kinds that take one value: a parameter sent twice (`type=a&type=b`) arrives as an array. */
const SINGLE_VALUE_KINDS: ReadonlySet<Schema['kind']> = new Set(['string', 'url', 'boolean', 'integer', 'enum']);

function parseValue(schema: Schema, value: unknown, param: string): unknown {
  if (Array.isArray(value) && SINGLE_VALUE_KINDS.has(schema.kind))
    throw invalidRequest(
      `Invalid ${param}: it takes one value, and was sent ${value.length === 1 ? 'as a list' : `${value.length} times`} (or with [] after its name).`,
      { param },
    );
  switch (schema.kind) {
    case 'string': {
      if (typeof value !== 'string') throw invalidRequest(`Invalid ${param}: must be a string, got ${describe(value)}.`, { param });
      if (value === '') {
        if (schema.unsettable) return null;
        throw emptyNotAllowed(param);
      }
      if (schema.max !== undefined && value.length > schema.max)
        throw invalidRequest(`Invalid ${param}: must be at most ${schema.max} characters long.`, { param });
      if (schema.max !== undefined) assertJsonSize(value, schema.max, param);
      return value;
    }
    case 'url': {
      const s = parseValue({ kind: 'string', max: schema.max, unsettable: schema.unsettable }, value, param);
      if (typeof s !== 'string') return s;
      const problem = httpUrlProblem(s);
      if (problem) throw invalidRequest(`Invalid ${param}: ${problem}.`, { code: 'url_invalid', param });
      return s;
    }
    case 'boolean': {
      // Any case, as Stripe reads them: stripe-python sends Python's `True` / `False`.
      if (typeof value === 'string' && value.toLowerCase() === 'true') return true;
      if (typeof value === 'string' && value.toLowerCase() === 'false') return false;
      if (value === '') throw emptyNotAllowed(param);
      throw invalidRequest(`Invalid boolean: ${describe(value)} for ${param}. Use true or false.`, { param });
    }
    case 'integer': {
      if (value === '') throw emptyNotAllowed(param);
      if (typeof value !== 'string' || !/^-?\d{1,15}$/.test(value))
        throw invalidRequest(`Invalid integer: ${describe(value)} for ${param}.`, { code: 'parameter_invalid_integer', param });
      const n = Number(value);
      if (schema.min !== undefined && n < schema.min)
        throw invalidRequest(`Invalid ${param}: must be at least ${schema.min}.`, { code: 'parameter_invalid_integer', param });
      if (schema.max !== undefined && n > schema.max)
        throw invalidRequest(`Invalid ${param}: must be at most ${schema.max}.`, { code: 'parameter_invalid_integer', param });
      return n;
    }
    case 'enum': {
      if (value === '') {
        if (schema.unsettable) return null;
        throw emptyNotAllowed(param);
      }
      if (typeof value !== 'string' || !schema.values.includes(value))
        throw invalidRequest(`Invalid ${param}: must be one of ${listOr(schema.values)}.`, { param });
      return value;
    }
    case 'array': {
      if (value === '') return [];
      let items: unknown[];
      if (Array.isArray(value)) items = value;
      else if (isPlainObject(value) && Object.keys(value).every((k) => /^\d+$/.test(k)))
        items = Object.keys(value)
          .sort((a, b) => Number(a) - Number(b))
          .map((k) => value[k]);
      else throw invalidRequest(`Invalid array for ${param}: send it as ${param}[0]=...&${param}[1]=...`, { param });
      if (schema.max !== undefined && items.length > schema.max)
        throw invalidRequest(`Invalid ${param}: at most ${schema.max} items are allowed.`, { param });
      return items.map((item, i) => parseValue(schema.items, item, child(param, i)));
    }
    case 'object': {
      if (value === '') {
        if (schema.unsettable) return null;
        throw emptyNotAllowed(param);
      }
      return parseObject(schema, value, param);
    }
    case 'metadata':
      return parseMetadata(value, param);
    case 'range': {
      if (typeof value === 'string') return parseValue({ kind: 'integer' }, value, param);
      const r = parseObject(
        { kind: 'object', fields: { gt: int(), gte: int(), lt: int(), lte: int() } },
        value,
        param,
      );
      return r;
    }
  }
}

function parseObject(schema: ObjectSchema, value: unknown, param: string): Record<string, unknown> {
  if (!isPlainObject(value)) throw invalidRequest(`Invalid ${param || 'request'}: must be a hash (send nested values as ${param}[key]=value).`, { param: param || undefined });
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(value)) {
    if (!Object.hasOwn(schema.fields, key)) throw parameterUnknown(child(param, key));
  }
  for (const [key, fieldSchema] of Object.entries(schema.fields)) {
    const v = value[key];
    if (v === undefined) continue;
    out[key] = parseValue(fieldSchema, v, child(param, key));
  }
  for (const key of schema.required ?? []) {
    if (out[key] === undefined || out[key] === null) throw parameterMissing(child(param, key));
  }
  return out;
}

/** Metadata: string values; an empty value (null after parsing) unsets that key. */
function parseMetadata(value: unknown, param: string): Record<string, string | null> | null {
  if (value === '') return null; // unset all keys
  if (!isPlainObject(value)) throw invalidRequest(`Invalid ${param}: must be a hash of key-value pairs, sent as ${param}[key]=value.`, { param });
  const keys = Object.keys(value);
  if (keys.length > METADATA_LIMITS.keys)
    throw invalidRequest(`Invalid ${param}: it can have at most ${METADATA_LIMITS.keys} keys, you sent ${keys.length}.`, { param });
  const out: Record<string, string | null> = {};
  for (const key of keys) {
    const p = child(param, key);
    const v = value[key];
    if (RESERVED_KEYS.includes(key))
      throw invalidRequest(`Invalid ${p}: '${key}' cannot be used as a metadata key (${listOr(RESERVED_KEYS)} are reserved).`, { param: p });
    if (key.length > METADATA_LIMITS.keyLength)
      throw invalidRequest(`Metadata keys can be at most ${METADATA_LIMITS.keyLength} characters long; '${key}' has ${key.length}.`, { param: p });
    if (typeof v !== 'string')
      throw invalidRequest(`Invalid ${p}: metadata values must be strings; square brackets are not allowed in metadata keys.`, { param: p });
    if (v.length > METADATA_LIMITS.valueLength)
      throw invalidRequest(`Metadata values can be at most ${METADATA_LIMITS.valueLength} characters long; the value of '${key}' has ${v.length}.`, { param: p });
    assertJsonSize(key, METADATA_LIMITS.keyLength, p, 'metadata key');
    assertJsonSize(v, METADATA_LIMITS.valueLength, p);
    out[key] = v === '' ? null : v;
  }
  return out;
}

export function listOr(values: readonly string[]): string {
  if (values.length <= 1) return values.join('');
  return `${values.slice(0, -1).join(', ')}, or ${values[values.length - 1]}`;
}
