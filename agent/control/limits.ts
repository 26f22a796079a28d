import { MAX_FRAME_BYTES, MAX_REQUEST_BYTES } from '../../app/protocol';

/** Per-connection bounds: no console, however broken or hostile, can exhaust the agent. */
export interface ConnectionLimits {
  /** Text frames above this are answered FRAME_TOO_LARGE and otherwise ignored. */
  readonly maxRequestBytes: number;
  /** Frames above this close the connection with 1009 before they are buffered whole. */
  readonly maxFrameBytes: number;
  /** Requests being handled at once; more are answered TOO_MANY_REQUESTS. */
  readonly maxInFlight: number;
  /** Unsent bytes queued for a console that does not read; above this it is disconnected. */
  readonly maxBufferedBytes: number;
  /** A connection that has not completed hello by then is closed (0 = never). */
  readonly handshakeTimeoutMs: number;
  /** After the agent closes a connection, how long the peer has to finish the close. */
  readonly closeGraceMs: number;
}

export const DEFAULT_LIMITS: ConnectionLimits = {
  maxRequestBytes: MAX_REQUEST_BYTES,
  maxFrameBytes: MAX_FRAME_BYTES,
  maxInFlight: 64,
  maxBufferedBytes: 16 * 1024 * 1024,
  handshakeTimeoutMs: 30_000,
  closeGraceMs: 5_000,
};

/** Connections served at once; more are refused at the upgrade with 503. */
export const DEFAULT_MAX_CONNECTIONS = 256;
