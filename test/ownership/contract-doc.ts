import { readFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * The "who" column of docs/api.md's procedure tables, by procedure path (`orders.get` → ["the order's customer"]).
 * A section `### <router> …` holds tables whose header names a `who` column; a row's first cell names one or more
 * procedures in backticks. A procedure described in two tables (subscriptions) has both texts.
 */
export function documentedWho(file = join(__dirname, '..', '..', 'docs', 'api.md')): Map<string, string[]> {
  const who = new Map<string, string[]>();
  let router: string | null = null;
  let column = -1;
  const cells = (line: string) =>
    line
      .trim()
      .replace(/^\||\|$/g, '')
      .split(/(?<!\\)\|/)
      .map((c) => c.trim());
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    const section = /^###\s+([A-Za-z]+)/.exec(line);
    if (section) {
      router = section[1]!;
      column = -1;
      continue;
    }
    if (!line.startsWith('|')) {
      column = -1;
      continue;
    }
    const row = cells(line);
    if (row[0] === 'procedure') {
      column = row.indexOf('who');
      continue;
    }
    if (router === null || column < 0 || /^-+$/.test(row[0] ?? '')) continue;
    const text = row[column];
    if (text === undefined) continue;
    for (const [, name] of (row[0] ?? '').matchAll(/`([A-Za-z]+)`/g)) {
      const path = `${router}.${name}`;
      who.set(path, [...(who.get(path) ?? []), text]);
    }
  }
  return who;
}

/** The doc's text says `who`: the same words, or those words followed by an elaboration (`: …` or ` (…)`). */
export const saysWho = (text: string, who: string): boolean => text === who || text.startsWith(`${who}:`) || text.startsWith(`${who} (`);
