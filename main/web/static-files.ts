import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import type { ServerResponse } from 'node:http';
import { extname, join, resolve, sep } from 'node:path';

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.webmanifest': 'application/manifest+json',
  '.txt': 'text/plain; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.gif': 'image/gif',
  '.webp': 'image/webp',
  '.ico': 'image/x-icon',
  '.woff': 'font/woff',
  '.woff2': 'font/woff2',
  '.ttf': 'font/ttf',
  '.wasm': 'application/wasm',
};

export function contentType(file: string): string {
  return TYPES[extname(file).toLowerCase()] ?? 'application/octet-stream';
}

async function fileSize(path: string): Promise<number | undefined> {
  try {
    const s = await stat(path);
    return s.isFile() ? s.size : undefined;
  } catch {
    return undefined;
  }
}

export type Resolved = { file: string; size: number } | 'not-found' | 'no-index';

/**
 * The file to serve for `pathname` under `root`: the file itself if it exists (never outside
 * root), else, for paths without an extension, index.html (the renderer is a single-page app).
 */
export async function resolveStaticFile(root: string, pathname: string): Promise<Resolved> {
  const base = resolve(root);
  let rel: string;
  try {
    rel = decodeURIComponent(pathname);
  } catch {
    return 'not-found';
  }
  if (rel.includes('\0')) return 'not-found';
  const target = resolve(join(base, rel));
  const inside = target === base || target.startsWith(base + sep);
  const size = inside ? await fileSize(target) : undefined;
  if (size !== undefined) return { file: target, size };
  if (extname(rel) !== '') return 'not-found';
  const index = join(base, 'index.html');
  const indexSize = await fileSize(index);
  return indexSize === undefined ? 'no-index' : { file: index, size: indexSize };
}

export type StaticResult = 'served' | 'not-found' | 'no-index';

export async function serveStatic(
  root: string,
  pathname: string,
  res: ServerResponse,
  headOnly: boolean,
): Promise<StaticResult> {
  const found = await resolveStaticFile(root, pathname);
  if (typeof found === 'string') return found;
  const { file, size } = found;
  res.writeHead(200, {
    'Content-Type': contentType(file),
    'Content-Length': size,
    'Cache-Control': extname(file) === '.html' ? 'no-store' : 'private, max-age=3600',
  });
  if (headOnly) {
    res.end();
    return 'served';
  }
  await new Promise<void>((done) => {
    const stream = createReadStream(file);
    stream.on('error', () => {
      res.destroy();
      done();
    });
    stream.on('end', done);
    stream.pipe(res);
  });
  return 'served';
}
