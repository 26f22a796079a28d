import { safeStorage } from 'electron';
import { plainSecretBox, type SecretBox } from '../services/settings/secret-box';
import type { Logger } from '../services/util/log';

/** Tokens sealed with the OS keychain (safeStorage), stored base64 in the settings file. */
export function safeStorageSecretBox(logger: Logger): SecretBox {
  if (!safeStorage.isEncryptionAvailable()) {
    logger.warn('OS keychain unavailable: agent tokens are stored unencrypted (file mode 0600)');
    return plainSecretBox;
  }
  if (process.platform === 'linux' && safeStorage.getSelectedStorageBackend() === 'basic_text') {
    logger.warn('no desktop keyring found: safeStorage only obfuscates agent tokens');
  }
  return {
    scheme: 'safe-storage',
    seal: (plain) => safeStorage.encryptString(plain).toString('base64'),
    open: (sealed) => safeStorage.decryptString(Buffer.from(sealed, 'base64')),
  };
}
