/**
 * The install is honest about the Node it needs: every dependency the package runs with accepts the lowest Node our
 * `engines` field admits, and the build tools (dev dependencies, for a checkout) accept the Node 20 this project
 * builds on. (npm warned EBADENGINE for two transitive dependencies that had moved to Node 22.)
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';

// semver comes with npm's own dependency tree (fastify uses it); no dependency of ours for one test.
const semver = createRequire(import.meta.url)('semver') as { minVersion(range: string): { version: string } | null; satisfies(v: string, range: string): boolean };
const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { engines: { node: string }; allowScripts?: Record<string, boolean> };
const lock = JSON.parse(readFileSync(new URL('../package-lock.json', import.meta.url), 'utf8')) as {
  packages: Record<string, { dev?: boolean; engines?: { node?: string } | string[] }>;
};

test('every runtime dependency accepts the lowest Node that package.json admits; build tools accept Node 20.19', () => {
  const lowest = semver.minVersion(pkg.engines.node)!.version;
  const refused: string[] = [];
  for (const [name, entry] of Object.entries(lock.packages)) {
    const range = Array.isArray(entry.engines) ? undefined : entry.engines?.node;
    if (name === '' || range === undefined) continue;
    const node = entry.dev === true ? '20.19.0' : lowest;
    if (!semver.satisfies(node, range)) refused.push(`${name} needs Node ${range}, not ${node}`);
  }
  assert.deepEqual(refused, []);
});

test('install scripts are declared for npm 11: onnxruntime-node\'s CUDA download never runs', () => {
  assert.equal(pkg.allowScripts?.['onnxruntime-node'], false);
  const npmrc = readFileSync(new URL('../.npmrc', import.meta.url), 'utf8');
  assert.doesNotMatch(npmrc, /^onnxruntime-node-install/m, 'a key npm 11 warns about on every install');
});
