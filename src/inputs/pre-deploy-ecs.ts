/** deploy-ecs's pre-deploy inputs: the one-off task's command, container, deadline and overrides. */
import type { KeyValuePair } from '@aws-sdk/client-ecs';
import { readCommandWords } from './command-words.js';
import { ENV_NAME, ENV_NAME_RULE, shown, type InputReader } from './reader.js';
import { didYouMean } from '../ecs/task-definition.js';
import type { PreDeployOptions, PreDeployOverrides } from '../ecs/one-off-task.js';

const CONTAINER_NAME = /^[A-Za-z0-9_-]{1,255}$/;
const OVERRIDE_KEYS = ['environment', 'cpu', 'memory'] as const;
/** ECS's limits for a container: CPU units (192 vCPU), memory MiB (Docker's floor is 6 MiB). */
const MAX_CPU = 196_608;
const MIN_MEMORY = 6;
const MAX_MEMORY = 4_194_304;

/** Undefined when `pre-deploy-command` is unset (and then the other pre-deploy inputs must be). */
export function readPreDeploy(
  r: InputReader,
): Omit<PreDeployOptions, 'startedBy' | 'onStarted' | 'onSettled'> | undefined {
  const text = r.string('pre-deploy-command');
  const container = r.string('pre-deploy-container');
  const overridesText = r.string('pre-deploy-overrides');
  const timeoutMs = r.duration('pre-deploy-timeout', '10m');
  if (text === '') {
    // pre-deploy-timeout has a default (the runner always passes it): it may stay set.
    for (const [name, value] of [
      ['pre-deploy-container', container],
      ['pre-deploy-overrides', overridesText],
    ] as const) {
      if (value !== '')
        r.problem(name, "is only used with 'pre-deploy-command': set it too, or remove this");
    }
    return undefined;
  }
  // A refused command is recorded on the reader, which throws before this is used.
  const command = readCommandWords(r, 'pre-deploy-command') ?? [];
  if (container !== '' && !CONTAINER_NAME.test(container)) {
    r.problem('pre-deploy-container', `must be a container name; got ${shown(container)}`);
  }
  const overrides = overridesText === '' ? undefined : parseOverrides(r, overridesText);
  return {
    command,
    ...(container !== '' ? { container } : {}),
    timeoutMs,
    ...(overrides ? { overrides } : {}),
  };
}

/** `{"environment": {"NAME": "value"} or [{"name","value"}], "cpu": 256, "memory": 512}`. */
function parseOverrides(r: InputReader, text: string): PreDeployOverrides | undefined {
  const name = 'pre-deploy-overrides';
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    // The message may quote the text, which may hold a secret value: say where only.
    const where = /position \d+|line \d+ column \d+/.exec(String(error))?.[0];
    r.problem(name, `is not valid JSON${where ? ` (at ${where})` : ''}`);
    return undefined;
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    r.problem(name, 'must be a JSON object with environment, cpu and/or memory');
    return undefined;
  }
  const out: PreDeployOverrides = {};
  let ok = true;
  const bad = (message: string) => {
    r.problem(name, message);
    ok = false;
  };
  for (const [key, v] of Object.entries(value)) {
    if (!(OVERRIDE_KEYS as readonly string[]).includes(key)) {
      bad(
        `has key '${key}'${didYouMean(key, OVERRIDE_KEYS)}; accepted: ${OVERRIDE_KEYS.join(', ')}`,
      );
      continue;
    }
    if (key === 'environment') {
      const env = environmentOf(v, bad);
      if (env) out.environment = env;
    } else {
      const [min, max] = key === 'cpu' ? [0, MAX_CPU] : [MIN_MEMORY, MAX_MEMORY];
      if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
        bad(
          `'${key}' must be a whole number between ${min} and ${max}${key === 'cpu' ? ' (CPU units)' : ' (MiB)'}`,
        );
      } else out[key as 'cpu' | 'memory'] = v;
    }
  }
  return ok ? out : undefined;
}

function environmentOf(v: unknown, bad: (message: string) => void): KeyValuePair[] | undefined {
  if (typeof v !== 'object' || v === null) {
    bad(
      `'environment' must be an object of names and string values, or a list of {"name", "value"}`,
    );
    return undefined;
  }
  const pairs: Array<[string, unknown]> = Array.isArray(v)
    ? v.map((e: unknown, i): [string, unknown] => {
        const item = (typeof e === 'object' && e !== null ? e : {}) as Record<string, unknown>;
        const name = typeof item.name === 'string' ? item.name : `#${i + 1}`;
        return [name, item.value];
      })
    : Object.entries(v);
  const out: KeyValuePair[] = [];
  const seen = new Set<string>();
  let ok = true;
  for (const [key, value] of pairs) {
    // Values are never quoted back: they may be secrets.
    if (!ENV_NAME.test(key)) {
      bad(`'environment' has an invalid variable name ${shown(key)} (${ENV_NAME_RULE})`);
      ok = false;
    } else if (typeof value !== 'string') {
      bad(`'environment' value of ${key} must be a string (quote numbers and booleans)`);
      ok = false;
    } else if (seen.has(key)) {
      bad(`'environment' names ${key} twice`);
      ok = false;
    } else {
      seen.add(key);
      out.push({ name: key, value });
    }
  }
  return ok ? out : undefined;
}
