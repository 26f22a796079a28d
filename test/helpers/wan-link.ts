/**
 * A WAN between two agents on one machine: the recovery agent runs in a network namespace of
 * its own, joined to this one by a veth pair whose two ends are rate-limited with tbf (both
 * directions). This kernel has no netem, so the round-trip delay is added in user space, by
 * relays that every replication connection passes through (each agent advertises its relay).
 *
 *   this namespace (HQ, the test)            namespace tlw-<pid> (DR)
 *   10.77.N.1 ─── veth, tbf RATE each way ─── 10.77.N.2
 *
 * cut() takes the link down (every packet dropped, both ways) and restore() brings it back.
 * Needs root (ip, tc). Everything is removed by destroy().
 */
import { execFile } from 'node:child_process';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface WanLinkOptions {
  readonly rateMbit: number;
  /** Added one way, in each direction (RTT = 2 × delayMs + the link's own). */
  readonly delayMs: number;
}

export interface WanLink {
  readonly netns: string;
  /** This namespace's end of the link. */
  readonly hostIp: string;
  /** The namespace's end. */
  readonly nsIp: string;
  /** Listens on `listenHost:listenPort` and forwards to `target`, `delayMs` later each way. */
  relay(listenHost: string, listenPort: number, target: string): Promise<void>;
  cut(): Promise<void>;
  restore(): Promise<void>;
  destroy(): Promise<void>;
}

async function sh(args: string[]): Promise<void> {
  const [cmd = 'true', ...rest] = args;
  await run(cmd, rest, { timeout: 10_000 });
}

/** Whether network namespaces, veth and tbf can be used here (root, iproute2). */
export async function wanLinkAvailable(): Promise<boolean> {
  if (process.getuid?.() !== 0) return false;
  try {
    await run('ip', ['-V']);
    await run('tc', ['-V']);
    return true;
  } catch {
    return false;
  }
}

export async function createWanLink(options: WanLinkOptions): Promise<WanLink> {
  const tag = `${process.pid % 100_000}`;
  const netns = `tlw-${tag}`;
  const hostDev = `tlw${tag}a`;
  const nsDev = `tlw${tag}b`;
  const subnet = `10.77.${process.pid % 250}`;
  const hostIp = `${subnet}.1`;
  const nsIp = `${subnet}.2`;
  // Leftovers of a killed earlier run with the same pid: gone first.
  await sh(['ip', 'netns', 'del', netns]).catch(() => undefined);
  await sh(['ip', 'link', 'del', hostDev]).catch(() => undefined);
  await sh(['ip', 'netns', 'add', netns]);
  await sh(['ip', 'link', 'add', hostDev, 'type', 'veth', 'peer', 'name', nsDev]);
  await sh(['ip', 'link', 'set', nsDev, 'netns', netns]);
  await sh(['ip', 'addr', 'add', `${hostIp}/30`, 'dev', hostDev]);
  await sh(['ip', 'link', 'set', hostDev, 'up']);
  await sh(['ip', '-n', netns, 'addr', 'add', `${nsIp}/30`, 'dev', nsDev]);
  await sh(['ip', '-n', netns, 'link', 'set', nsDev, 'up']);
  await sh(['ip', '-n', netns, 'link', 'set', 'lo', 'up']);
  // tbf: the rate, a burst of a few packets, and a queue of 200 ms at that rate.
  const tbf = [
    'root',
    'tbf',
    'rate',
    `${options.rateMbit}mbit`,
    'burst',
    '32kb',
    'latency',
    '200ms',
  ];
  await sh(['tc', 'qdisc', 'add', 'dev', hostDev, ...tbf]);
  await sh(['ip', 'netns', 'exec', netns, 'tc', 'qdisc', 'add', 'dev', nsDev, ...tbf]);

  const servers: Server[] = [];
  const sockets = new Set<Socket>();
  return {
    netns,
    hostIp,
    nsIp,
    relay: async (listenHost, listenPort, target) => {
      const at = target.lastIndexOf(':');
      const [host, port] = [target.slice(0, at), Number(target.slice(at + 1))];
      const server = createServer((inbound) => {
        const outbound = createConnection({ host, port });
        for (const s of [inbound, outbound]) {
          sockets.add(s);
          s.setNoDelay(true);
          s.on('error', () => undefined);
          s.once('close', () => {
            sockets.delete(s);
            inbound.destroy();
            outbound.destroy();
          });
        }
        delayed(inbound, outbound, options.delayMs);
        delayed(outbound, inbound, options.delayMs);
      });
      servers.push(server);
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(listenPort, listenHost, () => resolve());
      });
    },
    cut: () => sh(['ip', 'link', 'set', hostDev, 'down']),
    restore: async () => {
      await sh(['ip', 'link', 'set', hostDev, 'up']);
      // The connected route comes back with the link; the namespace's side never went down.
    },
    destroy: async () => {
      for (const s of sockets) s.destroy();
      await Promise.all(servers.map((s) => new Promise((r) => s.close(() => r(undefined)))));
      await sh(['ip', 'netns', 'del', netns]).catch(() => undefined);
      await sh(['ip', 'link', 'del', hostDev]).catch(() => undefined);
    },
  };
}

/**
 * Copies `from` to `to`, each chunk `delayMs` after it arrived, in order. Reading pauses while
 * more than 8 MiB wait, so the relay holds a bounded amount (the link's window does the rest).
 */
function delayed(from: Socket, to: Socket, delayMs: number): void {
  const queue: { at: number; chunk: Buffer }[] = [];
  let queued = 0;
  let timer: NodeJS.Timeout | undefined;
  const pump = (): void => {
    timer = undefined;
    const now = Date.now();
    while (queue.length > 0 && (queue[0]?.at ?? 0) <= now) {
      const { chunk } = queue.shift() as { at: number; chunk: Buffer };
      queued -= chunk.length;
      if (!to.destroyed) to.write(chunk);
    }
    if (queued < 8 * 1024 * 1024 && from.isPaused()) from.resume();
    const next = queue[0];
    if (next !== undefined) timer = setTimeout(pump, Math.max(0, next.at - now));
  };
  from.on('data', (chunk: Buffer) => {
    queue.push({ at: Date.now() + delayMs, chunk });
    queued += chunk.length;
    if (queued >= 8 * 1024 * 1024) from.pause();
    timer ??= setTimeout(pump, delayMs);
  });
  from.once('end', () => {
    const finish = (): void => {
      if (queue.length === 0) to.end();
      else setTimeout(finish, delayMs);
    };
    finish();
  });
}
