import { connect, type Socket } from 'node:net';

/**
 * A lean HTTP/1.1 keep-alive client for the waiting-room bench: a fixed number of TCP connections spread over the
 * api ports, each carrying one request at a time (no pipelining), and a FIFO of requests waiting for a free
 * connection. Requests are whole texts the caller builds; answers are parsed just enough (status, Content-Length or
 * chunked body). Not node:http or the tRPC client: at tens of thousands of polls a second on a 2-core machine the
 * generator shares the cores with the apis it measures, and node:http's request/response objects cost it several
 * times this client's CPU per call (the report gives the generator's own CPU).
 */

export type Done = (err: Error | null, status: number, body: string, sentAt: number) => void;

interface Job {
  text: string;
  done: Done;
}

class Conn {
  socket: Socket | null = null;
  job: Job | null = null;
  sentAt = 0;
  buf: Buffer = Buffer.alloc(0);
  received = false;

  constructor(
    readonly port: number,
    /** Which of the pool's ports (its free list). */
    readonly lane: number,
    private readonly pool: KeepAlivePool,
  ) {}

  open(): Promise<void> {
    return new Promise((resolve) => {
      const s = connect({ host: this.pool.host, port: this.port, noDelay: true });
      this.socket = s;
      this.buf = Buffer.alloc(0);
      s.setTimeout(this.pool.timeoutMs);
      s.on('connect', () => {
        this.pool.opened++;
        resolve();
        this.pool.idle(this);
      });
      s.on('data', (chunk: Buffer) => this.data(chunk));
      // Idle connections time out too: only one waiting for an answer is given up.
      s.on('timeout', () => {
        if (this.job) s.destroy(new Error(`no answer within ${this.pool.timeoutMs} ms`));
      });
      s.on('error', (err) => this.fail(err));
      s.on('close', () => {
        this.fail(new Error('connection closed'));
        this.socket = null;
        this.pool.forget(this);
        resolve();
        if (!this.pool.closed) setTimeout(() => void this.open(), 50);
      });
    });
  }

  send(job: Job): void {
    this.job = job;
    this.sentAt = performance.now();
    this.socket!.write(job.text);
  }

  private fail(err: Error): void {
    const job = this.job;
    if (!job) return;
    this.job = null;
    this.pool.errors++;
    job.done(err, 0, '', this.sentAt);
  }

  private data(chunk: Buffer): void {
    this.buf = this.buf.length ? Buffer.concat([this.buf, chunk]) : chunk;
    const headEnd = this.buf.indexOf('\r\n\r\n');
    if (headEnd < 0) return;
    const head = this.buf.toString('latin1', 0, headEnd);
    let body: string | null = null;
    let end = 0;
    const len = /\r\ncontent-length:\s*(\d+)/i.exec(head);
    if (len) {
      end = headEnd + 4 + Number(len[1]);
      if (this.buf.length < end) return;
      body = this.buf.toString('utf8', headEnd + 4, end);
    } else if (/\r\ntransfer-encoding:\s*chunked/i.test(head)) {
      const parts: string[] = [];
      let pos = headEnd + 4;
      for (;;) {
        const lineEnd = this.buf.indexOf('\r\n', pos);
        if (lineEnd < 0) return;
        const size = parseInt(this.buf.toString('latin1', pos, lineEnd), 16);
        if (size === 0) {
          if (this.buf.length < lineEnd + 4) return;
          end = lineEnd + 4;
          break;
        }
        if (this.buf.length < lineEnd + 2 + size + 2) return;
        parts.push(this.buf.toString('utf8', lineEnd + 2, lineEnd + 2 + size));
        pos = lineEnd + 2 + size + 2;
      }
      body = parts.join('');
    } else {
      body = '';
      end = headEnd + 4;
    }
    const status = Number(head.slice(9, 12));
    this.buf = this.buf.length > end ? this.buf.subarray(end) : Buffer.alloc(0);
    const job = this.job;
    this.job = null;
    if (job) job.done(null, status, body, this.sentAt);
    if (/\r\nconnection:\s*close/i.test(head)) this.socket?.end();
    else this.pool.idle(this);
  }
}

export class KeepAlivePool {
  /** TCP connections opened so far (more than the pool's size means some were closed and reopened). */
  opened = 0;
  /** Requests that ended in a socket error, a close or a timeout. */
  errors = 0;
  closed = false;
  private readonly conns: Conn[];
  /** Free connections per port: requests take turns over the ports, so each api gets its share even when few connections are busy. */
  private readonly free: Conn[][];
  private turn = 0;
  private queue: Job[] = [];
  private head = 0;

  constructor(
    readonly host: string,
    ports: number[],
    connections: number,
    readonly timeoutMs = 30_000,
  ) {
    this.conns = Array.from({ length: connections }, (_, i) => new Conn(ports[i % ports.length]!, i % ports.length, this));
    this.free = ports.map(() => []);
  }

  async open(): Promise<void> {
    // A few hundred at a time: the apis' accept queues are finite.
    for (let i = 0; i < this.conns.length; i += 200) await Promise.all(this.conns.slice(i, i + 200).map((c) => c.open()));
  }

  /** Requests waiting for a free connection. */
  get waiting(): number {
    return this.queue.length - this.head;
  }

  get inFlight(): number {
    return this.conns.filter((c) => c.job !== null).length;
  }

  request(text: string, done: Done): void {
    const lanes = this.free.length;
    for (let k = 0; k < lanes; k++) {
      const c = this.free[(this.turn + k) % lanes]!.pop();
      if (c) {
        this.turn = (this.turn + k + 1) % lanes;
        c.send({ text, done });
        return;
      }
    }
    this.queue.push({ text, done });
  }

  /** A connection is free: the next waiting request goes on it. */
  idle(c: Conn): void {
    if (this.head < this.queue.length) {
      const job = this.queue[this.head]!;
      this.queue[this.head++] = undefined as unknown as Job;
      if (this.head > 65_536 && this.head * 2 > this.queue.length) {
        this.queue = this.queue.slice(this.head);
        this.head = 0;
      }
      c.send(job);
    } else {
      this.free[c.lane]!.push(c);
    }
  }

  /** A connection closed: it is not free until it has reconnected. */
  forget(c: Conn): void {
    const free = this.free[c.lane]!;
    const i = free.indexOf(c);
    if (i >= 0) free.splice(i, 1);
  }

  close(): void {
    this.closed = true;
    for (const c of this.conns) c.socket?.destroy();
  }
}
