import { spawn } from 'node:child_process';

/** Best effort: hands the URL to the desktop's browser opener; failures are only logged. */
export function openBrowser(url: string, onError: (err: unknown) => void): void {
  const [cmd, args] =
    process.platform === 'darwin'
      ? ['open', [url]]
      : process.platform === 'win32'
        ? ['cmd', ['/c', 'start', '""', url]]
        : ['xdg-open', [url]];
  try {
    const child = spawn(cmd, args, { stdio: 'ignore', detached: true });
    child.on('error', onError);
    child.unref();
  } catch (err) {
    onError(err);
  }
}
