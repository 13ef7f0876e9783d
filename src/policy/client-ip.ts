// The client's address for the access log: the peer's, or, when the peer is a trusted proxy,
// the right-most X-Forwarded-For address that is not itself a trusted proxy (the left-most
// values are whatever the client chose to send).
export function clientIp(peerIp: string, xff: string | string[] | undefined, trusted: (ip: string) => boolean): string {
  if (xff === undefined || !trusted(peerIp)) return peerIp;
  const hops = (Array.isArray(xff) ? xff.join(',') : xff).split(',');
  for (let i = hops.length - 1; i >= 0; i--) {
    const ip = hops[i].trim();
    if (ip !== '' && !trusted(ip)) return ip;
  }
  return peerIp;
}
