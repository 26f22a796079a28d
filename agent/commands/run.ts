import type { Level } from 'pino';
import { loadAgentConfig, type AgentConfig } from '../config/agent-config';
import { dataDirLayout, type DataDirLayout } from '../config/data-dir';
import { DataDirLock } from '../config/data-dir-lock';
import type { NbdFlags } from '../config/nbd-flags';
import type { ReplicationFlags } from '../config/replication-flags';
import type { ListenAddress } from '../control/control-server';
import { Daemon } from '../daemon';
import { createAgentLog } from '../log';
import { SdNotify } from '../systemd/sd-notify';
import { CRC32_IMPLEMENTATION } from '../util/crc32';
import { LZ4 } from '../util/lz4';
import { tuneHeapForStreaming } from '../util/heap-tuning';
import { AGENT_VERSION } from '../version';

export interface RunOptions extends ReplicationFlags {
  readonly dataDir: string;
  readonly listen: ListenAddress;
  readonly logLevel: Level;
  readonly keepaliveMs: number;
  /** Seconds RPO must stay over its target before an RPO alert (daemon default 60). */
  readonly rpoGraceSeconds?: number;
  /** Period of the metadata capture of protected VPGs (daemon default 5 min). */
  readonly metadataIntervalMs?: number;
  /** NBD server settings; false: --no-nbd. Default: DIR/nbd.sock only. */
  readonly nbd?: NbdFlags;
  /** How the holder is named to a second agent on this data directory. */
  readonly commandLine?: string;
}

export const EXIT_CRASH = 70;

/**
 * Runs the daemon until SIGTERM or SIGINT; resolves with the process exit code. A second
 * signal while stopping exits at once.
 */
export async function runAgent(options: RunOptions): Promise<number> {
  tuneHeapForStreaming();
  const layout = dataDirLayout(options.dataDir);
  // Refuse a directory that is not a data directory before creating logs/ in it.
  const config = await loadAgentConfig(layout);
  // Before the log is opened: a second agent exits (2) having changed nothing.
  const lock = DataDirLock.acquire(layout.root, layout.lockFile, options.commandLine ?? 'run');
  try {
    return await runLocked(options, layout, config, lock);
  } finally {
    lock.release();
  }
}

async function runLocked(
  options: RunOptions,
  layout: DataDirLayout,
  config: AgentConfig,
  lock: DataDirLock,
): Promise<number> {
  const { log, flush } = await createAgentLog({
    logsDir: layout.logsDir,
    level: options.logLevel,
  });
  const crash = (err: unknown, what: string): void => {
    log.fatal({ err }, what);
    flush();
    process.exit(EXIT_CRASH);
  };
  process.on('uncaughtException', (err) => crash(err, 'uncaught exception'));
  process.on('unhandledRejection', (err) => crash(err, 'unhandled rejection'));

  log.info(
    {
      version: AGENT_VERSION,
      agentId: config.agentId,
      siteId: config.siteId,
      dataDir: layout.root,
      node: process.version,
      crc32: CRC32_IMPLEMENTATION,
      lz4: LZ4 !== undefined,
    },
    'starting',
  );
  const daemon = new Daemon({
    dataDir: layout.root,
    listen: options.listen,
    replicationListen: options.replicationListen,
    ...(options.advertise !== undefined && { advertise: options.advertise }),
    ...(options.pairingTokenTtlMs !== undefined && {
      pairingTokenTtlMs: options.pairingTokenTtlMs,
    }),
    ...(options.outboxLimitBytes !== undefined && { outboxLimitBytes: options.outboxLimitBytes }),
    ...(options.preseedDir !== undefined && { preseedDir: options.preseedDir }),
    keepaliveMs: options.keepaliveMs,
    ...(options.rpoGraceSeconds !== undefined && { rpoGraceSeconds: options.rpoGraceSeconds }),
    ...(options.metadataIntervalMs !== undefined && {
      metadataIntervalMs: options.metadataIntervalMs,
    }),
    ...(options.nbd !== undefined && { nbd: options.nbd }),
    dataDirLock: lock,
    log,
  });
  // Run by systemd (Type=notify): READY, WATCHDOG and STOPPING; a no-op otherwise.
  const serviceManager = new SdNotify({ log });
  let stopRequested: (signal: NodeJS.Signals) => void = () => undefined;
  const signalled = new Promise<NodeJS.Signals>((resolve) => {
    stopRequested = resolve;
  });
  let stopping = false;
  const onSignal = (signal: NodeJS.Signals): void => {
    if (stopping) {
      log.warn({ signal }, 'second signal while stopping: exiting now');
      flush();
      process.exit(1);
    }
    stopping = true;
    void serviceManager.stopping(`stopping (${signal})`);
    stopRequested(signal);
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);

  try {
    const info = await daemon.start();
    log.info(
      {
        address: info.replication.address,
        host: info.replication.host,
        port: info.replication.port,
      },
      'replication listening',
    );
    if (info.nbd !== undefined) {
      log.info({ socket: info.nbd.socketPath, tcp: info.nbd.tcp }, 'nbd listening');
    }
    log.info({ url: info.url, port: info.port, fingerprint: info.fingerprint }, 'listening');
    await serviceManager.ready(
      `serving on ${info.url}, replication on ${info.replication.address}`,
    );
  } catch (err) {
    const message = err instanceof Error ? err.message : 'failed to start';
    log.error({ err }, message);
    process.stderr.write(`tideline-agent: ${message}\n`);
    await daemon.stop();
    flush();
    return 1;
  }

  const signal = await signalled;
  log.info({ signal }, 'stopping');
  try {
    await daemon.stop();
    log.info({ signal }, 'stopped');
    return 0;
  } catch (err) {
    log.error({ err }, 'stop failed');
    return 1;
  } finally {
    flush();
  }
}
