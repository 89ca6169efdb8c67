/**
 * What a follower of one deployment (service deployments, CodeDeploy) records as it goes: the
 * lifecycle stages with their traffic shifts, and the service's events, each logged once.
 */
import { DescribeServicesCommand } from '@aws-sdk/client-ecs';
import { awsErrorName, isThrottling } from '../aws.js';
import type { Logger } from '../logger.js';
import { newEvents, type SeenEvent } from './deployment.js';
import type { EcsApi, StageChange } from './watch.js';

export class DeploymentTimeline {
  /** Stages seen, oldest first; a traffic shift within a stage is an entry too. */
  readonly stages: StageChange[] = [];
  /** Service events seen since the update, oldest first. */
  readonly events: SeenEvent[] = [];
  private lastStage: string | undefined;
  private lastTraffic = '';

  constructor(
    private readonly label: string,
    private readonly logger: Logger,
    /** When following began: stages are timed from here. */
    private readonly startMs: number,
    /** How the first stage line names a stage: `stage`, `lifecycle event`. */
    private readonly stageWord: string,
  ) {}

  /**
   * Log a change of stage (with `detail`, empty parts left out) or of traffic within a stage.
   * True when the stage changed.
   */
  note(stage: string, traffic: string, nowMs: number, detail: readonly string[]): boolean {
    const atMs = nowMs - this.startMs;
    const changed = stage !== this.lastStage;
    if (changed) {
      const shifted = traffic !== '' && traffic !== this.lastTraffic;
      this.stages.push({ stage, atMs, ...(shifted ? { traffic } : {}) });
      const from = this.lastStage ? `${this.lastStage} → ` : `${this.stageWord} `;
      const words = detail.filter((d) => d !== '').join(', ');
      this.logger.info(`${this.label}: ${from}${stage} (${words})`);
      this.lastStage = stage;
    } else if (traffic !== '' && traffic !== this.lastTraffic) {
      this.stages.push({ stage, atMs, traffic });
      this.logger.info(`${this.label}: ${stage}: ${traffic}`);
    }
    this.lastTraffic = traffic;
    return changed;
  }

  /** The stage a failing hook ran in: the last one before a rollback began. */
  stageBeforeRollback(): string | undefined {
    return [...this.stages].reverse().find((s) => !/ROLLBACK/.test(s.stage))?.stage;
  }

  /**
   * Read the service's events and log the new ones. Events are context, not the verdict: a failed
   * read is logged (throttling silently) and never thrown.
   */
  async readEvents(
    ecs: EcsApi,
    where: { cluster: string; service: string; seenEventIds: Set<string> },
  ): Promise<void> {
    try {
      const out = await ecs.send(
        new DescribeServicesCommand({ cluster: where.cluster, services: [where.service] }),
      );
      for (const event of newEvents(out.services?.[0]?.events, where.seenEventIds)) {
        this.events.push(event);
        this.logger.info(`${this.label} event: ${event.message}`);
      }
    } catch (error) {
      if (!isThrottling(error))
        this.logger.info(`${this.label}: could not read service events (${awsErrorName(error)})`);
    }
  }
}
