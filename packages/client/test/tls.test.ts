/**
 * The Node client against a real gateway serving `wss://` with a certificate from a private CA
 * made in the test (Debian's openssl): `tls.ca` makes it trusted; without it the login fails.
 */
import { DegasServer } from '@degas/degas-sdk';
import { createStaticDegasDirectory, type GatewayHandle, startGateway } from '@degas/gateway';
import { randomId } from '@degas/proto';
import { createTestCa, memoryAccounts, type TestCa, testAccount, testKey } from '@degas/test-utils';
import { DegasClient, nodeWebSocket } from '../src/node.js';

const TOKEN = 'tls-test-internal-token';
const degasId = randomId();
const enc = new TextEncoder();
const dec = new TextDecoder();

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
  degas = new DegasServer({ degasId, token: TOKEN, port: 0, host: '127.0.0.1' });
  degas.on('message', ({ accountId, payload }) => {
    degas.send(accountId, new Uint8Array([...enc.encode('echo:'), ...payload]));
  });
  await degas.listen();
  gateway = await startGateway({
    host: '127.0.0.1',
    port: 0,
    adminPort: false,
    accounts,
    degas: createStaticDegasDirectory([{ id: degasId, url: `ws://127.0.0.1:${degas.address()!.port}`, token: TOKEN }]),
    verifierThreads: 1,
    tlsCert: cert.certFile,
    tlsKey: cert.keyFile,
  });
}, 60_000);

afterEach(async () => {
  for (const c of clients.splice(0)) c.close();
});
afterAll(async () => {
  await gateway?.close();
  await degas?.close();
  await Promise.all([ca?.close(), otherCa?.close()]);
});

function account() {
  const a = testAccount(seq++);
  accounts.set(a);
  return a;
}

test('tls.ca: the client logs in over wss:// and round-trips through a Degas', async () => {
  const a = account();
  const c = new DegasClient({
    url: `wss://127.0.0.1:${gateway.port}`,
    accountId: a.idHex,
    signer: a.key,
    reconnect: false,
    tls: { ca: ca.certPem },
  });
  clients.push(c);
  await c.connect();
  expect(c.state).toBe('connected');
  const got = new Promise<Uint8Array>((resolve) => c.once('message', ({ payload }) => resolve(payload)));
  c.send(degasId, enc.encode('over tls'));
  expect(dec.decode(await got)).toBe('echo:over tls');
});

test('nodeWebSocket({ tls }) does the same as an injected WebSocket', async () => {
  const a = account();
  const c = new DegasClient({
    url: `wss://127.0.0.1:${gateway.port}`,
    accountId: a.idHex,
    signer: a.key,
    reconnect: false,
    WebSocket: nodeWebSocket({ tls: { ca: [otherCa.certPem, ca.certPem] } }),
  });
  clients.push(c);
  await c.connect();
  expect(c.state).toBe('connected');
});

test.each([
  ['no ca (Node default roots)', false],
  ['another CA', true],
])('with %s the certificate is not trusted and connect() rejects', async (_name, useOtherCa) => {
  const a = account();
  const tls = useOtherCa ? { ca: otherCa.certPem } : undefined;
  const c = new DegasClient({
    url: `wss://127.0.0.1:${gateway.port}`,
    accountId: a.idHex,
    signer: a.key,
    reconnect: false,
    ...(tls === undefined ? {} : { tls }),
  });
  clients.push(c);
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
