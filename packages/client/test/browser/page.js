// The test page of browser.test.ts, bundled with esbuild for browsers. It imports the package's
// browser entry exactly as an application would, and exposes one function per scenario; each
// returns plain data for the test to assert on.
import { AuthError, DegasClient } from '@degas/client';

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
window.degasTestReady = true;
