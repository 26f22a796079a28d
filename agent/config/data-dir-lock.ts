import { spawnSync } from 'node:child_process';
import { closeSync, ftruncateSync, openSync, readFileSync, writeSync } from 'node:fs';
import { TidelineError } from '../../app/errors';
import { errnoMessage } from '../store/json-file';

/** What the lock file says about its holder: enough for an admin to find the process. */
export interface LockHolder {
  readonly pid: number;
  readonly command: string;
  readonly since: string;
}

/** Another process holds the data directory. The CLI exits 2 on it. */
export class DataDirLockedError extends TidelineError {
  constructor(
    readonly dataDir: string,
    readonly holder: LockHolder | undefined,
  ) {
    const who =
      holder === undefined
        ? 'another process'
        : `process ${holder.pid} ("${holder.command}", since ${holder.since})`;
    super(
      'CONFLICT',
      `${dataDir} is in use by ${who}. One agent per data directory: stop that one first (nothing was changed here).`,
      { dataDir, ...(holder !== undefined && { holderPid: holder.pid }) },
    );
    this.name = 'DataDirLockedError';
  }
}

/**
 * The exclusive lock of a data directory, held by the one process that may write to it
 * (`run`, `init`, `export-disk`). It is a flock(2) on `agent.lock`, taken by util-linux's
 * flock(1) on a descriptor this process opened and lent it: flock locks belong to the open
 * file description, so the lock stays with this process's descriptor after flock(1) exits,
 * and the kernel drops it when the process dies however it dies; no stale lock, no pid
 * guessing. (Node has no flock(), and the npm bindings need a native build.) The file itself
 * is never deleted: unlinking a flock file lets two processes lock two different files.
 */
export class DataDirLock {
  private fd: number | undefined;

  private constructor(
    fd: number,
    readonly path: string,
  ) {
    this.fd = fd;
  }

  /** Takes the lock or throws DataDirLockedError at once (never waits). */
  static acquire(dataDir: string, lockPath: string, command: string): DataDirLock {
    let fd: number;
    try {
      fd = openSync(lockPath, 'a+', 0o600);
    } catch (err) {
      throw new TidelineError(
        'UNAVAILABLE',
        `Cannot open the lock file ${lockPath}: ${errnoMessage(err)}`,
      );
    }
    const result = spawnSync('flock', ['--exclusive', '--nonblock', '3'], {
      stdio: ['ignore', 'ignore', 'pipe', fd],
      timeout: 10_000,
    });
    if (result.status !== 0) {
      closeSync(fd);
      if (result.status === 1) throw new DataDirLockedError(dataDir, readHolder(lockPath));
      const why = result.error?.message ?? result.stderr.toString().trim();
      throw new TidelineError(
        'UNAVAILABLE',
        `Cannot lock ${lockPath} with flock(1) (util-linux): ${why || `exit status ${String(result.status)}`}`,
      );
    }
    const holder: LockHolder = { pid: process.pid, command, since: new Date().toISOString() };
    ftruncateSync(fd, 0);
    writeSync(fd, `${JSON.stringify(holder)}\n`);
    return new DataDirLock(fd, lockPath);
  }

  get held(): boolean {
    return this.fd !== undefined;
  }

  /** Drops the lock (closing the only descriptor of its open file description). */
  release(): void {
    if (this.fd === undefined) return;
    const fd = this.fd;
    this.fd = undefined;
    closeSync(fd);
  }
}

function readHolder(path: string): LockHolder | undefined {
  try {
    const value: unknown = JSON.parse(readFileSync(path, 'utf8'));
    if (typeof value !== 'object' || value === null) return undefined;
    const { pid, command, since } = value as Record<string, unknown>;
    if (typeof pid !== 'number' || typeof command !== 'string' || typeof since !== 'string') {
      return undefined;
    }
    return { pid, command: command.slice(0, 200), since };
  } catch {
    return undefined; // written between its lock and our read, or not ours: say less
  }
}
