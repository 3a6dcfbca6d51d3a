/**
 * The Node client against a real gateway serving `wss://` with a certificate from a private CA
 * made in the test (Debian's openssl): `tls.ca` makes it trusted; without it the login fails.
 */
import type { DegasServer } from '@degas/degas-sdk';
import type { GatewayHandle } from '@degas/gateway';
import { randomId } from '@degas/proto';
import { createTestCa, memoryAccounts, type TestCa, testAccount, testKey } from '@degas/test-utils';
import { DegasClient, nodeWebSocket } from '../src/node.js';
import { dec, enc, startEchoDegas, startGatewayFor } from './fixtures.js';

const TOKEN = 'tls-test-internal-token';
const degasId = randomId();

let ca: TestCa;
let otherCa: TestCa;
let degas: DegasServer;
let gateway: GatewayHandle;
const accounts = memoryAccounts([]);
const clients: DegasClient[] = [];
let seq = 7000;

beforeAll(async () => {
  [ca, otherCa] = await Promise.all([createTestCa(), createTestCa()]);
  const cert = await ca.issue('gateway');
  degas = await startEchoDegas(degasId, TOKEN);
  gateway = await startGatewayFor(degas, TOKEN, accounts, { tlsCert: cert.certFile, tlsKey: cert.keyFile });
}, 60_000);

afterEach(async () => {
  for (const c of clients.splice(0)) c.close();
});
afterAll(async () => {
  await gateway?.close();
  await degas?.close();
  await Promise.all([ca?.close(), otherCa?.close()]);
});

/** A client of a fresh account for the wss:// gateway, with `options` (tls or WebSocket). */
function wssClient(options: Partial<ConstructorParameters<typeof DegasClient>[0]>): DegasClient {
  const a = testAccount(seq++);
  accounts.set(a);
  const c = new DegasClient({
    url: `wss://127.0.0.1:${gateway.port}`,
    accountId: a.idHex,
    signer: a.key,
    reconnect: false,
    ...options,
  });
  clients.push(c);
  return c;
}

test('tls.ca: the client logs in over wss:// and round-trips through a Degas', async () => {
  const c = wssClient({ tls: { ca: ca.certPem } });
  await c.connect();
  expect(c.state).toBe('connected');
  const got = new Promise<Uint8Array>((resolve) => c.once('message', ({ payload }) => resolve(payload)));
  c.send(degasId, enc.encode('over tls'));
  expect(dec.decode(await got)).toBe('echo:over tls');
});

test('nodeWebSocket({ tls }) does the same as an injected WebSocket', async () => {
  const c = wssClient({ WebSocket: nodeWebSocket({ tls: { ca: [otherCa.certPem, ca.certPem] } }) });
  await c.connect();
  expect(c.state).toBe('connected');
});

test.each([
  ['no ca (Node default roots)', false],
  ['another CA', true],
])('with %s the certificate is not trusted and connect() rejects', async (_name, useOtherCa) => {
  const c = wssClient(useOtherCa ? { tls: { ca: otherCa.certPem } } : {});
  await expect(c.connect()).rejects.toThrow();
  expect(c.state).toBe('closed');
});

test('tls options are checked', () => {
  const base = { url: 'wss://127.0.0.1:1', accountId: `0x${'11'.repeat(16)}`, signer: testKey(1) };
  expect(() => new DegasClient({ ...base, tls: { ca: 42 as never } })).toThrow(TypeError);
  expect(() => new DegasClient({ ...base, tls: { ca: [] } })).toThrow(/options\.tls\.ca/);
  expect(() => new DegasClient({ ...base, tls: { rejectUnauthorized: false } as never })).toThrow(/not supported/);
  expect(() => new DegasClient({ ...base, tls: { servername: '' } })).toThrow(/servername/);
  expect(() => new DegasClient({ ...base, tls: null as never })).toThrow(/options\.tls must be an object/);
  expect(() => new DegasClient({ ...base, tls: { ca: 'x' }, WebSocket: nodeWebSocket() })).toThrow(/not both/);
});
