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

/**
 * Every request a path never asked before: prefix + a per-thread counter (a miss storm, as
 * after a purge-all). The prefix should be new for every run (its entries stay cached).
 */
export function uniquePathsScript(prefix: string): string {
  if (!prefix.startsWith('/')) throw new Error(`uniquePathsScript: ${JSON.stringify(prefix)} is not a path`);
  return `
local prefix = ${luaString(prefix)}
local thread_id = 0
local threads = 0
local n = 0
setup = function(thread)
  thread:set("tid", threads)
  threads = threads + 1
end
init = function(args)
  thread_id = tid or 0
end
request = function()
  n = n + 1
  return wrk.format(nil, prefix .. thread_id .. "-" .. n)
end
`;
}
