import { lookup as dnsLookup } from 'node:dns/promises';
import { BlockList, isIP } from 'node:net';
import { endpointUrlProblem } from '../domain/webhook-endpoint.js';

/**
 * Where webhooks may be sent. The service runs inside the operator's AWS
 * account, so an endpoint URL is a request the merchant makes the service send
 * from there: it must not reach the instance metadata service, the VPC, or the
 * service itself. Live mode allows public addresses only. Test mode also
 * allows loopback, so `http://127.0.0.1:PORT` works during local development,
 * but never link-local (metadata) or private networks.
 *
 * The check runs when an endpoint is created or changed and again before each
 * delivery, which then connects to exactly the addresses checked here, so a
 * name that later re-resolves to an internal address (DNS rebinding) is caught.
 * The only network traffic here is DNS resolution.
 */

export interface ResolvedAddress {
  address: string;
  family: number;
}

/** Resolves a host name to all its addresses (node:dns/promises lookup with all: true by default). */
export type HostLookup = (hostname: string) => Promise<ResolvedAddress[]>;

export type UrlCheck = { ok: true; url: URL; addresses: ResolvedAddress[] } | { ok: false; reason: string };

export type AddressKind =
  | 'public'
  | 'loopback'
  | 'private'
  | 'link-local'
  | 'shared (CGNAT)'
  | 'unspecified'
  | 'multicast'
  | 'reserved';

export const defaultLookup: HostLookup = (hostname) => dnsLookup(hostname, { all: true });

// Special-purpose ranges (RFC 6890 and friends). Anything not listed is public.
const RANGES: [network: string, prefix: number, kind: Exclude<AddressKind, 'public'>][] = [
  ['0.0.0.0', 8, 'unspecified'],
  ['10.0.0.0', 8, 'private'],
  ['100.64.0.0', 10, 'shared (CGNAT)'],
  ['127.0.0.0', 8, 'loopback'],
  ['169.254.0.0', 16, 'link-local'], // 169.254.169.254: AWS, GCP and Azure instance metadata
  ['172.16.0.0', 12, 'private'],
  ['192.0.0.0', 24, 'reserved'],
  ['192.0.2.0', 24, 'reserved'],
  ['192.88.99.0', 24, 'reserved'],
  ['192.168.0.0', 16, 'private'],
  ['198.18.0.0', 15, 'reserved'],
  ['198.51.100.0', 24, 'reserved'],
  ['203.0.113.0', 24, 'reserved'],
  ['224.0.0.0', 4, 'multicast'],
  ['240.0.0.0', 4, 'reserved'], // includes 255.255.255.255
  ['::', 128, 'unspecified'],
  ['::1', 128, 'loopback'],
  ['100::', 64, 'reserved'],
  ['2001::', 32, 'reserved'], // Teredo: the IPv4 inside is obfuscated, so refuse it whole
  ['2001:db8::', 32, 'reserved'],
  ['64:ff9b:1::', 48, 'reserved'],
  ['fc00::', 7, 'private'], // includes fd00:ec2::254, the IPv6 instance metadata address
  ['fe80::', 10, 'link-local'],
  ['fec0::', 10, 'private'],
  ['ff00::', 8, 'multicast'],
];

const BLOCKS = new Map<AddressKind, BlockList>();
for (const [network, prefix, kind] of RANGES) {
  const list = BLOCKS.get(kind) ?? new BlockList();
  list.addSubnet(network, prefix, isIP(network) === 4 ? 'ipv4' : 'ipv6');
  BLOCKS.set(kind, list);
}

function inRanges(address: string, family: 'ipv4' | 'ipv6'): AddressKind {
  for (const [kind, list] of BLOCKS) if (list.check(address, family)) return kind;
  return 'public';
}

/** The eight 16-bit groups of an IPv6 address (the URL parser normalises dotted tails and `::`). */
function ipv6Groups(address: string): number[] {
  const canonical = new URL(`http://[${address}]/`).hostname.slice(1, -1);
  const [head, tail] = canonical.split('::');
  const parse = (part: string | undefined) => (part ? part.split(':').map((g) => parseInt(g, 16)) : []);
  const left = parse(head);
  const right = parse(tail);
  return tail === undefined ? left : [...left, ...new Array<number>(8 - left.length - right.length).fill(0), ...right];
}

const v4 = (hi: number, lo: number) => `${hi >> 8}.${hi & 255}.${lo >> 8}.${lo & 255}`;

/** The IPv4 address an IPv6 address carries and would reach, if any. */
function embeddedIPv4(g: number[]): string | undefined {
  const zero = (from: number, to: number) => g.slice(from, to).every((x) => x === 0);
  if (zero(0, 5) && g[5] === 0xffff) return v4(g[6], g[7]); // IPv4-mapped ::ffff:a.b.c.d
  if (zero(0, 4) && g[4] === 0xffff && g[5] === 0) return v4(g[6], g[7]); // IPv4-translated ::ffff:0:a.b.c.d
  if (zero(0, 6)) return v4(g[6], g[7]); // IPv4-compatible ::a.b.c.d (deprecated)
  if (g[0] === 0x64 && g[1] === 0xff9b && zero(2, 6)) return v4(g[6], g[7]); // NAT64 64:ff9b::/96
  if (g[0] === 0x2002) return v4(g[1], g[2]); // 6to4 2002:AABB:CCDD::/48
  return undefined;
}

/** What kind of address `address` (an IP literal) is; anything not special is 'public'. */
export function classifyAddress(address: string): AddressKind {
  const bare = address.replace(/^\[|\]$/g, '');
  // A zone index (fe80::1%eth0) only makes sense for link-local addresses.
  if (bare.includes('%')) return 'link-local';
  const family = isIP(bare);
  if (family === 4) return inRanges(bare, 'ipv4');
  if (family !== 6) throw new Error(`not an IP address: ${address}`);
  const direct = inRanges(bare, 'ipv6');
  if (direct === 'unspecified' || direct === 'loopback') return direct;
  const inner = embeddedIPv4(ipv6Groups(bare));
  return inner !== undefined ? inRanges(inner, 'ipv4') : direct;
}

/** Names that reach cloud metadata or internal-only DNS whatever they resolve to. */
function isInternalName(host: string): boolean {
  return host === 'metadata' || host === 'instance-data' || host === 'internal' || host.endsWith('.internal');
}

const isLocalhostName = (host: string) => host === 'localhost' || host.endsWith('.localhost');

export interface UrlPolicyOptions {
  /**
   * Whether loopback addresses are allowed. Default: in test mode only. A
   * deployed service turns it off in test mode too: in Lambda, loopback is the
   * runtime API of the function itself.
   */
  allowLoopback?: boolean;
}

function allowed(kind: AddressKind, allowLoopback: boolean): boolean {
  return kind === 'public' || (allowLoopback && kind === 'loopback');
}

/** Why an address of this kind is refused, as the end of a sentence. */
function refusal(kind: AddressKind, livemode: boolean, allowLoopback: boolean): string {
  const what = kind === 'link-local' ? 'a link-local address (where instance metadata services live)' : `a ${kind} address`;
  if (kind === 'loopback')
    return livemode ? `${what}; only test-mode endpoints may use loopback` : `${what}; loopback is allowed only when the service runs locally (npm start)`;
  return `${what}; webhook endpoints need a public address${allowLoopback ? ' (test mode also allows loopback)' : ''}`;
}

/** Checks `url` for an endpoint in live or test mode; resolves its host with `lookup`. */
export async function checkEndpointUrl(
  url: string,
  livemode: boolean,
  lookup: HostLookup = defaultLookup,
  opts: UrlPolicyOptions = {},
): Promise<UrlCheck> {
  const allowLoopback = !livemode && (opts.allowLoopback ?? true);
  const problem = endpointUrlProblem(url, livemode);
  if (problem) return { ok: false, reason: problem };
  const parsed = new URL(url);
  // The WHATWG parser already turned 2130706433 or 0x7f.1 into 127.0.0.1; drop IPv6 brackets and a trailing dot.
  const host = parsed.hostname.replace(/^\[|\]$/g, '').replace(/\.$/, '').toLowerCase();

  if (isInternalName(host)) return { ok: false, reason: `${host} is an internal or metadata host name` };
  if (!allowLoopback && isLocalhostName(host)) return { ok: false, reason: `${host} is ${refusal('loopback', livemode, allowLoopback)}` };

  let addresses: ResolvedAddress[];
  const literal = isIP(host);
  if (literal !== 0) {
    addresses = [{ address: host, family: literal }];
  } else {
    try {
      addresses = await lookup(host);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
      return { ok: false, reason: `${host} could not be resolved (${code})` };
    }
    if (addresses.length === 0) return { ok: false, reason: `${host} resolves to no address` };
  }

  // Every address must pass: a name may mix a public and an internal address.
  for (const { address } of addresses) {
    const kind = classifyAddress(address);
    if (!allowed(kind, allowLoopback)) {
      // Name only what the caller wrote: the address a name resolves to is the service's view of the network.
      const subject = literal !== 0 ? `${address} is` : `${host} resolves to`;
      return { ok: false, reason: `${subject} ${refusal(kind, livemode, allowLoopback)}` };
    }
  }
  return { ok: true, url: parsed, addresses };
}
