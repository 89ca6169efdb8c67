/**
 * Task definitions as RegisterTaskDefinition wants them. A described revision (or a JSON file,
 * often saved from `aws ecs describe-task-definition`) becomes a registration request that keeps
 * every field the API accepts and drops the ones that describe a registered revision, with the
 * images of named containers replaced. Pure: no AWS calls.
 */
import type {
  ContainerDefinition,
  RegisterTaskDefinitionRequest,
  Tag,
  TaskDefinition,
} from '@aws-sdk/client-ecs';

/**
 * Every field RegisterTaskDefinition accepts. `satisfies` makes tsc compare this list with the
 * SDK's request type, so an SDK update that adds a field fails the type check until it is listed.
 */
const REGISTER_FIELDS = {
  family: true,
  taskRoleArn: true,
  executionRoleArn: true,
  networkMode: true,
  containerDefinitions: true,
  volumes: true,
  placementConstraints: true,
  requiresCompatibilities: true,
  cpu: true,
  memory: true,
  tags: true,
  pidMode: true,
  ipcMode: true,
  proxyConfiguration: true,
  inferenceAccelerators: true,
  ephemeralStorage: true,
  runtimePlatform: true,
  enableFaultInjection: true,
} satisfies Record<keyof RegisterTaskDefinitionRequest, true>;

/**
 * Fields DescribeTaskDefinition returns that RegisterTaskDefinition does not accept: they describe
 * one registered revision. Checked by tsc: every field of TaskDefinition is either registered or
 * listed here, so a new read-only field cannot slip through unnoticed.
 */
const READ_ONLY_FIELDS = {
  taskDefinitionArn: true,
  revision: true,
  status: true,
  requiresAttributes: true,
  compatibilities: true,
  registeredAt: true,
  registeredBy: true,
  deregisteredAt: true,
  deleteRequestedAt: true,
} satisfies Record<Exclude<keyof TaskDefinition, keyof RegisterTaskDefinitionRequest>, true>;

export const REGISTER_FIELD_NAMES: readonly string[] = Object.keys(REGISTER_FIELDS);
export const READ_ONLY_FIELD_NAMES: readonly string[] = Object.keys(READ_ONLY_FIELDS);

/** The images to put into a task definition, as the action's inputs give them. */
export interface ImageChanges {
  /** `image`: for the container named by `containerName`, or for the only container. */
  image?: string;
  containerName?: string;
  /** `images`: container name → image, for task definitions with several containers. */
  images?: ReadonlyArray<readonly [container: string, image: string]>;
}

/** A registration request from a described revision (DescribeTaskDefinition with include TAGS). */
export function registrationFrom(
  taskDefinition: TaskDefinition,
  tags?: readonly Tag[],
): RegisterTaskDefinitionRequest {
  const request: Record<string, unknown> = {};
  for (const field of REGISTER_FIELD_NAMES) {
    const value = (taskDefinition as Record<string, unknown>)[field];
    // null comes from JSON files; the API treats an absent field and null alike.
    if (value !== undefined && value !== null) request[field] = structuredClone(value);
  }
  // ECS rejects an empty tag list on some accounts' tagging policies; absent means the same.
  if (tags && tags.length > 0) request.tags = structuredClone([...tags]);
  return request as unknown as RegisterTaskDefinitionRequest;
}

/** `family:revision` from a task definition ARN (or the text itself when it is not an ARN). */
export function shortTaskDefinition(arnOrName: string): string {
  const at = arnOrName.lastIndexOf('task-definition/');
  return at >= 0 ? arnOrName.slice(at + 'task-definition/'.length) : arnOrName;
}

export function containerNames(request: RegisterTaskDefinitionRequest): string[] {
  return (request.containerDefinitions ?? []).map((c) => c.name ?? '');
}

/**
 * The request with the images replaced. Returns the problems instead when a named container does
 * not exist or `image` cannot tell which container it is for; each problem names the input.
 * `where` says which task definition this is (`task definition 'api:12' of service 'api'`).
 */
export function withImages(
  request: RegisterTaskDefinitionRequest,
  changes: ImageChanges,
  where: string,
):
  | { request: RegisterTaskDefinitionRequest; images: Array<[container: string, image: string]> }
  | {
      problems: string[];
    } {
  const names = containerNames(request);
  const listed = names.map((n) => `'${n}'`).join(', ');
  const wanted: Array<[input: string, container: string, image: string]> = [];
  const problems: string[] = [];

  if (changes.image !== undefined) {
    if (changes.containerName !== undefined) {
      wanted.push(['container-name', changes.containerName, changes.image]);
    } else if (names.length === 1) {
      wanted.push(['image', names[0] as string, changes.image]);
    } else {
      problems.push(
        `input 'container-name' is required with 'image' because ${where} has ${names.length} containers: ${listed}`,
      );
    }
  }
  for (const [container, image] of changes.images ?? []) wanted.push(['images', container, image]);

  for (const [input, container] of wanted) {
    if (!names.includes(container)) {
      problems.push(
        `input '${input}' names container '${container}', which ${where} does not have; its containers: ${listed}`,
      );
    }
  }
  if (problems.length > 0) return { problems };

  const imageOf = new Map(wanted.map(([, container, image]) => [container, image]));
  const containerDefinitions: ContainerDefinition[] = (request.containerDefinitions ?? []).map(
    (c) => (imageOf.has(c.name ?? '') ? { ...c, image: imageOf.get(c.name ?? '') } : c),
  );
  return {
    request: { ...request, containerDefinitions },
    images: [...imageOf.entries()],
  };
}

/**
 * A task definition JSON file: either the task definition itself or the whole output of
 * `aws ecs describe-task-definition --include TAGS` (`{"taskDefinition": ..., "tags": [...]}`).
 * Read-only fields are dropped; unknown fields are problems, because the SDK would silently not
 * send them. Problems read as the continuation of "input 'task-definition' ...".
 */
export function parseTaskDefinitionFile(
  text: string,
  path: string,
): { request: RegisterTaskDefinitionRequest } | { problem: string } {
  let document: unknown;
  try {
    document = JSON.parse(text.replace(/^\uFEFF/, ''));
  } catch {
    return {
      problem: `file '${path}' is not valid JSON: ${jsonErrorWhere(text.replace(/^\uFEFF/, ''))}`,
    };
  }
  if (!isObject(document)) return { problem: `file '${path}' must hold a JSON object` };
  let definition: Record<string, unknown> = document;
  let tags: unknown = document.tags;
  if (isObject(document.taskDefinition)) {
    definition = document.taskDefinition;
    tags = document.tags ?? definition.tags;
  }

  const unknown = Object.keys(definition).filter(
    (k) => !REGISTER_FIELD_NAMES.includes(k) && !READ_ONLY_FIELD_NAMES.includes(k),
  );
  if (unknown.length > 0) {
    return {
      problem: `file '${path}' has fields RegisterTaskDefinition does not know: ${unknown.map((k) => `'${k}'`).join(', ')}`,
    };
  }
  if (typeof definition.family !== 'string' || definition.family === '') {
    return { problem: `file '${path}' has no 'family'` };
  }
  const containers = definition.containerDefinitions;
  if (
    !Array.isArray(containers) ||
    containers.length === 0 ||
    !containers.every((c) => isObject(c) && typeof c.name === 'string' && c.name !== '')
  ) {
    return {
      problem: `file '${path}' needs 'containerDefinitions': a list of containers, each with a 'name'`,
    };
  }
  if (tags !== undefined && tags !== null && !Array.isArray(tags)) {
    return { problem: `file '${path}' has 'tags' that are not a list of {key, value}` };
  }
  return {
    request: registrationFrom(
      { ...definition, tags: undefined } as TaskDefinition,
      (tags ?? undefined) as Tag[] | undefined,
    ),
  };
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * Where a text stops being JSON, as "unexpected '}' at line 3 column 5". V8's own message does not
 * always give a position (and quotes a snippet of the file), so this small scanner finds it.
 */
export function jsonErrorWhere(text: string): string {
  let i = 0;
  const fail = (): never => {
    throw new JsonSyntaxAt(i);
  };
  const space = () => {
    while (i < text.length && ' \t\n\r'.includes(text[i] as string)) i++;
  };
  const literal = (word: string) => {
    for (const ch of word) {
      if (text[i] !== ch) fail();
      i++;
    }
  };
  const string = () => {
    i++; // opening quote
    while (i < text.length && text[i] !== '"') {
      const ch = text.charCodeAt(i);
      if (ch < 0x20) fail();
      if (text[i] === '\\') {
        i++;
        if (text[i] === 'u') {
          for (let k = 0; k < 4; k++) {
            i++;
            if (!/[0-9a-fA-F]/.test(text[i] ?? '')) fail();
          }
        } else if (!'"\\/bfnrt'.includes(text[i] ?? 'x')) fail();
      }
      i++;
    }
    if (i >= text.length) fail();
    i++;
  };
  const number = () => {
    const m = /^-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/.exec(text.slice(i));
    if (!m) fail();
    i += (m as RegExpExecArray)[0].length;
  };
  const value = (): void => {
    space();
    const ch = text[i];
    if (ch === '{') {
      i++;
      space();
      if (text[i] === '}') return void i++;
      for (;;) {
        space();
        if (text[i] !== '"') fail();
        string();
        space();
        if (text[i] !== ':') fail();
        i++;
        value();
        space();
        if (text[i] === '}') return void i++;
        if (text[i] !== ',') fail();
        i++;
      }
    }
    if (ch === '[') {
      i++;
      space();
      if (text[i] === ']') return void i++;
      for (;;) {
        value();
        space();
        if (text[i] === ']') return void i++;
        if (text[i] !== ',') fail();
        i++;
      }
    }
    if (ch === '"') return string();
    if (ch === 't') return literal('true');
    if (ch === 'f') return literal('false');
    if (ch === 'n') return literal('null');
    return number();
  };
  try {
    value();
    space();
    if (i < text.length) fail();
    return 'not JSON';
  } catch (error) {
    if (!(error instanceof JsonSyntaxAt)) throw error;
    if (error.offset >= text.length) return 'the file ends before the JSON does';
    const before = text.slice(0, error.offset).split('\n');
    const column = (before[before.length - 1] ?? '').length + 1;
    const ch = text[error.offset] as string;
    const shownChar = ch === '\n' ? 'line break' : ch === '\t' ? 'tab' : `'${ch}'`;
    return `unexpected ${shownChar} at line ${before.length} column ${column}`;
  }
}

class JsonSyntaxAt extends Error {
  constructor(readonly offset: number) {
    super(`JSON syntax error at ${offset}`);
  }
}
