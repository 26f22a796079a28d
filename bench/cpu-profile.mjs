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
  }
}
