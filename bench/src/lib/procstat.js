// CPU and memory of another process, read from /proc (Linux only). The benchmark measures the
// gateway (or the baseline relay) from outside so the numbers include everything the process
// does: GC, worker threads, kernel time spent on its behalf.
import { readFileSync } from 'node:fs';

const CLK_TCK = 100; // USER_HZ on every Linux we run on; /proc/<pid>/stat counts in these ticks.

/**
 * @typedef {{ at: bigint, cpuTicks: number, rssBytes: number }} ProcSample
 */

/**
 * Reads utime+stime (all threads) and VmRSS of `pid`.
 * @param {number} pid
 * @returns {ProcSample}
 */
export function sampleProc(pid) {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // The command name (field 2) may contain spaces; everything after the last ')' is fixed-format.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // fields[0] is field 3 (state); utime is field 14, stime field 15.
  const cpuTicks = Number(fields[11]) + Number(fields[12]);
  return { at: process.hrtime.bigint(), cpuTicks, rssBytes: readRss(pid) };
}

/**
 * utime+stime of one thread (`tid` = `pid` is the main thread). RSS is per process, so it is 0.
 * @param {number} pid
 * @param {number} tid
 * @returns {ProcSample}
 */
export function sampleThread(pid, tid) {
  const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return { at: process.hrtime.bigint(), cpuTicks: Number(fields[11]) + Number(fields[12]), rssBytes: 0 };
}

/**
 * Scheduler statistics of one thread: nanoseconds on a CPU and waiting on a run queue while
 * runnable (`/proc/PID/task/TID/schedstat`). The wait is what a lower-priority verifier thread,
 * the load generators or anything else on the machine cost the forwarding thread.
 * @param {number} pid
 * @param {number} tid
 * @returns {{ at: bigint, cpuNs: number, waitNs: number }}
 */
export function sampleSched(pid, tid) {
  const [cpu, wait] = readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ');
  return { at: process.hrtime.bigint(), cpuNs: Number(cpu), waitNs: Number(wait) };
}

/**
 * Run-queue wait of a thread between two {@link sampleSched} samples, as a percentage of the
 * wall time between them (0 = it always got a CPU when it wanted one).
 * @param {{ at: bigint, waitNs: number }} a
 * @param {{ at: bigint, waitNs: number }} b
 */
export function waitPercent(a, b) {
  const wallNs = Number(b.at - a.at);
  return wallNs > 0 ? ((b.waitNs - a.waitNs) / wallNs) * 100 : 0;
}

/**
 * VmRSS of `pid` in bytes.
 * @param {number} pid
 */
export function readRss(pid) {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(status);
  return m ? Number(m[1]) * 1024 : 0;
}

/**
 * CPU% (100 = one core busy) between two samples.
 * @param {ProcSample} a
 * @param {ProcSample} b
 */
export function cpuPercent(a, b) {
  const wallS = Number(b.at - a.at) / 1e9;
  if (wallS <= 0) return 0;
  return ((b.cpuTicks - a.cpuTicks) / CLK_TCK / wallS) * 100;
}

/**
 * CPU seconds between two samples.
 * @param {ProcSample} a
 * @param {ProcSample} b
 */
export function cpuSeconds(a, b) {
  return (b.cpuTicks - a.cpuTicks) / CLK_TCK;
}
