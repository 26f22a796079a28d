import { z } from 'zod';

/** SHA-256 of a certificate's DER, upper-case hex pairs joined by colons (as OpenSSL prints it). */
export const FingerprintSchema = z
  .string()
  .regex(/^([0-9A-F]{2}:){31}[0-9A-F]{2}$/, 'must be a SHA-256 fingerprint (AB:CD:... 32 pairs)');
export type Fingerprint = z.infer<typeof FingerprintSchema>;

/** `host:port`, `[v6]:port`; the host part is a name or an address. */
export const AddressSchema = z
  .string()
  .trim()
  .regex(
    /^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?):([0-9]{1,5})$/,
    'must be host:port, e.g. 10.0.0.5:7443',
  )
  .refine((s) => {
    const port = Number(s.slice(s.lastIndexOf(':') + 1));
    return port >= 1 && port <= 65535;
  }, 'port must be between 1 and 65535');
export type Address = z.infer<typeof AddressSchema>;

export const IdSchema = z.string().min(1).max(128);
