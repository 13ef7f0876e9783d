// The ketama ring: keys stay put when servers come and go, except those that must move.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { HashRing, POINTS_PER_SERVER, keyHash, serverPoints } from '../../src/store/ring.js';

const keys = Array.from({ length: 10_000 }, (_, i) => `mf1:GET:http:example.com:/articles/${i}?page=${i % 7}`);
const three = ['10.0.0.1:11211', '10.0.0.2:11211', '10.0.0.3:11211'];

function owners(ring: HashRing): string[] {
  return keys.map((k) => ring.get(k)!);
}

test('adding a fourth server to three moves about a quarter of the keys, all of them to the new one', () => {
  const before = owners(new HashRing(three));
  const after = owners(new HashRing([...three, '10.0.0.4:11211']));
  const moved = keys.filter((_, i) => before[i] !== after[i]).length / keys.length;
  assert.ok(moved > 0.15 && moved < 0.35, `moved ${(moved * 100).toFixed(1)}%`);
  for (let i = 0; i < keys.length; i++) {
    if (before[i] !== after[i]) assert.equal(after[i], '10.0.0.4:11211');
  }
});

test('removing a server moves only the keys it owned', () => {
  const before = owners(new HashRing(three));
  const after = owners(new HashRing([three[0], three[2]]));
  let moved = 0;
  for (let i = 0; i < keys.length; i++) {
    if (before[i] === three[1]) assert.notEqual(after[i], three[1]);
    else assert.equal(after[i], before[i], `key ${keys[i]} moved though its server stayed`);
    if (before[i] !== after[i]) moved++;
  }
  const ownedByRemoved = before.filter((o) => o === three[1]).length;
  assert.equal(moved, ownedByRemoved);
});

test('three servers each get a fair share of the keys', () => {
  const list = owners(new HashRing(three));
  for (const server of three) {
    const s = list.filter((o) => o === server).length / list.length;
    assert.ok(s > 0.2 && s < 0.47, `${server} owns ${(s * 100).toFixed(1)}%`);
  }
});

test('the order of the server list does not matter', () => {
  assert.deepEqual(owners(new HashRing(three)), owners(new HashRing([...three].reverse())));
});

test('one server owns every key, an empty ring none', () => {
  const one = new HashRing(['127.0.0.1:11211']);
  assert.ok(keys.slice(0, 100).every((k) => one.get(k) === '127.0.0.1:11211'));
  assert.equal(new HashRing([]).get('anything'), undefined);
});

// Couchbase SDK RFC 26 (ketama hashing) publishes checks that other ketama clients pass;
// meeting them shows the points are libketama's (md5 of "host:port-i", little-endian words).
test('points match the ketama of other clients (Couchbase SDK RFC 26 checks)', () => {
  assert.equal(serverPoints('example.com:11210').length, POINTS_PER_SERVER);
  // The RFC's known collision: both servers put a point at 1723476360.
  assert.ok(serverPoints('example.com:11210').includes(1723476360));
  assert.ok(serverPoints('example137723.com:11210').includes(1723476360));
  // Past the last point the ring wraps to the first, which belongs to .104 in the RFC's ring.
  const rfcRing = new HashRing(['192.168.1.101:11210', '192.168.1.102:11210', '192.168.1.103:11210', '192.168.1.104:11210']);
  assert.equal(rfcRing.ownerOfHash(4294967295), '192.168.1.104:11210');
});

test('a key belongs to the first point at or after its hash', () => {
  const ring = new HashRing(three);
  for (const key of keys.slice(0, 200)) {
    const h = keyHash(key);
    let best: { point: number; node: string } | undefined;
    let lowest: { point: number; node: string } | undefined;
    for (const node of three) {
      for (const point of serverPoints(node)) {
        if (point >= h && (!best || point < best.point)) best = { point, node };
        if (!lowest || point < lowest.point) lowest = { point, node };
      }
    }
    assert.equal(ring.get(key), (best ?? lowest)!.node);
  }
});
