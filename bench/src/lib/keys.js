// Deterministic benchmark identities: client i always has the same private key, address and
// account id, so the accounts file, the Degas (fan-out recipients) and the load generators
// agree without passing thousands of keys around.
import { createHash } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import secp from 'secp256k1';

/** The Degas id every benchmark uses. */
export const DEGAS_ID_HEX = '0x0000000000000000000000000000beef';
export const DEGAS_ID = Buffer.from(DEGAS_ID_HEX.slice(2), 'hex');

/** @param {string} label @param {number} i */
function digest(label, i) {
  return createHash('sha256').update(`degas-bench:${label}:${i}`).digest();
}

/**
 * 16-byte account id of client `i`.
 * @param {number} i
 */
export function accountId(i) {
  return digest('account', i).subarray(0, 16);
}

/**
 * secp256k1 private key of client `i` (32 bytes, valid).
 * @param {number} i
 */
export function privateKey(i) {
  for (let k = 0; ; k++) {
    const key = digest(`key${k}`, i);
    if (secp.privateKeyVerify(key)) return key;
  }
}

let authEth;
async function loadAuthEth() {
  authEth ??= await import('@degas/auth-eth');
  return authEth;
}

/**
 * Lowercase Ethereum address of client `i`.
 * @param {number} i
 */
export async function address(i) {
  const { publicKeyToAddress } = await loadAuthEth();
  return publicKeyToAddress(secp.publicKeyCreate(privateKey(i), false));
}

/**
 * Writes an accounts file for clients [0, n) and returns the addresses.
 * @param {string} path
 * @param {number} n
 */
export async function writeAccountsFile(path, n) {
  const { publicKeyToAddress } = await loadAuthEth();
  const accounts = new Array(n);
  for (let i = 0; i < n; i++) {
    const addr = publicKeyToAddress(secp.publicKeyCreate(privateKey(i), false));
    accounts[i] = {
      id: `0x${accountId(i).toString('hex')}`,
      signers: [{ type: 'ethereum', address: addr, disabled: false }],
    };
  }
  writeFileSync(path, JSON.stringify({ accounts }));
}
