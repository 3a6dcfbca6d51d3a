import { Point, recoverPublicKey } from '@noble/secp256k1';
import { Signature as EthersSignature } from 'ethers';
import { recoverTypedDataAddress, recoverAddress as viemRecoverAddress } from 'viem';
import {
  AuthEthError,
  bytesToHex,
  createChallenge,
  hexToBytes,
  type LoginFields,
  loginDigest,
  loginTypedData,
  parseSignature,
  privateKeySigner,
  publicKeyToAddress,
  recoverAddress,
  SIGNATURE_LENGTH,
  verifyLogin,
} from '../src/index.js';
import {
  bigTo32,
  ethersSign,
  FIELDS,
  HALF_N,
  hex,
  INVALID_ARGUMENT,
  KEY,
  KEY_ADDRESS,
  makeSig,
  N,
  P,
  thrown,
  viemSign,
  WRONG_DOMAIN_VARIANTS,
} from './fixtures.js';

/** The message of the INVALID_SIGNATURE error `fn` throws. */
function reason(fn: () => unknown): string | undefined {
  const err = thrown(fn);
  if (err === undefined) return undefined;
  return err instanceof AuthEthError && err.code === 'INVALID_SIGNATURE' ? err.message : `unexpected: ${String(err)}`;
}

const DIGEST = loginDigest(FIELDS);
// ethers' signature of FIELDS under the default domain with KEY (v = 28).
const VALID = hexToBytes(
  '0xd604cec6fbb6468f800c97c08249c5203b49970700b9ad68056b7d7004ad28037dc04b7d314bb2d5f09852000ad3e325b33c4af6f558ad677c18b3af29b169b51c',
);
const R = BigInt(`0x${bytesToHex(VALID.subarray(0, 32))}`);
const S = BigInt(`0x${bytesToHex(VALID.subarray(32, 64))}`);
const login = (signature: Uint8Array, fields: LoginFields = FIELDS, address = KEY_ADDRESS) =>
  verifyLogin({ fields, signature, address });

// The smallest x in [1, n) that is not the x coordinate of any curve point (x^3 + 7 has no root).
const R_OFF_CURVE = (() => {
  for (let x = 1n; ; x++) {
    try {
      Point.fromBytes(Uint8Array.from([0x02, ...bigTo32(x)]));
    } catch {
      return x;
    }
  }
})();

describe('the fixture signature', () => {
  it('is ethers-made, valid, and recovers to the key', async () => {
    expect(bytesToHex(await ethersSign(KEY, loginTypedData(FIELDS)))).toBe(bytesToHex(VALID));
    expect(VALID.length).toBe(SIGNATURE_LENGTH);
    const parsed = parseSignature(VALID);
    expect(parsed).toEqual({ r: R, s: S, recovery: 1, compact: VALID.slice(0, 64) });
    expect(parsed.compact).not.toBe(VALID);
    expect(recoverAddress(DIGEST, VALID)).toBe(KEY_ADDRESS.toLowerCase());
    expect(login(VALID)).toBe(true);
  });
});

describe('length rules (CATALOGUE #55, #67)', () => {
  const compact2098 = hexToBytes(EthersSignature.from(hex(VALID)).compactSerialized);
  const ascii = (text: string) => new TextEncoder().encode(text);
  const erc6492 = (() => {
    const blob = new Uint8Array(256 + 32);
    blob.set(VALID, 100);
    blob.set(hexToBytes('6492'.repeat(16)), 256);
    return blob;
  })();
  it.each<[string, Uint8Array]>([
    ['0 bytes', new Uint8Array(0)],
    ['1 byte', Uint8Array.of(27)],
    ['64 bytes: the EIP-2098 compact form of a valid signature', compact2098],
    ['64 bytes: r ‖ s without v', VALID.slice(0, 64)],
    ['66 bytes: a trailing zero', Uint8Array.from([...VALID, 0])],
    ['66 bytes: a leading zero', Uint8Array.from([0, ...VALID])],
    ['130 bytes: the hex text as bytes', ascii(bytesToHex(VALID))],
    ['132 bytes: the 0x-hex text as bytes', ascii(hex(VALID))],
    ['130 bytes: a Safe-style 2-of-2 concatenation', Uint8Array.from([...VALID, ...VALID])],
    ['an ERC-6492 magic-suffixed blob', erc6492],
    ['a 1 KB blob', Uint8Array.from({ length: 1024 }, (_, i) => VALID[i % 65]!)],
  ])('%s is rejected', (_, signature) => {
    expect(reason(() => parseSignature(signature))).toMatch(/65 bytes/u);
    expect(login(signature)).toBe(false);
    expect(() => recoverAddress(DIGEST, signature)).toThrow(AuthEthError);
  });

  it('the EIP-2098 compact form really is the same signature (ethers would accept it)', () => {
    expect(compact2098.length).toBe(64);
    expect(EthersSignature.from(hex(compact2098)).serialized).toBe(hex(VALID));
  });

  it('rejects a non-Uint8Array signature without throwing from verifyLogin', () => {
    for (const bad of [hex(VALID), Array.from(VALID), null, undefined, VALID.buffer]) {
      expect(reason(() => parseSignature(bad as unknown as Uint8Array))).toMatch(/Uint8Array/u);
      expect(login(bad as unknown as Uint8Array)).toBe(false);
    }
  });

  it('accepts a Uint8Array view into a larger buffer', () => {
    const big = new Uint8Array(100);
    big.set(VALID, 10);
    expect(login(big.subarray(10, 75))).toBe(true);
  });
});

describe('v rules (CATALOGUE #56)', () => {
  const withV = (v: number) => {
    const sig = VALID.slice();
    sig[64] = v;
    return sig;
  };
  it.each([
    [28, true],
    [1, true],
    [27, false],
    [0, false],
  ])('v = %d is accepted as a shape, and verifies iff its parity is right (%p)', (v, verifies) => {
    expect(() => parseSignature(withV(v))).not.toThrow();
    expect(login(withV(v))).toBe(verifies);
    expect(recoverAddress(DIGEST, withV(v)) === KEY_ADDRESS.toLowerCase()).toBe(verifies);
  });

  it('maps v to the recovery id', () => {
    expect(parseSignature(withV(0)).recovery).toBe(0);
    expect(parseSignature(withV(27)).recovery).toBe(0);
    expect(parseSignature(withV(1)).recovery).toBe(1);
    expect(parseSignature(withV(28)).recovery).toBe(1);
  });

  it.each([2, 3, 26, 29, 30, 31, 35, 36, 37, 38, 127, 255])('v = %d is rejected', (v) => {
    expect(reason(() => parseSignature(withV(v)))).toMatch(/v must be/u);
    expect(login(withV(v))).toBe(false);
  });

  it('v = 29/30 are rejected although noble recovers a key for recovery ids 2/3', () => {
    // Recovery ids 2/3 mean R.x = r + n, possible only for r < p − n. Find such an r for which
    // r + n is the x of a curve point: noble then recovers a key Q for which (r, s) is a valid
    // ECDSA signature, i.e. a "signature" by Q that only v = 29/30 can express.
    let r = 1n;
    while (true) {
      try {
        Point.fromBytes(Uint8Array.from([0x02, ...bigTo32(r + N)]));
        break;
      } catch {
        r++;
      }
    }
    expect(r + N < P).toBe(true);
    for (const rec of [2, 3]) {
      const q = recoverPublicKey(Uint8Array.from([rec, ...bigTo32(r), ...bigTo32(S)]), DIGEST, {
        prehash: false,
        isCompressed: false,
      });
      const address = publicKeyToAddress(q);
      const sig = makeSig(r, S, 27 + rec);
      expect(reason(() => parseSignature(sig))).toMatch(/v must be/u);
      expect(verifyLogin({ fields: FIELDS, signature: sig, address })).toBe(false);
      // and the same (r, s) with v = 27/28 is a different key's signature, if any
      for (const v of [27, 28]) {
        let other: string | undefined;
        try {
          other = recoverAddress(DIGEST, makeSig(r, S, v));
        } catch {
          other = undefined;
        }
        expect(other).not.toBe(address);
      }
    }
  });
});

describe('high-s twin (CATALOGUE #57, EIP-2)', () => {
  const twin = makeSig(R, N - S, VALID[64] === 27 ? 28 : 27);

  it('is rejected although viem recovers the true signer from it', async () => {
    expect(await viemRecoverAddress({ hash: hex(DIGEST), signature: hex(twin) })).toBe(KEY_ADDRESS);
    const nobleTwin = Uint8Array.from([parseSignature(VALID).recovery ^ 1, ...twin.subarray(0, 64)]);
    expect(publicKeyToAddress(recoverPublicKey(nobleTwin, DIGEST, { prehash: false, isCompressed: false }))).toBe(
      KEY_ADDRESS.toLowerCase(),
    );
    expect(reason(() => parseSignature(twin))).toMatch(/lower half/u);
    expect(() => recoverAddress(DIGEST, twin)).toThrow(AuthEthError);
    expect(login(twin)).toBe(false);
  });

  it('the boundary is s <= floor(n/2)', () => {
    expect(parseSignature(makeSig(R, HALF_N, 27)).s).toBe(HALF_N);
    expect(reason(() => parseSignature(makeSig(R, HALF_N + 1n, 27)))).toMatch(/lower half/u);
  });
});

describe('degenerate r and s (CATALOGUE #58)', () => {
  it.each<[string, Uint8Array, RegExp]>([
    ['r = 0', makeSig(0n, S, 28), /r must be/u],
    ['s = 0', makeSig(R, 0n, 28), /s must be/u],
    ['r = n', makeSig(N, S, 28), /r must be/u],
    ['s = n', makeSig(R, N, 28), /s must be/u],
    ['r = n + 1', makeSig(N + 1n, S, 28), /r must be/u],
    ['r = p - 1', makeSig(P - 1n, S, 28), /r must be/u],
    ['r = 2^256 - 1', makeSig(2n ** 256n - 1n, S, 28), /r must be/u],
    ['s = 2^256 - 1', makeSig(R, 2n ** 256n - 1n, 28), /s must be/u],
    ['65 zero bytes', new Uint8Array(65), /r must be/u],
    ['64 zero bytes and v = 27', makeSig(0n, 0n, 27), /r must be/u],
  ])('%s is rejected by parseSignature and verifyLogin', (_, sig, why) => {
    expect(reason(() => parseSignature(sig))).toMatch(why);
    expect(login(sig)).toBe(false);
  });

  it('r not on the curve passes the range checks but recovery fails with INVALID_SIGNATURE', () => {
    for (const v of [27, 28]) {
      const sig = makeSig(R_OFF_CURVE, S, v);
      expect(parseSignature(sig).r).toBe(R_OFF_CURVE);
      expect(reason(() => recoverAddress(DIGEST, sig))).toMatch(/recovered/u);
      expect(login(sig)).toBe(false);
    }
  });

  it('r = 1 and s = 1 (valid ranges, on the curve) recover some other address, never the signer', () => {
    const sig = makeSig(1n, 1n, 27);
    let recovered: string | undefined;
    try {
      recovered = recoverAddress(DIGEST, sig);
    } catch (err) {
      expect(err).toBeInstanceOf(AuthEthError);
    }
    expect(recovered).not.toBe(KEY_ADDRESS.toLowerCase());
    expect(recovered).not.toBe(`0x${'00'.repeat(20)}`);
    expect(login(sig)).toBe(false);
  });

  it('the zero address is never accepted as a signer', () => {
    expect(verifyLogin({ fields: FIELDS, signature: VALID, address: `0x${'00'.repeat(20)}` })).toBe(false);
    expect(verifyLogin({ fields: FIELDS, signature: new Uint8Array(65), address: `0x${'00'.repeat(20)}` })).toBe(false);
  });
});

describe('wrong domain or type (CATALOGUE #59)', () => {
  const cases = WRONG_DOMAIN_VARIANTS.flatMap((v) =>
    (v.ethersCanSign ? (['ethers', 'viem'] as const) : (['viem'] as const)).map(
      (lib) => [v.name, lib, v.make] as const,
    ),
  );

  it.each(cases)('%s, signed with %s: verifyLogin is false', async (_, lib, make) => {
    const typed = make();
    const signature = lib === 'ethers' ? await ethersSign(KEY, typed) : await viemSign(KEY, typed);
    // The signature is genuinely valid for its own typed data…
    expect(
      await recoverTypedDataAddress({
        ...(typed as Parameters<typeof recoverTypedDataAddress>[0]),
        signature: hex(signature),
      }),
    ).toBe(KEY_ADDRESS);
    // …but over the Login typed data it recovers some other address.
    expect(parseSignature(signature).recovery).toBeLessThan(2);
    expect(recoverAddress(DIGEST, signature)).not.toBe(KEY_ADDRESS.toLowerCase());
    expect(login(signature)).toBe(false);
  });
});

describe('altered message content (CATALOGUE #60)', () => {
  it('Message changed by one character', () => {
    expect(login(VALID, { ...FIELDS, Message: 'Ho' })).toBe(false);
    expect(login(VALID, { ...FIELDS, Message: 'Hi ' })).toBe(false);
  });

  it('Challenge upper-cased', () => {
    expect(login(VALID, { ...FIELDS, Challenge: FIELDS.Challenge.toUpperCase() })).toBe(false);
  });

  it('a signature over an upper-cased Challenge does not verify for the issued one', async () => {
    const issued = createChallenge({ randomBytes: () => new Uint8Array(16).fill(0xab) }).fields;
    const signer = privateKeySigner(KEY);
    const upper = { ...issued, Challenge: issued.Challenge.toUpperCase() };
    const sig = await signer.signTypedData(loginTypedData(upper));
    expect(verifyLogin({ fields: issued, signature: sig, address: signer.address })).toBe(false);
    expect(verifyLogin({ fields: upper, signature: sig, address: signer.address })).toBe(false);
  });

  it('a challenge from another connection', async () => {
    const signer = privateKeySigner(KEY);
    const a = createChallenge().fields;
    const b = createChallenge().fields;
    const sigA = await signer.signTypedData(loginTypedData(a));
    expect(verifyLogin({ fields: a, signature: sigA, address: signer.address })).toBe(true);
    expect(verifyLogin({ fields: b, signature: sigA, address: signer.address })).toBe(false);
  });

  it('the right signature under another domain name', async () => {
    const signer = privateKeySigner(KEY);
    const sig = await signer.signTypedData(loginTypedData(FIELDS, { domainName: 'My Game' }));
    expect(verifyLogin({ fields: FIELDS, signature: sig, address: KEY_ADDRESS, domainName: 'My Game' })).toBe(true);
    expect(verifyLogin({ fields: FIELDS, signature: sig, address: KEY_ADDRESS })).toBe(false);
    expect(verifyLogin({ fields: FIELDS, signature: VALID, address: KEY_ADDRESS, domainName: 'My Game' })).toBe(false);
  });
});

describe('verifyLogin address forms (CATALOGUE #66) and hostile parameters', () => {
  it.each([
    ['lowercase', KEY_ADDRESS.toLowerCase(), true],
    ['checksummed', KEY_ADDRESS, true],
    ['all-uppercase', `0x${KEY_ADDRESS.slice(2).toUpperCase()}`, true],
    ['wrong checksum', KEY_ADDRESS.replace('c', 'C'), false],
    ['no 0x', KEY_ADDRESS.slice(2), false],
    ['39 digits', KEY_ADDRESS.slice(0, 41), false],
    ['41 digits', `${KEY_ADDRESS}0`, false],
    ['spaces', ` ${KEY_ADDRESS} `, false],
    ['non-hex', `${KEY_ADDRESS.slice(0, 41)}z`, false],
    ['another address', '0x000000000000000000000000000000000000dEaD', false],
  ])('%s → %p', (_, address, ok) => {
    expect(verifyLogin({ fields: FIELDS, signature: VALID, address })).toBe(ok);
  });

  it.each<[string, unknown]>([
    ['null params', null],
    ['a string', 'x'],
    ['no fields', { signature: VALID, address: KEY_ADDRESS }],
    ['null fields', { fields: null, signature: VALID, address: KEY_ADDRESS }],
    ['fields without Challenge', { fields: { Message: 'Hi' }, signature: VALID, address: KEY_ADDRESS }],
    [
      'a non-string Message',
      { fields: { Message: 1, Challenge: FIELDS.Challenge }, signature: VALID, address: KEY_ADDRESS },
    ],
    ['a malformed Challenge', { fields: { Message: 'Hi', Challenge: 'xyz' }, signature: VALID, address: KEY_ADDRESS }],
    ['a non-string address', { fields: FIELDS, signature: VALID, address: 42 }],
    ['an empty domain name', { fields: FIELDS, signature: VALID, address: KEY_ADDRESS, domainName: '' }],
    ['a numeric domain name', { fields: FIELDS, signature: VALID, address: KEY_ADDRESS, domainName: 1 }],
  ])('%s → false, no throw', (_, params) => {
    expect(verifyLogin(params as Parameters<typeof verifyLogin>[0])).toBe(false);
  });

  it('verifyLogin is synchronous: it returns a boolean, no promise and no I/O', () => {
    expect(typeof verifyLogin({ fields: FIELDS, signature: VALID, address: KEY_ADDRESS })).toBe('boolean');
  });
});

describe('recoverAddress input checks', () => {
  it('needs a 32-byte digest', () => {
    expect(() => recoverAddress(new Uint8Array(31), VALID)).toThrow(INVALID_ARGUMENT);
    expect(() => recoverAddress(new Uint8Array(33), VALID)).toThrow(INVALID_ARGUMENT);
    expect(() => recoverAddress(bytesToHex(DIGEST) as unknown as Uint8Array, VALID)).toThrow(INVALID_ARGUMENT);
  });

  it('recovers the same address as viem for signatures of random digests', async () => {
    const signer = privateKeySigner(KEY);
    for (let i = 0; i < 20; i++) {
      const fields = createChallenge().fields;
      const sig = await signer.signTypedData(loginTypedData(fields));
      const digest = loginDigest(fields);
      expect(recoverAddress(digest, sig)).toBe(
        (await viemRecoverAddress({ hash: hex(digest), signature: hex(sig) })).toLowerCase(),
      );
    }
  });
});
