/** Resume-ticket helpers shared by the resume tests (in-process and spawned gateways). */
import { encodeClientMessage, type GatewayMessage } from '@degas/proto';
import { signChallenge, type TestAccount, type WsTestClient } from '@degas/test-utils';

/** The `auth_ok` body. */
export type AuthOk = Extract<GatewayMessage['payload'], { $case: 'authOk' }>['value'];

/** Sends a hello with a resume ticket. */
export function hello(client: WsTestClient, account: { id: Uint8Array; address: string }, ticket: Uint8Array): void {
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
export async function nextAuthOk(client: WsTestClient): Promise<AuthOk> {
  const m = await client.nextMessage();
  if (m.payload?.$case !== 'authOk') throw new Error(`expected auth_ok, got ${m.payload?.$case}`);
  return m.payload.value;
}

/** Presents `ticket` on a fresh, open client and returns the gateway's first answer. */
export async function presentTicket(
  client: WsTestClient,
  account: { id: Uint8Array; address: string },
  ticket: Uint8Array,
): Promise<GatewayMessage> {
  await client.opened;
  hello(client, account, ticket);
  return client.nextMessage();
}

/** A wallet login on `client` (hello, challenge, signature); returns its auth_ok. */
export async function walletLogin(client: WsTestClient, account: TestAccount, ticket?: Uint8Array): Promise<AuthOk> {
  await client.opened;
  if (ticket === undefined) client.hello(account);
  else hello(client, account, ticket);
  const challenge = await client.authRequest();
  client.ethAuth(await signChallenge(account.signer, challenge));
  return nextAuthOk(client);
}
