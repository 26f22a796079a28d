import { EventEmitter } from 'node:events';
import { Backoff, type BackoffOptions } from '../../app/backoff';
import { TidelineError, isTidelineError } from '../../app/errors';
import type { Peer, PeerLinkState, Unsubscribe } from '../../app/protocol';
import type { Logger } from '../log';
import { drop } from '../util/drop';
import { LZ4 } from '../util/lz4';
import {
  ControlChannel,
  DEFAULT_CONTROL_TIMEOUT_MS,
  type ControlRegistry,
} from './control-channel';
import type { FrameConnection, CloseInfo } from './frame-connection';
import { RECEIVE_POOL } from './frame-decoder';
import { dialPeer } from './link-dial';
import { UnpairSchema, decodeJson, type Hello } from './messages';
import type { PeerRecord } from './peer-store';
import {
  batchRecords,
  decodeRecordsPayload,
  verifyRecordsPayload,
  type ReceivedRecord,
} from './records-frame';
import { RecordWindow } from './record-window';
import { RecordsCompressor, unpackRecords, type PackedRecords } from './records-lz4';
import type { TlsKeyPair } from './tls-dial';
import {
  FrameType,
  FRAME_HEADER_BYTES,
  MAX_FRAME_PAYLOAD,
  PEER_PROTOCOL,
  PEER_PROTOCOL_LZ4,
  RECORDS_BATCH_BYTES,
  decodeVpgRef,
  decodeVpgSeq,
  encodeVpgRef,
  encodeVpgSeq,
  protocolError,
  type Frame,
} from './wire';

export type { ReceivedRecord } from './records-frame';

/** Who dials: the agent whose agentId sorts first. The other only accepts. */
export type LinkRole = 'dialer' | 'acceptor';

export function linkRole(selfAgentId: string, peerAgentId: string): LinkRole {
  return selfAgentId < peerAgentId ? 'dialer' : 'acceptor';
}

/** This agent, as a link presents it in HELLO. */
export interface LinkSelf {
  readonly agentId: string;
  readonly siteId: string;
  siteName(): string;
  /** The advertised replication address. */
  address(): string;
}

export interface LinkTuning {
  /** PING interval; a connection silent for 3 intervals is closed (default 10 s). */
  readonly keepaliveMs: number;
  /** Unacknowledged bytes per VPG (default 16 MiB). */
  readonly windowBytes: number;
  /**
   * A VPG's window grows past windowBytes, up to this (default 32 MiB), while its link
   * acknowledges more than a window per WINDOW_DELAY_MS (record-window.ts). Absent: fixed.
   */
  readonly maxWindowBytes?: number;
  /** Target size of a RECORDS frame (default 1 MiB). */
  readonly batchBytes: number;
  /** Received record bytes not yet persisted above which reading pauses (default 64 MiB). */
  readonly receiveBacklogBytes: number;
  /** Dial + TLS + HELLO, and every handshake answer (default 10 s). */
  readonly handshakeTimeoutMs: number;
  /**
   * Reconnect delays (app/backoff.ts; default 500 ms doubling to 5 s). The cap bounds how long
   * protection stays down after the peer is back: with 30 s, a 30 s outage ended with the next
   * attempt up to 30 s away (13–23 s seen). One dialer per pair, so no herd to spread out.
   */
  readonly backoff: BackoffOptions;
}

export const DEFAULT_LINK_TUNING: LinkTuning = {
  keepaliveMs: 10_000,
  windowBytes: 16 * 1024 * 1024,
  maxWindowBytes: 32 * 1024 * 1024,
  batchBytes: RECORDS_BATCH_BYTES,
  receiveBacklogBytes: 64 * 1024 * 1024,
  handshakeTimeoutMs: 10_000,
  backoff: { initialMs: 500, maxMs: 5_000 },
};

/** A dial failing the same way as the last is logged at info once per this many. */
const QUIET_DIAL_FAILURES = 60;

/** RECORDS frames received for one VPG and not yet handed to the handler. */
interface ReceiveGroup {
  readonly conn: FrameConnection;
  /**
   * The frames' payloads, split into records only when the handler is called: decoded at
   * arrival, a record's objects waited through the backlog into V8's old generation, and the
   * recovery agent ran a full collection every few frames. Back to the pool once persisted.
   */
  readonly payloads: Buffer[];
  bytes: number;
}

/**
 * What a frame takes of its VPG's window: its bytes on the wire, so a compressing link keeps as
 * much on the wire in flight as a plain one (counted uncompressed, the window held the sender
 * while the 20 Mbit/s link of the WAN test was a third idle). At least a quarter of its record
 * bytes, so what a window lets in flight stays within 4 windows uncompressed whatever the ratio.
 */
function windowCharge(recordBytes: number, packed: PackedRecords | undefined): number {
  if (packed === undefined) return recordBytes;
  return Math.max(packed.bytes, Math.ceil(recordBytes / 4));
}

/** A group stops taking frames at this size (a bound on one journal write). */
const MAX_RECEIVE_GROUP_BYTES = 16 * 1024 * 1024;
/**
 * A grown window holds at most this long's worth of the VPG's acknowledged rate: on this
 * machine an ACK waits ≈ 30 ms for the journal's write and fdatasync (bench/README.md § 21).
 */
const WINDOW_DELAY_MS = 200;

/**
 * Target side: persist the records (in seq order, ignoring duplicates) and resolve with the
 * VPG's last persisted seq; the link then sends ACK(vpgId, that seq). Calls for one VPG never
 * overlap. Rejecting closes the connection (the source resumes from POSITION after it).
 */
export type RecordsHandler = (vpgId: string, records: readonly ReceivedRecord[]) => Promise<number>;
/** Target side: the VPG's last persisted seq (0: nothing yet), answered as POSITION. */
export type PositionProvider = (vpgId: string) => Promise<number> | number;
export type SeqListener = (vpgId: string, seq: number) => void;

export interface PeerLinkEvents {
  /** Connected and handshaken: the source asks each VPG's POSITION and resumes after it. */
  up: [];
  /** The connection ended; unacknowledged sends were failed. */
  down: [reason: string];
}

export interface PeerLinkOptions {
  readonly self: LinkSelf;
  readonly peer: PeerRecord;
  readonly tls: TlsKeyPair;
  readonly tuning: LinkTuning;
  readonly control: ControlRegistry;
  readonly log: Logger;
  /** The peer refused us as not paired (authenticated by its pinned certificate), or sent UNPAIR. */
  readonly onUnpairedByPeer: (reason: string) => void;
  /** The peer's HELLO told a new address or site name. */
  readonly onPeerInfo: (info: Pick<Hello, 'address' | 'siteName'>) => void;
  /** Link state changed (connected ↔ not), for inventory.changed. */
  readonly onStateChange: (state: PeerLinkState) => void;
}

interface PositionWaiter {
  readonly resolve: (seq: number) => void;
  readonly reject: (err: Error) => void;
  readonly timer: NodeJS.Timeout;
}

/**
 * The one mutual-TLS connection between this agent and one paired agent, carrying every VPG
 * both ways. The dialer side reconnects with back-off for as long as the peer stays paired;
 * the acceptor side is handed connections by the replication server.
 *
 * For the replication engine — source side: sendRecords (window back-pressure), onAck,
 * onPosition, requestPosition, rewind; target side: onRecords, onPositionRequest,
 * sendPosition; both: request/handle (control channel via the shared registry), 'up'/'down'.
 */
export class PeerLink extends EventEmitter<PeerLinkEvents> {
  readonly role: LinkRole;
  private peer: PeerRecord;
  private conn: FrameConnection | undefined;
  private control: ControlChannel | undefined;
  private linkState: PeerLinkState = 'disconnected';
  private error: string | undefined;
  private running = false;
  private readonly backoff: Backoff;
  private dialTimer: NodeJS.Timeout | undefined;
  private dialAbort: AbortController | undefined;
  private readonly window: RecordWindow;
  private readonly sendChains = new Map<string, Promise<void>>();
  private readonly receiveChains = new Map<string, Promise<void>>();
  /** Per VPG, the RECORDS frames waiting for the next handler call (joined: one group commit). */
  private readonly receiveGroups = new Map<string, ReceiveGroup>();
  private receiveBacklog = 0;
  private recordsHandler: RecordsHandler | undefined;
  private positionProvider: PositionProvider | undefined;
  private readonly ackListeners = new Set<SeqListener>();
  private readonly positionListeners = new Set<SeqListener>();
  private readonly positionWaiters = new Map<string, PositionWaiter[]>();
  /** The peer protocol version agreed on the current connection. */
  private version = 1;
  private readonly compressor = LZ4 === undefined ? undefined : new RecordsCompressor(LZ4);
  /** RECORDS bytes sent on the current connection, uncompressed and as framed on the wire. */
  private traffic = { recordBytes: 0, wireBytes: 0 };

  constructor(private readonly options: PeerLinkOptions) {
    super();
    this.peer = { ...options.peer };
    this.role = linkRole(options.self.agentId, options.peer.agentId);
    this.backoff = new Backoff(options.tuning.backoff);
    const { windowBytes, maxWindowBytes } = options.tuning;
    this.window = new RecordWindow(
      windowBytes,
      maxWindowBytes === undefined
        ? undefined
        : { maxBytes: maxWindowBytes, delayMs: WINDOW_DELAY_MS },
    );
    if (this.role === 'acceptor')
      this.error = `waiting for site "${this.peer.siteName}" to connect`;
  }

  get peerAgentId(): string {
    return this.peer.agentId;
  }

  get state(): PeerLinkState {
    return this.linkState;
  }

  get lastError(): string | undefined {
    return this.error;
  }

  /** Round-trip time of the last keepalive ping (ms), while connected. */
  get rttMs(): number | undefined {
    return this.conn?.rttMs;
  }

  /** The peer as the console's site.peers shows it. */
  describe(): Peer {
    return {
      ...this.peer,
      link: this.linkState,
      ...(this.linkState !== 'connected' && this.error !== undefined && { lastError: this.error }),
      ...(this.linkState === 'connected' && { traffic: { ...this.traffic } }),
    };
  }

  updatePeer(record: PeerRecord): void {
    this.peer = { ...record };
  }

  /** Starts dialing (dialer), or waiting for the peer (acceptor). `after`: dial once it settles. */
  start(after?: Promise<unknown>): void {
    this.running = true;
    if (this.role !== 'dialer') return;
    if (after === undefined) this.scheduleDial(0);
    else
      drop(
        after.finally(() => this.scheduleDial(0)),
        () => undefined,
      );
  }

  /** Closes the connection (REFUSED shutting-down) and stops reconnecting. */
  async stop(reason = 'The agent is shutting down'): Promise<void> {
    this.running = false;
    if (this.dialTimer !== undefined) clearTimeout(this.dialTimer);
    this.dialAbort?.abort();
    const conn = this.conn;
    if (conn === undefined) return;
    conn.refuse(
      'shutting-down',
      'UNAVAILABLE',
      `Site "${this.options.self.siteName()}": ${reason}`,
    );
    await conn.closed;
  }

  /** Tells the peer it is unpaired (if connected), then stops. */
  async unpair(): Promise<void> {
    this.running = false;
    const conn = this.conn;
    if (conn !== undefined && conn.isOpen) {
      conn.sendJson(FrameType.UNPAIR, { agentId: this.options.self.agentId });
      conn.close('unpaired on this side');
    }
    await this.stop('unpaired');
  }

  /** Acceptor: the replication server hands over an authenticated connection after HELLO. */
  accept(conn: FrameConnection, hello: Hello, version: number): void {
    if (!this.running) {
      conn.refuse('shutting-down', 'UNAVAILABLE', 'The agent is shutting down');
      return;
    }
    conn.sendJson(FrameType.HELLO, this.hello(version, version));
    this.attach(conn, hello, version);
  }

  // ───────────────────────── source side ─────────────────────────

  /**
   * Sends encoded records of one VPG, in order, in RECORDS frames of about 1 MiB. Resolves
   * once the socket has let go of every frame (TLS encrypted it into its own buffers: the
   * caller may reuse the records' memory) and within the VPG's window (so a caller that
   * awaits each call never holds more than the window in flight); rejects with
   * CONNECTION_CLOSED or UNAVAILABLE when the link is or goes down. Calls for one VPG are
   * sent in call order. Resolves with the bytes the frames took on the wire (less than the
   * records' when the link compresses): what bandwidth limits count.
   */
  sendRecords(vpgId: string, encoded: readonly Buffer[]): Promise<number> {
    const run = (): Promise<number> => this.sendNow(vpgId, encoded);
    const previous = this.sendChains.get(vpgId) ?? Promise.resolve();
    const result = previous.then(run, run);
    const tail = result.then(
      () => undefined,
      () => undefined,
    );
    this.sendChains.set(vpgId, tail);
    drop(
      tail.then(() => {
        if (this.sendChains.get(vpgId) === tail) this.sendChains.delete(vpgId);
      }),
      () => undefined,
    );
    return result;
  }

  /** Bytes of `vpgId` sent and not yet acknowledged. */
  unackedBytes(vpgId: string): number {
    return this.window.unacked(vpgId);
  }

  /** Forgets what is in flight for `vpgId` (e.g. before resending from a fresh POSITION). */
  rewind(vpgId: string): void {
    this.window.rewind(vpgId);
  }

  onAck(listener: SeqListener): Unsubscribe {
    this.ackListeners.add(listener);
    return () => this.ackListeners.delete(listener);
  }

  /** Every POSITION the target sends (answers to requestPosition, and unsolicited ones). */
  onPosition(listener: SeqListener): Unsubscribe {
    this.positionListeners.add(listener);
    return () => this.positionListeners.delete(listener);
  }

  /** Asks the target for the VPG's last persisted seq (answered after its pending records). */
  requestPosition(vpgId: string, timeoutMs = DEFAULT_CONTROL_TIMEOUT_MS): Promise<number> {
    const conn = this.conn;
    if (conn === undefined) return Promise.reject(this.downError());
    return new Promise<number>((resolve, reject) => {
      const waiters = this.positionWaiters.get(vpgId) ?? [];
      const timer = setTimeout(() => {
        const list = this.positionWaiters.get(vpgId);
        const index = list?.indexOf(waiter) ?? -1;
        if (index >= 0) list?.splice(index, 1);
        reject(
          new TidelineError(
            'TIMEOUT',
            `Site "${this.peer.siteName}" did not tell the position of VPG ${vpgId} within ${Math.round(timeoutMs / 1000)} s`,
          ),
        );
      }, timeoutMs);
      const waiter: PositionWaiter = { resolve, reject, timer };
      waiters.push(waiter);
      this.positionWaiters.set(vpgId, waiters);
      conn.send(FrameType.POSITION_REQUEST, encodeVpgRef(vpgId));
    });
  }

  // ───────────────────────── target side ─────────────────────────

  onRecords(handler: RecordsHandler | undefined): void {
    this.recordsHandler = handler;
  }

  onPositionRequest(provider: PositionProvider | undefined): void {
    this.positionProvider = provider;
  }

  /** Tells the source a VPG's last persisted seq unasked (e.g. on 'up'); false if down. */
  sendPosition(vpgId: string, seq: number): boolean {
    const conn = this.conn;
    if (conn === undefined) return false;
    conn.send(FrameType.POSITION, encodeVpgSeq(vpgId, seq));
    return true;
  }

  // ───────────────────────── control channel ─────────────────────────

  /** Calls a control method of the peer (registered there with PeerService.handleControl). */
  request(method: string, params?: unknown, timeoutMs?: number): Promise<unknown> {
    if (this.control === undefined) return Promise.reject(this.downError());
    return this.control.request(method, params, timeoutMs);
  }

  // ───────────────────────── connection handling ─────────────────────────

  private hello(min: number, max: number): Hello {
    const { self } = this.options;
    return {
      min,
      max,
      agentId: self.agentId,
      siteId: self.siteId,
      siteName: self.siteName(),
      address: self.address(),
    };
  }

  private scheduleDial(delayMs: number): void {
    if (!this.running || this.conn !== undefined) return;
    if (this.dialTimer !== undefined) clearTimeout(this.dialTimer);
    this.dialTimer = setTimeout(() => {
      this.dialTimer = undefined;
      drop(this.dial(), (err) => this.options.log.error({ err }, 'peer dial failed unexpectedly'));
    }, delayMs);
    this.dialTimer.unref();
  }

  private async dial(): Promise<void> {
    if (!this.running || this.conn !== undefined) return;
    this.setState('connecting');
    const abort = new AbortController();
    this.dialAbort = abort;
    try {
      const { conn, hello } = await dialPeer(
        this.peer,
        this.hello(PEER_PROTOCOL.min, PEER_PROTOCOL.max),
        this.options,
        abort.signal,
      );
      if (!this.running) {
        conn.refuse('shutting-down', 'UNAVAILABLE', 'The agent is shutting down');
        return;
      }
      // The acceptor's answer names the agreed version (min = max).
      this.attach(conn, hello, hello.max);
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      const repeated = message === this.error;
      this.error = message;
      this.setState('disconnected');
      if (!this.running) return;
      const reason = isTidelineError(err) ? err.data?.['reason'] : undefined;
      if (reason === 'not-paired' || reason === 'unpaired') {
        this.options.log.warn(
          { reason: message },
          'peer refused: it is not paired with this agent',
        );
        this.options.onUnpairedByPeer(message);
        return;
      }
      const attempts = this.backoff.attempts + 1;
      const delay = this.backoff.next();
      // Every few seconds through a long outage: the same failure again goes to debug.
      const level = repeated && attempts % QUIET_DIAL_FAILURES !== 0 ? 'debug' : 'info';
      this.options.log[level](
        { err: message, attempts, retryInMs: delay },
        'peer link: cannot connect',
      );
      this.scheduleDial(delay);
    } finally {
      if (this.dialAbort === abort) this.dialAbort = undefined;
    }
  }

  private attach(conn: FrameConnection, hello: Hello, version: number): void {
    const { log, tuning, control } = this.options;
    const old = this.conn;
    if (old !== undefined) {
      this.detach(old, 'replaced by a newer connection from the same agent');
      old.refuse(
        'replaced',
        'CONFLICT',
        'A newer connection from the same agent replaced this one',
      );
    }
    this.conn = conn;
    this.version = version;
    this.traffic = { recordBytes: 0, wireBytes: 0 };
    conn.setMaxPayload(MAX_FRAME_PAYLOAD);
    this.control = new ControlChannel(
      control,
      { agentId: this.peer.agentId, siteName: this.peer.siteName },
      (payload) => conn.send(FrameType.CONTROL, payload),
      log,
    );
    conn.startKeepalive(tuning.keepaliveMs);
    drop(
      conn.closed.then((info) => this.onClosed(conn, info)),
      (err) => log.error({ err }, 'peer link bookkeeping failed'),
    );
    this.backoff.reset();
    this.error = undefined;
    // The dialer keeps the address it reached the peer at (what the peer advertises may not
    // resolve from here); the acceptor, which never dials, records what the peer advertises.
    const address = this.role === 'acceptor' ? hello.address : this.peer.address;
    if (address !== this.peer.address || hello.siteName !== this.peer.siteName) {
      this.options.onPeerInfo({ address, siteName: hello.siteName });
    }
    log.info(
      { site: hello.siteName, remote: conn.remote, role: this.role, version },
      'peer link connected',
    );
    this.setState('connected');
    this.emit('up');
    conn.setHandler((frame) => this.onFrame(conn, frame));
  }

  private onClosed(conn: FrameConnection, info: CloseInfo): void {
    if (this.conn !== conn) return;
    this.detach(conn, info.reason);
    const refusal = info.refused?.reason;
    if (refusal === 'not-paired' || refusal === 'unpaired') {
      this.options.onUnpairedByPeer(info.refused?.message ?? info.reason);
      return;
    }
    if (this.role === 'dialer') this.scheduleDial(this.backoff.next());
  }

  private detach(conn: FrameConnection, reason: string): void {
    if (this.conn !== conn) return;
    this.conn = undefined;
    const error = this.downError(reason);
    this.window.reset(error);
    this.control?.close(error);
    this.control = undefined;
    for (const waiters of this.positionWaiters.values()) {
      for (const waiter of waiters) {
        clearTimeout(waiter.timer);
        waiter.reject(error);
      }
    }
    this.positionWaiters.clear();
    this.error = reason;
    this.options.log.info({ reason }, 'peer link down');
    this.setState('disconnected');
    this.emit('down', reason);
  }

  private downError(reason?: string): TidelineError {
    return reason === undefined
      ? new TidelineError(
          'UNAVAILABLE',
          `The link to site "${this.peer.siteName}" is not connected${this.error === undefined ? '' : `: ${this.error}`}`,
        )
      : new TidelineError(
          'CONNECTION_CLOSED',
          `The link to site "${this.peer.siteName}" went down: ${reason}`,
        );
  }

  private setState(state: PeerLinkState): void {
    if (this.linkState === state) return;
    const wasConnected = this.linkState === 'connected';
    this.linkState = state;
    if (wasConnected || state === 'connected') this.options.onStateChange(state);
  }

  private async sendNow(vpgId: string, encoded: readonly Buffer[]): Promise<number> {
    let written: Promise<void> = Promise.resolve();
    let wire = 0;
    for (const batch of batchRecords(vpgId, encoded, this.options.tuning.batchBytes)) {
      const conn = this.conn;
      if (conn === undefined) throw this.downError();
      const packed = this.compress(conn)
        ? await this.compressor?.pack(batch.parts, batch.payloadBytes)
        : undefined;
      await this.window.acquire(vpgId, batch.lastSeq, windowCharge(batch.bytes, packed));
      if (this.conn !== conn) throw this.downError();
      await conn.writable();
      if (this.conn !== conn) throw this.downError();
      const parts = packed?.parts ?? batch.parts;
      const bytes = FRAME_HEADER_BYTES + (packed?.bytes ?? batch.payloadBytes);
      this.traffic.recordBytes += FRAME_HEADER_BYTES + batch.payloadBytes;
      this.traffic.wireBytes += bytes;
      wire += bytes;
      // A socket destroyed with writes pending calls their callbacks with an error.
      written = new Promise<void>((resolve, reject) => {
        conn.sendParts(
          packed === undefined ? FrameType.RECORDS : FrameType.RECORDS_LZ4,
          parts,
          (err) => (err ? reject(this.downError()) : resolve()),
        );
      });
      // A rejection is awaited below (or superseded by the next frame's, which comes after it).
      written.catch(() => undefined);
    }
    // The caller may reuse the records' memory once this resolves.
    await written;
    return wire;
  }

  /** The admin asked for compression and the peer reads it (protocol 2 on `conn`). */
  private compress(conn: FrameConnection): boolean {
    return (
      this.peer.compression === 'lz4' && this.version >= PEER_PROTOCOL_LZ4 && this.conn === conn
    );
  }

  private onFrame(conn: FrameConnection, frame: Frame): void {
    switch (frame.type) {
      case FrameType.RECORDS:
        this.onRecordsFrame(conn, frame.payload);
        return;
      case FrameType.RECORDS_LZ4: {
        if (LZ4 === undefined || this.version < PEER_PROTOCOL_LZ4) {
          throw protocolError(`RECORDS_LZ4 on a link of peer protocol ${this.version}`);
        }
        const payload = unpackRecords(frame.payload, LZ4, (n) => RECEIVE_POOL.take(n));
        RECEIVE_POOL.give(frame.payload);
        this.onRecordsFrame(conn, payload);
        return;
      }
      case FrameType.ACK: {
        const { vpgId, seq } = decodeVpgSeq(frame.payload, 'ACK');
        this.window.release(vpgId, seq);
        for (const listener of this.ackListeners) listener(vpgId, seq);
        return;
      }
      case FrameType.POSITION: {
        const { vpgId, seq } = decodeVpgSeq(frame.payload, 'POSITION');
        this.window.release(vpgId, seq);
        const waiters = this.positionWaiters.get(vpgId) ?? [];
        this.positionWaiters.delete(vpgId);
        for (const waiter of waiters) {
          clearTimeout(waiter.timer);
          waiter.resolve(seq);
        }
        for (const listener of this.positionListeners) listener(vpgId, seq);
        return;
      }
      case FrameType.POSITION_REQUEST: {
        const vpgId = decodeVpgRef(frame.payload, 'POSITION_REQUEST');
        this.afterReceived(conn, vpgId, undefined, async () => {
          const provider = this.positionProvider;
          if (provider === undefined) {
            this.options.log.warn(
              { vpgId },
              'position requested, but no replication engine answers it',
            );
            return;
          }
          const seq = await provider(vpgId);
          if (this.conn === conn) conn.send(FrameType.POSITION, encodeVpgSeq(vpgId, seq));
        });
        return;
      }
      case FrameType.CONTROL:
        this.control?.onFrame(frame.payload);
        return;
      case FrameType.UNPAIR: {
        const { agentId } = decodeJson(frame.payload, UnpairSchema, 'UNPAIR');
        if (agentId !== this.peer.agentId) throw protocolError('UNPAIR names another agent');
        this.running = false;
        conn.close('unpaired by the peer');
        this.options.onUnpairedByPeer(`Site "${this.peer.siteName}" unpaired this agent`);
        return;
      }
      default:
        throw protocolError(`unexpected frame type ${frame.type} on an established link`);
    }
  }

  /**
   * Frames that arrive while the VPG's previous handler call is still running join one group,
   * handed to the next call together and acknowledged by one ACK: the target then makes them
   * durable with one write and one fdatasync instead of one per frame (group commit).
   */
  private onRecordsFrame(conn: FrameConnection, payload: Buffer): void {
    const vpgId = verifyRecordsPayload(payload);
    this.countReceived(conn, payload.length);
    const open = this.receiveGroups.get(vpgId);
    if (open !== undefined && open.conn === conn && open.bytes < MAX_RECEIVE_GROUP_BYTES) {
      open.payloads.push(payload);
      open.bytes += payload.length;
      return;
    }
    const group: ReceiveGroup = { conn, payloads: [payload], bytes: payload.length };
    this.receiveGroups.set(vpgId, group);
    this.afterReceived(conn, vpgId, group, async () => {
      if (this.receiveGroups.get(vpgId) === group) this.receiveGroups.delete(vpgId);
      if (!conn.isOpen) return; // refused for an earlier frame: nothing after it is taken
      let records: ReceivedRecord[];
      try {
        // Checksums were verified on arrival (verifyRecordsPayload); the structure is now.
        records = group.payloads.flatMap(
          (p) => decodeRecordsPayload(p, { checksums: false }).records,
        );
      } catch (err) {
        if (!isTidelineError(err)) throw err;
        this.options.log.warn({ vpgId, err: err.message }, 'peer protocol error: closing');
        conn.refuse('protocol', err.code, err.message);
        return;
      }
      const handler = this.recordsHandler;
      if (handler === undefined) {
        this.options.log.warn({ vpgId }, 'records received, but no replication engine takes them');
        return;
      }
      const seq = await handler(vpgId, records);
      if (this.conn === conn) conn.send(FrameType.ACK, encodeVpgSeq(vpgId, seq));
    });
  }

  private countReceived(conn: FrameConnection, bytes: number): void {
    this.receiveBacklog += bytes;
    conn.hold('backlog', this.receiveBacklog > this.options.tuning.receiveBacklogBytes);
  }

  /**
   * Runs `task` after the VPG's earlier received frames; the bytes of `group` (counted on
   * arrival) leave the backlog when it is done. A task without a group (POSITION_REQUEST)
   * closes the open group, so frames received after it are persisted after its answer.
   */
  private afterReceived(
    conn: FrameConnection,
    vpgId: string,
    group: ReceiveGroup | undefined,
    task: () => Promise<void>,
  ): void {
    const { tuning, log } = this.options;
    if (group === undefined) this.receiveGroups.delete(vpgId);
    const run = async (): Promise<void> => {
      try {
        if (this.conn === conn) await task();
      } catch (err) {
        log.error(
          { err, vpgId },
          'replication engine failed on received records: closing the link',
        );
        conn.refuse(
          'internal',
          'INTERNAL_ERROR',
          `The receiving agent could not persist records of VPG ${vpgId}: see its log`,
        );
      } finally {
        // The handler has persisted (or dropped) the records: nothing refers to them now.
        for (const payload of group?.payloads ?? []) RECEIVE_POOL.give(payload);
        this.receiveBacklog -= group?.bytes ?? 0;
        conn.hold('backlog', this.receiveBacklog > tuning.receiveBacklogBytes);
      }
    };
    const previous = this.receiveChains.get(vpgId) ?? Promise.resolve();
    const next = previous.then(run);
    this.receiveChains.set(vpgId, next);
    drop(
      next.then(() => {
        if (this.receiveChains.get(vpgId) === next) this.receiveChains.delete(vpgId);
      }),
      (err) => log.error({ err }, 'peer receive bookkeeping failed'),
    );
  }
}
