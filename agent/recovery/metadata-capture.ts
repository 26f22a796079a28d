import { mkdir, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { TidelineError } from '../../app/errors';
import {
  METADATA_SCHEMA_VERSION,
  MetadataPackageSchema,
  NetworkNameSchema,
  type Host,
  type MetadataPackage,
  type Network,
  type Vm,
} from '../../app/protocol';
import type { HypervisorAdapter } from '../hypervisor/adapter';
import type { Logger } from '../log';
import type { StoredVpg } from '../replication/vpg-store';
import { removeStaleTempFiles, writeJsonAtomic } from '../store/atomic-file';
import { readJsonFile } from '../store/json-file';
import type { MetadataPutResult } from './metadata-control';
import { canonical } from '../../app/canonical-json';

export const DEFAULT_METADATA_INTERVAL_MS = 5 * 60_000;

/** Ships a package to the VPG's recovery site; 'unreachable' when the link is down. */
export type MetadataShip = (
  peerAgentId: string,
  pkg: MetadataPackage,
) => Promise<MetadataPutResult | 'unreachable'>;

export interface MetadataCaptureOptions {
  readonly hypervisor: Pick<HypervisorAdapter, 'listVms' | 'listHosts' | 'listNetworks'>;
  readonly siteId: string;
  /** Where the latest capture of each VPG is kept (`<stateDir>/metadata/<vpgId>.json`). */
  readonly dir: string;
  readonly log: Logger;
  /** The VPGs this agent protects, as stored. */
  readonly sources: () => readonly StoredVpg[];
  readonly ship: MetadataShip;
  /** Capture every VPG this often even without a change (default 5 min). */
  readonly intervalMs?: number;
  readonly now?: () => number;
}

interface Latest {
  pkg: MetadataPackage;
  /** The recovery site holds this version. */
  shipped: boolean;
}

interface Inventory {
  readonly vms: readonly Vm[];
  readonly hosts: readonly Host[];
  /** undefined: the hypervisor cannot list networks (the NICs' network names are used). */
  readonly networks: readonly Network[] | undefined;
}

/**
 * The protected site's metadata capture: per VPG, what rebuilds its VMs elsewhere (their
 * configuration, networks, hosts) under the VPG settings version in force, captured at
 * creation, on every settings or inventory change and every few minutes. `version` goes up
 * only when the content differs; each new version is shipped to the recovery site, and a
 * version that could not be shipped (link down) is shipped at the next capture or link up.
 * The latest capture is kept on disk, so numbering goes on after a restart.
 */
export class MetadataCapture {
  private readonly latestByVpg = new Map<string, Latest>();
  private readonly pending = new Set<string>();
  /** VPGs removed here: a capture still running for one must not keep it. */
  private readonly gone = new Set<string>();
  private pendingAll = false;
  private draining: Promise<void> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;

  constructor(private readonly options: MetadataCaptureOptions) {}

  /** Loads the kept captures, then captures every VPG and starts the periodic capture. */
  async start(): Promise<void> {
    const { dir, log } = this.options;
    await mkdir(dir, { recursive: true, mode: 0o750 });
    await removeStaleTempFiles(dir);
    const sources = new Set(this.options.sources().map((v) => v.vpgId));
    for (const name of await readdir(dir)) {
      const vpgId = name.endsWith('.json') ? name.slice(0, -'.json'.length) : undefined;
      if (vpgId === undefined) continue;
      if (!sources.has(vpgId)) {
        await rm(join(dir, name), { force: true }); // its VPG was removed meanwhile
        continue;
      }
      try {
        const pkg = await readJsonFile(join(dir, name), MetadataPackageSchema, 'Metadata capture');
        // Not known to be at the recovery site: shipped again (a put of a held version is a no-op).
        if (pkg.vpgId === vpgId) this.latestByVpg.set(vpgId, { pkg, shipped: false });
      } catch (err) {
        log.warn({ err, vpgId }, 'cannot read the last metadata capture: numbering starts over');
      }
    }
    this.timer = setInterval(
      () => this.capture(),
      this.options.intervalMs ?? DEFAULT_METADATA_INTERVAL_MS,
    );
    this.timer.unref();
    this.capture();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer !== undefined) clearInterval(this.timer);
    await this.draining;
  }

  /** The latest capture of a VPG protected here. */
  latest(vpgId: string): MetadataPackage | undefined {
    return this.latestByVpg.get(vpgId)?.pkg;
  }

  /** Captures (and ships) the given VPGs, or all, soon; calls coalesce while one runs. */
  capture(vpgIds?: readonly string[]): void {
    if (this.stopped) return;
    if (vpgIds === undefined) this.pendingAll = true;
    else for (const id of vpgIds) this.pending.add(id);
    this.draining ??= this.drain();
  }

  /** The link to a recovery site is up: what it lacks goes now. */
  linkUp(peerAgentId: string): void {
    const ids = this.options
      .sources()
      .filter((v) => v.peerAgentId === peerAgentId)
      .map((v) => v.vpgId)
      .filter((id) => this.latestByVpg.get(id)?.shipped !== true);
    if (ids.length > 0) this.capture(ids);
  }

  /** A VPG left this agent: its capture goes too. */
  async removed(vpgId: string): Promise<void> {
    this.gone.add(vpgId);
    this.latestByVpg.delete(vpgId);
    this.pending.delete(vpgId);
    await rm(this.file(vpgId), { force: true });
  }

  /** Resolves once no capture is queued or running (tests). */
  async idle(): Promise<void> {
    while (this.draining !== undefined) await this.draining;
  }

  private async drain(): Promise<void> {
    try {
      while (!this.stopped && (this.pendingAll || this.pending.size > 0)) {
        const sources = this.options.sources();
        const wanted = this.pendingAll ? undefined : new Set(this.pending);
        this.pendingAll = false;
        this.pending.clear();
        const inventory = await this.inventory();
        for (const vpg of sources) {
          if (wanted !== undefined && !wanted.has(vpg.vpgId)) continue;
          if (this.gone.has(vpg.vpgId)) continue;
          if (this.stopped) break;
          try {
            await this.captureOne(vpg, inventory);
          } catch (err) {
            this.options.log.warn(
              { vpgId: vpg.vpgId, err: err instanceof Error ? err.message : String(err) },
              'metadata capture failed; retried at the next capture',
            );
          }
        }
      }
    } catch (err) {
      this.options.log.warn(
        { err: err instanceof Error ? err.message : String(err) },
        'cannot read the inventory for the metadata capture; retried at the next capture',
      );
    } finally {
      this.draining = undefined;
    }
  }

  private async inventory(): Promise<Inventory> {
    const { hypervisor, log } = this.options;
    const [vms, hosts] = await Promise.all([hypervisor.listVms(), hypervisor.listHosts()]);
    let networks: Network[] | undefined;
    try {
      networks = await hypervisor.listNetworks();
    } catch (err) {
      // An adapter without networks: the NICs' network names stand in (subnet unknown).
      if (!(err instanceof TidelineError && err.code === 'UNAVAILABLE')) {
        log.warn({ err: err instanceof Error ? err.message : String(err) }, 'cannot list networks');
      }
    }
    return { vms, hosts, networks };
  }

  private async captureOne(vpg: StoredVpg, inventory: Inventory): Promise<void> {
    const now = this.options.now?.() ?? Date.now();
    const content = contentOf(vpg, this.options.siteId, inventory, this.options.log);
    let latest = this.latestByVpg.get(vpg.vpgId);
    if (latest === undefined || canonical(withoutStamp(latest.pkg)) !== canonical(content)) {
      const version = (latest?.pkg.version ?? 0) + 1;
      latest = await this.keep({ ...content, version, capturedAt: now });
      this.options.log.info(
        { vpgId: vpg.vpgId, version, vpgVersion: vpg.version, vms: content.vms.length },
        'metadata captured',
      );
    }
    if (latest.shipped) return;
    const answer = await this.options.ship(vpg.peerAgentId, latest.pkg);
    if (answer === 'unreachable') return; // shipped at the next capture or link up
    if (answer.version > latest.pkg.version) {
      // The recovery site holds a newer number (this site's capture file was lost): go above it.
      latest = await this.keep({ ...latest.pkg, version: answer.version + 1, capturedAt: now });
      const again = await this.options.ship(vpg.peerAgentId, latest.pkg);
      if (again === 'unreachable' || again.version !== latest.pkg.version) return;
    }
    latest.shipped = true;
    this.options.log.info(
      { vpgId: vpg.vpgId, version: latest.pkg.version },
      'metadata package at the recovery site',
    );
  }

  private async keep(pkg: MetadataPackage): Promise<Latest> {
    const parsed = MetadataPackageSchema.parse(pkg);
    await mkdir(this.options.dir, { recursive: true, mode: 0o750 });
    await writeJsonAtomic(this.file(parsed.vpgId), parsed, { mode: 0o600 });
    const latest = { pkg: parsed, shipped: false };
    if (!this.gone.has(parsed.vpgId)) {
      this.latestByVpg.set(parsed.vpgId, latest);
    } else {
      await rm(this.file(parsed.vpgId), { force: true }); // removed meanwhile
    }
    return latest;
  }

  private file(vpgId: string): string {
    return join(this.options.dir, `${vpgId}.json`);
  }
}

type Content = Omit<MetadataPackage, 'version' | 'capturedAt'>;

/** What a capture holds, validated (unknown adapter fields dropped) and in schema order. */
export function contentOf(
  vpg: StoredVpg,
  siteId: string,
  inventory: Inventory,
  log?: Logger,
): Content {
  const vms = vpg.vmIds.flatMap((vmId) => {
    const vm = inventory.vms.find((v) => v.vmId === vmId);
    if (vm === undefined)
      log?.warn({ vpgId: vpg.vpgId, vmId }, 'a VM of the VPG is not in the inventory');
    return vm === undefined ? [] : [vm];
  });
  const hostIds = [...new Set(vms.map((vm) => vm.hostId))];
  const hosts = hostIds.map((hostId) => ({
    hostId,
    name: inventory.hosts.find((h) => h.hostId === hostId)?.name ?? hostId,
  }));
  const names = [...new Set(vms.flatMap((vm) => vm.nics.map((n) => n.network)))];
  const networks = names.flatMap((name): Network[] => {
    const known = inventory.networks?.find((n) => n.name === name);
    if (known !== undefined) return [known];
    // A name the failover could not create is left out (the NIC still names it).
    return NetworkNameSchema.safeParse(name).success ? [{ name, isolated: false }] : [];
  });
  const pkg = MetadataPackageSchema.parse({
    schemaVersion: METADATA_SCHEMA_VERSION,
    vpgId: vpg.vpgId,
    version: 1,
    capturedAt: 0,
    protectedSiteId: siteId,
    vpgVersion: vpg.version,
    vms,
    networks,
    hosts,
  });
  return withoutStamp(pkg);
}

function withoutStamp(pkg: MetadataPackage): Content {
  const { version: _v, capturedAt: _c, ...content } = pkg;
  return content;
}
