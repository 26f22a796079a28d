// Preloaded with NODE_OPTIONS="--import ./bench/cpu-profile.mjs" (Node refuses --cpu-prof in
// NODE_OPTIONS): profiles the whole process and writes
// $TIDELINE_CPU_PROF_DIR/<pid>.cpuprofile when it exits (the same-thread inspector session
// answers synchronously, so this works inside an 'exit' handler).
// With TIDELINE_CPU_PROF_ON_SIGNAL=1 it profiles windows instead: SIGUSR2 starts one, the next
// SIGUSR2 writes it as $TIDELINE_CPU_PROF_DIR/<pid>-<n>.cpuprofile (bench/nbd.mjs: one per job).
import { Session } from 'node:inspector';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const dir = process.env.TIDELINE_CPU_PROF_DIR;
if (dir) {
  const session = new Session();
  session.connect();
  session.post('Profiler.enable');
  session.post('Profiler.setSamplingInterval', { interval: 500 });
  const write = (name) =>
    session.post('Profiler.stop', (err, result) => {
      if (err) return;
      mkdirSync(dir, { recursive: true });
      writeFileSync(join(dir, name), JSON.stringify(result.profile));
    });
  if (process.env.TIDELINE_CPU_PROF_ON_SIGNAL === '1') {
    let running = false;
    let windows = 0;
    process.on('SIGUSR2', () => {
      if (running) write(`${process.pid}-${windows}.cpuprofile`);
      else {
        windows += 1;
        session.post('Profiler.start');
      }
      running = !running;
    });
  } else {
    session.post('Profiler.start');
    process.once('exit', () => write(`${process.pid}.cpuprofile`));
    // What reaches the old generation (objects a full collection frees, not a scavenge), by
    // allocating stack: <pid>.heapprofile (bench/profile-summary.mjs reads it too).
    session.post('HeapProfiler.enable');
    session.post('HeapProfiler.startSampling', {
      samplingInterval: 16384,
      includeObjectsCollectedByMajorGC: true,
      includeObjectsCollectedByMinorGC: false,
    });
    process.once('exit', () =>
      session.post('HeapProfiler.stopSampling', (err, result) => {
        if (err) return;
        mkdirSync(dir, { recursive: true });
        writeFileSync(join(dir, `${process.pid}.heapprofile`), JSON.stringify(result.profile));
      }),
    );
  }
}

// Garbage collection by kind (minor = scavenges of the young generation, major = mark-compact):
// a profile shows GC as one line, which does not say whether short-lived objects or retained
// (or external) memory cause it. Written beside the profile as <pid>.gc.json at exit.
if (dir) {
  // Why each collection ran, one line each on stdout (the bench saves the agents' output).
  const { setFlagsFromString } = await import('node:v8');
  setFlagsFromString('--trace-gc');
  const { PerformanceObserver, constants } = await import('node:perf_hooks');
  const kinds = {
    [constants.NODE_PERFORMANCE_GC_MINOR]: 'minor',
    [constants.NODE_PERFORMANCE_GC_MAJOR]: 'major',
    [constants.NODE_PERFORMANCE_GC_INCREMENTAL]: 'incremental',
    [constants.NODE_PERFORMANCE_GC_WEAKCB]: 'weakcb',
  };
  const totals = {};
  // What the heap held after full collections: a large live heap makes each one dear. Why they
  // run (old-generation growth, external memory) the --trace-gc lines say.
  const { getHeapStatistics } = await import('node:v8');
  const afterMajor = { usedMiB: [], externalMiB: [] };
  new PerformanceObserver((list) => {
    for (const e of list.getEntries()) {
      const kind = kinds[e.detail?.kind] ?? String(e.detail?.kind);
      const t = (totals[kind] ??= { count: 0, ms: 0 });
      t.count += 1;
      t.ms += e.duration;
      if (kind === 'major') {
        const h = getHeapStatistics();
        afterMajor.usedMiB.push(Math.round(h.used_heap_size / 2 ** 20));
        afterMajor.externalMiB.push(Math.round(h.external_memory / 2 ** 20));
      }
    }
  }).observe({ entryTypes: ['gc'] });
  const range = (xs) => (xs.length === 0 ? [] : [Math.min(...xs), Math.max(...xs)]);
  process.once('exit', () => {
    mkdirSync(dir, { recursive: true });
    const heap = {
      usedMiBAfterMajor: range(afterMajor.usedMiB),
      externalMiBAfterMajor: range(afterMajor.externalMiB),
    };
    writeFileSync(join(dir, `${process.pid}.gc.json`), JSON.stringify({ ...totals, heap }));
  });
}
