// The node flags the memfront bin starts with, read from its shebang
// (`#!/usr/bin/env -S node --max-semi-space-size=8`), so what starts dist/src/cli.js with a
// node of its own choosing (process.execPath) runs it as the installed bin runs.
import { readFileSync } from 'node:fs';

/** The flags of a `#!... node FLAGS` or `#!/usr/bin/env [-S] node FLAGS` line; throws on any other line. */
export function nodeFlagsOfShebang(line: string): string[] {
  const m = /^#!\s*(\S+)(.*)$/.exec(line.trimEnd());
  if (!m) throw new Error(`not a shebang: ${JSON.stringify(line)}`);
  const words = m[2].trim().split(/\s+/).filter(Boolean);
  if (/(^|\/)env$/.test(m[1])) {
    if (words[0] === '-S') words.shift();
  } else {
    words.unshift(m[1]);
  }
  const node = words.shift();
  if (node === undefined || !/(^|\/)node$/.test(node)) throw new Error(`not a node shebang: ${JSON.stringify(line)}`);
  return words;
}

/** The flags in the first line of `file` (the built bin). */
export function binNodeFlags(file: string): string[] {
  return nodeFlagsOfShebang(readFileSync(file, 'utf8').split('\n', 1)[0]);
}
