import { randomUUID } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { TidelineError } from '../../../app/errors';
import type { Host, InventoryKind, Network, Vm } from '../../../app/protocol';
import type { Logger } from '../../log';
import { drop } from '../../util/drop';
import { sleep } from '../../util/sleep';
import { grantGroupSearch, groupId } from '../../util/group-access';
import type { HypervisorAdapter, PowerEvent, VmRegistration } from '../adapter';
import { BlockMirror } from './block-mirror';
import { domainSpec } from './domain-registration';
import { buildDomainXml, type DomainInfo } from './domain-xml';
import { LibvirtEvents, type DomainEvent } from './libvirt-events';
import {
  hostOf,
  publicNetworks,
  readHostFacts,
  readSnapshot,
  type HostFacts,
  type Snapshot,
} from './libvirt-inventory';
import type { LibvirtSettings } from './libvirt-settings';
import { buildNetworkXml } from './network-xml';
import { VirshSession } from './virsh-session';

export interface LibvirtAdapterOptions {
  readonly settings: LibvirtSettings;
  readonly log: Logger;
  /** The inventory is read again this often even without events (default 15 s). */
  readonly pollMs?: number;
  /** Per-command timeout of virsh (default 30 s). */
  readonly commandTimeoutMs?: number;
}

/** Events arriving this close together cause one read of the inventory. */
const EVENT_DEBOUNCE_MS = 200;
const POWER_POLL_MS = 500;

/**
 * The libvirt hypervisor, through virsh (libvirt-clients): there is no maintained Node
 * binding. One virsh session runs the commands (virsh-session.ts), a second virsh watches
 * domain events; the inventory is a snapshot re-read on events, after each change made here,
 * and every `pollMs`. XML goes through fast-xml-parser (xml.ts), never regular expressions.
 * Design and the tap's attachment: README.md.
 */
export class LibvirtHypervisor implements HypervisorAdapter {
  readonly kind = 'libvirt' as const;
  readonly mirroring: BlockMirror;
  private readonly session: VirshSession;
  private events: LibvirtEvents | undefined;
  private facts: HostFacts | undefined;
  private snapshot: Snapshot | undefined;
  private reading: Promise<Snapshot> | undefined;
  private readAgain = false;
  private pollTimer: NodeJS.Timeout | undefined;
  private debounce: NodeJS.Timeout | undefined;
  private scratch: string | undefined;
  private queue: Promise<unknown> = Promise.resolve();
  private readonly inventoryListeners = new Set<(kinds: InventoryKind[]) => void>();
  private readonly vmListeners = new Set<(vmId: string) => void>();
  private started = false;

  constructor(private readonly options: LibvirtAdapterOptions) {
    const { settings, log } = options;
    this.session = new VirshSession({
      uri: settings.uri,
      log,
      ...(options.commandTimeoutMs !== undefined && { timeoutMs: options.commandTimeoutMs }),
    });
    this.session.on('reconnected', () => this.scheduleRead(0));
    this.mirroring = new BlockMirror({
      session: this.session,
      log,
      socketGroup: settings.qemuGroup,
      locate: (vmId, diskId) => this.locate(vmId, diskId),
      withTempFile: (content, fn) => this.withTempFile(content, fn),
      onVmEvent: (listener) => {
        this.vmListeners.add(listener);
        return () => this.vmListeners.delete(listener);
      },
    });
  }

  get settings(): LibvirtSettings {
    return this.options.settings;
  }

  async start(): Promise<void> {
    const { settings, log } = this.options;
    this.scratch = await mkdtemp(join(tmpdir(), 'tideline-libvirt-'));
    try {
      this.facts = await readHostFacts(this.session);
    } catch (err) {
      throw new TidelineError(
        'UNAVAILABLE',
        `libvirt does not answer at ${settings.uri}: ${err instanceof Error ? err.message : String(err)}`,
      );
    }
    this.snapshot = await readSnapshot(this.session, settings);
    this.started = true;
    // The test driver keeps its state inside our virsh session: another virsh sees none of it.
    if (!settings.uri.startsWith('test:')) {
      this.events = new LibvirtEvents({
        uri: settings.uri,
        log,
        onEvent: (event) => this.onEvent(event),
        onReconnect: () => this.scheduleRead(0),
      });
      this.events.start();
    }
    this.pollTimer = setInterval(() => this.scheduleRead(0), this.options.pollMs ?? 15_000);
    this.pollTimer.unref();
    log.info(
      {
        uri: settings.uri,
        host: this.facts.name,
        version: this.facts.version,
        vms: this.snapshot.vms.length,
        prefix: settings.domainPrefix === '' ? undefined : settings.domainPrefix,
      },
      'libvirt hypervisor ready',
    );
  }

  async stop(): Promise<void> {
    this.started = false;
    clearInterval(this.pollTimer);
    clearTimeout(this.debounce);
    this.events?.stop();
    await this.queue;
    await this.reading?.catch(() => undefined);
    await this.session.close();
    if (this.scratch !== undefined) await rm(this.scratch, { recursive: true, force: true });
  }

  onInventoryChanged(listener: (kinds: InventoryKind[]) => void): () => void {
    this.inventoryListeners.add(listener);
    return () => this.inventoryListeners.delete(listener);
  }

  async listHosts(): Promise<Host[]> {
    const snapshot = this.loaded();
    return [hostOf(this.options.settings, this.hostFacts(), snapshot.pools)];
  }

  async listVms(filter: { readonly hostId?: string } = {}): Promise<Vm[]> {
    const { vms } = this.loaded();
    return structuredClone(
      vms.filter((vm) => filter.hostId === undefined || vm.hostId === filter.hostId),
    );
  }

  /** A directory pool's target (replica disks of received VPGs go there). */
  async datastoreDir(name: string): Promise<string> {
    const pool = (await this.read()).pools.find((p) => p.name === name);
    if (pool === undefined) {
      throw new TidelineError('NOT_FOUND', `There is no storage pool "${name}" on this host`);
    }
    if (!['dir', 'fs', 'netfs'].includes(pool.type) || pool.path === undefined) {
      throw new TidelineError(
        'INVALID_PARAMS',
        `Storage pool "${name}" is a ${pool.type} pool: replicas need a directory pool (dir, fs or netfs)`,
      );
    }
    return pool.path;
  }

  async listNetworks(): Promise<Network[]> {
    return publicNetworks(this.loaded().networks);
  }

  createNetwork(network: Network): Promise<Network> {
    return this.mutate(async () => {
      const snapshot = await this.read();
      if (snapshot.networks.some((n) => n.name === network.name)) {
        throw new TidelineError(
          'CONFLICT',
          `Network "${network.name}" already exists on this hypervisor: use it rather than create it`,
          { network: network.name },
        );
      }
      await this.withTempFile(buildNetworkXml(network), (file) =>
        this.session.run(['net-define', file]),
      );
      try {
        await this.session.run(['net-start', network.name]);
        await this.session.run(['net-autostart', network.name]);
      } catch (err) {
        await this.session.run(['net-undefine', network.name]).catch(() => undefined);
        throw err;
      }
      const created = publicNetworks((await this.read()).networks).find(
        (n) => n.name === network.name,
      );
      return created ?? { name: network.name, isolated: network.isolated };
    });
  }

  deleteNetwork(name: string): Promise<void> {
    return this.mutate(async () => {
      const snapshot = await this.read();
      const network = snapshot.networks.find((n) => n.name === name);
      if (network === undefined) {
        throw new TidelineError('NOT_FOUND', `No network "${name}" on this hypervisor`);
      }
      const users = snapshot.domains.filter((d) =>
        d.nics.some((nic) => nic.type === 'network' && nic.source === name),
      );
      if (users.length > 0) {
        throw new TidelineError(
          'CONFLICT',
          `Network "${name}" is in use by ${users.map((d) => d.name).join(', ')}: remove their NICs from it first`,
          { network: name },
        );
      }
      if (network.active) await this.session.run(['net-destroy', name]);
      await this.session.run(['net-undefine', name]);
    });
  }

  registerVm(registration: VmRegistration): Promise<Vm> {
    return this.mutate(async () => {
      const { settings } = this.options;
      const snapshot = await this.read();
      if (registration.hostId !== settings.hostId) {
        throw new TidelineError(
          'NOT_FOUND',
          `Host ${registration.hostId} is not on this hypervisor`,
        );
      }
      const spec = domainSpec({
        registration,
        settings,
        facts: this.hostFacts(),
        snapshot,
        uuid: randomUUID(),
      });
      await this.grantDiskAccess(
        spec.disks.map((d) => d.location),
        snapshot,
      );
      await this.withTempFile(buildDomainXml(spec), (file) => this.session.run(['define', file]));
      const vm = (await this.read()).vms.find((v) => v.vmId === spec.uuid);
      if (vm === undefined) {
        throw new TidelineError(
          'INTERNAL_ERROR',
          `libvirt defined domain "${spec.name}" but it is not in the inventory (is its name outside the prefix "${settings.domainPrefix}"?)`,
        );
      }
      return vm;
    });
  }

  unregisterVm(vmId: string): Promise<void> {
    return this.mutate(async () => {
      const domain = await this.domain(vmId);
      if (domain.active) {
        throw new TidelineError(
          'CONFLICT',
          `VM "${domain.name}" is running: power it off before unregistering it`,
          { vmId },
        );
      }
      // The disks stay: libvirt only forgets the definition (and an EFI VM's NVRAM).
      await this.session.run([
        'undefine',
        domain.uuid,
        ...(domain.firmware === 'efi' ? ['--nvram'] : []),
      ]);
    });
  }

  powerOn(vmId: string): Promise<PowerEvent> {
    return this.mutate(async () => {
      const domain = await this.domain(vmId);
      if (!domain.active) await this.session.run(['start', domain.uuid]);
      return { vmId, at: Date.now() };
    });
  }

  /** Guest shutdown (ACPI), then a forced power-off if the guest has not stopped in time. */
  async powerOff(vmId: string, options: { readonly force?: boolean } = {}): Promise<PowerEvent> {
    const domain = await this.domain(vmId);
    if (!domain.active) return { vmId, at: Date.now() };
    if (options.force !== true) {
      try {
        await this.session.run(['shutdown', domain.uuid]);
        const deadline = Date.now() + this.options.settings.shutdownTimeoutSeconds * 1000;
        while (Date.now() < deadline) {
          await sleep(POWER_POLL_MS);
          if (!(await this.isActive(domain.uuid))) {
            await this.read();
            return { vmId, at: Date.now() };
          }
        }
        this.options.log.warn(
          { vmId, name: domain.name, seconds: this.options.settings.shutdownTimeoutSeconds },
          'the guest did not shut down in time: powering it off',
        );
      } catch (err) {
        if (!(await this.isActive(domain.uuid))) return { vmId, at: Date.now() };
        this.options.log.warn({ vmId, err: errorText(err) }, 'guest shutdown failed: powering off');
      }
    }
    return this.mutate(async () => {
      try {
        await this.session.run(['destroy', domain.uuid]);
      } catch (err) {
        if (await this.isActive(domain.uuid)) throw err;
      }
      return { vmId, at: Date.now() };
    });
  }

  // ───────────────────────── inventory reads ─────────────────────────

  /** Reads the inventory now (coalescing with a read in progress) and tells what changed. */
  private read(): Promise<Snapshot> {
    if (this.reading !== undefined) {
      this.readAgain = true;
      return this.reading.then(() => this.read());
    }
    const reading = readSnapshot(this.session, this.options.settings)
      .then((next) => {
        const kinds = changedKinds(this.snapshot, next);
        this.snapshot = next;
        if (kinds.length > 0) this.announce(kinds);
        return next;
      })
      .finally(() => {
        this.reading = undefined;
      });
    this.reading = reading;
    return reading;
  }

  private scheduleRead(delayMs: number): void {
    if (!this.started) return;
    clearTimeout(this.debounce);
    this.debounce = setTimeout(() => {
      drop(this.read(), (err) =>
        this.options.log.warn({ err: errorText(err) }, 'cannot read the libvirt inventory'),
      );
    }, delayMs);
    this.debounce.unref();
  }

  private onEvent(event: DomainEvent): void {
    const domain = this.snapshot?.domains.find((d) => d.name === event.domain);
    if (domain !== undefined) for (const listener of this.vmListeners) listener(domain.uuid);
    this.scheduleRead(EVENT_DEBOUNCE_MS);
  }

  private announce(kinds: InventoryKind[]): void {
    for (const listener of this.inventoryListeners) {
      try {
        listener(kinds);
      } catch (err) {
        this.options.log.error({ err }, 'inventory listener failed');
      }
    }
  }

  /** A change made here: one at a time, then the inventory is read again and announced. */
  private mutate<T>(change: () => Promise<T>): Promise<T> {
    const run = async (): Promise<T> => {
      this.loaded();
      try {
        return await change();
      } finally {
        await this.read().catch((err: unknown) =>
          this.options.log.warn({ err: errorText(err) }, 'cannot read the libvirt inventory'),
        );
      }
    };
    const done = this.queue.then(run, run);
    this.queue = done.catch(() => undefined);
    return done;
  }

  private async domain(vmId: string): Promise<DomainInfo> {
    const snapshot = await this.read();
    const domain = snapshot.domains.find(
      (d) => d.uuid === vmId && d.name.startsWith(this.options.settings.domainPrefix),
    );
    if (domain === undefined) {
      throw new TidelineError('NOT_FOUND', `No VM ${vmId} on this hypervisor`, { vmId });
    }
    return domain;
  }

  private async isActive(uuid: string): Promise<boolean> {
    const state = (await this.session.run(['domstate', uuid])).trim();
    return state !== 'shut off' && state !== 'crashed';
  }

  private async locate(vmId: string, diskId: string): Promise<{ uuid: string; target: string }> {
    const find = (snapshot: Snapshot) =>
      snapshot.vms.find((v) => v.vmId === vmId)?.disks.find((d) => d.diskId === diskId);
    const disk = find(this.loaded()) ?? find(await this.read());
    if (disk?.target === undefined) {
      throw new TidelineError('NOT_FOUND', `VM ${vmId} has no disk ${diskId} on this hypervisor`, {
        vmId,
        diskId,
      });
    }
    return { uuid: vmId, target: disk.target };
  }

  /**
   * QEMU runs as its own user: a file disk inside a storage pool (a promoted replica) must be
   * reachable through the directories the agent made there. libvirt gives QEMU the file.
   */
  private async grantDiskAccess(locations: readonly string[], snapshot: Snapshot): Promise<void> {
    let gid: number | undefined;
    for (const location of locations) {
      if (!location.startsWith('/')) continue;
      const pool = snapshot.pools.find(
        (p) => p.path !== undefined && location.startsWith(`${p.path.replace(/\/+$/, '')}/`),
      );
      if (pool?.path === undefined) continue;
      const root = pool.path.replace(/\/+$/, '');
      gid ??= await groupId(this.options.settings.qemuGroup);
      for (let dir = dirname(location); dir.startsWith(`${root}/`); dir = dirname(dir)) {
        await grantGroupSearch(dir, gid, this.options.log);
      }
    }
  }

  private async withTempFile<T>(content: string, fn: (path: string) => Promise<T>): Promise<T> {
    if (this.scratch === undefined) throw new Error('libvirt hypervisor used before start()');
    const path = join(this.scratch, `${randomUUID()}.xml`);
    await writeFile(path, content, { mode: 0o600 });
    try {
      return await fn(path);
    } finally {
      await rm(path, { force: true });
    }
  }

  private loaded(): Snapshot {
    if (this.snapshot === undefined) throw new Error('libvirt hypervisor used before start()');
    return this.snapshot;
  }

  private hostFacts(): HostFacts {
    if (this.facts === undefined) throw new Error('libvirt hypervisor used before start()');
    return this.facts;
  }
}

/** Which parts of the inventory differ between two reads. */
function changedKinds(before: Snapshot | undefined, after: Snapshot): InventoryKind[] {
  if (before === undefined) return [];
  const kinds: InventoryKind[] = [];
  if (JSON.stringify(before.vms) !== JSON.stringify(after.vms)) kinds.push('vm');
  if (JSON.stringify(before.networks) !== JSON.stringify(after.networks)) kinds.push('network');
  if (JSON.stringify(before.pools) !== JSON.stringify(after.pools)) kinds.push('host');
  return kinds;
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
