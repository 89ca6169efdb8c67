/**
 * The EC2 hosts the loopback SSM fleet deploys to and the loopback ELBv2 routes to: one object
 * both stand-ins share, so the load balancer sees a host stop serving while it is mid-deploy.
 */

export type InstanceState = 'running' | 'stopped' | 'terminated';

export interface SimulatedHostSpec {
  instanceId: string;
  /** `us-east-1a` unless given. */
  availabilityZone?: string;
  /** EC2 tags, for SSM tag targets. */
  tags?: Record<string, string>;
  /** Whether the service on it answers requests and health checks; true unless given. */
  serving?: boolean;
  /** `running` unless given; a stopped host neither serves nor can be registered. */
  state?: InstanceState;
}

export interface SimulatedHost {
  instanceId: string;
  availabilityZone: string;
  tags: Record<string, string>;
  serving: boolean;
  state: InstanceState;
}

export class SimulatedHosts {
  private readonly byId = new Map<string, SimulatedHost>();
  /** Every change of `serving`, in order (ms since the model was built). */
  readonly servingChanges: Array<{ at: number; instanceId: string; serving: boolean }> = [];
  private readonly started = Date.now();

  constructor(hosts: SimulatedHostSpec[]) {
    for (const h of hosts) {
      this.byId.set(h.instanceId, {
        instanceId: h.instanceId,
        availabilityZone: h.availabilityZone ?? 'us-east-1a',
        tags: { ...h.tags },
        serving: h.serving ?? true,
        state: h.state ?? 'running',
      });
    }
  }

  /** `count` hosts `i-0000000000000001`, … spread round robin over `zones`. */
  static numbered(count: number, zones = ['us-east-1a', 'us-east-1b']): SimulatedHosts {
    return new SimulatedHosts(
      Array.from({ length: count }, (_, i) => ({
        instanceId: `i-${String(i + 1).padStart(17, '0')}`,
        availabilityZone: zones[i % zones.length],
      })),
    );
  }

  ids(): string[] {
    return [...this.byId.keys()];
  }

  get(instanceId: string): SimulatedHost | undefined {
    return this.byId.get(instanceId);
  }

  /** Whether a request or health check reaching this host now would be answered. */
  hostServing(instanceId: string): boolean {
    const host = this.byId.get(instanceId);
    return host !== undefined && host.state === 'running' && host.serving;
  }

  setServing(instanceId: string, serving: boolean): void {
    const host = this.byId.get(instanceId);
    if (!host) throw new Error(`no simulated host ${instanceId}`);
    if (host.serving === serving) return;
    host.serving = serving;
    this.servingChanges.push({ at: Date.now() - this.started, instanceId, serving });
  }

  setState(instanceId: string, state: InstanceState): void {
    const host = this.byId.get(instanceId);
    if (!host) throw new Error(`no simulated host ${instanceId}`);
    host.state = state;
  }
}
