/** Resume-ticket helpers shared by the resume tests (in-process and spawned gateways). */
import { encodeClientMessage, type GatewayMessage } from '@degas/proto';
import { type TestAccount, TestClient } from './helpers.js';

/** The `auth_ok` body. */
export type AuthOk = Extract<GatewayMessage['payload'], { $case: 'authOk' }>['value'];

/** Sends a hello with a resume ticket. */
export function hello(client: TestClient, account: { id: Uint8Array; address: string }, ticket: Uint8Array): void {
  client.send(
    encodeClientMessage({
      payload: {
        $case: 'hello',
        value: {
          accountId: account.id,
          signer: { $case: 'ethereumSigner', value: { address: account.address } },
          resumeTicket: ticket,
        },
      },
    }),
  );
}

/** The next message, which must be auth_ok. */
export async function nextAuthOk(client: TestClient): Promise<AuthOk> {
  const m = await client.next();
  if (m.payload?.$case !== 'authOk') throw new Error(`expected auth_ok, got ${m.payload?.$case}`);
  return m.payload.value;
}

/** Presents `ticket` on a fresh, open client and returns the gateway's first answer. */
export async function presentTicket(
  client: TestClient,
  account: { id: Uint8Array; address: string },
  ticket: Uint8Array,
): Promise<GatewayMessage> {
  await client.opened;
  hello(client, account, ticket);
  return client.next();
}

/** A wallet login on `client` (hello, challenge, signature); returns its auth_ok. */
export async function walletLogin(client: TestClient, account: TestAccount, ticket?: Uint8Array): Promise<AuthOk> {
  await client.opened;
  if (ticket === undefined) client.hello(account);
  else hello(client, account, ticket);
  const challenge = await client.authRequest();
  client.ethAuth(await TestClient.sign(account.signer, challenge));
  return nextAuthOk(client);
}
