import { getPublicKey } from '@noble/secp256k1';
import { computeAddress, getAddress, Wallet } from 'ethers';
import {
  bytesToHex,
  hexToBytes,
  isAddress,
  normalizeAddress,
  parseAddress,
  publicKeyToAddress,
  toChecksumAddress,
} from '../src/index.js';
import { codeOf, INVALID_ARGUMENT, KEY, KEY_ADDRESS, randomKeys } from './fixtures.js';

// EIP-55's own test vectors.
const EIP55 = [
  '0x52908400098527886E0F7030069857D2E4169EE7',
  '0x8617E340B3D01FA5F11F306F4090FD50E238070D',
  '0xde709f2102306220921060314715629080e2fb77',
  '0x27b1fdb04752bbc536007a920d24acb045561c26',
  '0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed',
  '0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359',
  '0xdbF03B407c01E7cD3CBea99509d93f8DDDC8C6FB',
  '0xD1220A0cf47c7B9Be7A2E6BA89F429762e7b9aDb',
];

describe('parseAddress (CATALOGUE #66)', () => {
  const lower = KEY_ADDRESS.toLowerCase();
  const upper = `0x${KEY_ADDRESS.slice(2).toUpperCase()}`;

  it.each([
    ['lowercase', lower],
    ['checksummed', KEY_ADDRESS],
    ['all-uppercase', upper],
  ])('accepts the %s form and returns the same 20 bytes', (_, form) => {
    const bytes = parseAddress(form);
    expect(bytes).toBeInstanceOf(Uint8Array);
    expect(bytes.length).toBe(20);
    expect(bytesToHex(bytes)).toBe(lower.slice(2));
    expect(isAddress(form)).toBe(true);
    expect(normalizeAddress(form)).toBe(lower);
  });

  it.each(EIP55)('accepts the EIP-55 vector %s', (address) => {
    expect(isAddress(address)).toBe(true);
  });

  it('accepts digit-only addresses', () => {
    expect(isAddress(`0x${'1234567890'.repeat(4)}`)).toBe(true);
  });

  // A wrong checksum: flip the case of one letter of a checksummed address.
  const flipped = (() => {
    const i = KEY_ADDRESS.search(/[a-fA-F]/u);
    const c = KEY_ADDRESS[i]!;
    const swapped = c === c.toLowerCase() ? c.toUpperCase() : c.toLowerCase();
    return KEY_ADDRESS.slice(0, i) + swapped + KEY_ADDRESS.slice(i + 1);
  })();

  it('rejects a mixed-case address with a wrong checksum as INVALID_CHECKSUM', () => {
    expect(codeOf(() => parseAddress(flipped))).toBe('INVALID_CHECKSUM');
    expect(codeOf(() => parseAddress('0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAeD'))).toBe('INVALID_CHECKSUM');
    expect(isAddress(flipped)).toBe(false);
  });

  it.each([
    ['no 0x', lower.slice(2)],
    ['0X prefix', `0X${lower.slice(2)}`],
    ['39 digits', lower.slice(0, 41)],
    ['41 digits', `${lower}0`],
    ['leading space', ` ${lower}`],
    ['trailing space', `${lower} `],
    ['trailing newline', `${lower}\n`],
    ['inner space', `${lower.slice(0, 20)} ${lower.slice(21)}`],
    ['non-hex', `0x${'g'.repeat(40)}`],
    ['full-width digits', `0x${'０'.repeat(40)}`],
    ['empty', ''],
    ['just 0x', '0x'],
    ['64 digits (a key or hash)', `0x${'ab'.repeat(32)}`],
    ['lone surrogate', `0x${'a'.repeat(39)}\uD800`],
  ])('rejects %s as INVALID_ADDRESS', (_, address) => {
    expect(codeOf(() => parseAddress(address))).toBe('INVALID_ADDRESS');
    expect(isAddress(address)).toBe(false);
    expect(codeOf(() => normalizeAddress(address))).toBe('INVALID_ADDRESS');
  });

  it.each([[null], [undefined], [123], [{}], [new Uint8Array(20)]])('rejects the non-string %p', (value) => {
    expect(codeOf(() => parseAddress(value as unknown as string))).toBe('INVALID_ADDRESS');
    expect(isAddress(value as unknown as string)).toBe(false);
  });
});

describe('toChecksumAddress', () => {
  it.each(EIP55)('reproduces the EIP-55 vector %s', (address) => {
    const mixed = address.slice(2).match(/[a-f]/u) && address.slice(2).match(/[A-F]/u);
    const expected = mixed ? address : getAddress(address);
    expect(toChecksumAddress(address.toLowerCase())).toBe(expected);
  });

  it('matches ethers getAddress for 200 random addresses, from text and from bytes', () => {
    for (let i = 0; i < 200; i++) {
      const bytes = crypto.getRandomValues(new Uint8Array(20));
      const lower = `0x${bytesToHex(bytes)}`;
      expect(toChecksumAddress(lower)).toBe(getAddress(lower));
      expect(toChecksumAddress(bytes)).toBe(getAddress(lower));
      expect(toChecksumAddress(`0x${lower.slice(2).toUpperCase()}`)).toBe(getAddress(lower));
    }
  });

  it('rejects bad input', () => {
    expect(codeOf(() => toChecksumAddress(new Uint8Array(19)))).toBe('INVALID_ADDRESS');
    expect(codeOf(() => toChecksumAddress(new Uint8Array(21)))).toBe('INVALID_ADDRESS');
    expect(codeOf(() => toChecksumAddress('0x123'))).toBe('INVALID_ADDRESS');
    expect(codeOf(() => toChecksumAddress('0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAeD'))).toBe('INVALID_CHECKSUM');
  });
});

describe('publicKeyToAddress', () => {
  it('derives the known address of the fixed key, from both encodings', () => {
    const key = hexToBytes(KEY);
    expect(publicKeyToAddress(getPublicKey(key, false))).toBe(KEY_ADDRESS.toLowerCase());
    expect(publicKeyToAddress(getPublicKey(key, true))).toBe(KEY_ADDRESS.toLowerCase());
  });

  it.each(randomKeys(20))('matches ethers computeAddress for key %s', (key) => {
    const wallet = new Wallet(key);
    const uncompressed = hexToBytes(wallet.signingKey.publicKey);
    const compressed = hexToBytes(wallet.signingKey.compressedPublicKey);
    expect(publicKeyToAddress(uncompressed)).toBe(computeAddress(wallet.signingKey.publicKey).toLowerCase());
    expect(publicKeyToAddress(compressed)).toBe(wallet.address.toLowerCase());
  });

  it('rejects malformed or off-curve keys with INVALID_ARGUMENT', () => {
    const good = getPublicKey(hexToBytes(KEY), false);
    const offCurve = good.slice();
    offCurve[64] = offCurve[64]! ^ 1;
    const badPrefix = good.slice();
    badPrefix[0] = 0x05;
    for (const bad of [
      new Uint8Array(0),
      new Uint8Array(64),
      good.subarray(1),
      new Uint8Array(65),
      offCurve,
      badPrefix,
    ]) {
      expect(() => publicKeyToAddress(bad)).toThrow(INVALID_ARGUMENT);
    }
    expect(() => publicKeyToAddress('0x04' as unknown as Uint8Array)).toThrow(INVALID_ARGUMENT);
  });
});

describe('bytesToHex / hexToBytes', () => {
  it('round-trips and accepts an optional 0x and either case', () => {
    const bytes = Uint8Array.from({ length: 256 }, (_, i) => i);
    const text = bytesToHex(bytes);
    expect(text).toMatch(/^[0-9a-f]{512}$/u);
    expect(hexToBytes(text)).toEqual(bytes);
    expect(hexToBytes(`0x${text}`)).toEqual(bytes);
    expect(hexToBytes(text.toUpperCase())).toEqual(bytes);
    expect(hexToBytes('')).toEqual(new Uint8Array(0));
    expect(hexToBytes('0x')).toEqual(new Uint8Array(0));
    expect(bytesToHex(new Uint8Array([0, 171, 255]))).toBe('00abff');
  });

  it.each([['abc'], ['0xabc'], ['zz'], ['0Xab'], [' ab'], ['ab '], ['a b'], ['0x0x'], ['-1']])(
    'hexToBytes rejects %p with INVALID_ARGUMENT',
    (text) => {
      expect(() => hexToBytes(text)).toThrow(INVALID_ARGUMENT);
    },
  );

  it('rejects non-string / non-bytes input with INVALID_ARGUMENT', () => {
    expect(() => hexToBytes(12 as unknown as string)).toThrow(INVALID_ARGUMENT);
    expect(() => bytesToHex('00' as unknown as Uint8Array)).toThrow(INVALID_ARGUMENT);
    expect(() => bytesToHex([1, 2] as unknown as Uint8Array)).toThrow(INVALID_ARGUMENT);
  });
});
