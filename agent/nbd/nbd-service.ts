import type { Vm } from '../../app/protocol';
import type { ListenAddress } from '../control/control-server';
import type { Logger } from '../log';
import type { DiskTap } from '../tap/disk-tap';
import { CompositeExports } from './composite-exports';
import { DiskExports, type ExportSource } from './exports';
import { NbdServer, type NbdEndpoints } from './nbd-server';
import type { NbdTls } from './nbd-tls';
import { grantSocketAccess } from '../util/group-access';

export interface NbdServiceOptions {
  readonly socketPath: string;
  readonly tcp?: ListenAddress;
  /** TLS-PSK (NBD STARTTLS): required on TCP, offered on the unix socket. */
  readonly tls?: NbdTls;
  readonly listVms: () => Promise<Vm[]>;
  readonly tap: DiskTap;
  readonly log: Logger;
  /** More exports beside the inventory's disks (the recovered disks, agent/recovery). */
  readonly extraExports?: ExportSource;
  /**
   * The hypervisor writes its disks itself and mirrors the writes here (libvirt): exports open
   * them read-only, sized by the inventory, and this group (QEMU's) may reach the socket.
   */
  readonly mirrored?: { readonly socketGroup: string | undefined };
}

/**
 * The daemon's NBD part: the inventory's disks as exports (DiskExports) on the NBD server, and
 * vm.list's export URIs. Started after the replication engine (whose tap it uses), stopped
 * before it.
 */
export class NbdService {
  private readonly exports: DiskExports;
  private readonly server: NbdServer;
  private started = false;

  constructor(private readonly options: NbdServiceOptions) {
    this.exports = new DiskExports({
      listVms: options.listVms,
      tap: options.tap,
      mirrored: options.mirrored !== undefined,
    });
    this.server = new NbdServer({
      exports:
        options.extraExports === undefined
          ? this.exports
          : new CompositeExports(options.extraExports, this.exports),
      socketPath: options.socketPath,
      ...(options.tcp !== undefined && { tcp: options.tcp }),
      ...(options.tls !== undefined && { tls: options.tls }),
      log: options.log,
    });
  }

  async start(): Promise<NbdEndpoints> {
    const endpoints = await this.server.start();
    const group = this.options.mirrored?.socketGroup;
    if (group !== undefined) {
      try {
        await grantSocketAccess(this.options.socketPath, group, this.options.log);
      } catch (err) {
        await this.server.stop();
        throw err;
      }
    }
    this.started = true;
    return endpoints;
  }

  /** Connections answer what they have in flight and close; then one flush of the tap. */
  async stop(): Promise<void> {
    const wasStarted = this.started;
    this.started = false;
    await this.server.stop();
    if (wasStarted) await this.exports.flush();
  }

  /** vm.list: each disk with `exportUri`, or `exportError` when it cannot be served. */
  annotate(vms: Vm[]): Promise<Vm[]> {
    if (!this.started) return Promise.resolve(vms);
    return this.exports.annotate(vms, this.options.socketPath);
  }
}
