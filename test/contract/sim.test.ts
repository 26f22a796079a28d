import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { dataDirLayout } from '../../agent/config/data-dir';
import { createSparseFile, provisionSim } from '../../agent/hypervisor/sim/provision';
import { SimHypervisor } from '../../agent/hypervisor/sim/sim-adapter';
import { hypervisorContract } from './hypervisor-contract';

hypervisorContract('sim', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'tideline-contract-sim-'));
  const layout = dataDirLayout(dir);
  await provisionSim(layout, { siteName: 'Contract', idSalt: 'c', diskBytes: 1024 * 1024 });
  return {
    adapter: new SimHypervisor(layout, pino({ level: 'silent' })),
    diskLocation: async (name, sizeBytes) => {
      const path = join(dir, 'registered', `${name}.raw`);
      await createSparseFile(path, sizeBytes);
      return path;
    },
    mirrorSkip: 'the sim writes through the tap itself',
    cleanup: () => rm(dir, { recursive: true, force: true }),
  };
});
