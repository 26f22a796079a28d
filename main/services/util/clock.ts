import type { Timers } from '../../../app/protocol';

/** Time and timers, injected so tests can drive back-off and timeouts deterministically. */
export interface Clock extends Timers {
  now(): number;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  set(ms, fn) {
    const handle = setTimeout(fn, ms);
    handle.unref();
    return handle;
  },
  clear(handle) {
    clearTimeout(handle as ReturnType<typeof setTimeout>);
  },
};
