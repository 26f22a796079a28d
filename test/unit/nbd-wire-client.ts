/**
 * A deliberately small NBD client for the unit tests of agent/nbd: raw bytes on a real unix
 * socket, written from the protocol document, so that a test can send exactly what it means
 * (also what a real client never would).
 */
import { connect, type Socket } from 'node:net';

export const OPT_MAGIC = Buffer.from('IHAVEOPT', 'latin1');
export const REQUEST_MAGIC = 0x25609513;

export interface OptionReply {
  readonly option: number;
  readonly type: number;
  readonly data: Buffer;
}

export interface SimpleReply {
  readonly error: number;
  readonly cookie: bigint;
}

export class WireClient {
  private buffered = Buffer.alloc(0);
  private wake: (() => void) | undefined;
  private closedValue = false;
  readonly closed: Promise<void>;

  private constructor(readonly socket: Socket) {
    socket.on('data', (chunk: Buffer) => {
      this.buffered = Buffer.concat([this.buffered, chunk]);
      this.wake?.();
    });
    socket.on('error', () => undefined);
    this.closed = new Promise((resolve) => {
      socket.on('close', () => {
        this.closedValue = true;
        this.wake?.();
        resolve();
      });
    });
  }

  static connect(path: string): Promise<WireClient> {
    return new Promise((resolve, reject) => {
      const socket = connect(path, () => resolve(new WireClient(socket)));
      socket.once('error', reject);
    });
  }

  get isClosed(): boolean {
    return this.closedValue;
  }

  /** Exactly n bytes; rejects if the server closes first. */
  async read(n: number): Promise<Buffer> {
    while (this.buffered.length < n) {
      if (this.closedValue)
        throw new Error(`server closed with ${this.buffered.length}/${n} bytes`);
      await new Promise<void>((resolve) => {
        this.wake = resolve;
      });
      this.wake = undefined;
    }
    const out = this.buffered.subarray(0, n);
    this.buffered = this.buffered.subarray(n);
    return out;
  }

  write(data: Buffer): void {
    this.socket.write(data);
  }

  /** Reads the greeting and answers with client flags; returns the handshake flags. */
  async greet(clientFlags = 3): Promise<number> {
    const greeting = await this.read(18);
    if (greeting.toString('latin1', 0, 8) !== 'NBDMAGIC') throw new Error('no NBDMAGIC');
    if (!greeting.subarray(8, 16).equals(OPT_MAGIC)) throw new Error('no IHAVEOPT');
    const flags = Buffer.alloc(4);
    flags.writeUInt32BE(clientFlags >>> 0);
    this.write(flags);
    return greeting.readUInt16BE(16);
  }

  sendOption(option: number, data: Buffer = Buffer.alloc(0), declaredLength = data.length): void {
    const header = Buffer.alloc(16);
    OPT_MAGIC.copy(header, 0);
    header.writeUInt32BE(option, 8);
    header.writeUInt32BE(declaredLength, 12);
    this.write(Buffer.concat([header, data]));
  }

  async readOptionReply(): Promise<OptionReply> {
    const header = await this.read(20);
    if (header.readUInt32BE(0) !== 0x0003e889 || header.readUInt32BE(4) !== 0x045565a9) {
      throw new Error(`bad option reply magic ${header.subarray(0, 8).toString('hex')}`);
    }
    const length = header.readUInt32BE(16);
    return {
      option: header.readUInt32BE(8),
      type: header.readUInt32BE(12),
      data: Buffer.from(await this.read(length)),
    };
  }

  /** Sends NBD_OPT_GO/INFO and collects replies up to NBD_REP_ACK or an error. */
  async info(option: number, name: string, infos: number[] = []): Promise<OptionReply[]> {
    this.sendOption(option, infoData(name, infos));
    const replies: OptionReply[] = [];
    for (;;) {
      const reply = await this.readOptionReply();
      replies.push(reply);
      if (reply.type === 1 || reply.type >= 0x80000000) return replies;
    }
  }

  /** Handshake and NBD_OPT_GO: ready for requests; returns the export size. */
  async open(name: string): Promise<number> {
    await this.greet();
    const replies = await this.info(7, name, [3]);
    const last = replies.at(-1);
    if (last?.type !== 1) throw new Error(`GO refused: ${last?.data.toString()}`);
    const exportInfo = replies.find((r) => r.type === 3 && r.data.readUInt16BE(0) === 0);
    if (exportInfo === undefined) throw new Error('no NBD_INFO_EXPORT');
    return Number(exportInfo.data.readBigUInt64BE(2));
  }

  request(
    type: number,
    cookie: bigint,
    offset: bigint | number,
    length: number,
    options: { flags?: number; payload?: Buffer; magic?: number } = {},
  ): void {
    const header = Buffer.alloc(28);
    header.writeUInt32BE(options.magic ?? REQUEST_MAGIC, 0);
    header.writeUInt16BE(options.flags ?? 0, 4);
    header.writeUInt16BE(type, 6);
    header.writeBigUInt64BE(cookie, 8);
    header.writeBigUInt64BE(BigInt(offset), 16);
    header.writeUInt32BE(length, 24);
    this.write(options.payload === undefined ? header : Buffer.concat([header, options.payload]));
  }

  async readReply(): Promise<SimpleReply> {
    const header = await this.read(16);
    if (header.readUInt32BE(0) !== 0x67446698) throw new Error('bad simple reply magic');
    return { error: header.readUInt32BE(4), cookie: header.readBigUInt64BE(8) };
  }

  close(): void {
    this.socket.destroy();
  }
}

export function infoData(name: string, infos: number[]): Buffer {
  const nameBytes = Buffer.from(name, 'utf8');
  const data = Buffer.alloc(4 + nameBytes.length + 2 + 2 * infos.length);
  data.writeUInt32BE(nameBytes.length, 0);
  nameBytes.copy(data, 4);
  data.writeUInt16BE(infos.length, 4 + nameBytes.length);
  infos.forEach((info, i) => data.writeUInt16BE(info, 4 + nameBytes.length + 2 + 2 * i));
  return data;
}
