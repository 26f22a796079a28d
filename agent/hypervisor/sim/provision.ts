import { mkdir, open } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import type { DataDirLayout } from '../../config/data-dir';
import { writeJsonAtomic } from '../../store/atomic-file';
import { generateSimInventory, type SimGeneratorOptions, type SimInventory } from './generator';

/**
 * Creates the sim hypervisor in a new data directory: generates the inventory, creates each
 * disk as a sparse file of its full size (ftruncate: no blocks are allocated), then saves the
 * inventory atomically. Refuses to overwrite an existing disk file.
 */
export async function provisionSim(
  layout: DataDirLayout,
  options: SimGeneratorOptions,
): Promise<SimInventory> {
  const inventory = generateSimInventory(options);
  for (const vm of inventory.vms) {
    for (const disk of vm.disks)
      await createSparseFile(resolve(layout.root, disk.location), disk.sizeBytes);
  }
  await mkdir(layout.stateDir, { recursive: true });
  await writeJsonAtomic(layout.inventoryFile, inventory);
  return inventory;
}

export async function createSparseFile(path: string, sizeBytes: number): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const handle = await open(path, 'wx', 0o600);
  try {
    await handle.truncate(sizeBytes);
    await handle.sync();
  } finally {
    await handle.close();
  }
}
