/**
 * An item's size as DynamoDB bills it, from its attribute names and values
 * (not DynamoDB Local's ReturnConsumedCapacity, which rounds differently):
 * strings and binaries by their bytes, numbers about one byte per two
 * significant digits plus one, null and booleans one byte, lists and maps
 * three bytes plus one byte per element plus their contents (a map's keys
 * count like attribute names). A write costs one unit per started KB of the
 * larger of the old and new item; a transactional write costs two.
 */
export function itemSize(item: Record<string, unknown>): number {
  let size = 0;
  for (const [name, value] of Object.entries(item)) {
    if (value === undefined) continue;
    size += Buffer.byteLength(name) + valueSize(value);
  }
  return size;
}

function valueSize(value: unknown): number {
  if (value === null || typeof value === 'boolean') return 1;
  if (typeof value === 'string') return Buffer.byteLength(value);
  if (typeof value === 'number' || typeof value === 'bigint') {
    const digits = String(value).replace(/^-/, '').replace('.', '').replace(/^0+/, '').replace(/0+$/, '');
    return Math.ceil(Math.max(digits.length, 1) / 2) + 1;
  }
  if (value instanceof Uint8Array) return value.byteLength;
  if (Array.isArray(value)) return 3 + value.reduce((n: number, v) => n + 1 + valueSize(v), 0);
  if (value instanceof Set) return [...value].reduce((n: number, v) => n + valueSize(v), 0);
  if (typeof value === 'object') return 3 + Object.entries(value as object).reduce((n, [k, v]) => (v === undefined ? n : n + 1 + Buffer.byteLength(k) + valueSize(v)), 0);
  throw new Error(`itemSize: no DynamoDB type for ${typeof value}`);
}

/** Write units of a PutItem or UpdateItem: one per started KB of the larger of the old and new item. */
export const writeUnits = (oldBytes: number, newBytes: number) => Math.max(1, Math.ceil(Math.max(oldBytes, newBytes) / 1024));
