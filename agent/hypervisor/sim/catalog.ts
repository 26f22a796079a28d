/**
 * The kinds of VM the sim hypervisor makes: a role gives the name, guest OS, size and
 * networks. Disk sizes are in GiB and stay within 1–8 GiB: the disks are real sparse files,
 * and the replication tests copy them.
 */
export interface SimRole {
  readonly role: string;
  readonly guestOs: readonly string[];
  readonly cpus: readonly number[];
  readonly memoryMiB: readonly number[];
  /** [min, max] GiB of each disk, the system disk first. */
  readonly disksGiB: readonly (readonly [number, number])[];
  readonly networks: readonly string[];
}

const LINUX = ['Ubuntu 22.04 LTS', 'Debian 12', 'Red Hat Enterprise Linux 9', 'Rocky Linux 9'];
const WINDOWS = ['Windows Server 2022', 'Windows Server 2019'];

export const SIM_ROLES: readonly SimRole[] = [
  {
    role: 'web',
    guestOs: LINUX,
    cpus: [2, 4],
    memoryMiB: [2048, 4096],
    disksGiB: [[2, 4]],
    networks: ['prod-web', 'mgmt'],
  },
  {
    role: 'db',
    guestOs: LINUX,
    cpus: [4, 8],
    memoryMiB: [8192, 16384],
    disksGiB: [
      [2, 4],
      [4, 8],
    ],
    networks: ['prod-db', 'mgmt'],
  },
  {
    role: 'app',
    guestOs: LINUX,
    cpus: [2, 4],
    memoryMiB: [4096, 8192],
    disksGiB: [[2, 6]],
    networks: ['prod-app', 'prod-db'],
  },
  {
    role: 'file',
    guestOs: WINDOWS,
    cpus: [2],
    memoryMiB: [4096],
    disksGiB: [
      [4, 6],
      [2, 8],
    ],
    networks: ['prod-app'],
  },
  {
    role: 'dc',
    guestOs: WINDOWS,
    cpus: [2],
    memoryMiB: [4096],
    disksGiB: [[4, 6]],
    networks: ['mgmt'],
  },
  {
    role: 'mail',
    guestOs: LINUX,
    cpus: [2],
    memoryMiB: [4096],
    disksGiB: [
      [2, 3],
      [1, 4],
    ],
    networks: ['prod-web'],
  },
  {
    role: 'erp',
    guestOs: WINDOWS,
    cpus: [4],
    memoryMiB: [8192, 12288],
    disksGiB: [
      [4, 6],
      [2, 4],
    ],
    networks: ['prod-app', 'prod-db'],
  },
  {
    role: 'crm',
    guestOs: LINUX,
    cpus: [2, 4],
    memoryMiB: [4096, 8192],
    disksGiB: [[2, 4]],
    networks: ['prod-app'],
  },
  {
    role: 'print',
    guestOs: WINDOWS,
    cpus: [1, 2],
    memoryMiB: [2048],
    disksGiB: [[4, 5]],
    networks: ['prod-app'],
  },
  {
    role: 'backup',
    guestOs: LINUX,
    cpus: [2],
    memoryMiB: [4096],
    disksGiB: [
      [2, 3],
      [4, 8],
    ],
    networks: ['mgmt'],
  },
  {
    role: 'git',
    guestOs: LINUX,
    cpus: [2],
    memoryMiB: [4096],
    disksGiB: [[2, 4]],
    networks: ['prod-app'],
  },
  {
    role: 'wiki',
    guestOs: LINUX,
    cpus: [1, 2],
    memoryMiB: [2048],
    disksGiB: [[1, 3]],
    networks: ['prod-web'],
  },
  {
    role: 'proxy',
    guestOs: LINUX,
    cpus: [1, 2],
    memoryMiB: [1024, 2048],
    disksGiB: [[1, 2]],
    networks: ['prod-web', 'mgmt'],
  },
  {
    role: 'mon',
    guestOs: LINUX,
    cpus: [2],
    memoryMiB: [4096],
    disksGiB: [[2, 4]],
    networks: ['mgmt'],
  },
];

/** Third octet of each network's subnet (10.<site>.<octet>.0/24). */
export const NETWORK_OCTETS: Readonly<Record<string, number>> = {
  'prod-web': 10,
  'prod-app': 20,
  'prod-db': 30,
  mgmt: 99,
};
