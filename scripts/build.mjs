// `npm run build`: compiles every workspace's src/ to dist/ (CommonJS, with source maps) with swc, the compiler
// jest runs the tests through, with the same options (.swcrc): production and tests run the same compiled code.
// Specs are not compiled. Processes then run plain `node apps/<app>/dist/main.js`; tsx stays a development tool.
//
// A script over @swc/core's API rather than @swc/cli: the CLI (0.8) brings ~150 packages, among them a binary
// downloader this build does not use; walking src/ and writing each file's output is all it would do here.
import { mkdir, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { basename, dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { transformFile } from '@swc/core';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const options = JSON.parse(await readFile(join(ROOT, '.swcrc'), 'utf8'));
delete options.$schema;

/** Every workspace (apps/*, packages/*) that has a src/ directory. */
async function workspaces() {
  const { workspaces: globs } = JSON.parse(await readFile(join(ROOT, 'package.json'), 'utf8'));
  const dirs = [];
  for (const glob of globs) {
    const parent = join(ROOT, glob.replace(/\/\*$/, ''));
    for (const name of (await readdir(parent)).sort()) if (existsSync(join(parent, name, 'src'))) dirs.push(join(parent, name));
  }
  return dirs;
}

async function sources(dir) {
  const out = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...(await sources(path)));
    else if (/\.ts$/.test(entry.name) && !/\.(spec|d)\.ts$/.test(entry.name)) out.push(path);
  }
  return out;
}

async function compile(file, src, dist) {
  const target = join(dist, relative(src, file)).replace(/\.ts$/, '.js');
  const { code, map } = await transformFile(file, {
    ...options,
    swcrc: false,
    configFile: false,
    filename: file,
    sourceMaps: true,
    sourceFileName: relative(dirname(target), file),
  });
  await mkdir(dirname(target), { recursive: true });
  await writeFile(target, `${code}\n//# sourceMappingURL=${basename(target)}.map\n`);
  await writeFile(`${target}.map`, map);
}

const started = Date.now();
let files = 0;
const built = await Promise.all(
  (await workspaces()).map(async (ws) => {
    const src = join(ws, 'src');
    const dist = join(ws, 'dist');
    await rm(dist, { recursive: true, force: true });
    const list = await sources(src);
    await Promise.all(list.map((f) => compile(f, src, dist)));
    files += list.length;
    return relative(ROOT, ws);
  }),
);
if (!process.argv.includes('--quiet')) {
  process.stdout.write(`built ${files} files of ${built.length} workspaces (${built.join(', ')}) in ${Date.now() - started} ms\n`);
}
