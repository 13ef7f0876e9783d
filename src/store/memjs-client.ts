// The binary protocol, through memjs: one single-server memjs client, as the store's
// WireClient. memjs reports memcached's own error statuses ("Value too large") and network
// failures alike, as Errors; the first kind (their message starts "MemJS <OP>:") become
// ServerRefusals here, so the store can tell a refusing server from one in trouble.

import type { Socket } from 'node:net';
import memjs from 'memjs';
import { installMemjsReader } from './memjs-reader.js';
import { ServerRefusal, type CasValue, type WireClient } from './wire-client.js';

installMemjsReader();

// memjs logs to console by default; the store reports failures itself, once, with their cause.
const silent = { log() {} };

function refusalOrAsIs(err: unknown): never {
  if (err instanceof Error && err.message.startsWith('MemJS ')) throw new ServerRefusal(err.message, { cause: err });
  throw err;
}

export class MemjsClient implements WireClient {
  private readonly client: memjs.Client;

  constructor(host: string, port: number, timeoutMs: number) {
    // memjs's own timers are only a backstop behind the store's deadline, which discards
    // this client before they fire.
    const backstopS = Math.max(1, (timeoutMs * 4) / 1000);
    const server = new memjs.Server(host, port, undefined, undefined, {
      timeout: backstopS,
      conntimeout: backstopS,
      keepAlive: true,
      keepAliveDelay: 30,
    });
    // retries: 1 = no retry inside memjs: a failure must surface at once to become a miss.
    this.client = new memjs.Client([server], { retries: 1, failover: false, logger: silent });
  }

  async get(key: string): Promise<Buffer | null> {
    const { value } = await this.client.get(key).catch(refusalOrAsIs);
    return value;
  }

  getWithCas(key: string): Promise<CasValue | null> {
    return getWithCas(this.client, key).catch(refusalOrAsIs);
  }

  set(key: string, value: Buffer, exptime: number): Promise<boolean> {
    return this.client.set(key, value, { expires: exptime }).catch(refusalOrAsIs);
  }

  setWithCas(key: string, value: Buffer, exptime: number): Promise<string> {
    // Without an expected CAS the answer is never 'changed'.
    return binarySet(this.client, key, value, exptime).then((r) => (r as { cas: string }).cas, refusalOrAsIs);
  }

  setIfCas(key: string, value: Buffer, exptime: number, cas: string): Promise<{ cas: string | undefined } | 'changed'> {
    return binarySet(this.client, key, value, exptime, cas).catch(refusalOrAsIs);
  }

  add(key: string, value: Buffer, exptime: number): Promise<boolean> {
    return this.client.add(key, value, { expires: exptime }).catch(refusalOrAsIs);
  }

  addWithCas(key: string, value: Buffer, exptime: number): Promise<string | false> {
    return binaryRequest(this.client, ADD, key, storageExtras(exptime), value).then((response) => {
      const status = response.header.status;
      // 2: the key exists, as memjs's own add reads it.
      if (status === 2) return false;
      if (status !== 0) throw new Error(`MemJS ADD: status ${status}`);
      return response.header.cas.readBigUInt64BE(0).toString();
    }).catch(refusalOrAsIs);
  }

  delete(key: string): Promise<boolean> {
    return this.client.delete(key).catch(refusalOrAsIs);
  }

  touch(key: string, exptime: number): Promise<boolean> {
    return this.client.touch(key, exptime).catch(refusalOrAsIs);
  }

  /** The binary protocol's delete honours the header's CAS, which memjs's delete leaves at 0. */
  deleteIfCas(key: string, cas: string): Promise<'deleted' | 'changed'> {
    return binaryRequest(this.client, DELETE, key, '', '', cas).then((response) => {
      const status = response.header.status;
      // 1: not found (deleted or expired since), 2: there with another CAS (written since).
      if (status === 1 || status === 2) return 'changed' as const;
      if (status !== 0) throw new Error(`MemJS DELETE: status ${status}`);
      return 'deleted' as const;
    }).catch(refusalOrAsIs);
  }

  async incr(key: string, by: number, initial: number, exptime: number): Promise<number> {
    const { value } = await this.client.increment(key, by, { initial, expires: exptime }).catch(refusalOrAsIs);
    if (typeof value !== 'number') throw new ServerRefusal(`incr of ${key} returned no value`);
    return value;
  }

  async flush(): Promise<void> {
    await this.client.flush().catch(refusalOrAsIs);
  }

  destroy(): void {
    for (const server of this.client.servers) {
      // Destroy rather than end(): a server that stopped reading would keep an ended
      // socket (and our event loop) alive. memjs does not expose the socket, hence the cast.
      const socket = (server as unknown as { _socket?: Socket })._socket;
      if (socket) socket.destroy();
      else server.close();
    }
  }
}

/** Binary protocol opcodes of the calls memjs makes without the CAS. */
const GET = 0x00;
const SET = 0x01;
const ADD = 0x02;
const DELETE = 0x04;

/** A storage command's extras, as memjs's own set and add write them: flags 0, then the expiration. */
function storageExtras(exptime: number): Buffer {
  const extras = Buffer.alloc(8);
  extras.writeUInt32BE(exptime, 4);
  return extras;
}

/** One request through memjs's connection (its sequence numbers, queue and timers), with `cas` in the header's CAS field. */
function binaryRequest(client: memjs.Client, opcode: number, key: string, extras: Buffer | string, value: Buffer | string, cas?: string): Promise<memjs.Response> {
  return new Promise((resolve, reject) => {
    client.incrSeq();
    const request = memjs.Utils.makeRequestBuffer(opcode, key, extras, value, client.seq);
    // The header's CAS field: bytes 16-23 of the 24-byte request header.
    if (cas !== undefined) request.writeBigUInt64BE(BigInt(cas), 16);
    client.perform(key, request, client.seq, (err: Error | null, response?: memjs.Response) => {
      if (err || !response) return reject(err ?? new Error('memjs gave no answer'));
      resolve(response);
    });
  });
}

/**
 * memjs's set, keeping the CAS of the answer, which memjs reads but does not pass on. With
 * `expected`, the binary protocol's conditional set, which memjs does not offer: memcached
 * stores it only while the item's CAS is still that one, and the answer is 'changed' otherwise.
 */
async function binarySet(client: memjs.Client, key: string, value: Buffer, exptime: number, expected?: string): Promise<{ cas: string } | 'changed'> {
  const response = await binaryRequest(client, SET, key, storageExtras(exptime), value, expected);
  const status = response.header.status;
  // 1: not found (deleted or expired since), 2: exists with another CAS (written since).
  if (expected !== undefined && (status === 1 || status === 2)) return 'changed';
  // Other statuses are refusals ("Value too large"), reported as memjs's set does.
  if (status !== 0) throw new Error(`MemJS SET: status ${status}`);
  return { cas: response.header.cas.readBigUInt64BE(0).toString() };
}

/** memjs's get, keeping the CAS that memjs reads from the answer but does not pass on. */
async function getWithCas(client: memjs.Client, key: string): Promise<CasValue | null> {
  const response = await binaryRequest(client, GET, key, '', '');
  const status = response.header.status;
  // 1: not found. Other statuses are refusals, reported the way memjs's own get does.
  if (status === 1) return null;
  if (status !== 0) throw new Error(`MemJS GET: status ${status}`);
  return { value: response.val, cas: response.header.cas.readBigUInt64BE(0).toString() };
}
