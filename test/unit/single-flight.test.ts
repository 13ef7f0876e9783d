// The in-process single-flight: joiners share the leader's result, a settled flight is gone,
// and a purged key's flight is forgotten (its token dies, new callers start their own).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SingleFlight, type FlightToken } from '../../src/engine/single-flight.js';

function deferred<T>() {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => ((resolve = res), (reject = rej)));
  return { promise, resolve, reject };
}

test('joiners get the leader\'s result; the flight is gone once settled', async () => {
  const flights = new SingleFlight<string>();
  const d = deferred<string>();
  let runs = 0;
  const leader = flights.lead('k', () => (runs++, d.promise));
  const joined = flights.joinable('k');
  assert.ok(joined);
  assert.equal(flights.joinable('other'), undefined);
  d.resolve('page');
  assert.equal(await leader, 'page');
  assert.equal(await joined, 'page');
  assert.equal(runs, 1);
  assert.equal(flights.joinable('k'), undefined);
  assert.equal(flights.size, 0);
});

test('a failing leader: joiners see the failure, and the key is free again', async () => {
  const flights = new SingleFlight<string>();
  const leader = flights.lead('k', () => Promise.reject(new Error('backend down')));
  const joined = flights.joinable('k')!;
  await assert.rejects(leader, /backend down/);
  await assert.rejects(joined, /backend down/);
  assert.equal(flights.joinable('k'), undefined);
});

test('forget: the running flight\'s token dies, new callers lead their own, its joiners still get it', async () => {
  const flights = new SingleFlight<string>();
  const first = deferred<string>();
  let token!: FlightToken;
  const leader = flights.lead('k', (t) => ((token = t), first.promise));
  const joined = flights.joinable('k')!;
  assert.equal(token.live, true);
  assert.equal(flights.forget('k'), true);
  assert.equal(token.live, false);
  assert.equal(flights.joinable('k'), undefined, 'a request after the purge does not join it');

  const second = deferred<string>();
  const next = flights.lead('k', () => second.promise);
  first.resolve('before the purge');
  assert.equal(await leader, 'before the purge');
  assert.equal(await joined, 'before the purge');
  // The old flight settling does not remove the new one.
  assert.ok(flights.joinable('k'));
  second.resolve('after the purge');
  assert.equal(await next, 'after the purge');
  assert.equal(flights.forget('k'), false, 'nothing left to forget');
});
