import { randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type { z } from 'zod';
import { TidelineError, isTidelineError } from '../../../app/errors';
import type {
  HostAddParamsSchema,
  HostEntry,
  HostEntryView,
  SshCredentials,
} from '../../../app/protocol';
import type { SettingsStore } from '../settings/settings-store';
import type { Logger } from '../util/log';
import { loadAgentPackages } from './agent-package';
import { deployAgent, undeployAgent, upgradeAgent, type StepProgress } from './deployer';
import { scanHostKey, type SshAuth, type SshTarget } from './ssh-session';

export interface HostServiceOptions {
  readonly settings: SettingsStore;
  readonly logger: Logger;
  readonly now: () => number;
  /** Where the agent packages are (release/ of a checkout; the app's resources). */
  readonly packagesDir: string | undefined;
  /** resources/systemd/tideline-agent.service */
  readonly unitTemplatePath: string | undefined;
  /** Adds the agent a deploy installed to the console; resolves its key. */
  readonly addAgent: (params: { address: string; token: string; fingerprint: string }) => Promise<{
    key: string;
  }>;
  readonly removeAgent: (key: string) => void;
  /** The hosts changed (hosts.changed). */
  readonly changed: (hosts: HostEntryView[]) => void;
  /** SSH_AUTH_SOCK, for logins through an SSH agent. */
  readonly sshAgentSocket?: string;
}

const BUSY: ReadonlySet<HostEntry['state']> = new Set(['Installing', 'Upgrading', 'Uninstalling']);

/**
 * The console's hosts (README.md): the list in settings, the host key the admin confirmed,
 * and deploy, upgrade and undeploy run in the background with their progress published. A
 * password given for an operation is used for it and never kept.
 */
export class HostService {
  private readonly progress = new Map<string, StepProgress>();

  constructor(private readonly options: HostServiceOptions) {
    // An operation cut short by a console restart: its host is left as the deployer's undo
    // (or the step it reached) left it; say so.
    for (const host of options.settings.hosts()) {
      if (BUSY.has(host.state)) {
        this.save({
          ...host,
          state: 'Failed',
          reason: `The console stopped during the ${host.state.toLowerCase()}: look at the host, then try again`,
        });
      }
    }
  }

  list(): HostEntryView[] {
    return this.options.settings.hosts().map((h) => this.view(h));
  }

  add(params: z.output<typeof HostAddParamsSchema>): HostEntryView {
    const twin = this.options.settings
      .hosts()
      .find((h) => h.address === params.address && h.sshPort === params.sshPort);
    if (twin !== undefined) {
      throw new TidelineError(
        'ALREADY_EXISTS',
        `${params.address}:${params.sshPort} is already a host`,
        {
          hostId: twin.hostId,
        },
      );
    }
    const host: HostEntry = {
      hostId: randomUUID(),
      ...params,
      state: 'NotInstalled',
      updatedAt: this.options.now(),
    };
    this.save(host);
    return this.view(host);
  }

  remove(hostId: string): { removed: true } {
    const host = this.find(hostId);
    if (host.state !== 'NotInstalled' && host.state !== 'Failed') {
      throw new TidelineError(
        'CONFLICT',
        `${host.address} has an agent (${host.state}): undeploy it before removing the host`,
        { hostId },
      );
    }
    this.options.settings.removeHost(hostId);
    this.publish();
    return { removed: true };
  }

  /** The key the host presents, for the admin to compare (no credential is sent). */
  async scanKey(hostId: string): Promise<{
    hostId: string;
    fingerprint: string;
    keyType: string;
    checkCommand: string;
  }> {
    const host = this.find(hostId);
    const key = await scanHostKey(host.address, host.sshPort);
    return {
      hostId,
      fingerprint: key.fingerprint,
      keyType: key.type,
      checkCommand: key.checkCommand,
    };
  }

  trustKey(hostId: string, fingerprint: string): HostEntryView {
    const host = this.find(hostId);
    if (host.hostKey === fingerprint) return this.view(host);
    if (host.hostKey !== undefined) {
      throw new TidelineError(
        'HOST_KEY_CHANGED',
        `${host.address} already has the host key ${host.hostKey} pinned; it is not replaced in passing. If the host was reinstalled, remove it and add it again.`,
        { hostId, pinned: host.hostKey, presented: fingerprint },
      );
    }
    const next = { ...host, hostKey: fingerprint, updatedAt: this.options.now() };
    this.save(next);
    return this.view(next);
  }

  deploy(hostId: string, credentials: SshCredentials): HostEntryView {
    const host = this.startable(hostId, ['NotInstalled', 'Failed'], 'deploy');
    return this.run(host, 'Installing', credentials, async (target, onProgress) => {
      const { packagesDir, unitTemplatePath } = this.options;
      if (packagesDir === undefined || unitTemplatePath === undefined) {
        throw new TidelineError('NOT_FOUND', 'This console has no agent package to deploy');
      }
      const deployed = await deployAgent({
        target,
        site: host.site,
        listen: `${listenHost(host.address)}:${host.agentPort}`,
        hypervisor: host.hypervisor,
        packages: await loadAgentPackages(packagesDir),
        unitTemplatePath,
        onProgress,
      });
      const address = `${host.address.includes(':') ? `[${host.address}]` : host.address}:${host.agentPort}`;
      const agent = await this.options.addAgent({
        address,
        token: deployed.token,
        fingerprint: deployed.fingerprint,
      });
      return { state: 'Installed', agentVersion: deployed.version, agentKey: agent.key };
    });
  }

  upgrade(hostId: string, credentials: SshCredentials): HostEntryView {
    const host = this.startable(hostId, ['Installed'], 'upgrade');
    return this.run(host, 'Upgrading', credentials, async (target, onProgress) => {
      const { packagesDir } = this.options;
      if (packagesDir === undefined) {
        throw new TidelineError('NOT_FOUND', 'This console has no agent package to deploy');
      }
      try {
        const result = await upgradeAgent({
          target,
          packages: await loadAgentPackages(packagesDir),
          onProgress,
        });
        return { state: 'Installed', agentVersion: result.to };
      } catch (err) {
        // The deployer put the running version back where it could: still Installed.
        return { state: 'Installed', reason: messageOf(err) };
      }
    });
  }

  undeploy(hostId: string, credentials: SshCredentials, deleteData: boolean): HostEntryView {
    const host = this.startable(hostId, ['Installed', 'Failed'], 'undeploy');
    return this.run(host, 'Uninstalling', credentials, async (target, onProgress) => {
      await undeployAgent({ target, deleteData, onProgress });
      if (host.agentKey !== undefined) this.options.removeAgent(host.agentKey);
      return { state: 'NotInstalled' };
    });
  }

  // ───────────────────────── helpers ─────────────────────────

  private startable(hostId: string, from: HostEntry['state'][], what: string): HostEntry {
    const host = this.find(hostId);
    if (!from.includes(host.state)) {
      throw new TidelineError(
        'CONFLICT',
        `Cannot ${what} ${host.address} while it is ${host.state}`,
        {
          hostId,
          state: host.state,
        },
      );
    }
    if (host.hostKey === undefined) {
      throw new TidelineError(
        'HOST_KEY_UNKNOWN',
        `Confirm the SSH host key of ${host.address} first (hosts.scanKey, then hosts.trustKey)`,
        { hostId },
      );
    }
    return host;
  }

  private run(
    host: HostEntry,
    state: HostEntry['state'],
    credentials: SshCredentials,
    work: (
      target: SshTarget,
      onProgress: (p: StepProgress) => void,
    ) => Promise<Partial<HostEntry> & { state: HostEntry['state'] }>,
  ): HostEntryView {
    const { reason: _old, ...rest } = host;
    const running: HostEntry = { ...rest, state, updatedAt: this.options.now() };
    this.save(running);
    const { logger } = this.options;
    const operation = async (): Promise<void> => {
      const target: SshTarget = {
        host: host.address,
        port: host.sshPort,
        username: host.user,
        auth: await this.auth(credentials),
        ...(host.hostKey !== undefined && { hostKey: host.hostKey }),
      };
      const outcome = await work(target, (p) => {
        this.progress.set(host.hostId, p);
        this.publish();
      });
      const { agentKey: _k, agentVersion: _v, ...base } = running;
      const keep = outcome.state === 'NotInstalled' ? base : running;
      this.save({ ...keep, ...outcome, updatedAt: this.options.now() });
      logger.info(
        { hostId: host.hostId, address: host.address, state: outcome.state },
        'host operation done',
      );
    };
    void operation()
      .catch((err: unknown) => {
        const reason = isTidelineError(err) ? err.message : 'Internal error during the operation';
        if (!isTidelineError(err))
          logger.error({ err, hostId: host.hostId }, 'host operation failed');
        else logger.warn({ hostId: host.hostId, code: err.code, reason }, 'host operation failed');
        this.save({ ...running, state: 'Failed', reason, updatedAt: this.options.now() });
      })
      .finally(() => {
        this.progress.delete(host.hostId);
        this.publish();
      });
    return this.view(running);
  }

  private async auth(credentials: SshCredentials): Promise<SshAuth> {
    switch (credentials.kind) {
      case 'password':
        return { kind: 'password', password: credentials.password };
      case 'key': {
        let privateKey: string;
        try {
          privateKey = await readFile(credentials.keyPath, 'utf8');
        } catch {
          throw new TidelineError('NOT_FOUND', `Cannot read the key file ${credentials.keyPath}`);
        }
        return {
          kind: 'key',
          privateKey,
          ...(credentials.passphrase !== undefined && { passphrase: credentials.passphrase }),
        };
      }
      case 'agent': {
        const socket = this.options.sshAgentSocket;
        if (socket === undefined || socket === '') {
          throw new TidelineError(
            'UNAVAILABLE',
            'No SSH agent runs for the console (SSH_AUTH_SOCK is not set)',
          );
        }
        return { kind: 'agent', socket };
      }
    }
  }

  private find(hostId: string): HostEntry {
    const host = this.options.settings.hosts().find((h) => h.hostId === hostId);
    if (host === undefined) throw new TidelineError('NOT_FOUND', `No host ${hostId}`, { hostId });
    return host;
  }

  private view(host: HostEntry): HostEntryView {
    const progress = this.progress.get(host.hostId);
    return progress === undefined ? host : { ...host, progress };
  }

  private save(host: HostEntry): void {
    this.options.settings.saveHost(host);
    this.publish();
  }

  private publish(): void {
    this.options.changed(this.list());
  }
}

/** All interfaces, but loopback for a host reached on loopback (tests; an SSH tunnel). */
function listenHost(address: string): string {
  if (address === '::1') return '[::1]';
  return /^127\./.test(address) || address === 'localhost' ? '127.0.0.1' : '0.0.0.0';
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
