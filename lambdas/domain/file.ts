import { createHash } from 'node:crypto';
import type { FileSlot, Scope } from './session.js';

/**
 * The user's images as Stripe's Files API shows them (`file` and `file_link`
 * objects, shapes from stripe-node 23.1.0's `resources/Files.d.ts` and
 * `resources/FileLinks.d.ts`). Reports name them by id (`document.files`,
 * `selfie.document`, `selfie.selfie`); the storage keys stay private.
 */

/** A Stripe-style file id for a storage key (the key cannot be read back from it). */
export const fileIdFor = (key: string) => `file_${createHash('sha256').update(key).digest('base64url').replace(/[-_]/g, '').slice(0, 24)}`;

/**
 * Stripe Identity's purposes: `identity_document_downloadable` ("image of a
 * document collected by Stripe Identity") and `selfie`. These are also the
 * only identity purposes Stripe allows file links for.
 */
export const purposeOf = (slot: FileSlot) => (slot === 'selfie' ? 'selfie' : 'identity_document_downloadable');

/** Stripe's `type` names for the content types the hosted page may upload. */
const TYPES: Record<string, string> = { 'image/jpeg': 'jpg', 'image/png': 'png', 'image/webp': 'webp' };
export const fileTypeOf = (contentType: string | undefined) => (contentType ? (TYPES[contentType] ?? null) : null);

/** Bytes sniffImageType needs from the start of a file. */
export const SNIFF_BYTES = 12;
const startsWith = (b: Uint8Array, at: number, sig: number[]) => sig.every((v, i) => b[at + i] === v);
const ascii = (s: string) => [...s].map((c) => c.charCodeAt(0));

/**
 * The image type a file's first bytes show (JPEG, PNG or WebP signature), or
 * undefined. The content type an upload named is only what the browser (or
 * any holder of the page link) said: a file record takes this instead, so a
 * PDF sent as image/jpeg is not labelled `jpg`.
 */
export function sniffImageType(start: Uint8Array | undefined): 'image/jpeg' | 'image/png' | 'image/webp' | undefined {
  if (!start) return undefined;
  if (startsWith(start, 0, [0xff, 0xd8, 0xff])) return 'image/jpeg';
  if (startsWith(start, 0, [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])) return 'image/png';
  if (startsWith(start, 0, ascii('RIFF')) && startsWith(start, 8, ascii('WEBP'))) return 'image/webp';
  return undefined;
}

/** One uploaded image, recorded when the checks that read it end. */
export interface FileRecord {
  id: string;
  account: string;
  livemode: boolean;
  session: string;
  slot: FileSlot;
  /** Where the bytes are (lambdas/store/file-store.ts fileKey): never shown. */
  storage_key: string;
  /** The image type the stored bytes start with (sniffImageType), not the one the upload named; undefined: none of ours. */
  content_type: string | undefined;
  size: number;
  /** Upload time, unix seconds. */
  created: number;
  /** When the bucket's lifecycle rule deletes the bytes (unix seconds); also the item's TTL. */
  expires_at: number;
  /** The file links made for this file: redaction deletes exactly these. */
  link_ids?: string[];
  /** Set by redaction before it deletes the record: no link can be made any more. */
  redacted?: boolean;
}

export interface FileLinkRecord {
  id: string;
  account: string;
  livemode: boolean;
  file: string;
  created: number;
  /** The link's own expiry (null: none); `expires_at` is the item's TTL, the file's. */
  link_expires_at: number | null;
  expires_at: number;
  metadata: Record<string, string>;
  /** The random part of the link's URL; compared in constant time. */
  secret: string;
}

export const isLinkExpired = (l: FileLinkRecord, nowSeconds: number) => l.link_expires_at !== null && l.link_expires_at <= nowSeconds;

/** `url` of a file: where its contents are read with the API key, as Stripe shows it. */
export const fileContentsUrl = (baseUrl: string, id: string) => `${baseUrl.replace(/\/$/, '')}/v1/files/${id}/contents`;

// link token = mode (t or l) + account id without `acct_` (16) + secret (32)
const LINK_TOKEN = /^([tl])([0-9A-Za-z]{16})([0-9A-Za-z]{32})$/;
export const LINK_SECRET_CHARS = 32;
export const fileLinkUrl = (baseUrl: string, l: FileLinkRecord) =>
  `${baseUrl.replace(/\/$/, '')}/links/${l.id}/${l.livemode ? 'l' : 't'}${l.account.replace(/^acct_/, '')}${l.secret}`;
/** The account, mode and secret a link URL's token names (not yet checked against the link). */
export function parseLinkToken(token: string): { scope: Scope; secret: string } | undefined {
  const m = LINK_TOKEN.exec(token);
  return m ? { scope: { account: `acct_${m[2]}`, livemode: m[1] === 'l' }, secret: m[3] } : undefined;
}

export function renderFileLink(l: FileLinkRecord, baseUrl: string, nowSeconds: number) {
  const expired = isLinkExpired(l, nowSeconds);
  return {
    id: l.id,
    object: 'file_link',
    created: l.created,
    expired,
    expires_at: l.link_expires_at,
    file: l.file,
    livemode: l.livemode,
    metadata: l.metadata,
    url: expired ? null : fileLinkUrl(baseUrl, l),
  };
}

export function renderFile(f: FileRecord, links: FileLinkRecord[], baseUrl: string, nowSeconds: number) {
  const type = fileTypeOf(f.content_type);
  return {
    id: f.id,
    object: 'file',
    created: f.created,
    expires_at: f.expires_at,
    filename: `${f.slot}${type ? `.${type}` : ''}`,
    links: {
      object: 'list',
      data: links.map((l) => renderFileLink(l, baseUrl, nowSeconds)),
      has_more: false,
      url: `/v1/file_links?file=${f.id}`,
    },
    purpose: purposeOf(f.slot),
    size: f.size,
    title: null,
    type,
    url: fileContentsUrl(baseUrl, f.id),
  };
}
