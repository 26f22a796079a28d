import react from '@vitejs/plugin-react';
import { fileURLToPath } from 'node:url';
import { defineConfig, type Plugin } from 'vite';
import { contentSecurityPolicy } from '../app/security/csp.ts';

const here = fileURLToPath(new URL('.', import.meta.url));

/**
 * The production bundle also carries the console's CSP as a meta tag (the servers send it as
 * a header). The dev server's inline HMR scripts would break under it: build only.
 */
function cspMetaTag(): Plugin {
  return {
    name: 'tideline-csp',
    apply: 'build',
    transformIndexHtml: () => [
      {
        tag: 'meta',
        attrs: {
          'http-equiv': 'Content-Security-Policy',
          content: contentSecurityPolicy({ meta: true }),
        },
        injectTo: 'head-prepend',
      },
    ],
  };
}

export default defineConfig({
  root: here,
  // Relative asset URLs: the same bundle loads from file:// in Electron and over http in browser mode.
  base: './',
  plugins: [react(), cspMetaTag()],
  build: {
    outDir: fileURLToPath(new URL('../dist/renderer', import.meta.url)),
    emptyOutDir: true,
    sourcemap: true,
    target: 'chrome120',
    chunkSizeWarningLimit: 1700,
  },
});
