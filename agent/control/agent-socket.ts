import { WebSocket } from 'ws';
import { MAX_FRAME_BYTES } from '../../app/protocol';
import { formatBytes } from '../util/bytes';

/**
 * The server's WebSocket class. ws closes a connection whose frame exceeds `maxPayload` with
 * 1009 and no reason; this gives that close a reason an admin can act on.
 */
export class AgentSocket extends WebSocket {
  override close(code?: number, data?: string | Buffer): void {
    if (code === 1009 && (data === undefined || data.length === 0)) {
      super.close(
        code,
        `Message too big: frames over ${formatBytes(MAX_FRAME_BYTES)} close the connection`,
      );
      return;
    }
    super.close(code, data);
  }
}
