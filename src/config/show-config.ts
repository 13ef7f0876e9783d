// `memfront config`: the effective config, one key per line with the source of its value, as
// `nginx -T` shows what nginx would run. Values are JSON, as they would be written in the file.
import type { LoadedConfig } from './schema.js';
import type { ValueSource } from './load.js';

function describeSource(s: ValueSource): string {
  switch (s.kind) {
    case 'default': return 'default';
    case 'file': return `file ${s.file}`;
    case 'env': return `env ${s.name}`;
    case 'arg': return `arg ${s.flag}`;
  }
}

function valueAt(config: LoadedConfig, key: string): unknown {
  return key.split('.').reduce<unknown>((o, k) => (o as Record<string, unknown>)[k], config);
}

/** `key = value  # source` for every key in `sources` (schema order), keys padded to one width. */
export function formatEffectiveConfig(config: LoadedConfig, sources: ReadonlyMap<string, ValueSource>): string {
  const width = Math.max(...[...sources.keys()].map((k) => k.length));
  const lines = [...sources].map(([key, source]) => `${key.padEnd(width)} = ${JSON.stringify(valueAt(config, key))}  # ${describeSource(source)}`);
  return lines.join('\n') + '\n';
}
