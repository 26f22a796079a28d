import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import { KeyObject, X509Certificate, randomBytes, webcrypto } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { isIP } from 'node:net';

type ProviderCrypto = Parameters<typeof x509.cryptoProvider.set>[0];
type KeyPair = Parameters<typeof x509.X509CertificateGenerator.createSelfSigned>[0]['keys'];
type PublicKeyInput = Parameters<typeof x509.SubjectKeyIdentifierExtension.create>[0];

// Node's webcrypto is the provider; its types come from @types/node, the library's from the DOM.
x509.cryptoProvider.set(webcrypto as unknown as ProviderCrypto);

export interface TlsIdentity {
  /** PKCS#8 private key, PEM. */
  readonly keyPem: string;
  readonly certPem: string;
  readonly fingerprint: string;
}

export interface CertificateOptions {
  readonly commonName: string;
  /** DNS names and IP addresses for the subjectAltName. */
  readonly altNames: readonly string[];
  readonly validDays?: number;
}

const DAY_MS = 24 * 60 * 60 * 1000;

/**
 * An ECDSA P-256 key pair and a self-signed certificate for it (server and client auth).
 * Consoles pin its fingerprint, so the validity is long: 10 years.
 */
export async function createSelfSignedIdentity(options: CertificateOptions): Promise<TlsIdentity> {
  const algorithm = { name: 'ECDSA', namedCurve: 'P-256' } as const;
  const keys = await webcrypto.subtle.generateKey(algorithm, true, ['sign', 'verify']);
  const now = Date.now();
  const serial = randomBytes(16);
  serial[0] = (serial[0] ?? 0) & 0x7f; // positive
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serial.toString('hex'),
    name: [{ CN: [options.commonName] }, { O: ['Tideline'] }],
    notBefore: new Date(now - DAY_MS),
    notAfter: new Date(now + (options.validDays ?? 3650) * DAY_MS),
    signingAlgorithm: { name: 'ECDSA', hash: 'SHA-256' },
    keys: keys as unknown as KeyPair,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(
        x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyAgreement,
        true,
      ),
      new x509.ExtendedKeyUsageExtension([
        x509.ExtendedKeyUsage.serverAuth,
        x509.ExtendedKeyUsage.clientAuth,
      ]),
      new x509.SubjectAlternativeNameExtension(
        options.altNames.map((name) => ({ type: isIP(name) === 0 ? 'dns' : 'ip', value: name })),
      ),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey as unknown as PublicKeyInput),
    ],
  });
  const certPem = cert.toString('pem');
  const keyPem = KeyObject.from(keys.privateKey)
    .export({ type: 'pkcs8', format: 'pem' })
    .toString();
  return { keyPem, certPem, fingerprint: fingerprintOf(certPem) };
}

/** SHA-256 fingerprint as Node prints it (AB:CD:…), the format the console pins. */
export function fingerprintOf(certPem: string): string {
  return new X509Certificate(certPem).fingerprint256;
}

/** The names the agent's certificate covers: loopback, localhost and the host's name. */
export function defaultAltNames(hostName: string): string[] {
  const names = ['127.0.0.1', 'localhost'];
  const host = hostName.trim().toLowerCase();
  if (
    /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/.test(host) &&
    !names.includes(host)
  ) {
    names.push(host);
  }
  return names;
}

/** Reads the agent's key and certificate (as init wrote them). */
export async function readTlsIdentity(keyFile: string, certFile: string): Promise<TlsIdentity> {
  const [keyPem, certPem] = await Promise.all([
    readFile(keyFile, 'utf8'),
    readFile(certFile, 'utf8'),
  ]);
  return { keyPem, certPem, fingerprint: fingerprintOf(certPem) };
}
