/** A command line the agent cannot act on: message on stderr, exit status 64 (EX_USAGE). */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

export const EXIT_USAGE = 64;
export const EXIT_ALREADY_INITIALIZED = 2;
/** Another process holds the data directory's lock (run, init, export-disk). */
export const EXIT_DATA_DIR_IN_USE = 2;

export const MAIN_HELP = `Usage: tideline-agent <command> [options]

The Tideline agent: protects the VMs of a hypervisor host and serves the console.

Commands:
  init         Create a data directory: key pair, certificate, admin token, hypervisor
  run          Serve the control channel (wss://HOST:PORT/) until SIGTERM or SIGINT
  export-disk  Write the image of a replicated disk at a checkpoint to a raw file

Options:
  -h, --help      Show this help ("tideline-agent <command> --help" for a command)
  -V, --version   Show the agent version
`;

export const INIT_HELP = `Usage: tideline-agent init --data-dir DIR --site NAME [--hypervisor sim|libvirt] [options]

Creates the agent's data directory DIR: an ECDSA P-256 key pair and a self-signed
certificate, the site, the hypervisor (sim: simulated VMs whose disks are sparse files;
libvirt: the QEMU/KVM domains of this host, through virsh), and an admin token. Prints on
stdout:

  token: <admin token>        shown only this once; the agent keeps only a hash
  fingerprint: <SHA-256>      the certificate fingerprint to confirm in the console

Options:
  --data-dir DIR        Directory to create (new or empty); default $TIDELINE_DATA_DIR
  --site NAME           Name of the site this agent belongs to (1–80 characters)
  --hypervisor KIND     sim (default) or libvirt
  --sim-disk-mib N      sim: make every disk N MiB instead of 1–8 GiB (for tests and small
                        demos whose disks are copied or hashed whole)
  --sim-vms N           sim: make N VMs (1–64) instead of 4–6 (load tests with many disks)
  --libvirt-uri URI     libvirt: the connection (default qemu:///system); init checks it answers
  --libvirt-prefix P    libvirt: only domains whose name starts with P are this agent's, and
                        recovered domains are named with it (several agents on one libvirtd)
  --libvirt-qemu-group G
                        libvirt: the group QEMU runs as (default libvirt-qemu): it is given
                        access to the agent's NBD socket
  -h, --help            Show this help

Exit status: 0 initialized; 2 DIR is already initialized or in use (nothing was changed);
64 bad usage; 1 any other error.
`;

export const RUN_HELP = `Usage: tideline-agent run --data-dir DIR [--listen HOST:PORT] [options]

Serves the control channel at wss://HOST:PORT/ (JSON-RPC 2.0; "Authorization: Bearer
<token>") and the replication listener for paired agents. Logs JSON lines to
DIR/logs/agent.log and stdout; the line with msg "listening" carries the url and port, the
one with msg "replication listening" the advertised replication address and port, the one
with msg "nbd listening" the NBD socket path (and TCP address). SIGTERM or SIGINT stops it cleanly (exit status 0).

Options:
  --data-dir DIR          An initialized data directory; default $TIDELINE_DATA_DIR
  --listen HOST:PORT      Address to serve on (default 0.0.0.0:7443; port 0 = any free port)
  --replication-listen HOST:PORT
                          Where paired agents connect (mutual TLS); default the --listen host
                          and its port + 1 (port 0 stays 0)
  --advertise HOST:PORT   The replication address other sites' agents dial, as put in pairing
                          tokens; default the replication listen address, or this machine's
                          host name when it listens on 0.0.0.0 or ::
  --pairing-token-ttl SECONDS
                          How long a pairing token stays valid (default 600)
  --outbox-limit-mib N    Outbox size per VPG (default 2048); past it the VPG tracks written
                          regions instead and resyncs them by block hashes once the link is back
  --preseed-dir DIR       Where pre-seeded replica images for received VPGs may be (default:
                          none). A protected site's agent may name only files under DIR (real
                          path, symlinks resolved) and, for reverse protection, the disks of
                          this host's powered-off VMs that no VPG protects
  --rpo-grace-seconds N   How long RPO must stay over its target before an RPO alert is raised
                          (default 60)
  --metadata-interval-seconds N
                          How often the VMs of protected VPGs are captured for the recovery
                          site even without a change (default 300)
  --nbd-socket PATH       The unix socket (mode 0600) where VMs attach their disks over NBD,
                          one export per disk named by its disk id (default DIR/nbd.sock;
                          vm.list shows each disk's nbd+unix:// URI)
  --nbd-listen [HOST:]PORT
                          Also serve NBD on TCP (host default 127.0.0.1; port 0 = any free port).
                          A non-loopback host needs --nbd-tls-psk (or --nbd-allow-insecure)
  --nbd-tls-psk FILE      TLS with pre-shared keys (NBD STARTTLS, as qemu-nbd): FILE holds
                          "identity:hexkey" lines (psktool -u NAME -p FILE), mode 0600; TLS is
                          then required on TCP and offered on the unix socket
  --nbd-allow-insecure    Serve NBD on a non-loopback host without TLS (a trusted network only)
  --no-nbd                No NBD server
  --log-level LEVEL       fatal, error, warn, info (default), debug or trace
  --keepalive SECONDS     Ping interval; a console silent for a whole interval is dropped (default 30)
  -h, --help              Show this help

One agent per data directory: run holds DIR/agent.lock (flock) while it runs; a second
run, init or export-disk on DIR exits 2 at once, naming the holder, having changed nothing.

Exit status: 0 stopped by a signal; 2 DIR is in use by another process; 64 bad usage;
1 could not start; 70 crashed.
`;
