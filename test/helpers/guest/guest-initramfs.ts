/**
 * The pieces of the guest initramfs that need no host tool: kernel module dependencies read
 * from each module's ELF .modinfo section (the kernel .deb ships no modules.dep; depmod runs
 * at install time), a check that a binary is static, and a newc cpio writer, so the archive
 * can hold /dev/console and root-owned files without running as root or needing cpio.
 */
import { readdir } from 'node:fs/promises';
import { basename, join, relative } from 'node:path';
import { gzipSync } from 'node:zlib';

interface ElfSection {
  readonly name: string;
  readonly offset: number;
  readonly size: number;
}

function elf64(file: string, data: Buffer): void {
  if (data.readUInt32BE(0) !== 0x7f454c46 || data[4] !== 2 || data[5] !== 1) {
    throw new Error(`${file}: not a little-endian ELF64 file`);
  }
}

function elfSections(file: string, data: Buffer): ElfSection[] {
  elf64(file, data);
  const shoff = Number(data.readBigUInt64LE(0x28));
  const shentsize = data.readUInt16LE(0x3a);
  const shnum = data.readUInt16LE(0x3c);
  const shstrndx = data.readUInt16LE(0x3e);
  const header = (i: number) => shoff + i * shentsize;
  const strtab = Number(data.readBigUInt64LE(header(shstrndx) + 0x18));
  const sections: ElfSection[] = [];
  for (let i = 0; i < shnum; i++) {
    const at = header(i);
    const nameAt = strtab + data.readUInt32LE(at);
    const name = data.toString('latin1', nameAt, data.indexOf(0, nameAt));
    sections.push({
      name,
      offset: Number(data.readBigUInt64LE(at + 0x18)),
      size: Number(data.readBigUInt64LE(at + 0x20)),
    });
  }
  return sections;
}

/** The `depends=` of a kernel module (.ko, uncompressed), as module names. */
export function moduleDepends(file: string, data: Buffer): string[] {
  const modinfo = elfSections(file, data).find((s) => s.name === '.modinfo');
  if (!modinfo) throw new Error(`${file}: no .modinfo section`);
  const fields = data.toString('latin1', modinfo.offset, modinfo.offset + modinfo.size).split('\0');
  const depends = fields.find((f) => f.startsWith('depends='))?.slice('depends='.length) ?? '';
  return depends.split(',').filter((d) => d !== '');
}

/** Whether an ELF executable has no program interpreter (is statically linked). */
export function isStaticElf(file: string, data: Buffer): boolean {
  elf64(file, data);
  const phoff = Number(data.readBigUInt64LE(0x20));
  const phentsize = data.readUInt16LE(0x36);
  const phnum = data.readUInt16LE(0x38);
  const PT_INTERP = 3;
  for (let i = 0; i < phnum; i++) {
    if (data.readUInt32LE(phoff + i * phentsize) === PT_INTERP) return false;
  }
  return true;
}

/** Module names as the kernel compares them: `-` and `_` are the same. */
export function moduleName(file: string): string {
  return basename(file)
    .replace(/\.ko(\.[a-z]+)?$/, '')
    .replaceAll('-', '_');
}

/** Every module file under `dir` (lib/modules/<version>), by module name. */
export async function indexModules(dir: string): Promise<Map<string, string>> {
  const index = new Map<string, string>();
  for (const entry of await readdir(dir, { recursive: true, withFileTypes: true })) {
    if (entry.isFile() && /\.ko(\.[a-z]+)?$/.test(entry.name)) {
      index.set(moduleName(entry.name), relative(dir, join(entry.parentPath, entry.name)));
    }
  }
  return index;
}

/**
 * The modules to load for `wanted`, dependencies first. `load(name)` returns a module's
 * uncompressed bytes, or undefined when it is built into the kernel.
 */
export async function resolveModules(
  wanted: readonly string[],
  load: (name: string) => Promise<{ file: string; data: Buffer } | undefined>,
): Promise<{ name: string; data: Buffer }[]> {
  const order: { name: string; data: Buffer }[] = [];
  const seen = new Set<string>();
  const visit = async (name: string, chain: readonly string[]): Promise<void> => {
    if (seen.has(name)) return;
    if (chain.includes(name)) throw new Error(`module dependency cycle: ${chain.join(' -> ')}`);
    const module = await load(name);
    if (module) {
      for (const dep of moduleDepends(module.file, module.data)) {
        await visit(dep.replaceAll('-', '_'), [...chain, name]);
      }
      order.push({ name, data: module.data });
    }
    seen.add(name);
  };
  for (const name of wanted) await visit(name.replaceAll('-', '_'), []);
  return order;
}

export type CpioEntry =
  | { readonly type: 'dir'; readonly path: string; readonly mode?: number }
  | { readonly type: 'file'; readonly path: string; readonly data: Buffer; readonly mode?: number }
  | { readonly type: 'symlink'; readonly path: string; readonly target: string }
  | {
      readonly type: 'char';
      readonly path: string;
      readonly major: number;
      readonly minor: number;
      readonly mode?: number;
    };

const S_IFDIR = 0o040000;
const S_IFREG = 0o100000;
const S_IFLNK = 0o120000;
const S_IFCHR = 0o020000;

function pad4(length: number): Buffer {
  return Buffer.alloc((4 - (length % 4)) % 4);
}

function newcRecord(
  ino: number,
  mode: number,
  name: string,
  data: Buffer,
  rdev: [number, number] = [0, 0],
): Buffer[] {
  const nameBytes = Buffer.from(`${name}\0`, 'utf8');
  const hex = (n: number) => n.toString(16).padStart(8, '0');
  // ino mode uid gid nlink mtime filesize devmajor devminor rdevmajor rdevminor namesize check
  const fields = [ino, mode, 0, 0, mode & S_IFDIR ? 2 : 1, 0, data.length, 0, 0, ...rdev];
  const header = Buffer.from(
    `070701${fields.map(hex).join('')}${hex(nameBytes.length)}${hex(0)}`,
    'ascii',
  );
  return [header, nameBytes, pad4(header.length + nameBytes.length), data, pad4(data.length)];
}

/** A gzip-compressed newc cpio archive of `entries` (root-owned, mtime 0: reproducible). */
export function gzipCpio(entries: readonly CpioEntry[]): Buffer {
  const parts: Buffer[] = [];
  entries.forEach((entry, i) => {
    const name = entry.path.replace(/^\/+/, '');
    const ino = i + 1;
    switch (entry.type) {
      case 'dir':
        parts.push(...newcRecord(ino, S_IFDIR | (entry.mode ?? 0o755), name, Buffer.alloc(0)));
        break;
      case 'file':
        parts.push(...newcRecord(ino, S_IFREG | (entry.mode ?? 0o644), name, entry.data));
        break;
      case 'symlink':
        parts.push(...newcRecord(ino, S_IFLNK | 0o777, name, Buffer.from(entry.target)));
        break;
      case 'char':
        parts.push(
          ...newcRecord(ino, S_IFCHR | (entry.mode ?? 0o600), name, Buffer.alloc(0), [
            entry.major,
            entry.minor,
          ]),
        );
        break;
    }
  });
  parts.push(...newcRecord(0, 0, 'TRAILER!!!', Buffer.alloc(0)));
  return gzipSync(Buffer.concat(parts), { level: 9 });
}
