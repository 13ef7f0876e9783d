// The "what to try" text the demo prints once everything is up.

export interface DemoEndpoints {
  url: string;        // memfront, e.g. http://127.0.0.1:8080
  backendUrl: string; // the CMS directly
  adminUrl: string;
  store: string;      // one line saying which cache store is in use
}

export function demoInstructions(e: DemoEndpoints): string {
  const { url, backendUrl, adminUrl } = e;
  return `
memfront demo is up
  memfront   ${url}   (cache: ${e.store})
  CMS        ${backendUrl}   (the backend, direct)
  admin      ${adminUrl}/metrics  ${adminUrl}/healthz

Try these (Ctrl-C stops everything):

# A post: the first request is a MISS from the CMS, the second a HIT with an Age
curl -si ${url}/post/4 | head -n 14
curl -si ${url}/post/4 | head -n 14

# Stock WordPress sends no Cache-Control (every 5th post here): stored for cache.defaultTtl
curl -si ${url}/post/5 | grep -iE '^(x-cache|cache-status|age)'

# gzip vs identity: the same hit, stored gzipped, sent as-is or unzipped
curl -s -D - -o /dev/null -w '%{size_download} bytes on the wire\\n' -H 'Accept-Encoding: gzip' ${url}/post/4
curl -s -D - -o /dev/null -w '%{size_download} bytes on the wire\\n' ${url}/post/4

# Logged in = bypass: a session cookie never gets (or fills) the cache
curl -si ${url}/login | grep -i '^set-cookie'
curl -si -H 'Cookie: PHPSESSID=alice' ${url}/account | grep -iE '^(x-cache|cache-status)|Welcome'
curl -si -H 'Cookie: PHPSESSID=alice' ${url}/post/4 | grep -iE '^(x-cache|cache-status)'

# A response that sets a cookie is never stored, even for an anonymous visitor
curl -si ${url}/cookie | grep -iE '^(x-cache|cache-status|set-cookie)'
curl -si ${url}/cookie | grep -iE '^(x-cache|cache-status|set-cookie)'

# Binary bodies come back byte for byte
curl -s ${url}/image.png | sha256sum; curl -s ${url}/image.png | sha256sum; curl -s ${backendUrl}/image.png | sha256sum

# A 2 s render, then instant from the cache
curl -s -o /dev/null -w '%{time_total}s %header{x-cache}\\n' ${url}/slow
curl -s -o /dev/null -w '%{time_total}s %header{x-cache}\\n' ${url}/slow

# RSS feed, a cacheable 404, a conditional request, a purge
curl -si ${url}/feed | head -n 12
curl -si ${url}/no-such-page | grep -iE '^(HTTP|x-cache)'
curl -si -H 'If-None-Match: '"$(curl -s -D - -o /dev/null ${url}/post/4 | awk 'tolower($1)=="etag:" {print $2}' | tr -d '\\r')" ${url}/post/4 | head -n 1
curl -si -X PURGE ${url}/post/4 | head -n 1

# What happened
curl -s ${adminUrl}/metrics | grep '^memfront_requests_total'
`;
}
