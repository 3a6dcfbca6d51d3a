import { readFileSync } from 'node:fs';
import { startTestGateway, type TestGateway } from '@degas/test-utils';
import { startGateway } from '../src/gateway.js';
import { parseExposition, promqlSeries, scrapeMetrics } from './prom-text.js';

const DASHBOARD = new URL('../../../examples/grafana/degas-gateway.json', import.meta.url);

interface Panel {
  title?: string;
  type?: string;
  panels?: Panel[];
  targets?: { expr?: string; refId?: string }[];
}

/** Every panel, those inside rows included. */
function allPanels(panels: Panel[]): Panel[] {
  return panels.flatMap((p) => [p, ...allPanels(p.panels ?? [])]);
}

describe('promqlSeries', () => {
  test.each([
    ['up', ['up']],
    ['rate(a_total{job="x",le=~"0.1|1"}[5m])', ['a_total']],
    ['histogram_quantile(0.99, sum by (le, kind) (rate(h_bucket[$__rate_interval])))', ['h_bucket']],
    ['sum(rate(a_sum[1m])) by (kind) / ignoring(kind) sum(rate(a_count[1m])) without (x)', ['a_sum', 'a_count']],
    ['time() - process_start_time_seconds{instance=~"$instance"} offset 5m', ['process_start_time_seconds']],
    ['max(b{l="sum(rate(fake[1m]))"}) > 0.5e3 and on (instance) c', ['b', 'c']],
    ['count by (version) (v) * 1e9 unless bool d', ['v', 'd']],
    ['max_over_time(e[1h:5m]) or vector(0)', ['e']],
  ])('%s', (expr, names) => {
    expect(promqlSeries(expr)).toEqual(names);
  });
});

describe('examples/grafana dashboard', () => {
  let env: TestGateway;
  beforeAll(async () => {
    env = await startTestGateway(startGateway, { adminPort: 0, adminHost: '127.0.0.1' });
  });
  afterAll(async () => {
    await env?.close();
  });

  test('parses, and every series its queries select is on a live gateway /metrics', async () => {
    const dashboard = JSON.parse(readFileSync(DASHBOARD, 'utf8')) as { title?: string; uid?: string; panels?: Panel[] };
    expect(typeof dashboard.title).toBe('string');
    expect(typeof dashboard.uid).toBe('string');
    const panels = allPanels(dashboard.panels ?? []).filter((p) => p.type !== 'row');
    expect(panels.length).toBeGreaterThan(10);

    const served = new Set(parseExposition(await scrapeMetrics(env.adminPort)).samples.map((s) => s.name));

    const missing: string[] = [];
    const queried = new Set<string>();
    for (const panel of panels) {
      const targets = panel.targets ?? [];
      expect([panel.title, targets.length > 0]).toEqual([panel.title, true]);
      for (const target of targets) {
        expect(typeof target.expr).toBe('string');
        const names = promqlSeries(target.expr!);
        // A query that selects nothing is a typo in the dashboard, not a pass.
        expect([panel.title, target.refId, names.length > 0]).toEqual([panel.title, target.refId, true]);
        for (const name of names) {
          queried.add(name);
          if (!served.has(name)) missing.push(`${panel.title} ${target.refId}: ${name}`);
        }
      }
    }
    expect(missing).toEqual([]);
    // Built on both: the runtime series and the gateway's own.
    expect([...queried].some((n) => n.startsWith('nodejs_'))).toBe(true);
    expect([...queried].some((n) => n.startsWith('process_'))).toBe(true);
    expect([...queried].some((n) => n.startsWith('degas_gateway_'))).toBe(true);
  });
});
