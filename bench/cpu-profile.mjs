// Preloaded with NODE_OPTIONS="--import ./bench/cpu-profile.mjs" (Node refuses --cpu-prof in
// NODE_OPTIONS): profiles the whole process and writes
// $TIDELINE_CPU_PROF_DIR/<pid>.cpuprofile when it exits (the same-thread inspector session
// answers synchronously, so this works inside an 'exit' handler).
import { Session } from 'node:inspector';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const dir = process.env.TIDELINE_CPU_PROF_DIR;
if (dir) {
  const session = new Session();
  session.connect();
  session.post('Profiler.enable');
  session.post('Profiler.setSamplingInterval', { interval: 500 });
  session.post('Profiler.start');
  process.once('exit', () => {
    session.post('Profiler.stop', (err, result) => {
      if (err) return;
      mkdirSync(dir, { recursive: true });
      writeFileSync(join(dir, `${process.pid}.cpuprofile`), JSON.stringify(result.profile));
    });
  });
}
