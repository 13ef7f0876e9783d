// Which places a `mogile` or `static` route looks for a file, in order: its own servers, then
// its `fallback` (the TODO Apache2::Mogile::Dispatch's author left: "fallback to either mogile
// or static when it can't find what it wants"). Pure: no I/O.

export type FileStep = 'mogile' | 'static' | 'backend';

/**
 * The route's own step, then its fallback when that is another place, then the backend after
 * a static step that has nothing after it (contract: a static route sends what no static
 * server has "to the backend"). Never longer than three steps, never a loop. A chain that
 * ends with a mogile step ends with mogile's own answer when the file is not there (404 for
 * an unknown key).
 */
export function fallbackChain(to: 'mogile' | 'static', fallback?: FileStep): FileStep[] {
  const chain: FileStep[] = [to];
  if (fallback !== undefined && fallback !== to) chain.push(fallback);
  if (chain[chain.length - 1] === 'static') chain.push('backend');
  return chain;
}
