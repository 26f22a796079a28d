import type { Socket } from 'node:net';

/** Raised to the handshake when the client goes away while the server waits for bytes. */
export class ClientGone extends Error {
  constructor() {
    super('the NBD client closed the connection');
    this.name = 'ClientGone';
  }
}

/** Bytes buffered while nobody is reading (handshake) before the socket is paused. */
const IDLE_HIGH_WATER = 256 * 1024;

/**
 * The bytes a socket delivered and nobody consumed yet, as the chunks Node handed over (never
 * concatenated). Two ways to consume them: `need(n)` for the handshake's sequential reads,
 * and `onData` plus the synchronous take/copy calls for the transmission loop, which parses
 * every complete request in place and pauses the socket itself for back-pressure.
 */
export class SocketReader {
  private readonly chunks: Buffer[] = [];
  /** Read position inside chunks[0]. */
  private head = 0;
  private lengthValue = 0;
  private waiter: { n: number; resolve: () => void; reject: (err: Error) => void } | undefined;
  private endedValue = false;
  /** Called after new bytes arrived (transmission phase). */
  onData: (() => void) | undefined;

  constructor(private readonly socket: Socket) {
    socket.on('data', (chunk: Buffer) => this.push(chunk));
    const gone = (): void => {
      this.endedValue = true;
      const waiter = this.waiter;
      this.waiter = undefined;
      waiter?.reject(new ClientGone());
    };
    socket.on('end', gone);
    socket.on('close', gone);
  }

  get length(): number {
    return this.lengthValue;
  }

  get ended(): boolean {
    return this.endedValue;
  }

  /** Resolves once at least n bytes are buffered; rejects with ClientGone if the client left. */
  need(n: number): Promise<void> {
    if (this.lengthValue >= n) return Promise.resolve();
    if (this.endedValue) return Promise.reject(new ClientGone());
    if (this.socket.isPaused()) this.socket.resume();
    return new Promise((resolve, reject) => {
      this.waiter = { n, resolve, reject };
    });
  }

  /** Waits for and takes exactly n bytes (a view into a chunk when they lie in one). */
  async read(n: number): Promise<Buffer> {
    await this.need(n);
    return this.take(n);
  }

  /** Discards n bytes as they arrive, never holding more than one chunk of them. */
  async discard(n: number): Promise<void> {
    let left = n;
    while (left > 0) {
      await this.need(1);
      const k = Math.min(left, this.lengthValue);
      this.skip(k);
      left -= k;
    }
  }

  /** n buffered bytes: a view when they lie in the first chunk, else a copy. */
  take(n: number): Buffer {
    const first = this.chunks[0];
    if (first !== undefined && first.length - this.head >= n) {
      const view = first.subarray(this.head, this.head + n);
      this.advance(n);
      return view;
    }
    const out = Buffer.allocUnsafe(n);
    this.copyInto(out, 0, n);
    return out;
  }

  /** Copies n buffered bytes into out at offset and consumes them. */
  copyInto(out: Buffer, offset: number, n: number): void {
    let done = 0;
    while (done < n) {
      const chunk = this.chunks[0];
      if (chunk === undefined) throw new RangeError('SocketReader: not enough bytes buffered');
      const k = Math.min(n - done, chunk.length - this.head);
      chunk.copy(out, offset + done, this.head, this.head + k);
      done += k;
      this.advance(k);
    }
  }

  skip(n: number): void {
    let left = n;
    while (left > 0) {
      const chunk = this.chunks[0];
      if (chunk === undefined) throw new RangeError('SocketReader: not enough bytes buffered');
      const k = Math.min(left, chunk.length - this.head);
      left -= k;
      this.advance(k);
    }
  }

  /** How many bytes lie contiguously at the read position (0 when empty). */
  contiguous(): number {
    const first = this.chunks[0];
    return first === undefined ? 0 : first.length - this.head;
  }

  private push(chunk: Buffer): void {
    this.chunks.push(chunk);
    this.lengthValue += chunk.length;
    const waiter = this.waiter;
    if (waiter !== undefined) {
      if (this.lengthValue >= waiter.n) {
        this.waiter = undefined;
        waiter.resolve();
      }
      return;
    }
    if (this.onData !== undefined) {
      this.onData();
      return;
    }
    // Nobody reads (the handshake is busy answering): stop taking bytes past the high water.
    if (this.lengthValue > IDLE_HIGH_WATER) this.socket.pause();
  }

  private advance(n: number): void {
    this.lengthValue -= n;
    this.head += n;
    const first = this.chunks[0];
    if (first !== undefined && this.head >= first.length) {
      this.chunks.shift();
      this.head = 0;
    }
  }
}
