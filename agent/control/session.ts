/** What the agent knows about one console connection; the Dispatcher's context. */
export interface Session {
  readonly id: number;
  /** Remote address, e.g. 127.0.0.1. */
  readonly peer: string;
  /** Set by a successful hello; every other method needs it. */
  protocolVersion: number | undefined;
}

export function isHandshaken(session: Session): boolean {
  return session.protocolVersion !== undefined;
}
