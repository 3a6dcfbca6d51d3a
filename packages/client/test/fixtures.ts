/**
 * Fixtures of the client's tests against the real gateway: an echo Degas built with
 * @degas/degas-sdk, and in-process gateways that reach it (test-utils' startTestGateway).
 */
import { DegasServer } from '@degas/degas-sdk';
import { type GatewayHandle, type GatewayOptions, startGateway } from '@degas/gateway';
import { type MemoryAccountDirectory, startTestGateway } from '@degas/test-utils';

export const enc = new TextEncoder();
export const dec = new TextDecoder();

/** A Degas on 127.0.0.1:0 that answers every message with "echo:" + its payload. */
export async function startEchoDegas(degasId: Uint8Array | string, token?: string): Promise<DegasServer> {
  const degas = new DegasServer({ degasId, ...(token === undefined ? {} : { token }), port: 0, host: '127.0.0.1' });
  degas.on('message', ({ accountId, payload }) => {
    const reply = new Uint8Array(5 + payload.length);
    reply.set(enc.encode('echo:'));
    reply.set(payload, 5);
    degas.send(accountId, reply);
  });
  await degas.listen();
  return degas;
}

/**
 * An in-process gateway (test defaults) whose one Degas is `degas`, presenting `token`, with
 * the accounts of `accounts` (shared by every gateway of a test file, so a restart knows them).
 */
export async function startGatewayFor(
  degas: DegasServer,
  token: string | undefined,
  accounts: MemoryAccountDirectory,
  options: Partial<GatewayOptions> = {},
): Promise<GatewayHandle> {
  const url = `ws://127.0.0.1:${degas.address()!.port}`;
  const { gateway } = await startTestGateway(startGateway, options, {
    accounts,
    degas: [{ degasId: degas.degasId, url, ...(token === undefined ? {} : { token }) }],
  });
  return gateway;
}

/** After each test: closes the clients and gateways the test left in these lists (and empties them). */
export function closeAfterEach(clients: { close(): void }[], gateways: GatewayHandle[]): void {
  afterEach(async () => {
    for (const c of clients.splice(0)) c.close();
    await Promise.all(gateways.splice(0).map((g) => g.close()));
  });
}
