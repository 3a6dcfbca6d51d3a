/** Unit tests of the upgrade guard's per-IP state: client IP behind proxies, rate buckets, memory bounds. */
import type { IncomingMessage } from 'node:http';
import { silentLogger } from '../src/logger.js';
import { createStats } from '../src/stats.js';
import {
  HandshakeRateLimiter,
  normalizeIp,
  parseProxySpec,
  TrustedProxies,
  UpgradeGuard,
  type UpgradeGuardOptions,
} from '../src/upgrade.js';

function fakeReq(peer: string, headers: Record<string, string> = {}): IncomingMessage {
  return { socket: { remoteAddress: peer }, headers } as unknown as IncomingMessage;
}

function guard(overrides: Partial<UpgradeGuardOptions> = {}): UpgradeGuard {
  return new UpgradeGuard({
    allowedOrigins: [],
    maxConnections: 1000,
    maxPendingPerIp: 64,
    handshakeRate: 0,
    trustedProxies: [],
    stats: createStats(),
    logger: silentLogger,
    ...overrides,
  });
}

describe('client IP', () => {
  test('normalizeIp folds IPv4-mapped IPv6 and case', () => {
    expect(normalizeIp('::ffff:127.0.0.1')).toBe('127.0.0.1');
    expect(normalizeIp('::FFFF:10.1.2.3')).toBe('10.1.2.3');
    expect(normalizeIp('2001:DB8::1')).toBe('2001:db8::1');
    expect(normalizeIp('::ffff:abcd')).toBe('::ffff:abcd');
  });

  test('parseProxySpec accepts addresses and CIDR blocks, rejects anything else', () => {
    expect(parseProxySpec('10.0.0.1')).toEqual({ address: '10.0.0.1', prefix: undefined, family: 'ipv4' });
    expect(parseProxySpec('10.0.0.0/8')).toEqual({ address: '10.0.0.0', prefix: 8, family: 'ipv4' });
    expect(parseProxySpec('fd00::/8')).toEqual({ address: 'fd00::', prefix: 8, family: 'ipv6' });
    for (const bad of ['', 'proxy.internal', '10.0.0.0/33', 'fd00::/129', '10.0.0.0/', '10.0.0.0/x', '1.2.3.4:80']) {
      expect(() => parseProxySpec(bad)).toThrow(RangeError);
    }
  });

  test('X-Forwarded-For is ignored from untrusted peers', () => {
    const p = new TrustedProxies(['10.0.0.1']);
    expect(p.clientIp('192.0.2.5', '203.0.113.9')).toBe('192.0.2.5');
    expect(p.clientIp('::ffff:192.0.2.5', '203.0.113.9')).toBe('192.0.2.5');
    expect(new TrustedProxies([]).clientIp('127.0.0.1', '203.0.113.9')).toBe('127.0.0.1');
  });

  test('from a trusted peer: the right-most entry that is not a trusted proxy', () => {
    const p = new TrustedProxies(['10.0.0.1', '172.16.0.0/12', 'fd00::/8']);
    expect(p.clientIp('10.0.0.1', undefined)).toBe('10.0.0.1');
    expect(p.clientIp('10.0.0.1', '203.0.113.9')).toBe('203.0.113.9');
    expect(p.clientIp('10.0.0.1', 'forged, 198.51.100.1, 203.0.113.9')).toBe('203.0.113.9');
    expect(p.clientIp('10.0.0.1', '203.0.113.9, 172.16.5.5, 172.20.0.1')).toBe('203.0.113.9');
    expect(p.clientIp('::ffff:10.0.0.1', '203.0.113.9')).toBe('203.0.113.9');
    expect(p.clientIp('fd12::1', '2001:db8::7')).toBe('2001:db8::7');
    expect(p.clientIp('10.0.0.1', ['198.51.100.1', '203.0.113.9'])).toBe('203.0.113.9');
    // Ports and brackets some proxies add.
    expect(p.clientIp('10.0.0.1', '203.0.113.9:5555')).toBe('203.0.113.9');
    expect(p.clientIp('10.0.0.1', '[2001:db8::9]:443')).toBe('2001:db8::9');
    // All hops trusted: the left-most one.
    expect(p.clientIp('10.0.0.1', '172.16.0.9, 10.0.0.1')).toBe('172.16.0.9');
    // An unparsable entry stops the walk at the nearest trusted hop; empty items are skipped.
    expect(p.clientIp('10.0.0.1', 'unknown')).toBe('10.0.0.1');
    expect(p.clientIp('10.0.0.1', '203.0.113.9, junk, 172.16.0.2')).toBe('172.16.0.2');
    expect(p.clientIp('10.0.0.1', '203.0.113.9, ')).toBe('203.0.113.9');
  });
});

describe('HandshakeRateLimiter', () => {
  test('token bucket: burst 2× the rate, then one token per 1/rate seconds', () => {
    let now = 0;
    const rl = new HandshakeRateLimiter({ rate: 10, now: () => now });
    for (let i = 0; i < 20; i++) expect(rl.take('a')).toBe(true);
    expect(rl.take('a')).toBe(false);
    expect(rl.take('b')).toBe(true);
    now += 99;
    expect(rl.take('a')).toBe(false);
    now += 2;
    expect(rl.take('a')).toBe(true);
    expect(rl.take('a')).toBe(false);
    now += 60_000;
    for (let i = 0; i < 20; i++) expect(rl.take('a')).toBe(true);
    expect(rl.take('a')).toBe(false);
  });

  test('idle entries (bucket full again) are swept; the table never exceeds maxEntries', () => {
    let now = 0;
    const rl = new HandshakeRateLimiter({ rate: 10, maxEntries: 100, now: () => now });
    for (let i = 0; i < 50; i++) rl.take(`10.0.0.${i}`);
    expect(rl.size).toBe(50);
    now += 1000; // half refilled: kept
    expect(rl.sweep()).toBe(0);
    rl.take('10.0.0.7'); // used again: moves to the recent end
    now += 1001; // 2 s after the first 50: full again
    expect(rl.sweep()).toBe(49);
    expect(rl.size).toBe(1);
    // 10,000 distinct IPs within the idle window: bounded, oldest evicted.
    for (let i = 0; i < 10_000; i++) rl.take(`2001:db8::${i.toString(16)}`);
    expect(rl.size).toBe(100);
    expect(rl.evictions).toBeGreaterThan(9000);
    // A new IP after the window sweeps the lot.
    now += 2001;
    rl.take('192.0.2.1');
    expect(rl.size).toBe(1);
  });

  test('rejects a nonsensical configuration', () => {
    expect(() => new HandshakeRateLimiter({ rate: 0 })).toThrow(RangeError);
    expect(() => new HandshakeRateLimiter({ rate: 1, maxEntries: 0 })).toThrow(RangeError);
  });
});

describe('UpgradeGuard', () => {
  test('the rate applies per client IP and refusals are 429 "rate"', () => {
    let now = 0;
    const g = guard({ handshakeRate: 1, trustedProxies: ['127.0.0.1'], now: () => now });
    expect(g.check(fakeReq('192.0.2.1'))).toBeUndefined();
    expect(g.check(fakeReq('192.0.2.1'))).toBeUndefined();
    expect(g.check(fakeReq('192.0.2.1'))).toEqual({ status: 429, reason: 'rate' });
    expect(g.check(fakeReq('192.0.2.1', { 'x-forwarded-for': '203.0.113.1' }))).toEqual({
      status: 429,
      reason: 'rate',
    });
    expect(g.check(fakeReq('127.0.0.1', { 'x-forwarded-for': '203.0.113.1' }))).toBeUndefined();
    now += 1000;
    expect(g.check(fakeReq('192.0.2.1'))).toBeUndefined();
  });

  test('the pending table refuses new IPs once it holds maxTrackedIps (existing ones keep working)', () => {
    const g = guard({ maxTrackedIps: 2 });
    g.pendingByIp.set('192.0.2.1', 1);
    g.pendingByIp.set('192.0.2.2', 1);
    expect(g.check(fakeReq('192.0.2.3'))).toEqual({ status: 429, reason: 'per_ip' });
    expect(g.check(fakeReq('192.0.2.1'))).toBeUndefined();
    g.pendingByIp.delete('192.0.2.2');
    expect(g.check(fakeReq('192.0.2.3'))).toBeUndefined();
  });

  test('the rate table of a guard is bounded by maxTrackedIps', () => {
    const g = guard({ handshakeRate: 50, maxTrackedIps: 10 });
    for (let i = 0; i < 1000; i++) g.check(fakeReq(`198.51.100.${i % 256}`, {}));
    expect(g.rateLimiter?.size).toBeLessThanOrEqual(10);
  });
});

describe('startGateway options', () => {
  const base = { accounts: { getAccount: () => undefined }, degas: { resolve: () => undefined }, adminPort: false };
  test('handshakeRate and trustedProxies are validated', async () => {
    const { startGateway } = await import('../src/gateway.js');
    await expect(startGateway({ ...base, handshakeRate: -1 } as never)).rejects.toThrow(RangeError);
    await expect(startGateway({ ...base, handshakeRate: 1.5 } as never)).rejects.toThrow(TypeError);
    await expect(startGateway({ ...base, trustedProxies: '127.0.0.1' } as never)).rejects.toThrow(TypeError);
    await expect(startGateway({ ...base, trustedProxies: ['lb.internal'] } as never)).rejects.toThrow(
      /trustedProxies: expected an IP address or CIDR block/,
    );
  });
});
