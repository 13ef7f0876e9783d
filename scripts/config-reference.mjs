// Prints the README's configuration table from the schema (node scripts/config-reference.mjs).
import { configDocs } from '../dist/src/config/load.js';
const cell = (v) => String(v).replaceAll('|', '\\|');
console.log('| key | default | env | meaning |\n|---|---|---|---|');
for (const d of configDocs()) {
  const def = typeof d.default === 'string' ? JSON.stringify(d.default) : JSON.stringify(d.default);
  console.log(`| \`${d.key}\` | \`${cell(def)}\` | \`${d.env}\` | ${cell(d.doc)} |`);
}
