/** A deploy-ecs rollout against the ECS stand-in in virtual time: what every ECS test sets up. */
import { deployEcs, type DeployEcsOptions } from '../../src/ecs/rollout.js';
import { VirtualClock } from '../../src/virtual-clock.js';
import { SimulatedEcs, type SimOptions, type SimServiceSpec } from '../../stand-ins/ecs.js';
import { lineLogger } from '../../src/logger.js';

export const MINUTE = 60_000;

/**
 * The stand-in with `services`, and `deploy(opts)` rolling them all out (forced, waiting, 15 min,
 * 3 task failures) with `defaults` and then `opts` on top; `lines` collects the log, stamped with
 * the virtual time.
 */
export function setupRollout(
  services: SimServiceSpec[],
  extra: Partial<SimOptions> = {},
  defaults: Partial<DeployEcsOptions> = {},
) {
  const clock = new VirtualClock();
  const sim = new SimulatedEcs({ clock, cluster: 'prod', services, ...extra });
  const lines: string[] = [];
  const deploy = (opts: Partial<DeployEcsOptions> = {}) =>
    deployEcs({
      cluster: 'prod',
      services: services.map((s) => s.name),
      forceNewDeployment: true,
      wait: true,
      timeoutMs: 15 * MINUTE,
      maxTaskFailures: 3,
      rollbackOnFailure: false,
      ecs: sim.client,
      clock,
      random: () => 0.5,
      logger: lineLogger((line) => lines.push(`${(clock.now() / 1000).toFixed(0)}s ${line}`)),
      ...defaults,
      ...opts,
    });
  return { clock, sim, lines, deploy };
}
