// Every relative link in README.md and docs/*.md points at a file that exists, and a link
// with a #fragment at a heading of that file (GitHub's anchors). Code spans and fenced code
// are not links.
import { it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');

/** The text with fenced code blocks and inline code spans blanked out. */
function prose(md: string): string {
  return md.replace(/^(```|~~~)[^\n]*\n[\s\S]*?^\1[^\n]*$/gm, '').replace(/`[^`\n]*`/g, '');
}

/** GitHub's heading anchors (github-slugger): lower case, punctuation dropped, spaces to hyphens, repeats numbered. */
export function anchors(md: string): Set<string> {
  const seen = new Map<string, number>();
  const out = new Set<string>();
  const withoutFences = md.replace(/^(```|~~~)[^\n]*\n[\s\S]*?^\1[^\n]*$/gm, '');
  for (const m of withoutFences.matchAll(/^#{1,6}\s+(.*?)\s*#*\s*$/gm)) {
    const base = m[1]
      .replace(/<[^>]*>/g, '')
      .toLowerCase()
      .replace(/[^\p{L}\p{M}\p{N}\p{Pc} -]/gu, '')
      .replace(/ /g, '-');
    const n = seen.get(base) ?? 0;
    seen.set(base, n + 1);
    out.add(n === 0 ? base : `${base}-${n}`);
  }
  return out;
}

function docFiles(): string[] {
  const docs = path.join(root, 'docs');
  return ['README.md', ...readdirSync(docs).filter((f) => f.endsWith('.md')).map((f) => path.join('docs', f))];
}

it('relative links in README.md and docs/*.md resolve, anchors included', () => {
  const broken: string[] = [];
  for (const file of docFiles()) {
    const text = readFileSync(path.join(root, file), 'utf8');
    for (const m of prose(text).matchAll(/\]\(([^)\s]+)(?:\s+"[^"]*")?\)/g)) {
      const target = m[1];
      if (/^[a-z][a-z0-9+.-]*:/i.test(target)) continue; // http:, https:, mailto:
      const [file2, fragment] = target.split('#', 2) as [string, string | undefined];
      const resolved = file2 === '' ? path.join(root, file) : path.resolve(path.dirname(path.join(root, file)), decodeURIComponent(file2));
      if (!resolved.startsWith(root) || !existsSync(resolved)) {
        broken.push(`${file}: ${target} (no such file)`);
        continue;
      }
      if (fragment !== undefined && statSync(resolved).isFile() && resolved.endsWith('.md')) {
        if (!anchors(readFileSync(resolved, 'utf8')).has(decodeURIComponent(fragment))) broken.push(`${file}: ${target} (no such heading)`);
      }
    }
  }
  assert.deepEqual(broken, []);
});
