export function findElectronBinary(): string | undefined;
export const ELECTRON_MISSING_REASON: string;
