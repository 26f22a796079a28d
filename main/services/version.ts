/** The console's version, reported by console.info and sent in hello. Kept with package.json. */
export const CONSOLE_VERSION = '0.1.0';
export const CONSOLE_PRODUCT = 'tideline-console';
