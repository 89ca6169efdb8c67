/**
 * ELBv2 on loopback, speaking the AWS Query protocol (form-encoded POST in, XML out) so the real
 * `ElasticLoadBalancingV2Client` runs its serializer, XML parser, error mapping, retries and
 * waiters; behind it a simulated load balancer in real time: target health state machines driven
 * by health checks against a host model, draining, and request routing with the lag and fail-open
 * real load balancers have. Times are configured in the seconds the API reports and run
 * `msPerSecond` ms each, so a bench covers a 300 s drain in a fraction of a second.
 *
 *   const hosts = SimulatedHosts.numbered(4);
 *   const elb = await startElbv2StandIn({ hosts, msPerSecond: 10, targetGroups: [
 *     { name: 'web', targets: hosts.ids(), deregistrationDelaySeconds: 30 } ] });
 *   const client = new ElasticLoadBalancingV2Client({ ...elb.clientConfig(), ...awsClientConfig() });
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { SimulatedHosts } from './hosts.js';
import { listenOnReachablePort } from './listen.js';

const XMLNS = 'http://elasticloadbalancing.amazonaws.com/doc/2015-12-01/';
const ACCOUNT = '123456789012';

export type TargetState =
  'initial' | 'healthy' | 'unhealthy' | 'unused' | 'draining' | 'unavailable';

/** The reasons AWS gives for a target failing its health checks. */
export type UnhealthyReason =
  'Target.ResponseCodeMismatch' | 'Target.Timeout' | 'Target.FailedHealthChecks';

export interface TargetGroupSpec {
  name: string;
  /** Derived from the name unless given. */
  arn?: string;
  /** `instance` unless given. */
  targetType?: 'instance' | 'ip' | 'lambda';
  /** `HTTP` unless given (`TCP` for an NLB group). */
  protocol?: string;
  /** 80 unless given: the port a target registered without one gets. */
  port?: number;
  /** The load balancers that forward to the group; the stand-in's ALB unless given. `[]`: none. */
  loadBalancerArns?: string[];
  /** AZs the load balancer has enabled; every AZ unless given. */
  availabilityZones?: string[];
  healthCheckEnabled?: boolean;
  /** `/` unless given. */
  healthCheckPath?: string;
  /** AWS default 30. */
  healthCheckIntervalSeconds?: number;
  /** AWS default 5. */
  healthyThresholdCount?: number;
  /** AWS default 2. */
  unhealthyThresholdCount?: number;
  /**
   * AWS default 300 (`deregistration_delay.timeout_seconds`). A deregistered target drains for all
   * of it: AWS may end a drain early when the target has no connections left; this never does.
   */
  deregistrationDelaySeconds?: number;
  /**
   * Time a new target spends in `initial` / Elb.RegistrationInProgress before checks start; 0 unless
   * given. A new target whose host serves turns healthy after registrationSeconds + interval ×
   * healthy threshold (the warm-up).
   */
  registrationSeconds?: number;
  /** Reason a failing target reports; `Target.ResponseCodeMismatch` for HTTP(S), `Target.FailedHealthChecks` otherwise. */
  unhealthyReason?: UnhealthyReason;
  /** Extra attributes DescribeTargetGroupAttributes reports. */
  attributes?: Record<string, string>;
  /** Targets registered at start, `healthy` if their host serves: IDs, or IDs with ports. */
  targets?: Array<string | { id: string; port?: number }>;
}

export interface LoadBalancerSpec {
  arn: string;
  name: string;
  /** `application` unless given. */
  type?: 'application' | 'network' | 'gateway';
}

export interface Elbv2StandInOptions {
  hosts: SimulatedHosts;
  targetGroups: TargetGroupSpec[];
  /** Load balancers DescribeLoadBalancers answers; by default one ALB, `DEFAULT_LOAD_BALANCER_ARN`. */
  loadBalancers?: LoadBalancerSpec[];
  /** Wall-clock ms per API second (health-check interval, delays, lag). 1000 unless given. */
  msPerSecond?: number;
  /** Seconds a load balancer keeps routing to a target after its deregistration. 5 unless given. */
  routingLagSeconds?: number;
  /** How often health checks come due, in ms. 5 unless given. */
  tickMs?: number;
  region?: string;
}

/** One call the stand-in received: the form fields parsed into lists and structures. */
export interface Elbv2Call {
  action: string;
  params: Record<string, unknown>;
  /** ms since the stand-in started. */
  at: number;
}

export interface TargetHealthView {
  id: string;
  port: number;
  state: TargetState;
  reason?: string;
  description?: string;
}

export interface RoutedRequest {
  /** ms since the stand-in started. */
  at: number;
  targetGroupArn: string;
  groupName: string;
  /** Absent when the group had no target to send it to. */
  instanceId?: string;
  port?: number;
  /** What the host model said about the target host at that instant. */
  hostServing: boolean;
  /** Sent to an unhealthy or new target because no target was healthy. */
  failOpen: boolean;
}

export interface TrafficGenerator {
  stop(): void;
}

export interface Elbv2StandIn {
  endpoint: string;
  calls: Elbv2Call[];
  callsOf(action: string): Elbv2Call[];
  /** Answer the next `count` calls of `action` with `Throttling` (HTTP 400), which the SDK retries. */
  throttleNext(action: string, count: number): void;
  /** Answer the next call of `action` with this error. */
  failNext(action: string, error: { code: string; message: string; status?: number }): void;
  /** endpoint, region and throw-away credentials for an SDK client. */
  clientConfig(): {
    endpoint: string;
    region: string;
    credentials: { accessKeyId: string; secretAccessKey: string };
  };
  /** Environment that points a bundle's ELBv2 client here, with region and throw-away credentials. */
  actionEnv(): Record<string, string>;
  arnOf(groupName: string): string;
  /** The health of every target the group knows (registered or draining), as DescribeTargetHealth gives it. */
  targetHealth(group: string): TargetHealthView[];
  /** The number of `healthy` targets in the group now. */
  healthyCount(group: string): number;
  /** The lowest `healthyCount` seen since start (or the last `resetLowestHealthy`). */
  lowestHealthyCount(group: string): number;
  resetLowestHealthy(): void;
  /** Route one request through the group as the load balancer would. */
  routeRequest(group: string): RoutedRequest;
  /** Every `everyMs`, route one request through each group attached to a load balancer (or `groups`). */
  startTraffic(options: { everyMs: number; groups?: string[] }): TrafficGenerator;
  routedRequests: RoutedRequest[];
  /** Requests routed to a host that was not serving at that instant: 0 for a rollout without failed requests. */
  requestsToHostsNotServing(): number;
  /** Requests the group had no target for. */
  requestsUnrouted(): number;
  close(): Promise<void>;
}

export const DEFAULT_LOAD_BALANCER_ARN = `arn:aws:elasticloadbalancing:us-east-1:${ACCOUNT}:loadbalancer/app/web/50dc6c495c0c9188`;

interface Target {
  id: string;
  port: number;
  state: 'initial' | 'healthy' | 'unhealthy' | 'draining';
  /** When health checks start (ms, wall clock). */
  checksFrom: number;
  nextCheck: number;
  passes: number;
  failures: number;
  /** Set when deregistered. */
  drainedAt?: number;
  routeUntil?: number;
  order: number;
}

interface Group {
  spec: TargetGroupSpec;
  arn: string;
  targets: Target[];
  lowestHealthy: number;
  roundRobin: number;
}

type QueryError = { code: string; message: string; status?: number };
class Elbv2Error extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly status = 400,
  ) {
    super(message);
  }
}

export async function startElbv2StandIn(options: Elbv2StandInOptions): Promise<Elbv2StandIn> {
  const started = Date.now();
  const msPerSecond = options.msPerSecond ?? 1000;
  const region = options.region ?? 'us-east-1';
  const routingLagMs = (options.routingLagSeconds ?? 5) * msPerSecond;
  const loadBalancers = options.loadBalancers ?? [
    { arn: DEFAULT_LOAD_BALANCER_ARN, name: 'web', type: 'application' as const },
  ];
  const hosts = options.hosts;
  const calls: Elbv2Call[] = [];
  const faults = new Map<string, QueryError[]>();
  const routedRequests: RoutedRequest[] = [];
  let order = 0;

  const groups: Group[] = options.targetGroups.map((spec, index) => ({
    spec,
    arn:
      spec.arn ??
      `arn:aws:elasticloadbalancing:${region}:${ACCOUNT}:targetgroup/${spec.name}/${(0x7ab5c0de0000 + index).toString(16).padStart(16, '0')}`,
    targets: [],
    lowestHealthy: Number.POSITIVE_INFINITY,
    roundRobin: 0,
  }));

  const interval = (g: Group) => (g.spec.healthCheckIntervalSeconds ?? 30) * msPerSecond;
  const attachedTo = (g: Group) => g.spec.loadBalancerArns ?? [DEFAULT_LOAD_BALANCER_ARN];
  const attached = (g: Group) => attachedTo(g).length > 0;
  const portOf = (g: Group) => g.spec.port ?? 80;
  const zoneServed = (g: Group, id: string) => {
    const zone = hosts.get(id)?.availabilityZone;
    return (
      !g.spec.availabilityZones || zone === undefined || g.spec.availabilityZones.includes(zone)
    );
  };
  const inService = (g: Group, t: Target) =>
    attached(g) && zoneServed(g, t.id) && hosts.get(t.id)?.state !== 'stopped';

  function register(g: Group, id: string, port: number, healthyNow: boolean) {
    const now = Date.now();
    const existing = g.targets.find((t) => t.id === id && t.port === port);
    if (existing && existing.state !== 'draining') return;
    if (existing) g.targets.splice(g.targets.indexOf(existing), 1);
    const checksFrom = now + (g.spec.registrationSeconds ?? 0) * msPerSecond;
    g.targets.push({
      id,
      port,
      state: healthyNow ? 'healthy' : 'initial',
      checksFrom,
      nextCheck: checksFrom + interval(g),
      passes: 0,
      failures: 0,
      order: order++,
    });
  }

  for (const g of groups) {
    for (const t of g.spec.targets ?? []) {
      const id = typeof t === 'string' ? t : t.id;
      const port = (typeof t === 'string' ? undefined : t.port) ?? portOf(g);
      register(g, id, port, hosts.hostServing(id));
    }
  }

  /** Runs the health checks that came due and ends drains; records the lowest healthy count. */
  function settle() {
    const now = Date.now();
    for (const g of groups) {
      g.targets = g.targets.filter((t) => t.drainedAt === undefined || now < t.drainedAt);
      if (g.spec.healthCheckEnabled !== false) {
        for (const t of g.targets) {
          if (t.state === 'draining' || now < t.nextCheck) continue;
          // A host checked late is checked once: the interval is the unit of evidence, not the tick.
          t.nextCheck = Math.max(t.nextCheck + interval(g), now);
          if (hosts.hostServing(t.id)) {
            t.passes += 1;
            t.failures = 0;
            if (t.passes >= (g.spec.healthyThresholdCount ?? 5)) t.state = 'healthy';
          } else {
            t.failures += 1;
            t.passes = 0;
            if (t.failures >= (g.spec.unhealthyThresholdCount ?? 2)) t.state = 'unhealthy';
          }
        }
      }
      g.lowestHealthy = Math.min(g.lowestHealthy, countHealthy(g));
    }
  }
  const countHealthy = (g: Group) =>
    g.targets.filter((t) => t.state === 'healthy' && inService(g, t)).length;

  function describe(
    g: Group,
    t: Target | undefined,
    id: string,
  ): TargetHealthView & { hcPort: string } {
    const port = t?.port ?? portOf(g);
    const hcPort = String(port);
    const view = (state: TargetState, reason?: string, description?: string) => ({
      id,
      port,
      state,
      reason,
      description,
      hcPort,
    });
    if (!t)
      return view('unused', 'Target.NotRegistered', 'Target is not registered to the target group');
    if (t.state === 'draining')
      return view(
        'draining',
        'Target.DeregistrationInProgress',
        'Target deregistration is in progress',
      );
    if (!attached(g))
      return view(
        'unused',
        'Target.NotInUse',
        'Target group is not configured to receive traffic from the load balancer',
      );
    if (!zoneServed(g, id))
      return view(
        'unused',
        'Target.NotInUse',
        'Target is in an Availability Zone that is not enabled for the load balancer',
      );
    if (hosts.get(id)?.state === 'stopped')
      return view('unused', 'Target.InvalidState', 'Target is in the stopped state');
    if (g.spec.healthCheckEnabled === false)
      return view('unavailable', 'Target.HealthCheckDisabled', 'Health checks are disabled');
    if (t.state === 'healthy') return view('healthy');
    if (t.state === 'initial')
      return Date.now() < t.checksFrom
        ? view('initial', 'Elb.RegistrationInProgress', 'Target registration is in progress')
        : view('initial', 'Elb.InitialHealthChecking', 'Initial health checks in progress');
    const reason =
      g.spec.unhealthyReason ??
      (/^HTTP/.test(g.spec.protocol ?? 'HTTP')
        ? 'Target.ResponseCodeMismatch'
        : 'Target.FailedHealthChecks');
    const description = {
      'Target.ResponseCodeMismatch': 'Health checks failed with these codes: [502]',
      'Target.Timeout': 'Request timed out',
      'Target.FailedHealthChecks': 'Health checks failed',
    }[reason];
    return view('unhealthy', reason, description);
  }

  function findGroup(ref: string): Group {
    const g = groups.find((x) => x.arn === ref || x.spec.name === ref);
    if (!g) throw new Elbv2Error('TargetGroupNotFound', `Target groups '${ref}' not found`);
    return g;
  }

  /** Instance targets must name a running instance, as AWS checks them. */
  function checkTargets(g: Group, targets: Array<{ Id?: string }>, registering: boolean) {
    if (g.spec.targetType && g.spec.targetType !== 'instance') return;
    const ids = targets.map((t) => t.Id ?? '');
    const missing = ids.filter((id) => !hosts.get(id) || hosts.get(id)?.state === 'terminated');
    if (missing.length > 0)
      throw new Elbv2Error(
        'InvalidTarget',
        `The following instances do not exist: ${missing.map((id) => `'${id}'`).join(', ')}`,
      );
    const stopped = ids.filter((id) => hosts.get(id)?.state === 'stopped');
    if (registering && stopped.length > 0)
      throw new Elbv2Error(
        'InvalidTarget',
        `The following targets are not in a running state and cannot be registered: ${stopped.map((id) => `'${id}'`).join(', ')}`,
      );
  }

  const groupXml = (g: Group) => ({
    TargetGroupArn: g.arn,
    TargetGroupName: g.spec.name,
    Protocol: g.spec.protocol ?? 'HTTP',
    Port: portOf(g),
    VpcId: 'vpc-0stand1n',
    HealthCheckProtocol: g.spec.protocol ?? 'HTTP',
    HealthCheckPort: 'traffic-port',
    HealthCheckEnabled: g.spec.healthCheckEnabled ?? true,
    HealthCheckIntervalSeconds: g.spec.healthCheckIntervalSeconds ?? 30,
    HealthCheckTimeoutSeconds: 5,
    HealthyThresholdCount: g.spec.healthyThresholdCount ?? 5,
    UnhealthyThresholdCount: g.spec.unhealthyThresholdCount ?? 2,
    ...(/^HTTP/.test(g.spec.protocol ?? 'HTTP')
      ? {
          HealthCheckPath: g.spec.healthCheckPath ?? '/',
          Matcher: { HttpCode: '200' },
          ProtocolVersion: 'HTTP1',
        }
      : {}),
    LoadBalancerArns: attachedTo(g),
    TargetType: g.spec.targetType ?? 'instance',
    IpAddressType: 'ipv4',
  });

  function page<T>(items: T[], params: Record<string, unknown>) {
    const start = Number(params.Marker ?? 0);
    const size = Number(params.PageSize ?? 400);
    const next = start + size < items.length ? String(start + size) : undefined;
    return { items: items.slice(start, start + size), next };
  }

  const handlers: Record<string, (p: Record<string, unknown>) => Record<string, unknown>> = {
    DescribeTargetGroups(p) {
      const arns = list<string>(p.TargetGroupArns);
      const names = list<string>(p.Names);
      if (arns.length > 0 && names.length > 0)
        throw new Elbv2Error(
          'ValidationError',
          'Target group names and target group ARNs cannot be specified at the same time',
        );
      let found = groups;
      if (typeof p.LoadBalancerArn === 'string' && p.LoadBalancerArn) {
        const lb = p.LoadBalancerArn;
        if (!loadBalancers.some((l) => l.arn === lb))
          throw new Elbv2Error('LoadBalancerNotFound', `Load balancer '${lb}' not found`);
        found = found.filter((g) => attachedTo(g).includes(lb));
      }
      if (arns.length > 0) found = arns.map((a) => groups.find((g) => g.arn === a) ?? notFound(a));
      if (names.length > 0)
        found = names.map((n) => groups.find((g) => g.spec.name === n) ?? notFound(n));
      const { items, next } = page(found, p);
      return { TargetGroups: items.map(groupXml), NextMarker: next };
    },
    DescribeTargetGroupAttributes(p) {
      const g = findGroupByArn(p);
      const attributes: Record<string, string> = {
        'deregistration_delay.timeout_seconds': String(g.spec.deregistrationDelaySeconds ?? 300),
        'stickiness.enabled': 'false',
        'stickiness.type': 'lb_cookie',
        'load_balancing.algorithm.type': 'round_robin',
        'slow_start.duration_seconds': '0',
        ...g.spec.attributes,
      };
      return { Attributes: Object.entries(attributes).map(([Key, Value]) => ({ Key, Value })) };
    },
    DescribeTargetHealth(p) {
      const g = findGroupByArn(p);
      const asked = list<{ Id?: string; Port?: string }>(p.Targets);
      checkTargets(g, asked, false);
      const views =
        asked.length > 0
          ? asked.map((a) => {
              const port = a.Port ? Number(a.Port) : undefined;
              const id = a.Id ?? '';
              const t = g.targets.find(
                (x) => x.id === id && (port === undefined || x.port === port),
              );
              return describe(g, t, id);
            })
          : [...g.targets].sort((a, b) => a.order - b.order).map((t) => describe(g, t, t.id));
      return {
        TargetHealthDescriptions: views.map((v) => ({
          Target: { Id: v.id, Port: v.port },
          HealthCheckPort: v.hcPort,
          TargetHealth: { State: v.state, Reason: v.reason, Description: v.description },
        })),
      };
    },
    RegisterTargets(p) {
      const g = findGroupByArn(p);
      const targets = list<{ Id?: string; Port?: string }>(p.Targets);
      checkTargets(g, targets, true);
      for (const t of targets) register(g, t.Id ?? '', t.Port ? Number(t.Port) : portOf(g), false);
      return {};
    },
    DeregisterTargets(p) {
      const g = findGroupByArn(p);
      const targets = list<{ Id?: string; Port?: string }>(p.Targets);
      checkTargets(g, targets, false);
      const now = Date.now();
      for (const a of targets) {
        // As in AWS, a target registered at another port than the one given (default: the group's) is left alone.
        const port = a.Port ? Number(a.Port) : portOf(g);
        const t = g.targets.find((x) => x.id === a.Id && x.port === port);
        if (!t || t.state === 'draining') continue;
        if (!attached(g)) {
          g.targets.splice(g.targets.indexOf(t), 1);
          continue;
        }
        // Only a target the load balancer was sending traffic to goes on receiving it for the lag.
        if (t.state === 'healthy' && inService(g, t)) t.routeUntil = now + routingLagMs;
        t.state = 'draining';
        t.drainedAt = now + (g.spec.deregistrationDelaySeconds ?? 300) * msPerSecond;
      }
      return {};
    },
    DescribeLoadBalancers(p) {
      const arns = list<string>(p.LoadBalancerArns);
      const names = list<string>(p.Names);
      let found = loadBalancers;
      if (arns.length > 0)
        found = arns.map((a) => loadBalancers.find((l) => l.arn === a) ?? lbNotFound(a));
      if (names.length > 0)
        found = names.map((n) => loadBalancers.find((l) => l.name === n) ?? lbNotFound(n));
      const { items, next } = page(found, p);
      return {
        LoadBalancers: items.map((l) => ({
          LoadBalancerArn: l.arn,
          DNSName: `${l.name}-1234567890.${region}.elb.amazonaws.com`,
          CanonicalHostedZoneId: 'Z35SXDOTRQ7X7K',
          CreatedTime: new Date(started).toISOString(),
          LoadBalancerName: l.name,
          Scheme: 'internet-facing',
          VpcId: 'vpc-0stand1n',
          State: { Code: 'active' },
          Type: l.type ?? 'application',
          IpAddressType: 'ipv4',
        })),
        NextMarker: next,
      };
    },
  };

  function findGroupByArn(p: Record<string, unknown>): Group {
    const arn = typeof p.TargetGroupArn === 'string' ? p.TargetGroupArn : '';
    const g = groups.find((x) => x.arn === arn);
    if (!g) throw new Elbv2Error('TargetGroupNotFound', `Target groups '${arn}' not found`);
    return g;
  }
  function notFound(ref: string): never {
    throw new Elbv2Error('TargetGroupNotFound', `One or more target groups not found: '${ref}'`);
  }
  function lbNotFound(ref: string): never {
    throw new Elbv2Error('LoadBalancerNotFound', `One or more load balancers not found: '${ref}'`);
  }

  const ticker = setInterval(settle, options.tickMs ?? 5);
  settle();

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const params = parseQueryForm(Buffer.concat(chunks).toString('utf8'));
      const action = String(params.Action ?? '');
      delete params.Action;
      delete params.Version;
      calls.push({ action, params, at: Date.now() - started });
      const requestId = `stand-in-${calls.length.toString(16).padStart(8, '0')}-elbv2`;
      const fail = (e: QueryError) => {
        res.writeHead(e.status ?? 400, {
          'content-type': 'text/xml',
          'x-amzn-requestid': requestId,
        });
        res.end(
          `<ErrorResponse xmlns="${XMLNS}"><Error><Type>${(e.status ?? 400) >= 500 ? 'Receiver' : 'Sender'}</Type>` +
            `<Code>${escapeXml(e.code)}</Code><Message>${escapeXml(e.message)}</Message></Error>` +
            `<RequestId>${requestId}</RequestId></ErrorResponse>`,
        );
      };
      const fault = faults.get(action)?.shift();
      if (fault) return fail(fault);
      const handler = handlers[action];
      if (!handler)
        return fail({
          code: 'InvalidAction',
          message: `Could not find operation ${action} for version 2015-12-01`,
        });
      try {
        settle();
        const result = handler(params);
        settle();
        res.writeHead(200, { 'content-type': 'text/xml', 'x-amzn-requestid': requestId });
        res.end(
          `<${action}Response xmlns="${XMLNS}"><${action}Result>${toXml(result)}</${action}Result>` +
            `<ResponseMetadata><RequestId>${requestId}</RequestId></ResponseMetadata></${action}Response>`,
        );
      } catch (error) {
        if (error instanceof Elbv2Error)
          fail({ code: error.code, message: error.message, status: error.status });
        else fail({ code: 'InternalFailure', message: String(error), status: 500 });
      }
    });
  });
  await listenOnReachablePort(server, '127.0.0.1');
  const { port } = server.address() as AddressInfo;
  const endpoint = `http://127.0.0.1:${port}`;
  const traffic = new Set<NodeJS.Timeout>();

  function routeRequest(ref: string): RoutedRequest {
    settle();
    const g = findGroup(ref);
    const now = Date.now();
    const base = { at: now - started, targetGroupArn: g.arn, groupName: g.spec.name };
    const byOrder = [...g.targets].sort((a, b) => a.order - b.order);
    let candidates = attached(g)
      ? byOrder.filter(
          (t) =>
            inService(g, t) &&
            (t.state === 'healthy' ||
              (t.state === 'draining' && t.routeUntil !== undefined && now < t.routeUntil)),
        )
      : [];
    let failOpen = false;
    if (candidates.length === 0 && attached(g)) {
      // ALB and NLB fail open: with no healthy target, every registered one gets traffic.
      candidates = byOrder.filter((t) => t.state !== 'draining' && inService(g, t));
      failOpen = candidates.length > 0;
    }
    const t = candidates[g.roundRobin++ % Math.max(1, candidates.length)];
    const routed: RoutedRequest = t
      ? { ...base, instanceId: t.id, port: t.port, hostServing: hosts.hostServing(t.id), failOpen }
      : { ...base, hostServing: false, failOpen: false };
    routedRequests.push(routed);
    return routed;
  }

  return {
    endpoint,
    calls,
    callsOf: (action) => calls.filter((c) => c.action === action),
    throttleNext(action, count) {
      const queue = faults.get(action) ?? [];
      for (let i = 0; i < count; i++) queue.push({ code: 'Throttling', message: 'Rate exceeded' });
      faults.set(action, queue);
    },
    failNext(action, error) {
      faults.set(action, [...(faults.get(action) ?? []), error]);
    },
    clientConfig: () => ({
      endpoint,
      region,
      credentials: { accessKeyId: 'AKIDSTUB', secretAccessKey: 'stub-secret' },
    }),
    actionEnv: () => ({
      // The SDK's variable for the service ID "Elastic Load Balancing v2".
      AWS_ENDPOINT_URL_ELASTIC_LOAD_BALANCING_V2: endpoint,
      AWS_REGION: region,
      AWS_ACCESS_KEY_ID: 'AKIDSTUB',
      AWS_SECRET_ACCESS_KEY: 'stub-secret',
      AWS_EC2_METADATA_DISABLED: 'true',
    }),
    arnOf: (name) => findGroup(name).arn,
    targetHealth(ref) {
      settle();
      const g = findGroup(ref);
      return [...g.targets]
        .sort((a, b) => a.order - b.order)
        .map((t) => {
          const { id, port: p, state, reason, description } = describe(g, t, t.id);
          return { id, port: p, state, reason, description };
        });
    },
    healthyCount(ref) {
      settle();
      return countHealthy(findGroup(ref));
    },
    lowestHealthyCount(ref) {
      settle();
      return findGroup(ref).lowestHealthy;
    },
    resetLowestHealthy() {
      for (const g of groups) g.lowestHealthy = countHealthy(g);
    },
    routeRequest,
    startTraffic({ everyMs, groups: only }) {
      const names = only ?? groups.filter(attached).map((g) => g.spec.name);
      const timer = setInterval(() => names.forEach((n) => routeRequest(n)), everyMs);
      traffic.add(timer);
      return {
        stop() {
          clearInterval(timer);
          traffic.delete(timer);
        },
      };
    },
    routedRequests,
    requestsToHostsNotServing: () =>
      routedRequests.filter((r) => r.instanceId !== undefined && !r.hostServing).length,
    requestsUnrouted: () => routedRequests.filter((r) => r.instanceId === undefined).length,
    close: () =>
      new Promise((resolve) => {
        clearInterval(ticker);
        for (const timer of traffic) clearInterval(timer);
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** `Targets.member.1.Id=i-1&Targets.member.1.Port=80` → `{ Targets: [{ Id: 'i-1', Port: '80' }] }`. */
export function parseQueryForm(body: string): Record<string, unknown> {
  const root: Record<string, unknown> = {};
  for (const [key, value] of new URLSearchParams(body)) {
    const parts = key.split('.');
    let node: Record<string, unknown> | unknown[] = root;
    for (let i = 0; i < parts.length; i++) {
      const part = parts[i] ?? '';
      const last = i === parts.length - 1;
      const slot = (
        container: Record<string, unknown> | unknown[],
        k: string | number,
        make: () => unknown,
      ) => {
        const c = container as Record<string | number, unknown>;
        if (c[k] === undefined || typeof c[k] !== 'object') c[k] = make();
        return c[k] as Record<string, unknown> | unknown[];
      };
      if (parts[i + 1] === 'member') {
        const listNode = slot(node, part, () => []) as unknown[];
        const index = Number(parts[i + 2]) - 1;
        if (i + 2 >= parts.length - 1) {
          listNode[index] = value;
          break;
        }
        node = slot(listNode, index, () => ({}));
        i += 2;
        continue;
      }
      if (last) (node as Record<string, unknown>)[part] = value;
      else node = slot(node, part, () => ({}));
    }
  }
  return root;
}

/** A list field as parsed; the SDK sends an empty list as `Names=`. */
function list<T>(value: unknown): T[] {
  return Array.isArray(value) ? (value.filter((v) => v !== undefined) as T[]) : [];
}

function escapeXml(text: string): string {
  return text
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;');
}

/** Query-protocol XML: members in order, lists as `<member>` elements, absent values left out. */
function toXml(value: Record<string, unknown>): string {
  let out = '';
  for (const [key, v] of Object.entries(value)) {
    if (v === undefined) continue;
    if (Array.isArray(v)) {
      out += `<${key}>${v.map((m) => `<member>${typeof m === 'object' ? toXml(m as Record<string, unknown>) : escapeXml(String(m))}</member>`).join('')}</${key}>`;
    } else if (typeof v === 'object' && v !== null) {
      out += `<${key}>${toXml(v as Record<string, unknown>)}</${key}>`;
    } else {
      out += `<${key}>${escapeXml(String(v))}</${key}>`;
    }
  }
  return out;
}
