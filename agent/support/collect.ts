import { lstat, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { TidelineError } from '../../app/errors';
import {
  SUPPORT_MAX_BUNDLE_BYTES,
  type LogCollectParams,
  type SupportBundle,
  type SupportFile,
} from '../../app/protocol';
import { filterLogLine, type LogWindow } from '../../app/support/log-filter';
import { Redactor } from '../../app/support/redact';
import type { TaskHandle } from '../tasks/task-manager';
import { freeBytes } from '../util/disk-space';
import { AGENT_VERSION } from '../version';
import { copyLines } from './line-copy';
import { writeTarGz, type TarEntry } from './tar-writer';

export const STEPS = {
  logs: 'Collect the logs',
  state: 'Summarize the state',
  system: 'Describe the system',
  pack: 'Write the archive',
} as const;

/** Room left on the data directory's disk after the work files, at the least. */
const SPARE_BYTES = 64 * 1024 * 1024;
const LOG_FILE = /^agent\.(\d+)\.log$/;

export interface CollectInput {
  readonly params: Omit<LogCollectParams, 'level'> & { level: LogWindow['level'] };
  readonly bundleId: string;
  readonly workDir: string;
  readonly file: string;
  readonly dataDir: string;
  readonly logsDir: string;
  readonly ttlMs: number;
  readonly now: number;
  readonly secrets: () => Promise<string[]>;
  readonly state: () => Promise<Record<string, unknown>>;
  readonly system: () => Promise<Record<string, unknown>>;
}

/**
 * A CollectLogs task's work: filtered, redacted copies of the log files in the work folder,
 * the summaries in memory (small), then one streamed tar.gz. Every line of every file passes
 * the Redactor (by key, by the agent's known secret values, by the shape of a token) before
 * it is written anywhere.
 */
export async function collectBundle(input: CollectInput, task: TaskHandle): Promise<SupportBundle> {
  const { params, workDir, signal } = { ...input, signal: task.signal };
  const redactor = new Redactor(await input.secrets());
  const entries: TarEntry[] = [];
  const files: SupportFile[] = [];
  const add = (name: string, text: string): void => {
    const data = Buffer.from(text, 'utf8');
    entries.push({ name, data });
    files.push({ path: name, bytes: data.length });
  };
  if (params.include.logs) {
    task.step(STEPS.logs);
    const logs = await logFiles(input.logsDir, params.fromTime);
    const need = logs.reduce((n, l) => n + l.size, 0) + SPARE_BYTES;
    const free = await freeBytes(input.dataDir);
    if (free < need) {
      throw new TidelineError(
        'NO_SPACE',
        `Not enough free space in ${input.dataDir} for a support bundle: ${free} bytes free, ${need} needed. Free some space or collect a shorter time range.`,
        { free, need },
      );
    }
    const window: LogWindow = { ...params, level: params.level };
    for (const [i, log] of logs.entries()) {
      const copy = join(workDir, log.name);
      const { bytes } = await copyLines(
        log.path,
        copy,
        (line) => filterLogLine(line, window, redactor),
        signal,
      );
      entries.push({ name: `logs/${log.name}`, file: copy });
      files.push({ path: `logs/${log.name}`, bytes });
      task.progress(0, (i + 1) / logs.length);
    }
  }
  if (params.include.state) {
    task.step(STEPS.state);
    for (const [name, value] of Object.entries(await input.state()))
      add(name, redactor.json(value));
  }
  if (params.include.system) {
    task.step(STEPS.system);
    add('system/facts.json', redactor.json(await input.system()));
  }
  task.step(STEPS.pack);
  signal.throwIfAborted();
  const expiresAt = input.now + input.ttlMs;
  add(
    'manifest.json',
    redactor.json({
      bundleId: input.bundleId,
      agentVersion: AGENT_VERSION,
      createdAt: new Date(input.now).toISOString(),
      asked: params,
      files: [...files],
      redactions: redactor.count,
    }),
  );
  const archive = await writeTarGz(input.file, entries, signal);
  await rm(workDir, { recursive: true, force: true });
  if (archive.bytes > SUPPORT_MAX_BUNDLE_BYTES) {
    await rm(input.file, { force: true });
    throw new TidelineError(
      'CONFLICT',
      `The support bundle came to ${archive.bytes} bytes, over the ${SUPPORT_MAX_BUNDLE_BYTES} allowed: collect a shorter time range or a lower detail level`,
      { bytes: archive.bytes },
    );
  }
  return {
    bundleId: input.bundleId,
    bytes: archive.bytes,
    sha256: archive.sha256,
    files,
    createdAt: input.now,
    expiresAt,
    redactions: redactor.count,
  };
}

/**
 * The rolled log files (agent.N.log, oldest first), regular files only: current.log is a link
 * to one of them, and a link planted in logs/ must not pull another file into a bundle.
 * Files last written before `fromTime` hold no line of the range and are skipped.
 */
async function logFiles(
  dir: string,
  fromTime: number | undefined,
): Promise<{ name: string; path: string; size: number }[]> {
  const names = await readdir(dir).catch(() => [] as string[]);
  const found: { name: string; path: string; size: number; n: number }[] = [];
  for (const name of names) {
    const match = LOG_FILE.exec(name);
    if (match === null) continue;
    const path = join(dir, name);
    const info = await lstat(path).catch(() => undefined);
    if (info?.isFile() !== true) continue;
    if (fromTime !== undefined && info.mtimeMs < fromTime) continue;
    found.push({ name, path, size: info.size, n: Number(match[1]) });
  }
  return found.sort((a, b) => a.n - b.n).map(({ name, path, size }) => ({ name, path, size }));
}
