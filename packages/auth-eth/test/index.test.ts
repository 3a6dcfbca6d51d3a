import {
  AuthEthError,
  bytesToHex,
  parseSignature,
  privateKeySigner,
  publicKeyToAddress,
  recoverAddress,
  toChecksumAddress,
} from '../src/index.js';

describe('public surface', () => {
  it('exports exactly the documented names', async () => {
    expect(Object.keys(await import('../src/index.js')).sort()).toEqual([
      'AuthEthError',
      'DEFAULT_AUTH_DOMAIN',
      'DEFAULT_AUTH_MESSAGE',
      'DEFAULT_CHAIN_ID',
      'MAX_CHAIN_ID',
      'MAX_WALLET_SIGNATURE_LENGTH',
      'SIGNATURE_LENGTH',
      'bytesToHex',
      'checkChainId',
      'createChallenge',
      'eip1193Signer',
      'generatePrivateKey',
      'hashTypedData',
      'hexToBytes',
      'isAddress',
      'loginDigest',
      'loginTypedData',
      'normalizeAddress',
      'parseAddress',
      'parseChallenge',
      'parseSignature',
      'privateKeySigner',
      'privateKeyToAddress',
      'publicKeyToAddress',
      'recoverAddress',
      'toChecksumAddress',
      'toSigner',
      'typedDataSigner',
      'verifyLogin',
    ]);
  });

  it('has the documented constants', async () => {
    const m = await import('../src/index.js');
    expect(m.DEFAULT_AUTH_DOMAIN).toBe('Degas Authentication');
    expect(m.SIGNATURE_LENGTH).toBe(65);
    expect(m.MAX_WALLET_SIGNATURE_LENGTH).toBe(8192);
    expect(m.DEFAULT_CHAIN_ID).toBe(1);
    expect(m.MAX_CHAIN_ID).toBe(Number.MAX_SAFE_INTEGER);
    expect(m.DEFAULT_AUTH_MESSAGE).toMatch(/free/);
    expect(m.DEFAULT_AUTH_MESSAGE).toMatch(/transaction/);
    expect(m.DEFAULT_AUTH_MESSAGE).toMatch(/spend/);
  });

  it('AuthEthError is a real Error with a literal name, a code and a cause', async () => {
    const { AuthEthError } = await import('../src/index.js');
    const cause = new Error('inner');
    const err = new AuthEthError('SIGNER_ERROR', 'wallet failed', { cause });
    expect(err).toBeInstanceOf(Error);
    expect(err).toBeInstanceOf(AuthEthError);
    expect(err.name).toBe('AuthEthError');
    expect(err.code).toBe('SIGNER_ERROR');
    expect(err.message).toBe('wallet failed');
    expect(err.cause).toBe(cause);
    expect(new AuthEthError('INVALID_ADDRESS', 'x').cause).toBeUndefined();
  });
});

describe('bytes that only claim to be a Uint8Array', () => {
  // Any object can claim the tag; only a real typed array has the internal slot that
  // ArrayBuffer.isView reads (noble's check).
  const spoof = { [Symbol.toStringTag]: 'Uint8Array', length: 65 } as unknown as Uint8Array;
  const real = new Uint8Array(65);

  test("are refused at each entry point with that entry point's error, never deep inside", () => {
    expect(() => parseSignature(spoof)).toThrow(expect.objectContaining({ code: 'INVALID_SIGNATURE' }));
    expect(() => parseSignature(spoof)).toThrow('signature must be a Uint8Array');
    expect(() => bytesToHex(spoof)).toThrow('bytesToHex: expected a Uint8Array');
    expect(() => recoverAddress(spoof, real)).toThrow('digest must be 32 bytes');
    expect(() => publicKeyToAddress(spoof)).toThrow('publicKey must be a 33- or 65-byte SEC 1 public key');
    expect(() => toChecksumAddress(spoof)).toThrow(AuthEthError);
    expect(() => privateKeySigner(spoof)).toThrow(expect.objectContaining({ code: 'INVALID_PRIVATE_KEY' }));
  });

  test('a typed array from another realm is still bytes', async () => {
    const { runInNewContext } = await import('node:vm');
    const foreign = runInNewContext('new Uint8Array([0, 171, 255])') as Uint8Array;
    expect(foreign instanceof Uint8Array).toBe(false);
    expect(bytesToHex(foreign)).toBe('00abff');
  });
});
