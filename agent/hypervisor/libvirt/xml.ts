import { XMLBuilder, XMLParser } from 'fast-xml-parser';
import { TidelineError } from '../../../app/errors';

/**
 * libvirt's XML (domains, networks, pools) through fast-xml-parser: attributes are `@_name`
 * keys, text is `#text` (or the element's value when it has no attributes). Elements that may
 * repeat are always arrays, so readers never branch on one-versus-many.
 */
const REPEATED = new Set([
  'disk',
  'interface',
  'boot',
  'ip',
  'host',
  'serial',
  'console',
  'controller',
  'range',
  'feature',
  'graphics',
  'video',
  'channel',
  'input',
]);

const parser = new XMLParser({
  ignoreAttributes: false,
  attributeNamePrefix: '@_',
  parseTagValue: false,
  parseAttributeValue: false,
  trimValues: true,
  processEntities: true,
  isArray: (name) => REPEATED.has(name),
});

const builder = new XMLBuilder({
  ignoreAttributes: false,
  attributeNamePrefix: '@_',
  format: true,
  suppressEmptyNode: true,
});

/** A parsed XML element: attributes (`@_x`), text (`#text`), children by name. */
export type XmlNode = { readonly [key: string]: XmlValue };
export type XmlValue = string | XmlNode | readonly XmlNode[] | readonly string[] | undefined;

export function parseXml(text: string, what: string): XmlNode {
  try {
    const parsed: unknown = parser.parse(text, true);
    if (typeof parsed !== 'object' || parsed === null) throw new Error('not an element');
    return parsed as XmlNode;
  } catch (err) {
    throw new TidelineError(
      'INTERNAL_ERROR',
      `libvirt returned ${what} that is not valid XML: ${err instanceof Error ? err.message : String(err)}`,
    );
  }
}

/** Builds an XML document from the same shape the parser produces. */
export function buildXml(root: Record<string, unknown>): string {
  return builder.build(root) as string;
}

/** The child element `name` (the first one if it repeats). */
export function child(node: XmlNode | undefined, name: string): XmlNode | undefined {
  const value = node?.[name];
  if (value === undefined) return undefined;
  if (Array.isArray(value)) {
    const first: unknown = value[0];
    return typeof first === 'object' && first !== null ? (first as XmlNode) : undefined;
  }
  if (typeof value === 'string') return { '#text': value };
  return value as XmlNode;
}

/** Every child element `name`. */
export function children(node: XmlNode | undefined, name: string): XmlNode[] {
  const value = node?.[name];
  if (value === undefined) return [];
  const list: readonly unknown[] = Array.isArray(value) ? value : [value];
  return list.map((v) => (typeof v === 'string' ? { '#text': v } : (v as XmlNode)));
}

export function attr(node: XmlNode | undefined, name: string): string | undefined {
  const value = node?.[`@_${name}`];
  return typeof value === 'string' ? value : undefined;
}

/** The element's text (an element with attributes keeps it under `#text`). */
export function text(node: XmlNode | undefined): string | undefined {
  if (node === undefined) return undefined;
  const value = node['#text'];
  return typeof value === 'string' ? value : undefined;
}

/** Text of the child element `name`. */
export function childText(node: XmlNode | undefined, name: string): string | undefined {
  const value = node?.[name];
  if (typeof value === 'string') return value;
  return text(child(node, name));
}

const UNIT_BYTES: Readonly<Record<string, number>> = {
  b: 1,
  bytes: 1,
  kb: 1000,
  k: 1024,
  kib: 1024,
  mb: 1000 ** 2,
  m: 1024 ** 2,
  mib: 1024 ** 2,
  gb: 1000 ** 3,
  g: 1024 ** 3,
  gib: 1024 ** 3,
  tb: 1000 ** 4,
  t: 1024 ** 4,
  tib: 1024 ** 4,
};

/** A libvirt scaled integer (`<memory unit='KiB'>…</memory>`; default unit: `defaultUnit`). */
export function scaledBytes(node: XmlNode | undefined, defaultUnit = 'b'): number | undefined {
  const value = text(node);
  if (value === undefined || !/^\d+$/.test(value)) return undefined;
  const unit = (attr(node, 'unit') ?? defaultUnit).toLowerCase();
  const scale = UNIT_BYTES[unit];
  return scale === undefined ? undefined : Number(value) * scale;
}
