// npm's prepare hook: `npm ci` in a checkout builds dist/ so `npx memfront` runs (the contract's
// "Running it"). The compiler is a dev dependency: with --omit=dev it is absent, and failing
// would fail the whole install, so this says so and builds nothing. Releases are built by
// prepack (scripts/build-release.mjs), which `npm pack` runs before this hook.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';

// pack and publish: prepack has just built what the tarball holds.
if (process.env.npm_command === 'pack' || process.env.npm_command === 'publish') process.exit(0);
// An installed release carries no sources (nor tsconfig.json): it is built already. npm may
// run prepare when installing a tarball, which is why this file ships in it.
if (!existsSync('tsconfig.json')) process.exit(0);

let tsc;
try {
  tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
} catch {
  console.error('memfront: typescript is not installed (--omit=dev?), so dist/ was not built; install a release tarball instead (see README)');
  process.exit(0);
}
const result = spawnSync(process.execPath, [tsc, '-p', 'tsconfig.json'], { stdio: 'inherit' });
process.exit(result.status ?? 1);
