// Source addresses for the load generators. Loopback is all of 127.0.0.0/8 on Linux, so clients
// can bind distinct 127.0.1.x addresses: that multiplies the ephemeral ports available (each
// source address has its own ~28k) and keeps the gateway's per-IP limit on unauthenticated
// connections (default 64) from refusing a benchmark's burst of logins.

/**
 * `n` addresses 127.0.1.1, 127.0.1.2, … (then 127.0.2.x, …).
 * @param {number} n
 */
export function localAddresses(n) {
  const out = [];
  for (let i = 0; i < n; i++) out.push(`127.0.${1 + Math.floor(i / 250)}.${1 + (i % 250)}`);
  return out;
}
