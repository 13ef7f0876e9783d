// A deterministic HTML body of exactly `size` bytes that compresses like a real page (about 3-4x),
// so gzip-versus-identity figures are not flattered by a body of one repeated byte.

const WORDS = ['cache', 'page', 'server', 'the', 'of', 'and', 'request', 'visitor', 'a', 'to', 'article', 'memory',
  'quietly', 'returns', 'fresh', 'stale', 'garden', 'river', 'in', 'is', 'editor', 'update', 'history', 'market'];

/** `seed` picks another text of the same size and kind (distinct pages for the same bench). */
export function constantBody(size: number, seed = 0): Buffer {
  const head = '<!DOCTYPE html><html><head><meta charset="UTF-8"><title>bench</title></head><body><p>';
  const tail = '</p></body></html>\n';
  let state = (0x9e3779b9 + Math.imul(seed, 0x85ebca6b)) >>> 0 || 1;
  const next = () => {
    // xorshift32: deterministic, no dependency on the demo's generator.
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    return state >>> 0;
  };
  let text = head;
  while (text.length < size) text += WORDS[next() % WORDS.length] + (next() % 11 === 0 ? '. ' : ' ');
  // Exact size, ASCII only, so bytes and characters agree; tiny sizes just get a prefix of the page.
  const room = size - tail.length;
  return Buffer.from(room >= head.length ? text.slice(0, room) + tail : text.slice(0, size), 'latin1');
}
