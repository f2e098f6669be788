import { describe, expect, it } from 'vitest';
import { type HostLookup, checkEndpointUrl, classifyAddress } from '../../lambdas/webhooks/url-policy.js';

// No real DNS here: literal IPs, or an injected lookup; names under .invalid can never resolve.
const resolvesTo = (...addresses: string[]): HostLookup => async () =>
  addresses.map((address) => ({ address, family: address.includes(':') ? 6 : 4 }));
const noLookup: HostLookup = async (host) => {
  throw new Error(`unexpected lookup of ${host}`);
};

async function reason(url: string, livemode: boolean, lookup: HostLookup = noLookup): Promise<string> {
  const r = await checkEndpointUrl(url, livemode, lookup);
  if (r.ok) throw new Error(`expected ${url} to be refused`);
  return r.reason;
}

describe('live mode', () => {
  it('refuses http', async () => {
    expect(await reason('http://93.184.216.34/hook', true)).toMatch(/https/);
  });

  it('refuses loopback, metadata, private and shared addresses', async () => {
    expect(await reason('https://127.0.0.1/hook', true)).toMatch(/loopback/);
    expect(await reason('https://127.8.9.10:8443/hook', true)).toMatch(/loopback/);
    expect(await reason('https://169.254.169.254/latest/meta-data/', true)).toMatch(/link-local/);
    expect(await reason('https://10.0.0.1/hook', true)).toMatch(/private/);
    expect(await reason('https://172.20.1.1/hook', true)).toMatch(/private/);
    expect(await reason('https://192.168.1.1/hook', true)).toMatch(/private/);
    expect(await reason('https://100.64.0.1/hook', true)).toMatch(/CGNAT/);
    expect(await reason('https://0.0.0.0/hook', true)).toMatch(/unspecified/);
    expect(await reason('https://224.0.0.1/hook', true)).toMatch(/multicast/);
  });

  it('refuses IPv6 loopback, link-local, unique-local and IPv4 inside IPv6', async () => {
    expect(await reason('https://[::1]/hook', true)).toMatch(/loopback/);
    expect(await reason('https://[::ffff:127.0.0.1]/hook', true)).toMatch(/loopback/);
    expect(await reason('https://[::ffff:169.254.169.254]/hook', true)).toMatch(/link-local/);
    expect(await reason('https://[fe80::1]/hook', true)).toMatch(/link-local/);
    expect(await reason('https://[fd00:ec2::254]/hook', true)).toMatch(/private/);
  });

  it('refuses other spellings of loopback that the URL parser normalises', async () => {
    expect(await reason('https://2130706433/hook', true)).toMatch(/127\.0\.0\.1 is a loopback/);
    expect(await reason('https://0x7f.1/hook', true)).toMatch(/loopback/);
  });

  it('refuses a name that resolves to an internal address, even among public ones', async () => {
    // The refusal names the host as written, never the address it resolved to.
    const private_ = await reason('https://hooks.example.invalid/x', true, resolvesTo('10.1.2.3'));
    expect(private_).toMatch(/hooks\.example\.invalid resolves to a private address/);
    expect(private_).not.toContain('10.1.2.3');
    const mixed = await reason('https://hooks.example.invalid/x', true, resolvesTo('93.184.216.34', '127.0.0.1'));
    expect(mixed).toMatch(/resolves to a loopback address/);
    expect(mixed).not.toContain('127.0.0.1');
  });

  it('refuses metadata-style and localhost names without asking DNS', async () => {
    expect(await reason('https://metadata.google.internal/computeMetadata/v1/', true)).toMatch(/metadata/);
    expect(await reason('https://instance-data.ec2.internal/', true)).toMatch(/internal/);
    expect(await reason('https://localhost/hook', true)).toMatch(/loopback/);
  });

  it('refuses credentials, other schemes and unresolvable names', async () => {
    expect(await reason('https://user:secret@93.184.216.34/hook', true)).toMatch(/username or password/);
    expect(await reason('ftp://93.184.216.34/hook', true)).toMatch(/https/);
    const failing: HostLookup = async () => {
      throw Object.assign(new Error('getaddrinfo ENOTFOUND'), { code: 'ENOTFOUND' });
    };
    expect(await reason('https://nowhere.invalid/', true, failing)).toMatch(/could not be resolved \(ENOTFOUND\)/);
  });

  it('accepts public addresses and returns what it checked', async () => {
    const literal = await checkEndpointUrl('https://93.184.216.34/hook', true, noLookup);
    expect(literal).toMatchObject({ ok: true, addresses: [{ address: '93.184.216.34', family: 4 }] });
    const named = await checkEndpointUrl('https://hooks.example.invalid/x', true, resolvesTo('93.184.216.34', '2606:2800:220:1:248:1893:25c8:1946'));
    expect(named.ok && named.addresses.map((a) => a.address)).toEqual(['93.184.216.34', '2606:2800:220:1:248:1893:25c8:1946']);
  });
});

describe('test mode', () => {
  it('accepts http to loopback for local development', async () => {
    expect(await checkEndpointUrl('http://127.0.0.1:1234/hook', false, noLookup)).toMatchObject({ ok: true });
    expect(await checkEndpointUrl('http://[::1]:1234/hook', false, noLookup)).toMatchObject({ ok: true });
    expect(await checkEndpointUrl('http://localhost:1234/hook', false, resolvesTo('127.0.0.1', '::1'))).toMatchObject({ ok: true });
  });

  it('still refuses metadata, link-local and private addresses', async () => {
    expect(await reason('http://169.254.169.254/latest/meta-data/', false)).toMatch(/link-local/);
    expect(await reason('http://metadata.google.internal/', false)).toMatch(/metadata/);
    expect(await reason('http://10.0.0.1/hook', false)).toMatch(/private/);
    expect(await reason('http://localhost:1234/', false, resolvesTo('169.254.169.254'))).toMatch(/link-local/);
  });

  it('refuses loopback too where the service is deployed (allowLoopback: false)', async () => {
    const deployed = { allowLoopback: false };
    const refused = async (url: string) => {
      const r = await checkEndpointUrl(url, false, noLookup, deployed);
      if (r.ok) throw new Error(`expected ${url} to be refused`);
      return r.reason;
    };
    expect(await refused('http://127.0.0.1:9001/2018-06-01/runtime/invocation/next')).toMatch(/loopback is allowed only when the service runs locally/);
    expect(await refused('http://[::1]:1234/hook')).toMatch(/loopback/);
    expect(await refused('http://localhost:1234/hook')).toMatch(/loopback/);
    expect(await checkEndpointUrl('http://93.184.216.34/hook', false, noLookup, deployed)).toMatchObject({ ok: true });
    // Live mode never allows it, whatever the option says.
    expect((await checkEndpointUrl('https://127.0.0.1/hook', true, noLookup, { allowLoopback: true })).ok).toBe(false);
  });
});

describe('classifyAddress', () => {
  it('sees through IPv6 wrappers around IPv4', () => {
    expect(classifyAddress('::ffff:10.0.0.1')).toBe('private');
    expect(classifyAddress('::ffff:7f00:1')).toBe('loopback');
    expect(classifyAddress('64:ff9b::a9fe:a9fe')).toBe('link-local'); // NAT64 of 169.254.169.254
    expect(classifyAddress('2002:c0a8:101::1')).toBe('private'); // 6to4 of 192.168.1.1
    expect(classifyAddress('::ffff:93.184.216.34')).toBe('public');
    expect(classifyAddress('64:ff9b::5db8:d822')).toBe('public'); // NAT64 of 93.184.216.34
  });

  it('knows the special IPv6 ranges', () => {
    expect(classifyAddress('::')).toBe('unspecified');
    expect(classifyAddress('fe80::1%eth0')).toBe('link-local');
    expect(classifyAddress('ff02::1')).toBe('multicast');
    expect(classifyAddress('2001:db8::1')).toBe('reserved');
    expect(classifyAddress('2606:4700:4700::1111')).toBe('public');
  });

  it('keeps public IPv4 next to the private ranges public', () => {
    expect(classifyAddress('172.15.255.255')).toBe('public');
    expect(classifyAddress('172.32.0.0')).toBe('public');
    expect(classifyAddress('100.128.0.0')).toBe('public');
    expect(classifyAddress('11.0.0.1')).toBe('public');
  });
});
