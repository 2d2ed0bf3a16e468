/**
 * Search tokens for an InnoDB FULLTEXT index that finds Korean and English
 * alike, on any MySQL 8 / MariaDB 10.11 server with default settings.
 *
 * InnoDB's built-in parser splits text at non-word characters, drops tokens
 * shorter than innodb_ft_min_token_size (3 characters by default, a
 * read-only setting) and drops its stopwords ("the", "with", "who", …).
 * Korean puts no spaces inside compounds and many of its words are two
 * syllables (가방, 우유, 신발), so indexing the text itself would find
 * neither 가방 in 노트북가방 nor 가방 alone, nor "the".
 *
 * So the application writes its own tokens to a column the index covers:
 * - text is normalized (NFKC, lower case, Latin diacritics dropped) and split
 *   into words (letters and digits) and CJK runs (Hangul, Han, kana);
 * - a word becomes `zw<word>`;
 * - a CJK run becomes its bigrams `zk<ab>` plus its last character `zk<z>`
 *   (so every character starts a token), and two runs with only spaces
 *   between them also give the bigram across the space (노트북 가방 → 북가),
 *   so a query written without the space still finds it.
 * Every token is at least 3 characters and, starting with "z", never one of
 * InnoDB's default stopwords (none starts with "z"). Both markers keep word
 * and CJK tokens apart.
 *
 * A query is tokenized the same way into BOOLEAN MODE terms, every one
 * required (`+`): a word of two or more characters as a prefix (`+zwros*`
 * finds roses), a one-character word exactly, a CJK run of two or more
 * characters as all its bigrams (가방 → +zk가방; 노트북 → +zk노트 +zk트북),
 * and one CJK character as a prefix (꽃 → +zk꽃*, which finds 꽃다발 and
 * 장미꽃). Bigrams make Korean search a substring search, with the usual
 * bigram looseness: a text holding every bigram of the query, but not side
 * by side, matches too.
 *
 * Terms hold only letters, digits, the markers and the operators added
 * here, so user input can never inject BOOLEAN MODE syntax.
 */

const WORD_MARK = 'zw';
const CJK_MARK = 'zk';
/** innodb_ft_max_token_size's default: longer tokens are not indexed, so words are cut to fit. */
export const SEARCH_TOKEN_MAX_CHARS = 84;
const MAX_WORD_CHARS = SEARCH_TOKEN_MAX_CHARS - WORD_MARK.length;

const CJK_CLASS = String.raw`\p{sc=Hangul}\p{sc=Han}\p{sc=Hiragana}\p{sc=Katakana}`;
/**
 * A CJK run (CJK letters only: Han's radicals and other symbols split runs, as they split InnoDB's words),
 * or a word: a letter or digit (not CJK), then letters, digits and combining marks.
 */
const SEGMENT = new RegExp(String.raw`((?:(?=\p{L})[${CJK_CLASS}])+)|((?:(?![${CJK_CLASS}])[\p{L}\p{N}])(?:(?![${CJK_CLASS}])[\p{L}\p{N}\p{M}])*)`, 'gu');
/** Characters outside the Basic Multilingual Plane: not word characters to MySQL, so separators here too. */
const ASTRAL = /[\u{10000}-\u{10FFFF}]/gu;
const LATIN_WORD = /^[\p{sc=Latin}\p{N}\p{M}]+$/u;
const MARKS = /\p{M}/gu;
const SPACES_ONLY = /^\s+$/u;

type Segment = { kind: 'word'; word: string } | { kind: 'cjk'; chars: string[]; afterCjkSpace: boolean };

export function normalizeSearchText(text: string): string {
  return text.normalize('NFKC').toLowerCase().replace(ASTRAL, ' ');
}

function foldWord(word: string): string {
  const folded = LATIN_WORD.test(word) ? word.normalize('NFD').replace(MARKS, '').normalize('NFC') : word;
  const chars = Array.from(folded);
  return chars.length > MAX_WORD_CHARS ? chars.slice(0, MAX_WORD_CHARS).join('') : folded;
}

function segments(text: string): Segment[] {
  const norm = normalizeSearchText(text);
  const out: Segment[] = [];
  let prevEnd = -1;
  let prevCjk = false;
  for (const m of norm.matchAll(SEGMENT)) {
    const start = m.index;
    if (m[1] !== undefined) {
      const afterCjkSpace = prevCjk && SPACES_ONLY.test(norm.slice(prevEnd, start));
      out.push({ kind: 'cjk', chars: Array.from(m[1]), afterCjkSpace });
      prevCjk = true;
    } else if (m[2] !== undefined) {
      const word = foldWord(m[2]);
      if (word.length > 0) out.push({ kind: 'word', word });
      prevCjk = false;
    }
    prevEnd = start + m[0].length;
  }
  return out;
}

/**
 * The tokens to store for a product's texts (name, description, …), space
 * separated, each once. Texts are tokenized apart: no bigram spans two.
 */
export function searchIndexTokens(...texts: string[]): string {
  const tokens = new Set<string>();
  for (const text of texts) {
    let lastCjk: string | undefined;
    for (const s of segments(text)) {
      if (s.kind === 'word') {
        tokens.add(WORD_MARK + s.word);
        lastCjk = undefined;
        continue;
      }
      const c = s.chars;
      if (s.afterCjkSpace && lastCjk !== undefined) tokens.add(CJK_MARK + lastCjk + c[0]!);
      for (let i = 0; i + 1 < c.length; i++) tokens.add(CJK_MARK + c[i]! + c[i + 1]!);
      lastCjk = c[c.length - 1]!;
      tokens.add(CJK_MARK + lastCjk);
    }
  }
  return [...tokens].join(' ');
}

/**
 * A search query as BOOLEAN MODE terms, each required; empty when the query
 * has no letters or digits to search for.
 */
export function searchQueryTerms(query: string): string[] {
  const terms = new Set<string>();
  for (const s of segments(query)) {
    if (s.kind === 'word') {
      terms.add(Array.from(s.word).length === 1 ? `+${WORD_MARK}${s.word}` : `+${WORD_MARK}${s.word}*`);
    } else if (s.chars.length === 1) {
      terms.add(`+${CJK_MARK}${s.chars[0]!}*`);
    } else {
      for (let i = 0; i + 1 < s.chars.length; i++) terms.add(`+${CJK_MARK}${s.chars[i]!}${s.chars[i + 1]!}`);
    }
  }
  return [...terms];
}
