// Fake blog prose from a seeded generator: words, sentences and paragraphs that compress like
// real text (so gzip figures are honest) and carry the UTF-8 punctuation WordPress emits.

import { intBetween, pick } from './seeded-random.js';

const WORDS = [
  'cache', 'memory', 'server', 'request', 'page', 'visitor', 'editor', 'article', 'garden',
  'morning', 'river', 'coffee', 'window', 'market', 'summer', 'letter', 'theory', 'engine',
  'review', 'update', 'release', 'question', 'answer', 'history', 'village', 'station',
  'the', 'the', 'the', 'a', 'a', 'of', 'of', 'and', 'and', 'to', 'in', 'is', 'that', 'for',
  'with', 'on', 'was', 'as', 'it', 'by', 'we', 'our', 'this', 'from', 'at', 'be', 'not',
  'quietly', 'slowly', 'often', 'rarely', 'always', 'bright', 'careful', 'simple', 'broken',
  'patient', 'curious', 'small', 'large', 'early', 'late', 'honest', 'strange', 'useful',
  'writes', 'reads', 'builds', 'serves', 'waits', 'returns', 'remembers', 'forgets', 'opens',
] as const;

// wptexturize turns quotes and dashes into these, so real pages are never plain ASCII.
const FLOURISHES = [' — ', '’s', ' “', '” ', '…', ' – ', ' café', ' naïve'] as const;

export function sentence(rand: () => number): string {
  const n = intBetween(rand, 6, 18);
  const words: string[] = [];
  for (let i = 0; i < n; i++) {
    words.push(pick(rand, WORDS));
    if (rand() < 0.06) words.push(pick(rand, FLOURISHES).trim());
  }
  const text = words.join(' ');
  return text.charAt(0).toUpperCase() + text.slice(1) + (rand() < 0.1 ? '?' : '.');
}

export function paragraph(rand: () => number): string {
  const n = intBetween(rand, 3, 8);
  const out: string[] = [];
  for (let i = 0; i < n; i++) out.push(sentence(rand));
  return out.join(' ');
}

export function title(rand: () => number): string {
  const n = intBetween(rand, 3, 7);
  const words: string[] = [];
  for (let i = 0; i < n; i++) words.push(pick(rand, WORDS));
  return words.map((w) => w.charAt(0).toUpperCase() + w.slice(1)).join(' ');
}

export function escapeHtml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}
