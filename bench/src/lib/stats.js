// Latency summaries. Samples are round-trip times in nanoseconds stored in a Float64Array.

/**
 * p50/p99/p99.9 (ms) and mean of the first `n` samples (ns). Sorts a copy.
 * @param {Float64Array} samples
 * @param {number} [n]
 */
export function summarize(samples, n = samples.length) {
  if (n === 0) return { count: 0, p50_ms: 0, p99_ms: 0, p999_ms: 0, mean_ms: 0, max_ms: 0 };
  const s = samples.slice(0, n).sort();
  let sum = 0;
  for (let i = 0; i < n; i++) sum += s[i];
  const q = (p) => s[Math.min(n - 1, Math.ceil(p * n) - 1)] / 1e6;
  return {
    count: n,
    p50_ms: round3(q(0.5)),
    p99_ms: round3(q(0.99)),
    p999_ms: round3(q(0.999)),
    mean_ms: round3(sum / n / 1e6),
    max_ms: round3(s[n - 1] / 1e6),
  };
}

/**
 * Concatenates sample arrays from several load-generator processes.
 * @param {Float64Array[]} parts
 */
export function concatSamples(parts) {
  let total = 0;
  for (const p of parts) total += p.length;
  const out = new Float64Array(total);
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

/** @param {number} x */
export function round3(x) {
  return Math.round(x * 1000) / 1000;
}

/** @param {number[]} xs */
export function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}
