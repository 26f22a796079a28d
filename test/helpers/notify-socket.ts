/**
 * A stand-in for systemd's notify socket (sd_notify(3)): a unix datagram socket the test
 * listens on, as the service manager does. Node cannot receive unix datagrams, so a small
 * python3 process holds the socket and prints each message as a JSON line; like the manager,
 * it closes the descriptors a message carries, which is what a barrier (systemd-notify waiting
 * until its message was processed) waits for.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import { makeTempDir } from './agents';

const LISTENER = `
import json, os, socket, sys
path = sys.argv[1]
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(path)
s.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
print(json.dumps({"listening": path}), flush=True)
while True:
    data, anc, flags, addr = s.recvmsg(65536, socket.CMSG_SPACE(16 * 4) + socket.CMSG_SPACE(12))
    pid = None
    for level, kind, payload in anc:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            for i in range(0, len(payload) - len(payload) % 4, 4):
                os.close(int.from_bytes(payload[i:i + 4], sys.byteorder))
        elif level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS:
            pid = int.from_bytes(payload[0:4], sys.byteorder)
    print(json.dumps({"at": __import__("time").time(), "pid": pid, "data": data.decode()}), flush=True)
`;

export interface NotifyMessage {
  /** Epoch ms it was received. */
  readonly at: number;
  /** The sender's pid (SCM_CREDENTIALS). */
  readonly pid: number | null;
  /** VARIABLE=VALUE lines. */
  readonly data: string;
}

export interface NotifySocket {
  readonly path: string;
  /** The messages, without the barriers. */
  readonly messages: NotifyMessage[];
  /** BARRIER=1 messages seen: the sender waited until its message was processed. */
  barriers(): number;
  /** Resolves with the first message (past or future) holding this assignment, e.g. READY=1. */
  waitFor(assignment: string, timeoutMs?: number): Promise<NotifyMessage>;
  close(): Promise<void>;
}

export async function listenNotifySocket(): Promise<NotifySocket> {
  const path = join(await makeTempDir('tideline-notify-'), 'notify');
  const child: ChildProcess = spawn('python3', ['-c', LISTENER, path], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const messages: NotifyMessage[] = [];
  let barriers = 0;
  let partial = '';
  let errors = '';
  let ready: () => void = () => undefined;
  const listening = new Promise<void>((resolve) => (ready = resolve));
  child.stderr?.on('data', (d: Buffer) => (errors += d.toString()));
  child.stdout?.on('data', (d: Buffer) => {
    partial += d.toString();
    const lines = partial.split('\n');
    partial = lines.pop() ?? '';
    for (const line of lines) {
      const parsed = JSON.parse(line) as { listening?: string; at?: number } & NotifyMessage;
      if (parsed.listening !== undefined) ready();
      else if (parsed.data === 'BARRIER=1') barriers += 1;
      else {
        const at = Math.round((parsed.at ?? 0) * 1000);
        messages.push({ at, pid: parsed.pid, data: parsed.data });
      }
    }
  });
  await Promise.race([
    listening,
    once(child, 'exit').then(() => {
      throw new Error(`the notify socket listener did not start: ${errors}`);
    }),
  ]);
  const has = (m: NotifyMessage, assignment: string) => m.data.split('\n').includes(assignment);
  return {
    path,
    messages,
    barriers: () => barriers,
    async waitFor(assignment, timeoutMs = 20_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const found = messages.find((m) => has(m, assignment));
        if (found !== undefined) return found;
        if (Date.now() > deadline) {
          throw new Error(
            `no ${assignment} on the notify socket within ${timeoutMs} ms; got ${JSON.stringify(messages)}`,
          );
        }
        await new Promise((r) => setTimeout(r, 50));
      }
    },
    async close() {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGKILL');
        await once(child, 'exit');
      }
    },
  };
}
