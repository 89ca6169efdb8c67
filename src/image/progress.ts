/**
 * Reads a build log as it streams: which step runs, which steps came from the cache, and where a
 * failed build stopped. Understands the three formats the engines print:
 *
 *   podman / buildah   `STEP 3/7: RUN make`        `--> Using cache 40cd...`   `Error: building at STEP "RUN make": ...`
 *   docker buildx      `#7 [build 3/7] RUN make`   `#7 CACHED`                 `#7 ERROR: process ... exit code: 2`
 *   docker (legacy)    `Step 3/7 : RUN make`       ` ---> Using cache`         `The command '...' returned a non-zero code: 2`
 *
 * Only RUN, COPY and ADD steps are counted: they are the ones that cost time and make layers.
 * (FROM pulls a base image; ENV, LABEL, ARG and friends are metadata, and podman turns each
 * `--label` into one more LABEL step, whose `created` value never repeats.)
 */

/** How many lines of output a failure report carries. */
const FAILURE_TAIL_LINES = 30;

export interface BuildSteps {
  /** RUN, COPY and ADD steps seen. */
  steps: number;
  /** Of those, steps taken from the layer cache. */
  cached: number;
}

const PODMAN_STEP = /^(?:\[[^\]]*\]\s*)?STEP (\d+\/\d+): (.*)$/;
const PODMAN_CACHED = /^--> Using cache\b/;
const LEGACY_STEP = /^Step (\d+\/\d+) : (.*)$/;
const LEGACY_CACHED = /^\s*---> Using cache\b/;
/** `#7 [build 3/7] RUN make` (a Dockerfile step; `[internal]` and friends have no n/m). */
const BUILDX_STEP = /^#(\d+) \[(?:[^\]]*?\s)?(\d+\/\d+)\] (.*)$/;
const BUILDX_CACHED = /^#(\d+) CACHED\b/;
const BUILDX_ERROR = /^#(\d+) ERROR: (.*)$/;
const LAYER_STEP = /^(RUN|COPY|ADD)\b/i;

export class BuildLog {
  private readonly tail: string[] = [];
  private podmanOrLegacySteps = 0;
  private podmanOrLegacyCached = 0;
  private lastStepCounts = false;
  /** buildx: vertex number → step text; which of them count (RUN/COPY/ADD); which were cached. */
  private readonly buildxNames = new Map<string, string>();
  private readonly buildxSteps = new Set<string>();
  private readonly buildxCached = new Set<string>();
  private failedVertex: string | undefined;
  private errorLine: string | undefined;
  /** The step running now, as the engine names it (`STEP 3/7: RUN make`). */
  currentStep: string | undefined;

  feed(line: string): void {
    const text = line.replace(/\s+$/, '');
    if (text === '') return;
    this.tail.push(text);
    if (this.tail.length > FAILURE_TAIL_LINES) this.tail.shift();

    let m = PODMAN_STEP.exec(text) ?? LEGACY_STEP.exec(text);
    if (m) {
      const [, counter, instruction] = m as unknown as [string, string, string];
      this.currentStep = `STEP ${counter}: ${instruction}`;
      this.lastStepCounts = LAYER_STEP.test(instruction);
      if (this.lastStepCounts) this.podmanOrLegacySteps++;
      return;
    }
    if (PODMAN_CACHED.test(text) || LEGACY_CACHED.test(text)) {
      if (this.lastStepCounts) this.podmanOrLegacyCached++;
      return;
    }
    m = BUILDX_STEP.exec(text);
    if (m) {
      const [, vertex, counter, instruction] = m as unknown as [string, string, string, string];
      this.currentStep = `STEP ${counter}: ${instruction}`;
      if (!this.buildxNames.has(vertex)) this.buildxNames.set(vertex, this.currentStep);
      if (LAYER_STEP.test(instruction)) this.buildxSteps.add(vertex);
      return;
    }
    m = BUILDX_CACHED.exec(text);
    if (m) {
      this.buildxCached.add(m[1] as string);
      return;
    }
    m = BUILDX_ERROR.exec(text);
    if (m) {
      this.failedVertex ??= m[1] as string;
      this.errorLine ??= (m[2] as string).trim();
      return;
    }
    // The last error line wins, except over the more specific error of a failed buildx step.
    const isError = /^(Error|ERROR): /.test(text) || /returned a non-zero code/.test(text);
    if (isError && this.failedVertex === undefined) {
      this.errorLine = text.replace(/^(Error|ERROR): /, '');
    }
  }

  steps(): BuildSteps {
    if (this.buildxSteps.size > 0) {
      const cached = [...this.buildxSteps].filter((v) => this.buildxCached.has(v)).length;
      return { steps: this.buildxSteps.size, cached };
    }
    return { steps: this.podmanOrLegacySteps, cached: this.podmanOrLegacyCached };
  }

  /** The step that failed: the one buildx marked, else the last one started. */
  failedStep(): string | undefined {
    return (this.failedVertex && this.buildxNames.get(this.failedVertex)) ?? this.currentStep;
  }

  /** The engine's own one-line reason, when it printed one. */
  failureReason(): string | undefined {
    return this.errorLine;
  }

  lastLines(): string[] {
    return [...this.tail];
  }
}
