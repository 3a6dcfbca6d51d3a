/**
 * Test helpers for /metrics: a strict parser of the Prometheus text format (0.0.4) and the series
 * names a PromQL expression selects (for checking dashboards against a live gateway).
 */

/** GETs `/metrics` from a gateway's admin port on 127.0.0.1; throws unless it answers 200. */
export async function scrapeMetrics(adminPort: number | undefined): Promise<string> {
  if (adminPort === undefined) throw new Error('the gateway has no admin server');
  const res = await fetch(`http://127.0.0.1:${adminPort}/metrics`);
  if (res.status !== 200) throw new Error(`/metrics answered ${res.status}`);
  return res.text();
}

export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

export interface Exposition {
  samples: Sample[];
  types: Map<string, string>;
  help: Map<string, string>;
}

const SAMPLE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$/;
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"(,|$)/y;
const SUFFIXES: Record<string, readonly string[]> = {
  histogram: ['_bucket', '_sum', '_count'],
  summary: ['_sum', '_count'],
};

/**
 * Parses an exposition, throwing on any malformed line, a second TYPE for one family, or a sample
 * of no declared family (a histogram's samples are its `_bucket`, `_sum` and `_count`). Empty lines
 * are allowed, as the format says.
 */
export function parseExposition(text: string): Exposition {
  if (!text.endsWith('\n')) throw new Error('the exposition must end with a newline');
  const types = new Map<string, string>();
  const help = new Map<string, string>();
  const samples: Sample[] = [];
  for (const line of text.slice(0, -1).split('\n')) {
    if (line === '') continue;
    if (line.startsWith('# HELP ')) {
      const m = /^# HELP (\S+) (.+)$/.exec(line);
      if (m === null) throw new Error(`bad HELP line: ${line}`);
      help.set(m[1]!, m[2]!);
      continue;
    }
    if (line.startsWith('# TYPE ')) {
      const m = /^# TYPE (\S+) (counter|gauge|histogram|summary|untyped)$/.exec(line);
      if (m === null) throw new Error(`bad TYPE line: ${line}`);
      if (types.has(m[1]!)) throw new Error(`second TYPE for ${m[1]}`);
      types.set(m[1]!, m[2]!);
      continue;
    }
    const m = SAMPLE.exec(line);
    if (m === null) throw new Error(`bad sample line: ${line}`);
    const labels: Record<string, string> = {};
    const body = m[3] ?? '';
    let pos = 0;
    while (pos < body.length) {
      LABEL.lastIndex = pos;
      const lm = LABEL.exec(body);
      if (lm === null) throw new Error(`bad labels: ${body}`);
      labels[lm[1]!] = lm[2]!;
      pos = LABEL.lastIndex;
    }
    const raw = m[4]!;
    const value = raw === '+Inf' ? Number.POSITIVE_INFINITY : raw === '-Inf' ? Number.NEGATIVE_INFINITY : Number(raw);
    if (Number.isNaN(value) && raw !== 'NaN') throw new Error(`bad value: ${line}`);
    const name = m[1]!;
    const declared = [...types].some(
      ([family, type]) => name === family || (SUFFIXES[type] ?? []).some((s) => name === family + s),
    );
    if (!declared) throw new Error(`sample without TYPE: ${line}`);
    samples.push({ name, labels, value });
  }
  return { samples, types, help };
}

// PromQL words that look like identifiers but name no series.
const PROMQL_WORDS = new Set([
  'by',
  'without',
  'on',
  'ignoring',
  'group_left',
  'group_right',
  'bool',
  'offset',
  'and',
  'or',
  'unless',
  'atan2',
  'inf',
  'nan',
]);

/**
 * The metric names a PromQL expression selects: label matchers (`{…}`, strings included), range
 * and subquery brackets (`[5m]`, `[$__rate_interval]`), grouping clauses (`by (le)`), function and
 * aggregation calls (`rate(`, `sum (`), keywords, numbers and Grafana variables are skipped. A
 * histogram must be queried through `_bucket`, `_sum` or `_count`, which are the sample names.
 * @example
 * promqlSeries('histogram_quantile(0.99, sum by (le) (rate(x_bucket{job="a"}[5m])))'); // ['x_bucket']
 */
export function promqlSeries(expr: string): string[] {
  let s = expr
    .replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`/g, '""') // string literals
    .replace(/\{[^{}]*\}/g, ' ') // label matchers
    .replace(/\[[^\][]*\]/g, ' ') // ranges and subqueries
    .replace(/#[^\n]*/g, ' '); // comments
  // Grouping and matching clauses list label names, not series.
  s = s.replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^()]*\)/g, ' ');
  const names = new Set<string>();
  const ident = /(?<![A-Za-z0-9_:.$])([A-Za-z_:][A-Za-z0-9_:]*)(\s*\()?/g;
  for (let m = ident.exec(s); m !== null; m = ident.exec(s)) {
    const [, name, call] = m;
    if (call !== undefined || PROMQL_WORDS.has(name!.toLowerCase())) continue;
    names.add(name!);
  }
  return [...names];
}
