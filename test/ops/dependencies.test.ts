// package.json says what a production install needs: src imports only `dependencies`, each of
// them is used by src, the bench's packages stay dev-only, memjs is pinned (memjs-reader.ts
// patches its internals) and `engines` admits no Node that lacks what src calls.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));

function sources(dir: string): string[] {
  return readdirSync(join(root, dir), { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile() && e.name.endsWith('.ts'))
    .map((e) => readFileSync(join(e.parentPath, e.name), 'utf8'));
}

/** Package names imported (statically or with import()) by the .ts files under `dir`. */
function importedPackages(dir: string): Set<string> {
  const names = new Set<string>();
  for (const text of sources(dir)) {
    const specifiers = [
      ...text.matchAll(/^\s*(?:import|export)\b[^;]*?\bfrom\s+'([^']+)'/gm),
      ...text.matchAll(/\bimport\(\s*'([^']+)'\s*\)/g),
    ].map((m) => m[1]);
    for (const s of specifiers) {
      if (s.startsWith('.') || s.startsWith('node:')) continue;
      names.add(s.startsWith('@') ? s.split('/').slice(0, 2).join('/') : s.split('/')[0]);
    }
  }
  return names;
}

describe('package.json', () => {
  const fromSrc = importedPackages('src');

  it('src imports no package outside dependencies', () => {
    assert.deepEqual([...fromSrc].filter((p) => !(p in pkg.dependencies)), []);
  });

  it('every dependency is used by src (pino-pretty is loaded by name, as a pino transport)', () => {
    const srcText = sources('src').join('\n');
    const unused = Object.keys(pkg.dependencies).filter((d) => !fromSrc.has(d) && !srcText.includes(`target: '${d}'`));
    assert.deepEqual(unused, []);
  });

  it('what only the bench uses is a devDependency', () => {
    const benchOnly = [...importedPackages('bench')].filter((p) => !fromSrc.has(p));
    assert.ok(benchOnly.includes('hdr-histogram-js') && benchOnly.includes('cli-progress'), `bench-only: ${benchOnly}`);
    for (const p of benchOnly) assert.ok(p in pkg.devDependencies, `${p} is in devDependencies`);
  });

  it('memjs is pinned to one exact version, the one installed', () => {
    assert.match(pkg.dependencies.memjs, /^\d+\.\d+\.\d+$/);
    const installed = JSON.parse(readFileSync(join(root, 'node_modules', 'memjs', 'package.json'), 'utf8')).version;
    assert.equal(pkg.dependencies.memjs, installed);
  });

  it('engines starts at Node 20.15, the first 20.x with zlib.crc32, which src uses', () => {
    assert.ok(sources('src').some((t) => /import \{[^}]*\bcrc32\b[^}]*\} from 'node:zlib'/.test(t)));
    assert.equal(pkg.engines.node, '>=20.15.0');
  });
});
