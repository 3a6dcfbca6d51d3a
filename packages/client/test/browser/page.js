// The test page of browser.test.ts, bundled with esbuild for browsers. It imports the package's
// browser entry exactly as an application would, and exposes one function per scenario; each
// returns plain data for the test to assert on.
import { AuthError, DegasClient, eip1193Signer, privateKeySigner } from '@degas/client';

const enc = new TextEncoder();
const dec = new TextDecoder();

function within(ms, promise, what) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

function hex(bytes) {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}

window.degasTest = {
  /** Logs in, sends texts and one binary payload to the echo Degas, then one to an unknown Degas. */
  async echo({ url, accountId, privateKey, degasId, unknownDegasId, texts }) {
    const client = new DegasClient({ url, accountId, signer: privateKey });
    const states = [];
    const received = [];
    const gatewayErrors = [];
    client.on('state', (s) => states.push(s));
    client.on('gatewayError', (e) => gatewayErrors.push({ codeName: e.codeName, degasIdHex: e.degasIdHex ?? null }));
    const expected = texts.length + 1;
    const allEchoed = new Promise((resolve) => {
      client.on('message', ({ degasIdHex, payload }) => {
        received.push({
          degasIdHex,
          text: dec.decode(payload),
          hex: hex(payload),
          isUint8Array: payload instanceof Uint8Array,
        });
        if (received.length === expected) resolve();
      });
    });
    await within(10_000, client.connect(), 'connect()');
    const address = client.address;
    for (const text of texts) client.send(degasId, enc.encode(text));
    client.send(degasId, Uint8Array.from([0, 1, 2, 253, 254, 255]));
    await within(10_000, allEchoed, 'the echoes');
    const degasError = new Promise((resolve) => client.once('gatewayError', resolve));
    client.send(unknownDegasId, enc.encode('anyone there?'));
    await within(10_000, degasError, 'DEGAS_ERROR');
    client.close();
    return { address, states, received, gatewayErrors, hasGlobalWebSocket: typeof WebSocket === 'function' };
  },

  /**
   * Logs in through the injected browser wallet (`window.ethereum`, EIP-1193) as an application
   * would: eth_requestAccounts, then the client signs with the wallet's active chain.
   */
  async wallet({ url, accountId, degasId }) {
    const [address] = await window.ethereum.request({ method: 'eth_requestAccounts' });
    const client = new DegasClient({ url, accountId, signer: eip1193Signer(window.ethereum, address) });
    const states = [];
    client.on('state', (s) => states.push(s));
    await within(10_000, client.connect(), 'connect()');
    const echoed = new Promise((resolve) => client.once('message', ({ payload }) => resolve(dec.decode(payload))));
    client.send(degasId, enc.encode('from a wallet on Base'));
    const echo = await within(10_000, echoed, 'the echo');
    client.close();
    return { address, states, echo };
  },

  /** Logs in with a key that is not a signer of the account. */
  async wrongKey({ url, accountId, privateKey }) {
    const client = new DegasClient({ url, accountId, signer: privateKey });
    const states = [];
    client.on('state', (s) => states.push(s));
    try {
      await within(10_000, client.connect(), 'connect()');
      client.close();
      return { connected: true, states };
    } catch (err) {
      return {
        connected: false,
        isAuthError: err instanceof AuthError,
        name: err.name,
        code: err.code,
        states,
        finalState: client.state,
      };
    }
  },
};
/**
 * A stand-in for a browser wallet (EIP-1193, like window.ethereum) that signs with a test key and
 * counts every signing request, as a person would count wallet pop-ups.
 */
function countingWallet(privateKey) {
  const key = privateKeySigner(privateKey);
  const wallet = {
    signRequests: 0,
    async request({ method, params }) {
      if (method === 'eth_signTypedData_v4') {
        wallet.signRequests++;
        const typed = JSON.parse(params[1]);
        const signature = await key.signTypedData(typed);
        return `0x${hex(signature)}`;
      }
      if (method === 'eth_accounts' || method === 'eth_requestAccounts') return [key.address];
      if (method === 'eth_chainId') return '0x1';
      throw Object.assign(new Error(`unsupported method ${method}`), { code: 4200 });
    },
  };
  return { wallet, address: key.address };
}

let resumeClient;
let resumeWallet;
let resumeStates = [];

/** Logs in through a counting EIP-1193 wallet and keeps the client open across a gateway restart. */
window.degasResume = {
  async start({ url, accountId, privateKey, degasId }) {
    const { wallet, address } = countingWallet(privateKey);
    resumeWallet = wallet;
    resumeStates = [];
    resumeClient = new DegasClient({
      url,
      accountId,
      signer: eip1193Signer(wallet, address),
      reconnect: { initialDelayMs: 100, maxDelayMs: 500 },
    });
    resumeClient.on('state', (s) => resumeStates.push(s));
    await within(10_000, resumeClient.connect(), 'connect()');
    const echoed = new Promise((resolve) => resumeClient.once('message', resolve));
    resumeClient.send(degasId, enc.encode('before'));
    const m = await within(10_000, echoed, 'the echo');
    return { signRequests: wallet.signRequests, resumed: resumeClient.resumed, echo: dec.decode(m.payload) };
  },

  /** Waits for the client to be connected again after a drop, then exchanges one message. */
  async afterRestart({ degasId }) {
    await within(
      20_000,
      new Promise((resolve) => {
        const check = () => {
          if (resumeClient.state === 'connected' && resumeStates.includes('reconnecting')) {
            resumeClient.off('state', check);
            resolve();
          }
        };
        resumeClient.on('state', check);
        check();
      }),
      'the reconnection',
    );
    const echoed = new Promise((resolve) => resumeClient.once('message', resolve));
    resumeClient.send(degasId, enc.encode('after'));
    const m = await within(10_000, echoed, 'the echo');
    const result = {
      signRequests: resumeWallet.signRequests,
      resumed: resumeClient.resumed,
      states: resumeStates.slice(),
      echo: dec.decode(m.payload),
    };
    resumeClient.close();
    return result;
  },
};

window.degasTestReady = true;
