/** The steps of the failover tasks, as the admin reads them in the task list. */
export const STEPS = {
  checkpoint: 'Choose the checkpoint',
  shutdown: 'Shut down the protected VMs',
  disks: 'Open the recovery disks',
  networks: 'Create missing networks',
  register: 'Register the VMs',
  power: 'Power on by boot group',
  powerOff: 'Power off the VMs',
  unregister: 'Unregister the VMs',
  deleteNetworks: 'Delete the networks it created',
  discard: 'Discard the recovery disks',
  record: 'Record the test result',
  window: 'Close the commit window',
  promote: 'Start promotion',
  moveCheckpoint: 'Send the rest and insert the move checkpoint',
} as const;

export const PROMOTE_STEPS = {
  write: 'Write the journal and the VMs’ writes into the replica disks',
  switch: 'Switch the VMs to their promoted disks',
  retire: 'Retire the VPG at the original site',
  reverse: 'Start reverse protection',
} as const;
