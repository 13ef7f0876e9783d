// /healthz's probe of a cache server: `version` (for the detail it gives) and a get of a
// probe key, in the protocol the cache speaks, both of which must be answered. A version
// alone proves too little: twemproxy answers it (forwarded as text) while it drops every
// binary get, so a version probe called the cache up while every request missed.
import net from 'node:net';
import type { ProbeResult } from './probe.js';
import { splitHostPort } from './probe.js';

export type CacheProtocol = 'binary' | 'text';

/** The key the probe reads; never written, so the answer is "not found". */
export const PROBE_KEY = 'memfront:probe';

const BINARY_HEADER = 24;
const OP_GET = 0x00;
const OP_VERSION = 0x0b;

/** A binary-protocol request with no extras and no value. */
function binaryRequest(opcode: number, key = ''): Buffer {
  const k = Buffer.from(key);
  const b = Buffer.alloc(BINARY_HEADER + k.length);
  b[0] = 0x80;
  b[1] = opcode;
  b.writeUInt16BE(k.length, 2);
  b.writeUInt32BE(k.length, 8);
  k.copy(b, BINARY_HEADER);
  return b;
}

/** The bytes the probe sends. */
export function probeRequest(protocol: CacheProtocol): Buffer {
  if (protocol === 'text') return Buffer.from(`version\r\nget ${PROBE_KEY}\r\n`);
  return Buffer.concat([binaryRequest(OP_VERSION), binaryRequest(OP_GET, PROBE_KEY)]);
}

type Verdict = { ok: boolean; detail: string } | undefined;

/** What the bytes received so far say: undefined while the answers are incomplete. */
export function judgeProbe(protocol: CacheProtocol, data: Buffer): Verdict {
  return protocol === 'text' ? judgeText(data.toString('latin1')) : judgeBinary(data);
}

function judgeText(text: string): Verdict {
  const lines = text.split('\r\n');
  const version = lines[0];
  if (lines.length < 2) return undefined;
  if (!version.startsWith('VERSION ')) return { ok: false, detail: version.slice(0, 80) };
  const detail = `memcached ${version.slice(8)}`;
  // The get's answer: END (absent), or a VALUE block ending in END; an error line refuses it.
  const answer = lines.slice(1);
  const refusal = answer.find((l) => /^(ERROR|CLIENT_ERROR|SERVER_ERROR)/.test(l));
  if (refusal) return { ok: false, detail: `${detail}, get refused: ${refusal.slice(0, 80)}` };
  if (answer.includes('END')) return { ok: true, detail };
  return undefined;
}

function judgeBinary(data: Buffer): Verdict {
  if (data.length > 0 && data[0] !== 0x81) return { ok: false, detail: 'not a memcached binary-protocol answer' };
  const answers: { opcode: number; status: number; body: Buffer }[] = [];
  let at = 0;
  while (answers.length < 2 && data.length - at >= BINARY_HEADER) {
    const length = BINARY_HEADER + data.readUInt32BE(at + 8);
    if (data.length - at < length) return undefined;
    answers.push({ opcode: data[at + 1], status: data.readUInt16BE(at + 6), body: data.subarray(at + BINARY_HEADER, at + length) });
    at += length;
  }
  if (answers.length < 2) return undefined;
  const [version, get] = answers;
  if (version.opcode !== OP_VERSION || version.status !== 0) return { ok: false, detail: `version answered with status ${version.status}` };
  const detail = `memcached ${version.body.toString('latin1')}`;
  // 0: found, 1: not found. Anything else refused the get.
  if (get.opcode !== OP_GET || get.status > 1) return { ok: false, detail: `${detail}, get answered with status ${get.status}` };
  return { ok: true, detail };
}

/** Asks one cache server; resolves to its answer or why not, never throws. */
export function probeCacheServer(address: string, protocol: CacheProtocol, timeoutMs: number): Promise<ProbeResult> {
  const { host, port } = splitHostPort(address);
  const started = performance.now();
  return new Promise((resolve) => {
    let done = false;
    let received = Buffer.alloc(0);
    const socket = net.connect({ host, port });
    const finish = (ok: boolean, detail: string): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.destroy();
      resolve({ ok, ms: Math.round((performance.now() - started) * 10) / 10, detail });
    };
    const timer = setTimeout(() => finish(false, `timeout after ${timeoutMs} ms`), timeoutMs);
    socket.once('error', (err: NodeJS.ErrnoException) => finish(false, err.code ?? err.message));
    socket.once('connect', () => socket.write(probeRequest(protocol)));
    socket.on('data', (chunk: Buffer) => {
      received = Buffer.concat([received, chunk]);
      const verdict = judgeProbe(protocol, received);
      if (verdict) finish(verdict.ok, verdict.detail);
    });
    socket.once('close', () => finish(false, 'closed without answering'));
  });
}
