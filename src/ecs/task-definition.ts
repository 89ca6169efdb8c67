/**
 * Task definitions as RegisterTaskDefinition wants them. A described revision (or a JSON file,
 * often saved from `aws ecs describe-task-definition`) becomes a registration request that keeps
 * every field the API accepts and drops the ones that describe a registered revision, with the
 * images of named containers replaced. Pure: no AWS calls.
 */
import {
  RegisterTaskDefinitionRequest$,
  type ContainerDefinition,
  type RegisterTaskDefinitionRequest,
  type Tag,
  type TaskDefinition,
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

const REGISTER_FIELD_NAMES: readonly string[] = Object.keys(REGISTER_FIELDS);
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

function containerNames(request: RegisterTaskDefinitionRequest): string[] {
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
    const named = unknown.map((k) => `'${k}'${didYouMean(k, REGISTER_FIELD_NAMES)}`);
    return {
      problem: `file '${path}' has fields RegisterTaskDefinition does not know: ${named.join(', ')}`,
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
  const registered = Object.fromEntries(
    Object.entries({ ...definition, tags }).filter(([k]) => REGISTER_FIELD_NAMES.includes(k)),
  );
  const nested = shapeProblems(registered, RegisterTaskDefinitionRequest$, '');
  if (nested.length > 0) {
    const shownProblems = nested.slice(0, MAX_SHAPE_PROBLEMS);
    const more = nested.length - shownProblems.length;
    return {
      problem: `file '${path}' does not match RegisterTaskDefinition: ${shownProblems.join('; ')}${more > 0 ? `; and ${more} more` : ''}`,
    };
  }
  return {
    request: registrationFrom(
      { ...definition, tags: undefined } as TaskDefinition,
      (tags ?? undefined) as Tag[] | undefined,
    ),
  };
}

/** Shape problems quoted in one message; the rest are counted. */
const MAX_SHAPE_PROBLEMS = 10;

/**
 * Where a value does not fit the SDK's own schema of the request (the static schema that the
 * client serializes with): a key the shape does not have, which the SDK would silently not send,
 * or an object where the shape wants a list (and the reverse). Walks every nested structure,
 * list and map, so `containerDefinitions[0].portMappings[1].containerPort` is checked as well as
 * the top level. The depth is the schema's, never the document's, so hostile nesting cannot
 * exhaust the stack. Values of simple shapes (strings, numbers) are left for ECS to check.
 */
function shapeProblems(value: unknown, schema: unknown, path: string): string[] {
  const problems: string[] = [];
  const walk = (v: unknown, ref: unknown, at: string): void => {
    if (v === null || v === undefined) return; // the API treats null and absent alike
    const sc = resolveSchema(ref);
    const kind = schemaKind(sc);
    const where = at === '' ? 'the task definition' : at;
    if (kind === 'struct') {
      const [, , name, , memberNames, memberSchemas] = sc as [
        number,
        string,
        string,
        unknown,
        string[],
        unknown[],
      ];
      if (!isObject(v)) {
        problems.push(`${where} must be an object (${name}); got ${jsonType(v)}`);
        return;
      }
      for (const [key, child] of Object.entries(v)) {
        const i = memberNames.indexOf(key);
        const childPath = at === '' ? key : `${at}.${key}`;
        if (i < 0) {
          problems.push(`${childPath} is not a field of ${name}${didYouMean(key, memberNames)}`);
        } else {
          walk(child, memberSchemas[i], childPath);
        }
      }
    } else if (kind === 'list') {
      if (!Array.isArray(v)) {
        problems.push(`${where} must be a list; got ${jsonType(v)}`);
        return;
      }
      const member = typeof sc === 'number' ? sc & 63 : (sc as unknown[])[4];
      v.forEach((item, i) => walk(item, member, `${at}[${i}]`));
    } else if (kind === 'map') {
      if (!isObject(v)) {
        problems.push(`${where} must be an object of names to values; got ${jsonType(v)}`);
        return;
      }
      const valueSchema = typeof sc === 'number' ? sc & 63 : (sc as unknown[])[5];
      for (const [key, child] of Object.entries(v)) walk(child, valueSchema, `${at}.${key}`);
    } else if (kind === 'simple' && typeof v === 'object' && sc !== DOCUMENT_SCHEMA) {
      problems.push(`${where} must be a single value; got ${jsonType(v)}`);
    }
  };
  walk(value, schema, path);
  return problems;
}

/** Smithy's simple schema id for a document (free-form JSON). */
const DOCUMENT_SCHEMA = 15;

/** Follow lazy references (`() => Shape`) and member wrappers (`[shape, traits]`) to the shape. */
function resolveSchema(ref: unknown): unknown {
  let sc = ref;
  for (let hops = 0; hops < 20; hops++) {
    if (typeof sc === 'function') sc = (sc as () => unknown)();
    else if (Array.isArray(sc) && sc.length === 2) sc = sc[0];
    else break;
  }
  return sc;
}

/** Static schemas: numbers for simple shapes (+64: a list of them, +128: a map), or arrays. */
function schemaKind(sc: unknown): 'struct' | 'list' | 'map' | 'simple' | 'unknown' {
  if (typeof sc === 'number') {
    if (sc >= 64 && sc < 128) return 'list';
    if (sc >= 128 && sc < 256) return 'map';
    return 'simple';
  }
  if (!Array.isArray(sc)) return 'unknown';
  if (sc[0] === 3 || sc[0] === -3 || sc[0] === 4) return 'struct';
  if (sc[0] === 1) return 'list';
  if (sc[0] === 2) return 'map';
  if (sc[0] === 0) return 'simple';
  return 'unknown';
}

function jsonType(v: unknown): string {
  if (Array.isArray(v)) return 'a list';
  if (isObject(v)) return 'an object';
  return typeof v === 'string' ? 'a string' : `${typeof v}`;
}

/** ` (did you mean portMappings?)` when a valid name is close to the one given, else ''. */
export function didYouMean(given: string, names: readonly string[]): string {
  const key = given.trim().toLowerCase();
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const name of names) {
    const d = editDistance(key, name.toLowerCase());
    if (d < bestDistance) {
      best = name;
      bestDistance = d;
    }
  }
  const allowed = Math.max(1, Math.floor(given.trim().length / 3));
  return best !== undefined && bestDistance <= allowed ? ` (did you mean ${best}?)` : '';
}

function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      current[j] = Math.min(
        (previous[j] as number) + 1,
        (current[j - 1] as number) + 1,
        (previous[j - 1] as number) + cost,
      );
    }
    previous = current;
  }
  return previous[b.length] as number;
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
  /**
   * One JSON value, without recursion: an explicit stack of the open objects and lists, so a
   * deeply nested file cannot overflow the call stack of the reporter.
   */
  const value = (): void => {
    const open: Array<'{' | '['> = [];
    for (;;) {
      // Expecting a value.
      space();
      const ch = text[i];
      if (ch === '{') {
        i++;
        space();
        if (text[i] === '}') i++;
        else {
          open.push('{');
          member();
          continue;
        }
      } else if (ch === '[') {
        i++;
        space();
        if (text[i] === ']') i++;
        else {
          open.push('[');
          continue;
        }
      } else if (ch === '"') string();
      else if (ch === 't') literal('true');
      else if (ch === 'f') literal('false');
      else if (ch === 'n') literal('null');
      else number();
      // A value ended: close what it ends, or go on to the next element or member.
      for (;;) {
        const inside = open[open.length - 1];
        if (inside === undefined) return;
        space();
        const close = inside === '{' ? '}' : ']';
        if (text[i] === close) {
          i++;
          open.pop();
          continue;
        }
        if (text[i] !== ',') fail();
        i++;
        if (inside === '{') member();
        break;
      }
    }
  };
  /** `"name":` of an object member; the value follows. */
  const member = () => {
    space();
    if (text[i] !== '"') fail();
    string();
    space();
    if (text[i] !== ':') fail();
    i++;
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
