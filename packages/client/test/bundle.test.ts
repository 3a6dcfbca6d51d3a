/**
 * The main entry must run unmodified in a browser: bundle it as a web app would (esbuild,
 * platform "browser", workspace packages through their published exports) and check that nothing
 * Node-specific got in.
 */
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const src = (file: string) => fileURLToPath(new URL(`../src/${file}`, import.meta.url));

async function bundle(entryPoint: string, platform: 'browser' | 'node'): Promise<string> {
  const result = await build({
    entryPoints: [entryPoint],
    bundle: true,
    platform,
    format: 'esm',
    target: 'es2022',
    write: false,
    logLevel: 'silent',
    external: platform === 'node' ? ['ws'] : [],
  });
  expect(result.errors).toEqual([]);
  expect(result.outputFiles).toHaveLength(1);
  return result.outputFiles[0]!.text;
}

/** What would break or bloat a browser build. */
function nodeFindings(code: string): string[] {
  const rules: [string, RegExp][] = [
    [
      'imports ws',
      /^\s*(import|export)\b[^;]*from\s*["']ws["']|import\(\s*["']ws["']\s*\)|require\(\s*["']ws["']\s*\)/m,
    ],
    ['imports a node: built-in', /(from\s*|import\(\s*|require\(\s*)["']node:/],
    ['uses Buffer', /\bBuffer\s*\.\s*(from|alloc|allocUnsafe|concat|isBuffer|byteLength)\b|globalThis\.Buffer/],
    ['uses require()', /\brequire\(/],
  ];
  return rules.filter(([, re]) => re.test(code)).map(([name]) => name);
}

test('@degas/client bundles for the browser without ws, node: built-ins or Buffer', async () => {
  const code = await bundle(src('index.ts'), 'browser');
  expect(code).toMatch(/\bDegasClient = class extends/);
  expect(code).toContain('binaryType = "arraybuffer"');
  expect(nodeFindings(code)).toEqual([]);
});

test('the check notices a Node import (the @degas/client/node entry)', async () => {
  const code = await bundle(src('node.ts'), 'node');
  expect(nodeFindings(code)).toContain('imports ws');
});
