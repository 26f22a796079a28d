import { randomUUID } from 'node:crypto';
import { access, mkdir, readdir, rm } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { hostname } from 'node:os';
import { TidelineError } from '../../app/errors';
import type { HypervisorKind } from '../../app/protocol';
import { AgentConfigSchema, type AgentConfig } from '../config/agent-config';
import { dataDirLayout, type DataDirLayout } from '../config/data-dir';
import { DataDirLock } from '../config/data-dir-lock';
import { provisionHypervisor, type ProvisionOptions } from '../hypervisor/registry';
import { createSelfSignedIdentity, defaultAltNames } from '../security/certificate';
import { generateToken, hashToken } from '../security/token';
import { SiteFileSchema, SiteStore } from '../site/site-store';
import { writeFileAtomic, writeJsonAtomic } from '../store/atomic-file';
import { readJsonFile } from '../store/json-file';

export interface InitOptions {
  readonly dataDir: string;
  readonly siteName: string;
  readonly hypervisor: HypervisorKind;
  /** sim: every disk of this size in MiB instead of 1–8 GiB (tests, small demos). */
  readonly simDiskMiB?: number;
  /** sim: this many VMs instead of 4–6 (load tests: many disks). */
  readonly simVms?: number;
  /** libvirt: connection URI, domain name prefix, QEMU's group (see ProvisionOptions). */
  readonly libvirt?: ProvisionOptions['libvirt'];
}

export interface InitResult {
  readonly dataDir: string;
  /** The admin token in clear: shown once, never stored. */
  readonly token: string;
  readonly fingerprint: string;
  readonly agentId: string;
  readonly siteId: string;
}

/**
 * Creates an agent's data directory: identity, key pair and self-signed certificate, site
 * details, the hypervisor's state, and the admin token (only its hash is kept). config.json is
 * written last and never replaced, so it marks a finished init: an initialized directory is
 * refused (ALREADY_EXISTS) without touching anything. A failed init removes what it made.
 */
export async function initDataDir(options: InitOptions): Promise<InitResult> {
  const layout = dataDirLayout(options.dataDir);
  await mkdir(layout.root, { recursive: true, mode: 0o750 });
  // Checked before the lock file is made (never leave it in someone else's directory), and
  // again under the lock (another init may have finished meanwhile).
  await refuseIfInitialized(layout);
  await refuseIfNotEmpty(layout, { deferToLock: true });
  const lock = DataDirLock.acquire(layout.root, layout.lockFile, 'init');
  try {
    await refuseIfInitialized(layout);
    await refuseIfNotEmpty(layout, { deferToLock: false });
    try {
      return await create(layout, options);
    } catch (err) {
      await Promise.all(
        [layout.tlsDir, layout.stateDir, layout.datastoresDir].map((dir) =>
          rm(dir, { recursive: true, force: true }),
        ),
      );
      throw err;
    }
  } finally {
    lock.release();
  }
}

async function create(layout: DataDirLayout, options: InitOptions): Promise<InitResult> {
  const agentId = randomUUID();
  const siteId = randomUUID();

  const identity = await createSelfSignedIdentity({
    commonName: `tideline-agent ${agentId}`,
    altNames: defaultAltNames(hostname()),
  });
  await mkdir(layout.tlsDir, { mode: 0o700 });
  await writeFileAtomic(layout.keyFile, identity.keyPem, { mode: 0o600, exclusive: true });
  await writeFileAtomic(layout.certFile, identity.certPem, { mode: 0o644, exclusive: true });

  await mkdir(layout.stateDir, { mode: 0o750 });
  await SiteStore.create(layout.siteFile, {
    siteId,
    name: options.siteName,
    location: '',
    contact: '',
  });
  await provisionHypervisor(options.hypervisor, layout, {
    siteName: options.siteName,
    agentId,
    ...(options.simDiskMiB !== undefined && { simDiskBytes: options.simDiskMiB * 1024 * 1024 }),
    ...(options.simVms !== undefined && { simVms: options.simVms }),
    ...(options.libvirt !== undefined && { libvirt: options.libvirt }),
  });

  const token = generateToken();
  const config: AgentConfig = AgentConfigSchema.parse({
    version: 1,
    agentId,
    siteId,
    hypervisor: options.hypervisor,
    createdAt: new Date().toISOString(),
    adminToken: hashToken(token),
  });
  await writeJsonAtomic(layout.configFile, config, { mode: 0o600, exclusive: true });
  return { dataDir: layout.root, token, fingerprint: identity.fingerprint, agentId, siteId };
}

async function refuseIfInitialized(layout: DataDirLayout): Promise<void> {
  let config: AgentConfig;
  try {
    config = await readJsonFile(layout.configFile, AgentConfigSchema, 'agent configuration');
  } catch (err) {
    if (err instanceof TidelineError && err.code === 'NOT_FOUND') return;
    throw new TidelineError(
      'ALREADY_EXISTS',
      `${layout.root} is already initialized (its config.json is unreadable: ${err instanceof Error ? err.message : String(err)}); use a new directory or delete it to start over`,
    );
  }
  let site = '(unknown)';
  try {
    site = `"${(await readJsonFile(layout.siteFile, SiteFileSchema, 'site details')).details.name}"`;
  } catch {
    // the site name only decorates the message
  }
  throw new TidelineError(
    'ALREADY_EXISTS',
    `${layout.root} is already initialized (site ${site}, agent ${config.agentId}); use a new directory or delete it to start over`,
    { agentId: config.agentId, siteId: config.siteId },
  );
}

async function lockFileExists(layout: DataDirLayout): Promise<boolean> {
  return access(layout.lockFile).then(
    () => true,
    () => false,
  );
}

/**
 * `deferToLock`: before taking the lock, a directory whose lock file exists is left to the lock
 * to answer. Another init makes its lock file before anything else, so what it has made so far
 * must not read as a foreign directory: the lock says it is in use (or, once it finished,
 * config.json says initialized).
 */
async function refuseIfNotEmpty(
  layout: DataDirLayout,
  { deferToLock }: { deferToLock: boolean },
): Promise<void> {
  const lockName = basename(layout.lockFile);
  const entries = (await readdir(layout.root)).filter((name) => name !== lockName);
  if (entries.length === 0) return;
  // Looked at after the listing: a lock file made before what the listing found is seen.
  if (deferToLock && (await lockFileExists(layout))) return;
  const shown = entries.slice(0, 5).map((name) => join(layout.root, name));
  throw new TidelineError(
    'CONFLICT',
    `${layout.root} is not empty and is not an agent data directory (found ${shown.join(', ')}${entries.length > 5 ? ', …' : ''}); use a new or empty directory`,
  );
}
