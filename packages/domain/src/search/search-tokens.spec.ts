import fc from 'fast-check';
import { SEARCH_TOKEN_MAX_CHARS, searchIndexTokens, searchQueryTerms } from './search-tokens';

/** InnoDB's default stopwords (INFORMATION_SCHEMA.INNODB_FT_DEFAULT_STOPWORD). */
const INNODB_STOPWORDS = new Set(
  'a about an are as at be by com de en for from how i in is it la of on or that the this to was what when where who will with und www'.split(' '),
);
const MIN_TOKEN_CHARS = 3; // innodb_ft_min_token_size's default

/** What MATCH(...) AGAINST (terms IN BOOLEAN MODE) does with the terms built here: every term required, `*` a prefix. */
function matches(index: string, terms: string[]): boolean {
  const tokens = index.split(' ').filter(Boolean);
  return terms.every((t) => {
    const body = t.slice(1);
    return body.endsWith('*') ? tokens.some((k) => k.startsWith(body.slice(0, -1))) : tokens.includes(body);
  });
}
const finds = (query: string, ...texts: string[]) => {
  const terms = searchQueryTerms(query);
  return terms.length > 0 && matches(searchIndexTokens(...texts), terms);
};

const hangul = fc.integer({ min: 0xac00, max: 0xd7a3 }).map((c) => String.fromCodePoint(c));
/** A few syllables only, so generated texts share bigrams and near misses are common. */
const fewHangul = fc.constantFrom(...'가방노트북신발우유장미꽃다발'.split(''));
const hangulWord = fc.array(fc.oneof(hangul, fewHangul), { minLength: 1, maxLength: 6 }).map((a) => a.join(''));
const latinWord = fc.stringMatching(/^[A-Za-z0-9éÜ]{1,12}$/);
const word = fc.oneof(hangulWord, latinWord);
const separator = fc.constantFrom(' ', '  ', ', ', '/', '-', '\n', ' (', ') ');
const textOf = (words: string[], seps: string[]) => words.map((w, i) => (i === 0 ? w : `${seps[i % seps.length] ?? ' '}${w}`)).join('');
const anyText = fc.string({ unit: 'binary', maxLength: 200 });

describe('searchIndexTokens', () => {
  it('turns Korean runs into bigrams plus the last syllable, words into marked words', () => {
    expect(searchIndexTokens('노트북가방').split(' ')).toEqual(['zk노트', 'zk트북', 'zk북가', 'zk가방', 'zk방']);
    expect(searchIndexTokens('The Bag of a kid').split(' ')).toEqual(['zwthe', 'zwbag', 'zwof', 'zwa', 'zwkid']);
    expect(searchIndexTokens('꽃')).toBe('zk꽃');
  });

  it('normalizes: NFKC (full-width, circled), lower case, Latin diacritics; splits letters from Hangul and punctuation', () => {
    expect(searchIndexTokens('ＡＢＣ Café ①')).toBe('zwabc zwcafe zw1');
    expect(searchIndexTokens('원두200g/10개')).toBe('zk원두 zk두 zw200g zw10 zk개');
  });

  it('bridges Korean runs split only by spaces, not by punctuation or other texts', () => {
    expect(searchIndexTokens('노트북 가방')).toContain('zk북가');
    expect(searchIndexTokens('노트북, 가방')).not.toContain('zk북가');
    expect(searchIndexTokens('노트북', '가방')).not.toContain('zk북가');
  });

  it('cuts words to what InnoDB indexes', () => {
    expect(searchIndexTokens('x'.repeat(200))).toBe(`zw${'x'.repeat(SEARCH_TOKEN_MAX_CHARS - 2)}`);
  });

  it('gives only tokens InnoDB keeps: 3 to 84 characters, never a stopword, only letters and digits, each once', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          anyText,
          fc.tuple(fc.array(word, { maxLength: 12 }), fc.array(separator, { minLength: 1 })).map(([w, s]) => textOf(w, s)),
        ),
        (text) => {
          const index = searchIndexTokens(text);
          if (index === '') return;
          const tokens = index.split(' ');
          expect(new Set(tokens).size).toBe(tokens.length);
          for (const t of tokens) {
            const n = Array.from(t).length;
            expect(n).toBeGreaterThanOrEqual(MIN_TOKEN_CHARS);
            expect(n).toBeLessThanOrEqual(SEARCH_TOKEN_MAX_CHARS);
            expect(INNODB_STOPWORDS.has(t)).toBe(false);
            expect(t).toMatch(/^z[wk][\p{L}\p{N}][\p{L}\p{N}\p{M}]*$/u);
            expect(t).not.toMatch(/[\u{10000}-\u{10FFFF}]/u);
          }
        },
      ),
      { numRuns: 500 },
    );
  });
});

describe('searchQueryTerms', () => {
  it('requires every term: words as prefixes (one letter exactly), Korean as bigrams, one syllable as a prefix', () => {
    expect(searchQueryTerms('노트북 Bag')).toEqual(['+zk노트', '+zk트북', '+zwbag*']);
    expect(searchQueryTerms('a 꽃')).toEqual(['+zwa', '+zk꽃*']);
    expect(searchQueryTerms('the the THE')).toEqual(['+zwthe*']);
  });

  it('has nothing to search for in punctuation, spaces or symbols', () => {
    expect(searchQueryTerms('')).toEqual([]);
    expect(searchQueryTerms(' !!! ... ~~ ')).toEqual([]);
    expect(searchQueryTerms('🙂 ★')).toEqual([]);
  });

  it('carries no BOOLEAN MODE operator from the input', () => {
    // Han's radicals are symbols, not letters: they split runs and make no term (found by the property below).
    expect(searchQueryTerms('⺀')).toEqual([]);
    expect(searchQueryTerms('-"foo" +bar* (baz) ~qux <x> @3')).toEqual(['+zwfoo*', '+zwbar*', '+zwbaz*', '+zwqux*', '+zwx', '+zw3']);
    fc.assert(
      fc.property(anyText, (q) => {
        for (const t of searchQueryTerms(q)) expect(t).toMatch(/^\+z[wk][\p{L}\p{N}][\p{L}\p{N}\p{M}]*\*?$/u);
      }),
      { numRuns: 500 },
    );
  });
});

describe('searching tokens with query terms', () => {
  it('finds short Korean words inside compounds, and single syllables anywhere', () => {
    expect(finds('가방', '노트북가방')).toBe(true);
    expect(finds('우유', '서울우유 1L')).toBe(true);
    expect(finds('신발', '운동화 신발장')).toBe(true);
    expect(finds('꽃', '장미꽃 다발')).toBe(true); // last syllable of a run
    expect(finds('꽃', '꽃다발')).toBe(true);
    expect(finds('노트북가방', '노트북 가방')).toBe(true); // written with or without the space
    expect(finds('노트북 가방', '노트북가방')).toBe(true);
  });

  it('misses what is not there', () => {
    expect(finds('가방', '가죽 방석')).toBe(false);
    expect(finds('가방', '노트북')).toBe(false);
    expect(finds('꽃', '장미 다발')).toBe(false);
    expect(finds('rose', 'tulip')).toBe(false);
    expect(finds('rose', 'ro se')).toBe(false);
    expect(finds('노트북 tulip', '노트북 rose')).toBe(false);
  });

  it('finds English stopwords, one-letter words and prefixes', () => {
    expect(finds('the', 'The Bag')).toBe(true);
    expect(finds('a', 'size A4 or a')).toBe(true);
    expect(finds('ros', 'Red roses')).toBe(true);
    expect(finds('who', 'Doctor Who mug')).toBe(true);
    expect(finds('x', 'xl shirt')).toBe(false); // one letter is a word, not a prefix
  });

  it('finds any text with its own query (whatever the input)', () => {
    fc.assert(
      fc.property(anyText, (text) => {
        expect(matches(searchIndexTokens(text), searchQueryTerms(text))).toBe(true);
      }),
      { numRuns: 500 },
    );
  });

  it('finds a product by any of its words, any Latin prefix of two or more characters and any piece of a Korean word, in any case', () => {
    const doc = fc.tuple(fc.array(word, { minLength: 1, maxLength: 10 }), fc.array(separator, { minLength: 1, maxLength: 4 }));
    fc.assert(
      fc.property(doc, doc, fc.array(fc.nat(), { minLength: 1, maxLength: 3 }), fc.nat(), fc.nat(), fc.boolean(), ([w1, s1], [w2, s2], picks, a, b, upper) => {
        const name = textOf(w1, s1);
        const description = textOf(w2, s2);
        const all = [...w1, ...w2];
        const query = picks
          .map((p) => {
            const w = Array.from(all[p % all.length]!);
            const isHangul = /^\p{sc=Hangul}/u.test(w[0]!);
            const from = isHangul ? a % w.length : 0;
            const minLen = isHangul || w.length === 1 ? 1 : 2;
            const len = minLen + (b % (w.length - from - minLen + 1));
            return w.slice(from, from + len).join('');
          })
          .join(' ');
        expect(finds(upper ? query.toUpperCase() : query, name, description)).toBe(true);
      }),
      { numRuns: 1000 },
    );
  });
});
