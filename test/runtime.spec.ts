import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { DEFAULT_NODE_OPTIONS, nodeOptions } from '../scripts/lib/node-options';

const ROOT = join(__dirname, '..');
const read = (file: string) => readFileSync(join(ROOT, file), 'utf8');

/**
 * The supported runtime is Node 24 LTS. The project pins it as a devDependency (npm's `node` package), so every
 * `npm run` script, jest included, runs on it even where the machine's own Node is older.
 */
describe('runtime', () => {
  it('is Node 24', () => {
    expect(Number(process.versions.node.split('.')[0])).toBe(24);
  });

  it('runs every process with the same V8 heap settings: npm run up, tests and bench (node-options.json), the Docker image and compose', () => {
    expect(DEFAULT_NODE_OPTIONS).toMatch(/--max-semi-space-size=\d+/);
    expect(DEFAULT_NODE_OPTIONS).toMatch(/--max-old-space-size=\d+/);
    expect(read('Dockerfile')).toContain(`ENV NODE_OPTIONS="${DEFAULT_NODE_OPTIONS}"`);
    expect(read('docker-compose.yml')).toContain(`NODE_OPTIONS: \${NODE_OPTIONS:-${DEFAULT_NODE_OPTIONS}}`);
    expect(read('scripts/up.mjs')).toContain("'node-options.json'");
    // An operator's own NODE_OPTIONS wins.
    expect(nodeOptions({ NODE_OPTIONS: '--max-old-space-size=512' })).toBe('--max-old-space-size=512');
    expect(nodeOptions({})).toBe(DEFAULT_NODE_OPTIONS);
  });
});
