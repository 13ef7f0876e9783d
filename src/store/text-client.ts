// The text protocol to one server (a memcached, or a proxy such as twemproxy in front of
// several): one socket, connected on first use, requests pipelined on it and answered in
// order. Each request is written at once, as memjs writes its own (a storage command's
// pieces in one writev).
//
// Trouble with the connection (refused, reset, closed, a reply out of step) fails every
// request on it; the store then throws this client away and makes another. Deadlines are
// the store's (guarded-connection.ts): a reply that comes after one is still read here, by
// the request it belongs to, so the requests behind it stay in step.

import net from 'node:net';
import { ServerRefusal, type CasValue, type WireClient } from './wire-client.js';
import {
  deleteRequest,
  FLUSH_REQUEST,
  getRequest,
  getsRequest,
  incrRequest,
  ReplyReader,
  storageRequest,
  textKey,
  touchRequest,
  type StorageCommand,
  type TextReply,
} from './text-protocol.js';

interface Waiter {
  resolve(reply: TextReply): void;
  reject(err: Error): void;
}

/** incr of an absent counter creates it with add; another process may add it first. */
const INCR_ATTEMPTS = 3;

export class TextClient implements WireClient {
  /** Made on first use, and again after the server closed an idle one (a restart, a proxy's idle timeout). */
  private socket: net.Socket | undefined;
  /**
   * Requests written and not yet answered, oldest first (head at `first`); the answered ones
   * before it are emptied (see answer()).
   */
  private waiting: (Waiter | undefined)[] = [];
  private first = 0;
  private destroyed: Error | undefined;

  constructor(
    private readonly host: string,
    private readonly port: number,
  ) {}

  async get(key: string): Promise<Buffer | null> {
    const reply = await this.ask(getRequest(textKey(key)));
    if (reply.kind === 'end') return null;
    if (reply.kind === 'value') return reply.value;
    return this.unexpected('get', reply);
  }

  async getWithCas(key: string): Promise<CasValue | null> {
    const reply = await this.ask(getsRequest(textKey(key)));
    if (reply.kind === 'end') return null;
    // A server that answers gets without a CAS (a proxy that rewrote it) gives no version.
    if (reply.kind === 'value') return { value: reply.value, cas: reply.cas ?? '0' };
    return this.unexpected('gets', reply);
  }

  set(key: string, value: Buffer, exptime: number): Promise<boolean> {
    return this.store('set', key, value, exptime);
  }

  add(key: string, value: Buffer, exptime: number): Promise<boolean> {
    return this.store('add', key, value, exptime);
  }

  async setIfCas(key: string, value: Buffer, exptime: number, cas: string): Promise<{ cas: string | undefined } | 'changed'> {
    const [line, bytes, crlf] = storageRequest('cas', textKey(key), value, exptime, cas);
    const reply = await this.ask(line, bytes, crlf);
    // The text protocol's STORED carries no CAS: the next read tells the new one.
    if (reply.kind === 'status' && reply.status === 'STORED') return { cas: undefined };
    if (reply.kind === 'status' && (reply.status === 'EXISTS' || reply.status === 'NOT_FOUND')) return 'changed';
    return this.unexpected('cas', reply);
  }

  async delete(key: string): Promise<boolean> {
    const reply = await this.ask(deleteRequest(textKey(key)));
    if (reply.kind === 'status' && reply.status === 'DELETED') return true;
    if (reply.kind === 'status' && reply.status === 'NOT_FOUND') return false;
    return this.unexpected('delete', reply);
  }

  async touch(key: string, exptime: number): Promise<boolean> {
    const reply = await this.ask(touchRequest(textKey(key), exptime));
    if (reply.kind === 'status' && reply.status === 'TOUCHED') return true;
    if (reply.kind === 'status' && reply.status === 'NOT_FOUND') return false;
    return this.unexpected('touch', reply);
  }

  /**
   * The binary protocol's incr-with-initial in text commands: incr; when absent, add the
   * initial value; when another client added it in between, incr again.
   */
  async incr(key: string, by: number, initial: number, exptime: number): Promise<number> {
    const k = textKey(key);
    for (let attempt = 0; attempt < INCR_ATTEMPTS; attempt++) {
      const reply = await this.ask(incrRequest(k, by));
      if (reply.kind === 'number') return Number(reply.value);
      if (!(reply.kind === 'status' && reply.status === 'NOT_FOUND')) return this.unexpected('incr', reply);
      if (await this.store('add', key, Buffer.from(String(initial)), exptime)) return initial;
    }
    throw new ServerRefusal(`incr of ${key}: created and deleted again ${INCR_ATTEMPTS} times`);
  }

  async flush(): Promise<void> {
    const reply = await this.ask(FLUSH_REQUEST);
    if (!(reply.kind === 'status' && reply.status === 'OK')) this.unexpected('flush_all', reply);
  }

  destroy(): void {
    this.destroyed ??= new Error(`memcached ${this.host}:${this.port} connection dropped`);
    this.fail(this.socket, this.destroyed);
  }

  private async store(command: StorageCommand, key: string, value: Buffer, exptime: number): Promise<boolean> {
    const [line, bytes, crlf] = storageRequest(command, textKey(key), value, exptime);
    const reply = await this.ask(line, bytes, crlf);
    if (reply.kind === 'status' && reply.status === 'STORED') return true;
    if (reply.kind === 'status' && (reply.status === 'NOT_STORED' || reply.status === 'EXISTS')) return false;
    return this.unexpected(command, reply);
  }

  /** A refusal for error replies; any other reply is out of step, which breaks the connection. */
  private unexpected(what: string, reply: TextReply): never {
    if (reply.kind === 'error') throw new ServerRefusal(`memcached ${this.host}:${this.port} refused ${what}: ${reply.message}`);
    const err = new Error(`memcached ${this.host}:${this.port} answered ${what} with ${reply.kind}`);
    this.fail(this.socket, err);
    throw err;
  }

  private ask(line: string, value?: Buffer, crlf?: Buffer): Promise<TextReply> {
    if (this.destroyed) return Promise.reject(this.destroyed);
    const socket = this.socket ?? this.connect();
    return new Promise<TextReply>((resolve, reject) => {
      this.waiting.push({ resolve, reject });
      if (!value) {
        socket.write(line, 'latin1');
        return;
      }
      // A storage command's three pieces in one write, the value not copied.
      socket.cork();
      socket.write(line, 'latin1');
      if (value.length > 0) socket.write(value);
      socket.write(crlf!);
      socket.uncork();
    });
  }

  private connect(): net.Socket {
    const socket = net.connect({ host: this.host, port: this.port });
    // Nagle's algorithm stays on, as memjs leaves it: memcached answers each request at once,
    // and its answer carries the ACK that releases the next small write, so nothing waits
    // on a delayed ACK; with it off, 100 KB gets cost more CPU here (noisy, not conclusive).
    socket.setKeepAlive(true, 30_000);
    const reader = new ReplyReader(
      (reply) => this.answer(reply),
      (message) => this.fail(socket, new Error(`memcached ${this.host}:${this.port} sent ${message}`)),
    );
    socket.on('data', (chunk: Buffer) => {
      if (this.socket === socket) reader.push(chunk);
    });
    socket.on('error', (err) => this.fail(socket, err));
    socket.on('close', () => this.fail(socket, new Error(`memcached ${this.host}:${this.port} closed the connection`)));
    this.socket = socket;
    return socket;
  }

  private answer(reply: TextReply): void {
    if (this.first >= this.waiting.length) {
      this.fail(this.socket, new Error(`memcached ${this.host}:${this.port} sent a reply nobody asked for`));
      return;
    }
    const waiter = this.waiting[this.first]!;
    // Emptied at once: an answered waiter's resolve function keeps its promise, and the
    // promise its reply. Left in place until the queue drained (which, with gets always in
    // flight, it rarely does) or 1,024 replies in, it kept each value alive past young-
    // generation GCs; at 900 KB the values then went to the old generation, and every value
    // read landed on fresh memory: ~176 page faults and ~3 ms of CPU per get, against ~25
    // and ~1 ms with this line (8 gets in flight).
    this.waiting[this.first++] = undefined;
    // An index instead of shift(): a deep pipeline would otherwise move the array per reply.
    if (this.first === this.waiting.length) {
      this.waiting = [];
      this.first = 0;
    } else if (this.first > 1024) {
      this.waiting = this.waiting.slice(this.first);
      this.first = 0;
    }
    waiter.resolve(reply);
  }

  /**
   * The socket failed or went out of step: it is dropped, and the requests on it fail (the
   * store then replaces this client). An idle socket closed by the server is only dropped:
   * the next request connects again.
   */
  private fail(socket: net.Socket | undefined, err: Error): void {
    if (socket === undefined || this.socket !== socket) return;
    this.socket = undefined;
    const waiting = this.waiting.slice(this.first);
    this.waiting = [];
    this.first = 0;
    socket.destroy();
    for (const w of waiting) w!.reject(err);
  }
}
