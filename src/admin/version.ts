// memfront's version, read once from package.json (for /healthz, the build_info metric and logs).
import { readFileSync } from 'node:fs';

export const VERSION: string = (() => {
  try {
    // dist/src/admin/version.js → package.json at the repository (or installed package) root.
    return JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')).version;
  } catch {
    return '0.0.0';
  }
})();
