import { readFileSync } from 'node:fs';
import { join } from 'node:path';

/** The NODE_OPTIONS every process runs with unless the environment sets its own (scripts/lib/node-options.json says why). */
export const DEFAULT_NODE_OPTIONS: string = (JSON.parse(readFileSync(join(__dirname, 'node-options.json'), 'utf8')) as { NODE_OPTIONS: string }).NODE_OPTIONS;

/** NODE_OPTIONS for a child process: the environment's own when set, else the project's default. */
export const nodeOptions = (env: NodeJS.ProcessEnv = process.env): string => env.NODE_OPTIONS || DEFAULT_NODE_OPTIONS;
