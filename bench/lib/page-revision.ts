// An updated page, as the bench backend serves it after /__bench/update: the same answer with
// a revision marker in an HTML body and a new ETag, so a cache that still serves the old bytes
// after a purge can be told apart.

import type { CmsAnswer } from '../../demo/cms-routes.js';

export function revised(a: CmsAnswer, revision: number): CmsAnswer {
  if (revision === 0) return a;
  const headers = { ...a.headers };
  if (headers.ETag) headers.ETag = headers.ETag.replace(/"$/, `-r${revision}"`);
  const isHtml = (headers['Content-Type'] ?? '').startsWith('text/html');
  const body = isHtml ? Buffer.concat([a.body, Buffer.from(`<!-- revision ${revision} -->\n`)]) : a.body;
  return { ...a, headers, body };
}
