// Shared fixtures for the auth-eth tests. Lives outside src/ so the build never emits it.
import { type TypedDataField, Wallet } from 'ethers';
import { type Hex, hashTypedData as viemHashTypedData } from 'viem';
import { privateKeyToAccount } from 'viem/accounts';
import { AuthEthError, bytesToHex, hexToBytes, type LoginFields, type LoginTypedData } from '../src/index.js';

/** A well-known test key (web3.js docs), never used for anything real. */
export const KEY = '0x4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318';
export const KEY_ADDRESS = '0x2c7536E3605D9C16a7a3D7b1898e529396a65c23';

export const N = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n;
export const HALF_N = N >> 1n;
export const P = 0xfffffffffffffffffffffffffffffffffffffffffffffffffffffffefffffc2fn;

export const FIELDS: LoginFields = {
  Message: 'Hi',
  Challenge: 'ffffffffffffffffffffffffffffffff',
};

/** Prompts that stress the string encoding. */
export const PROMPTS: readonly string[] = [
  'Sign in',
  '',
  'Line one\nLine two\r\n\tTabbed',
  'She said "sign" and \\ left',
  "It's free 🎮🚀 — no transaction",
  '署名は無料です。トランザクションは送信されません。',
  '로그인 서명 / 登录签名 / Вход / تسجيل الدخول',
  'x'.repeat(2000),
];

export const DOMAIN_NAMES: readonly string[] = ['Degas Authentication', 'My Game Authentication', 'Ünïcödé 認証 🔐'];

/** A generic typed-data object (not restricted to the Login shape), for hostile variants. */
export interface AnyTypedData {
  domain: Record<string, unknown>;
  types: Record<string, TypedDataField[]>;
  primaryType: string;
  message: Record<string, unknown>;
}

export function hex(bytes: Uint8Array): Hex {
  return `0x${bytesToHex(bytes)}`;
}

export function bigTo32(n: bigint): Uint8Array {
  return hexToBytes(n.toString(16).padStart(64, '0'));
}

/** A 65-byte signature from its parts. */
export function makeSig(r: bigint, s: bigint, v: number): Uint8Array {
  const out = new Uint8Array(65);
  out.set(bigTo32(r), 0);
  out.set(bigTo32(s), 32);
  out[64] = v;
  return out;
}

export function withoutDomainType(types: Record<string, TypedDataField[]>): Record<string, TypedDataField[]> {
  const { EIP712Domain: _, ...rest } = types;
  return rest;
}

/** ethers' EIP-712 signature (ethers always derives the EIP712Domain type itself). */
export async function ethersSign(key: string, typed: AnyTypedData | LoginTypedData): Promise<Uint8Array> {
  const wallet = new Wallet(key);
  return hexToBytes(
    await wallet.signTypedData(
      typed.domain,
      withoutDomainType(typed.types as Record<string, TypedDataField[]>),
      typed.message,
    ),
  );
}

/** viem's EIP-712 signature; an explicit EIP712Domain type in `types` is honoured. */
export async function viemSign(key: string, typed: AnyTypedData | LoginTypedData): Promise<Uint8Array> {
  const account = privateKeyToAccount(key as Hex);
  return hexToBytes(await account.signTypedData(typed as Parameters<typeof account.signTypedData>[0]));
}

export function viemHash(typed: AnyTypedData | LoginTypedData): string {
  return viemHashTypedData(typed as Parameters<typeof viemHashTypedData>[0]).slice(2);
}

/**
 * The Login typed data as a generic object, to derive hostile variants from. Written out from
 * PROTOCOL.md 4.2 rather than built with loginTypedData, so that tests comparing against it (and
 * hashing it with ethers and viem) would catch a wrong shape in the production builder.
 */
export function baseTyped(fields: LoginFields = FIELDS, name = 'Degas Authentication'): AnyTypedData {
  return {
    domain: { name, version: '1', chainId: 1 },
    types: {
      EIP712Domain: [
        { name: 'name', type: 'string' },
        { name: 'version', type: 'string' },
        { name: 'chainId', type: 'uint256' },
      ],
      Login: [
        { name: 'Message', type: 'string' },
        { name: 'Challenge', type: 'string' },
      ],
    },
    primaryType: 'Login',
    message: { ...fields },
  };
}

/** Fresh random keys from ethers' CSPRNG (independent of this package's key generation). */
export function randomKeys(count: number): string[] {
  return Array.from({ length: count }, () => Wallet.createRandom().privateKey);
}

/**
 * The Login typed data with its domain or type altered (CATALOGUE #59): each variant hashes to
 * something other than the Login digest. `ethersCanSign` is false where ethers cannot express it.
 */
export const WRONG_DOMAIN_VARIANTS: ReadonlyArray<{ name: string; make: () => AnyTypedData; ethersCanSign: boolean }> =
  (
    [
      [
        'chainId 137',
        () => ({ ...baseTyped(), domain: { name: 'Degas Authentication', version: '1', chainId: 137 } }),
        true,
      ],
      ['name Evil', () => baseTyped(FIELDS, 'Evil'), true],
      ['name Xixels Authentication', () => baseTyped(FIELDS, 'Xixels Authentication'), true],
      [
        'version 2',
        () => {
          const t = baseTyped();
          return { ...t, domain: { ...t.domain, version: '2' } };
        },
        true,
      ],
      [
        'no chainId',
        () => {
          const t = baseTyped();
          return {
            ...t,
            domain: { name: 'Degas Authentication', version: '1' },
            types: { ...t.types, EIP712Domain: t.types.EIP712Domain!.slice(0, 2) },
          };
        },
        true,
      ],
      [
        'extra verifyingContract',
        () => {
          const t = baseTyped();
          return {
            ...t,
            domain: { ...t.domain, verifyingContract: '0x000000000000000000000000000000000000dEaD' },
            types: {
              ...t.types,
              EIP712Domain: [...t.types.EIP712Domain!, { name: 'verifyingContract', type: 'address' }],
            },
          };
        },
        true,
      ],
      [
        'chainId-first field order',
        () => {
          const t = baseTyped();
          return {
            ...t,
            domain: { chainId: 1, name: 'Degas Authentication', version: '1' },
            types: {
              ...t.types,
              EIP712Domain: [
                { name: 'chainId', type: 'uint256' },
                { name: 'name', type: 'string' },
                { name: 'version', type: 'string' },
              ],
            },
          };
        },
        false, // ethers always derives the canonical order, so only viem can sign this one
      ],
      [
        'primaryType LoginX',
        () => {
          const t = baseTyped();
          return {
            ...t,
            primaryType: 'LoginX',
            types: { EIP712Domain: t.types.EIP712Domain!, LoginX: t.types.Login! },
          };
        },
        true,
      ],
      [
        'Login(string Challenge,string Message)',
        () => {
          const t = baseTyped();
          return {
            ...t,
            types: {
              ...t.types,
              Login: [
                { name: 'Challenge', type: 'string' },
                { name: 'Message', type: 'string' },
              ],
            },
          };
        },
        true,
      ],
    ] as Array<[string, () => AnyTypedData, boolean]>
  ).map(([name, make, ethersCanSign]) => ({ name, make, ethersCanSign }));

/** The error `fn` throws, or `undefined` when it returns. */
export function thrown(fn: () => unknown): unknown {
  try {
    fn();
  } catch (err) {
    return err;
  }
  return undefined;
}

/** The AuthEthError code `fn` throws (a description of any other error), or `undefined`. */
export function codeOf(fn: () => unknown): string | undefined {
  const err = thrown(fn);
  if (err === undefined || err instanceof AuthEthError) return err?.code;
  return `not AuthEthError: ${String(err)}`;
}

/** What every entry point throws for an argument of the wrong type, length or range. */
export const INVALID_ARGUMENT = expect.objectContaining({ name: 'AuthEthError', code: 'INVALID_ARGUMENT' });

/** Chain ids that no entry point accepts: out of 1..MAX_CHAIN_ID, not integers, not numbers. */
export const BAD_CHAIN_IDS: readonly [string, unknown][] = [
  ['0', 0],
  ['-1', -1],
  ['1.5', 1.5],
  ['2^53', 2 ** 53],
  ['2^53 as bigint', 2n ** 53n],
  ['2^64 as bigint', 2n ** 64n],
  ['a decimal string', '8453'],
  ['null', null],
  ['NaN', Number.NaN],
  ['Infinity', Number.POSITIVE_INFINITY],
];
