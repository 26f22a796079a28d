import { z } from 'zod';
import { MetadataPackageSchema } from '../../app/protocol';

/**
 * The peer control method that carries metadata packages (agent ↔ agent, beside
 * agent/replication/vpg-control.ts): the protected site's agent puts each new version of a
 * VPG's package on the recovery site's agent, which keeps the newest.
 */
export const VPG_METADATA_PUT = 'vpg.metadata.put';

export const MetadataPutParamsSchema = z.object({ package: MetadataPackageSchema });
export type MetadataPutParams = z.infer<typeof MetadataPutParamsSchema>;

/**
 * The version the recovery site holds after the put: the one sent, or a newer one it already
 * had (then the sender's numbering fell behind, e.g. its state was lost, and it continues above).
 */
export const MetadataPutResultSchema = z.object({ version: z.number().int().positive() });
export type MetadataPutResult = z.infer<typeof MetadataPutResultSchema>;
