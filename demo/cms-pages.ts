// The demo CMS's page bodies: WordPress-shaped HTML and RSS, generated from a seed per URL so
// the same URL always gives the same bytes, with post sizes spread from ~2 KB to ~200 KB.

import { escapeHtml, paragraph, sentence, title } from './fake-prose.js';
import { hashString, intBetween, seededRandom } from './seeded-random.js';

const SITE = 'Memfront Demo Blog';
const MIN_POST_BYTES = 2 * 1024;
const MAX_POST_BYTES = 200 * 1024;
// Posts are dated an hour apart from here, so Last-Modified and the feed are stable too.
const EPOCH_MS = Date.UTC(2024, 0, 1);

/** Log-uniform between 2 KB and 200 KB: most posts are modest, a few are long reads. */
export function postTargetBytes(n: number): number {
  const rand = seededRandom(hashString(`size:${n}`));
  return Math.round(MIN_POST_BYTES * (MAX_POST_BYTES / MIN_POST_BYTES) ** rand());
}

export function postTitle(n: number): string {
  return title(seededRandom(hashString(`title:${n}`)));
}

export function postDate(n: number): Date {
  return new Date(EPOCH_MS + n * 3600_000);
}

function head(pageTitle: string): string {
  return `<!DOCTYPE html>
<html lang="en-US">
<head>
<meta charset="UTF-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(pageTitle)} – ${SITE}</title>
<link rel="alternate" type="application/rss+xml" title="${SITE} » Feed" href="/feed">
<style id="global-styles-inline-css">
body{--wp--preset--color--black:#000;--wp--preset--color--white:#fff;--wp--preset--font-size--small:13px;--wp--preset--font-size--large:36px;margin:0;font-family:Georgia,serif;line-height:1.6}
.site-header{padding:1rem 2rem;border-bottom:1px solid #ddd}.entry-content p{margin:0 0 1.2em}
.comment-list{list-style:none;padding:0}.comment-body{border-top:1px solid #eee;padding:.8em 0}
</style>
<script>window._wpemojiSettings={"baseUrl":"https:\\/\\/s.w.org\\/images\\/core\\/emoji\\/15.0.3\\/72x72\\/","ext":".png"};</script>
</head>
<body class="wp-site-blocks">
<header class="site-header"><p class="site-title"><a href="/">${SITE}</a></p>
<nav><ul><li><a href="/">Home</a></li><li><a href="/account">Account</a></li><li><a href="/login">Log in</a></li><li><a href="/feed">RSS</a></li></ul></nav>
</header>
`;
}

const FOOT = `<footer class="site-footer"><p>Proudly powered by a fake CMS. Served through memfront.</p></footer>
</body>
</html>
`;

export function renderPost(n: number, pages: number): string {
  const rand = seededRandom(hashString(`/post/${n}`));
  const target = postTargetBytes(n);
  const date = postDate(n).toISOString();
  const parts: string[] = [
    head(postTitle(n)),
    `<main><article id="post-${n}" class="post-${n} post type-post status-publish">`,
    `<h1 class="entry-title">${escapeHtml(postTitle(n))}</h1>`,
    `<div class="entry-meta">Posted on <time datetime="${date}">${date.slice(0, 10)}</time> by editor</div>`,
    '<div class="entry-content">',
  ];
  let size = parts.reduce((sum, p) => sum + Buffer.byteLength(p), 0) + Buffer.byteLength(FOOT);
  const tail = [
    '</div>',
    `<nav class="post-navigation">${n > 1 ? `<a href="/post/${n - 1}" rel="prev">Previous</a>` : ''} ${n < pages ? `<a href="/post/${n + 1}" rel="next">Next</a>` : ''}</nav>`,
    '</article>',
    '<section id="comments"><h2>Comments</h2><ol class="comment-list">',
  ];
  size += tail.reduce((sum, p) => sum + Buffer.byteLength(p), 0);
  // Body paragraphs until about four fifths of the target, then comments fill the rest.
  while (size < target * 0.8) {
    const p = `<p>${escapeHtml(paragraph(rand))}</p>\n`;
    parts.push(p);
    size += Buffer.byteLength(p);
  }
  parts.push(...tail);
  let c = 0;
  while (size < target) {
    c++;
    const li = `<li class="comment" id="comment-${n}-${c}"><div class="comment-body"><b>reader${intBetween(rand, 1, 999)}</b> <p>${escapeHtml(sentence(rand))}</p></div></li>\n`;
    parts.push(li);
    size += Buffer.byteLength(li);
  }
  parts.push('</ol></section></main>', FOOT);
  return parts.join('');
}

export function renderHome(pages: number): string {
  const parts = [head('Home'), '<main><h1>Latest posts</h1>'];
  for (let n = pages; n > Math.max(0, pages - 20); n--) {
    const rand = seededRandom(hashString(`excerpt:${n}`));
    parts.push(
      `<article class="post-${n}"><h2><a href="/post/${n}">${escapeHtml(postTitle(n))}</a></h2>`,
      `<p class="excerpt">${escapeHtml(paragraph(rand))} ${escapeHtml(paragraph(rand))}</p></article>\n`,
    );
  }
  parts.push('</main>', FOOT);
  return parts.join('');
}

export function renderFeed(pages: number): string {
  const items: string[] = [];
  for (let n = pages; n > Math.max(0, pages - 10); n--) {
    const rand = seededRandom(hashString(`excerpt:${n}`));
    items.push(`<item>
<title>${escapeHtml(postTitle(n))}</title>
<link>/post/${n}</link>
<guid isPermaLink="false">post-${n}</guid>
<pubDate>${postDate(n).toUTCString()}</pubDate>
<description><![CDATA[${paragraph(rand)}]]></description>
</item>`);
  }
  return `<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0">
<channel>
<title>${SITE}</title>
<link>/</link>
<description>A fake CMS behind memfront</description>
<lastBuildDate>${postDate(pages).toUTCString()}</lastBuildDate>
${items.join('\n')}
</channel>
</rss>
`;
}

export function renderNotFound(path: string): string {
  const rand = seededRandom(hashString('404'));
  return `${head('Page not found')}<main><h1>Oops! That page can’t be found.</h1>
<p>Nothing was found at ${escapeHtml(path)}. Maybe try one of the links below or a search?</p>
<p>${escapeHtml(paragraph(rand))}</p></main>${FOOT}`;
}

/** Small pages (login, account, cookie, slow): a heading and a paragraph in the site frame. */
export function renderNote(pageTitle: string, text: string): string {
  return `${head(pageTitle)}<main><h1>${escapeHtml(pageTitle)}</h1><p>${escapeHtml(text)}</p></main>${FOOT}`;
}
