// A wrk Lua prelude that rotates over a fixed list of paths, so one wrk run spreads its load
// over many cache entries instead of hammering one. The requests are built once per thread
// in init(); request() only hands out the next prebuilt string, so wrk stays cheap per request.

/** Lua string literal: paths are ASCII URL paths, but quote and escape anyway. */
function luaString(s: string): string {
  return `"${s.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')}"`;
}

export function wrkPathsScript(paths: readonly string[]): string {
  if (paths.length === 0) throw new Error('wrkPathsScript: no paths');
  for (const p of paths) if (!p.startsWith('/')) throw new Error(`wrkPathsScript: ${JSON.stringify(p)} is not a path`);
  return `
local paths = { ${paths.map(luaString).join(', ')} }
local prebuilt = {}
local next_index = 0
init = function(args)
  -- wrk.format uses wrk.method and wrk.headers, which already hold the -H headers and Host.
  for k, p in ipairs(paths) do prebuilt[k] = wrk.format(nil, p) end
end
request = function()
  next_index = next_index % #prebuilt + 1
  return prebuilt[next_index]
end
`;
}

/** The paths the hit bench rotates over: /hits/page-000 … */
export function hitPaths(count: number, prefix = '/hits/page-'): string[] {
  const width = String(Math.max(0, count - 1)).length;
  return Array.from({ length: count }, (_, i) => `${prefix}${String(i).padStart(width, '0')}`);
}
