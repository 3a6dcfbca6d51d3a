import { generatePrivateKey, privateKeySigner } from '@degas/auth-eth';
import { idToHex, randomId } from '@degas/proto';
import { backoffDelay, DEFAULT_RECONNECT, resolveReconnect } from '../src/backoff.js';
import { DegasClient, type DegasClientOptions } from '../src/index.js';
import { FakeSocket } from './fake-socket.js';

const key = generatePrivateKey();
const accountId = randomId();
const base: DegasClientOptions = { url: 'ws://127.0.0.1:1', accountId, signer: key, WebSocket: FakeSocket };

describe('DegasClient options', () => {
  test.each<[string, unknown, ErrorConstructor, RegExp]>([
    ['no options', undefined, TypeError, /options must be an object/],
    ['url not a string', { ...base, url: 42 }, TypeError, /options.url must be a string/],
    ['url not a URL', { ...base, url: 'nope' }, TypeError, /not a valid URL/],
    ['http url', { ...base, url: 'http://x' }, TypeError, /ws:\/\/ or wss:\/\//],
    ['empty url list', { ...base, url: [] }, TypeError, /non-empty array of strings/],
    ['url list with a number', { ...base, url: ['ws://a', 1] }, TypeError, /non-empty array of strings/],
    ['url list with a bad URL', { ...base, url: ['ws://a', 'nope'] }, TypeError, /options.url\[1\] is not a valid URL/],
    ['url list with an http URL', { ...base, url: ['http://a'] }, TypeError, /options.url\[0\] must start with ws:/],
    ['short account id', { ...base, accountId: new Uint8Array(15) }, TypeError, /accountId/],
    ['bad hex account id', { ...base, accountId: '0xzz' }, TypeError, /accountId/],
    ['no signer', { ...base, signer: undefined }, TypeError, /signer is required/],
    ['signer of the wrong type', { ...base, signer: 42 }, TypeError, /./],
    ['empty authDomain', { ...base, authDomain: '' }, TypeError, /authDomain/],
    ['WebSocket not a constructor', { ...base, WebSocket: {} }, TypeError, /WebSocket/],
    ['NaN connectTimeoutMs', { ...base, connectTimeoutMs: Number.NaN }, TypeError, /connectTimeoutMs/],
    ['zero connectTimeoutMs', { ...base, connectTimeoutMs: 0 }, RangeError, /connectTimeoutMs/],
    ['reconnect string', { ...base, reconnect: 'yes' }, TypeError, /reconnect/],
    ['negative initialDelayMs', { ...base, reconnect: { initialDelayMs: -1 } }, RangeError, /initialDelayMs/],
    ['factor below 1', { ...base, reconnect: { factor: 0.5 } }, RangeError, /factor/],
    ['max below initial', { ...base, reconnect: { initialDelayMs: 10, maxDelayMs: 5 } }, RangeError, /maxDelayMs/],
    ['bad jitter', { ...base, reconnect: { jitter: 'half' } }, TypeError, /jitter/],
    ['fractional maxAttempts', { ...base, reconnect: { maxAttempts: 1.5 } }, RangeError, /maxAttempts/],
  ])('rejects %s', (_name, options, type, message) => {
    const make = () => new DegasClient(options as DegasClientOptions);
    expect(make).toThrow(type);
    expect(make).toThrow(message);
  });

  test('a malformed private key fails with the signer error', () => {
    expect(() => new DegasClient({ ...base, signer: '0x1234' })).toThrow(
      expect.objectContaining({ code: 'INVALID_PRIVATE_KEY' }),
    );
  });

  test('accepts hex ids, keys, EthSigners and viem/ethers-style accounts', () => {
    const signer = privateKeySigner(key);
    const a = new DegasClient({ ...base, accountId: idToHex(accountId).toUpperCase().replace('0X', '0x') });
    expect(a.accountIdHex).toBe(idToHex(accountId));
    expect(a.address).toBe(signer.address);
    expect(a.state).toBe('idle');
    expect(new DegasClient({ ...base, signer }).address).toBe(signer.address);
    const account = { address: signer.address, signTypedData: async () => new Uint8Array(65) };
    expect(new DegasClient({ ...base, signer: account }).address).toBe(signer.address);
  });

  test('a single URL and a list of URLs (copied) are both accepted', () => {
    const one = new DegasClient(base);
    expect(one.url).toBe(base.url);
    expect(one.urls).toEqual([base.url]);
    const list = ['ws://127.0.0.1:1', 'wss://node-b.example.com/ws'];
    const many = new DegasClient({ ...base, url: list });
    list.push('ws://added-later');
    expect(many.urls).toEqual(['ws://127.0.0.1:1', 'wss://node-b.example.com/ws']);
    expect(many.urls).toContain(many.url);
  });

  test('copies the account id', () => {
    const id = randomId();
    const client = new DegasClient({ ...base, accountId: id });
    id.fill(0);
    expect(client.accountId).not.toEqual(id);
  });
});

describe('backoff', () => {
  const none = { ...DEFAULT_RECONNECT, jitter: 'none' as const };

  test('defaults: 500 ms doubling, capped at 15 s, full jitter, no attempt limit', () => {
    expect(resolveReconnect({})).toEqual({
      initialDelayMs: 500,
      maxDelayMs: 15_000,
      factor: 2,
      jitter: 'full',
      maxAttempts: Number.POSITIVE_INFINITY,
    });
    expect(Array.from({ length: 8 }, (_, i) => backoffDelay(i, none))).toEqual([
      500, 1000, 2000, 4000, 8000, 15_000, 15_000, 15_000,
    ]);
    expect(backoffDelay(1000, none)).toBe(15_000);
  });

  test('full jitter is uniform below the bound', () => {
    const full = resolveReconnect({});
    expect(backoffDelay(3, full, () => 0)).toBe(0);
    expect(backoffDelay(3, full, () => 0.5)).toBe(2000);
    expect(backoffDelay(3, full, () => 0.999999)).toBe(3999);
    expect(backoffDelay(30, full, () => 0.999999)).toBeLessThan(15_000);
    for (let i = 0; i < 100; i++) {
      const d = backoffDelay(2, full);
      expect(d).toBeGreaterThanOrEqual(0);
      expect(d).toBeLessThan(2000);
    }
  });

  test('custom factor and cap', () => {
    const r = resolveReconnect({ initialDelayMs: 100, factor: 3, maxDelayMs: 1000, jitter: 'none' });
    expect([0, 1, 2, 3].map((i) => backoffDelay(i, r))).toEqual([100, 300, 900, 1000]);
  });
});
