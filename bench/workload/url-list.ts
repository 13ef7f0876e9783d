// The URL list for --target: one path (or full URL, of which the path and query are kept) per
// line, most popular first; blank lines and # comments are skipped.

export function parseUrlList(text: string): string[] {
  const out: string[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.replace(/#.*/, '').trim();
    if (!line) continue;
    if (/^https?:\/\//i.test(line)) {
      const u = new URL(line);
      out.push(u.pathname + u.search);
    } else out.push(line.startsWith('/') ? line : `/${line}`);
  }
  return out;
}
