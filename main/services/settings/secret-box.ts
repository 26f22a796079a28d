/**
 * Seals secrets (agent tokens) before they are written to the settings file.
 * Electron: safeStorage (the OS keychain), see main/electron/secrets.ts.
 */
export interface SecretBox {
  /** Written beside each sealed value, so a file sealed by another box is recognised. */
  readonly scheme: string;
  seal(plain: string): string;
  open(sealed: string): string;
}

/**
 * Plain Node (browser mode, tests): there is no keychain, so the token is stored AS-IS. The
 * settings file is created with mode 0600 in a 0700 directory, readable by its owner only.
 */
export const plainSecretBox: SecretBox = {
  scheme: 'plain',
  seal: (plain) => plain,
  open: (sealed) => sealed,
};
