import type { Unsubscribe } from '../../app/protocol';
import type { PeerLink, ReceivedRecord } from '../peer/peer-link';
import type { PeerService } from '../peer/peer-service';

/** What the router hands each link's traffic to (the engine). */
export interface LinkRoutes {
  /** Target side: persist received records; resolves with the seq to ACK. */
  receive(link: PeerLink, vpgId: string, records: readonly ReceivedRecord[]): Promise<number>;
  /** Target side: the VPG's last persisted seq (0: none, or not received here). */
  targetPosition(vpgId: string): number;
  /** Source side: an ACK or POSITION of a VPG this agent protects toward `peerAgentId`. */
  ack(peerAgentId: string, vpgId: string, seq: number): void;
  position(peerAgentId: string, vpgId: string, seq: number): void;
  up(link: PeerLink): void;
  down(peerAgentId: string): void;
}

/**
 * Wires every peer link, present and future, to the replication engine: RECORDS and
 * POSITION_REQUEST (this agent as target), ACK and POSITION (as source), up and down. One
 * link carries every VPG between two agents, so the engine routes by VPG id.
 */
export class LinkRouter {
  private readonly links = new Map<string, Unsubscribe[]>();
  private readonly onLink = (link: PeerLink): void => this.attach(link);
  private readonly onUnlink = (agentId: string): void => this.detach(agentId);

  constructor(
    private readonly peers: PeerService,
    private readonly routes: LinkRoutes,
  ) {}

  /** Takes the links that exist and every link created from now on. */
  start(): void {
    for (const link of this.peers.links()) this.attach(link);
    this.peers.events.on('link', this.onLink);
    this.peers.events.on('unlink', this.onUnlink);
  }

  stop(): void {
    this.peers.events.off('link', this.onLink);
    this.peers.events.off('unlink', this.onUnlink);
    for (const agentId of [...this.links.keys()]) this.detach(agentId);
  }

  private attach(link: PeerLink): void {
    const peer = link.peerAgentId;
    if (this.links.has(peer)) return;
    const { routes } = this;
    const up = (): void => routes.up(link);
    const down = (): void => routes.down(peer);
    link.onRecords((vpgId, records) => routes.receive(link, vpgId, records));
    link.onPositionRequest((vpgId) => routes.targetPosition(vpgId));
    link.on('up', up);
    link.on('down', down);
    this.links.set(peer, [
      link.onAck((vpgId, seq) => routes.ack(peer, vpgId, seq)),
      link.onPosition((vpgId, seq) => routes.position(peer, vpgId, seq)),
      () => link.off('up', up),
      () => link.off('down', down),
      () => {
        link.onRecords(undefined);
        link.onPositionRequest(undefined);
      },
    ]);
    if (link.state === 'connected') routes.up(link);
  }

  private detach(agentId: string): void {
    const off = this.links.get(agentId);
    if (off === undefined) return;
    this.links.delete(agentId);
    for (const unsubscribe of off) unsubscribe();
    this.routes.down(agentId);
  }
}
