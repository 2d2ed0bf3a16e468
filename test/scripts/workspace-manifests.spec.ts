import { builtinModules } from 'node:module';
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';

/**
 * Every workspace package declares what it imports, and its entry points exist. Hoisting (npm puts every package in
 * the root node_modules) hides a missing declaration on a developer's machine; `npm ci --omit=dev -w <app>`, a
 * bundler or another package manager would not, and the app would fail at start.
 */
const ROOT = join(__dirname, '..', '..');
const BUILTINS = new Set([...builtinModules, ...builtinModules.map((m) => `node:${m}`)]);

interface Manifest {
  name: string;
  main?: string;
  exports?: Record<string, Record<string, string>>;
  dependencies?: Record<string, string>;
  devDependencies?: Record<string, string>;
  peerDependencies?: Record<string, string>;
}

const workspaces = ['apps', 'packages'].flatMap((dir) =>
  readdirSync(join(ROOT, dir))
    .map((name) => join(ROOT, dir, name))
    .filter((path) => existsSync(join(path, 'package.json'))),
);
const read = (path: string) => JSON.parse(readFileSync(join(path, 'package.json'), 'utf8')) as Manifest;
const rootManifest = read(ROOT);

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((entry) => {
    const path = join(dir, entry);
    if (statSync(path).isDirectory()) return sources(path);
    return /\.(ts|mts|cts)$/.test(entry) && !entry.endsWith('.d.ts') ? [path] : [];
  });
}

/** The packages a file imports: [name, typeOnly]. Relative paths and Node's built-ins are left out. */
function imports(file: string): [string, boolean][] {
  const text = readFileSync(file, 'utf8');
  const found: [string, boolean][] = [];
  const patterns = [
    /^\s*import\s+(type\s+)?[^'";]*?\sfrom\s+['"]([^'"]+)['"]/gm,
    /^\s*export\s+(type\s+)?[^'";]*?\sfrom\s+['"]([^'"]+)['"]/gm,
    /^\s*import\s+()['"]([^'"]+)['"]/gm,
    /\b(?:import|require)\(()\s*['"]([^'"]+)['"]\s*\)/g,
  ];
  for (const re of patterns) {
    for (const m of text.matchAll(re)) {
      const spec = m[2]!;
      if (spec.startsWith('.') || spec.startsWith('/') || BUILTINS.has(spec) || BUILTINS.has(spec.split('/')[0]!)) continue;
      const parts = spec.split('/');
      found.push([spec.startsWith('@') ? `${parts[0]}/${parts[1]}` : parts[0]!, Boolean(m[1])]);
    }
  }
  return found;
}

describe('workspace manifests', () => {
  it.each(workspaces.map((w) => [relative(ROOT, w), w]))('%s declares every package its code imports', (_name, path) => {
    const m = read(path);
    const runtime = new Set([...Object.keys(m.dependencies ?? {}), ...Object.keys(m.peerDependencies ?? {})]);
    const dev = new Set([...runtime, ...Object.keys(m.devDependencies ?? {}), ...Object.keys(rootManifest.devDependencies ?? {})]);
    const missing = new Set<string>();
    // Its tests too (src/**/*.spec.ts and test/): they run with the package's own and the root's dev dependencies.
    for (const file of [...sources(join(path, 'src')), ...(existsSync(join(path, 'test')) ? sources(join(path, 'test')) : [])]) {
      const isTest = /\.spec\.ts$/.test(file) || file.startsWith(join(path, 'test'));
      for (const [pkg, typeOnly] of imports(file)) {
        if (pkg === m.name) continue;
        // A type-only import counts too: the build needs the package, and so do the .d.ts files it emits.
        const declared = isTest ? dev.has(pkg) : runtime.has(pkg);
        if (!declared) missing.add(`${pkg} (${relative(path, file)}${typeOnly ? ', types only' : isTest ? ', a test' : ''})`);
      }
    }
    expect([...missing].sort()).toEqual([]);
  });

  it('scripts, benches and tests reach other packages through their entries, never into their src/', () => {
    const dirs = ['scripts', 'bench', 'test', ...workspaces.map((w) => join(relative(ROOT, w), 'test'))].map((d) => join(ROOT, d)).filter((d) => existsSync(d));
    const reaching: string[] = [];
    for (const file of dirs.flatMap((d) => sources(d))) {
      const text = readFileSync(file, 'utf8');
      for (const m of text.matchAll(/from\s+['"]((?:\.\.\/)+(?:(?:apps|packages)\/)?[a-z-]+\/src\/[^'"]*)['"]/g)) {
        // A package's own tests (apps/x/test) may use its own src/.
        const target = join(dirname(file), m[1]!);
        const own = workspaces.some((w) => file.startsWith(join(w, 'test')) && target.startsWith(join(w, 'src')));
        if (!own) reaching.push(`${relative(ROOT, file)} → ${m[1]}`);
      }
    }
    expect(reaching).toEqual([]);
  });

  it.each(workspaces.map((w) => [relative(ROOT, w), w]))('%s: main and every export point at files the build makes from real sources', (_name, path) => {
    const m = read(path);
    // tsc compiles src/X.ts to dist/X.js (each package's tsconfig: rootDir src, outDir dist).
    const source = (target: string) =>
      target
        .replace(/^\.\//, '')
        .replace(/^dist\//, 'src/')
        .replace(/\.js$/, '.ts');
    const targets = [m.main, ...Object.values(m.exports ?? {}).flatMap((e) => Object.values(e))].filter((t): t is string => Boolean(t));
    expect(targets.length).toBeGreaterThan(0);
    // A subpath pattern (./src/*) needs its folder.
    const file = (t: string) => (t.includes('*') ? t.slice(0, t.indexOf('*')) : t);
    const absent = targets.filter((t) => !existsSync(join(path, file(t.startsWith('./src/') ? t : source(t)))));
    expect(absent).toEqual([]);
  });
});
