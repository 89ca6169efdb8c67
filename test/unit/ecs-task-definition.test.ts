import { readFileSync } from 'node:fs';
import type { TaskDefinition, Tag } from '@aws-sdk/client-ecs';
import {
  jsonErrorWhere,
  parseTaskDefinitionFile,
  READ_ONLY_FIELD_NAMES,
  registrationFrom,
  shortTaskDefinition,
  withImages,
} from '../../src/ecs/task-definition.js';

type Described = { taskDefinition: TaskDefinition & Record<string, unknown>; tags?: Tag[] };
const fixture = (name: string): Described =>
  JSON.parse(readFileSync(`test/fixtures/ecs/${name}`, 'utf8')) as Described;

describe.each(['web-fargate.describe.json', 'worker-ec2.describe.json'])('%s', (name) => {
  const described = fixture(name);
  const request = registrationFrom(described.taskDefinition, described.tags);

  it('keeps every field RegisterTaskDefinition accepts, unchanged, and drops the read-only ones', () => {
    const expected = Object.fromEntries(
      Object.entries(described.taskDefinition).filter(
        ([k, v]) => !READ_ONLY_FIELD_NAMES.includes(k) && v !== null,
      ),
    );
    if ((described.tags ?? []).length > 0) expected.tags = described.tags;
    expect(request).toEqual(expected);
    for (const field of ['taskDefinitionArn', 'revision', 'status', 'requiresAttributes'])
      expect(request).not.toHaveProperty(field);
    for (const field of ['compatibilities', 'registeredAt', 'registeredBy', 'deregisteredAt'])
      expect(request).not.toHaveProperty(field);
  });

  it('changes nothing but the one image', () => {
    const first = described.taskDefinition.containerDefinitions?.[0]?.name as string;
    const out = withImages(
      request,
      { image: 'registry.example/app:v2', containerName: first },
      'x',
    );
    if ('problems' in out) throw new Error(out.problems.join());
    const [changed, ...others] = out.request.containerDefinitions ?? [];
    const [original, ...originalOthers] = request.containerDefinitions ?? [];
    expect(changed).toEqual({ ...original, image: 'registry.example/app:v2' });
    expect(others).toEqual(originalOthers);
    expect({ ...out.request, containerDefinitions: [] }).toEqual({
      ...request,
      containerDefinitions: [],
    });
    expect(out.images).toEqual([[first, 'registry.example/app:v2']]);
  });

  it('does not share objects with the description it was made from', () => {
    const out = withImages(request, { images: [] }, 'x');
    if ('problems' in out) throw new Error(out.problems.join());
    (out.request.volumes ?? [])[0]!.name = 'mutated';
    expect(described.taskDefinition.volumes?.[0]?.name).not.toBe('mutated');
  });
});

describe('the multi-container web task definition', () => {
  const described = fixture('web-fargate.describe.json');
  const request = registrationFrom(described.taskDefinition, described.tags);

  it('keeps secrets, log configuration, EFS volumes, the proxy and the tags', () => {
    const app = request.containerDefinitions?.[0];
    expect(app?.secrets).toHaveLength(2);
    expect(app?.logConfiguration?.secretOptions?.[0]?.name).toBe('apikey');
    expect(request.volumes?.[0]?.efsVolumeConfiguration?.authorizationConfig).toEqual({
      accessPointId: 'fsap-0123456789abcdef0',
      iam: 'ENABLED',
    });
    expect(request.proxyConfiguration?.containerName).toBe('envoy');
    expect(request.tags).toEqual([
      { key: 'team', value: 'storefront' },
      { key: 'cost-center', value: 'cc-1234' },
    ]);
  });

  it('replaces several images at once with images', () => {
    const out = withImages(
      request,
      {
        images: [
          ['app', 'web:v2'],
          ['log_router', 'fluent-bit:3'],
        ],
      },
      'x',
    );
    if ('problems' in out) throw new Error(out.problems.join());
    expect(out.request.containerDefinitions?.map((c) => c.image)).toEqual([
      'web:v2',
      request.containerDefinitions?.[1]?.image,
      'fluent-bit:3',
    ]);
  });

  it('asks for container-name when image alone cannot tell which container', () => {
    expect(withImages(request, { image: 'web:v2' }, "task definition 'web:42'")).toEqual({
      problems: [
        "input 'container-name' is required with 'image' because task definition 'web:42' has 3 containers: 'app', 'envoy', 'log_router'",
      ],
    });
  });

  it('names the input and the containers that exist when a container is not there', () => {
    const out = withImages(
      request,
      { image: 'web:v2', containerName: 'web', images: [['sidecar', 'x:1']] },
      "task definition 'web:42' of service 'web'",
    );
    expect(out).toEqual({
      problems: [
        "input 'container-name' names container 'web', which task definition 'web:42' of service 'web' does not have; its containers: 'app', 'envoy', 'log_router'",
        "input 'images' names container 'sidecar', which task definition 'web:42' of service 'web' does not have; its containers: 'app', 'envoy', 'log_router'",
      ],
    });
  });
});

it('puts image into the only container when container-name is not given', () => {
  const { taskDefinition } = fixture('worker-ec2.describe.json');
  const out = withImages(registrationFrom(taskDefinition), { image: 'worker:v8' }, 'x');
  if ('problems' in out) throw new Error(out.problems.join());
  expect(out.request.containerDefinitions?.[0]?.image).toBe('worker:v8');
  expect(out.request).not.toHaveProperty('tags'); // an empty tag list is left out
});

describe('task definition files', () => {
  it('reads a task definition as written by hand', () => {
    const text = readFileSync('test/fixtures/ecs/api.task-definition.json', 'utf8');
    const out = parseTaskDefinitionFile(text, 'api.json');
    if ('problem' in out) throw new Error(out.problem);
    expect(out.request.family).toBe('api');
    expect(out.request.tags).toEqual([{ key: 'service', value: 'api' }]);
    expect(out.request.containerDefinitions?.[0]?.portMappings).toEqual([{ containerPort: 8000 }]);
  });

  it('reads the saved output of describe-task-definition, dropping read-only fields', () => {
    const text = readFileSync('test/fixtures/ecs/web-fargate.describe.json', 'utf8');
    const out = parseTaskDefinitionFile(text, 'web.json');
    if ('problem' in out) throw new Error(out.problem);
    const described = fixture('web-fargate.describe.json');
    expect(out.request).toEqual(registrationFrom(described.taskDefinition, described.tags));
  });

  it('says where a file stops being JSON', () => {
    const text = readFileSync('test/fixtures/ecs/broken.task-definition.json', 'utf8');
    expect(parseTaskDefinitionFile(text, 'broken.json')).toEqual({
      problem: `file 'broken.json' is not valid JSON: unexpected '"' at line 6 column 3`,
    });
    expect(parseTaskDefinitionFile('{"family": "a",', 'f.json')).toEqual({
      problem: "file 'f.json' is not valid JSON: the file ends before the JSON does",
    });
  });

  it.each([
    ['{"a": }', "unexpected '}' at line 1 column 7"],
    ['[1,]', "unexpected ']' at line 1 column 4"],
    ['{"a": "x\ty"}', 'unexpected tab at line 1 column 9'],
    ['{"a": tru}', "unexpected '}' at line 1 column 10"],
    ['{"a": "\\q"}', "unexpected 'q' at line 1 column 9"],
    ['{"a": 1}\n}', "unexpected '}' at line 2 column 1"],
    ['{"a": "\\u12g4"}', "unexpected 'g' at line 1 column 12"],
  ])('locates the error in %j', (text, where) => {
    expect(() => JSON.parse(text)).toThrow();
    expect(jsonErrorWhere(text)).toBe(where);
  });

  it('refuses fields RegisterTaskDefinition would silently not send', () => {
    const text = JSON.stringify({
      family: 'api',
      containerDefinitions: [{ name: 'api', image: 'api:1' }],
      containerDefinition: [],
      memoryReservation: 5,
    });
    expect(parseTaskDefinitionFile(text, 'td.json')).toEqual({
      problem:
        "file 'td.json' has fields RegisterTaskDefinition does not know: 'containerDefinition' (did you mean containerDefinitions?), 'memoryReservation'",
    });
  });

  const withContainer = (container: Record<string, unknown>, more: object = {}) =>
    JSON.stringify({
      family: 'api',
      containerDefinitions: [{ name: 'api', image: 'api:1', ...container }],
      ...more,
    });
  const refusal = (problems: string) =>
    `file 'td.json' does not match RegisterTaskDefinition: ${problems}`;

  it.each([
    [
      { Environment: [{ name: 'A', value: '1' }] },
      'containerDefinitions[0].Environment is not a field of ContainerDefinition (did you mean environment?)',
    ],
    [
      { 'secrets ': [{ name: 'A', valueFrom: 'arn:aws:ssm:us-east-1:123456789012:parameter/a' }] },
      'containerDefinitions[0].secrets  is not a field of ContainerDefinition (did you mean secrets?)',
    ],
    [
      { portMapping: [{ containerPort: 80 }] },
      'containerDefinitions[0].portMapping is not a field of ContainerDefinition (did you mean portMappings?)',
    ],
    [
      { portMappings: [{ containerPort: 80 }, { containerport: 81 }] },
      'containerDefinitions[0].portMappings[1].containerport is not a field of PortMapping (did you mean containerPort?)',
    ],
    [
      { environment: [{ Name: 'A', value: '1' }] },
      'containerDefinitions[0].environment[0].Name is not a field of KeyValuePair (did you mean name?)',
    ],
    [
      { secrets: [{ name: 'A', value: 'arn:aws:ssm:us-east-1:123456789012:parameter/a' }] },
      'containerDefinitions[0].secrets[0].value is not a field of Secret',
    ],
    [
      { logConfiguration: { logDriver: 'awslogs', option: { 'awslogs-group': 'g' } } },
      'containerDefinitions[0].logConfiguration.option is not a field of LogConfiguration (did you mean options?)',
    ],
    [
      { healthCheck: { comand: ['CMD', 'true'] } },
      'containerDefinitions[0].healthCheck.comand is not a field of HealthCheck (did you mean command?)',
    ],
    [
      { mountPoints: [{ sourcevolume: 'data', containerPath: '/data' }] },
      'containerDefinitions[0].mountPoints[0].sourcevolume is not a field of MountPoint (did you mean sourceVolume?)',
    ],
    [
      { linuxParameters: { capabilities: { Add: ['NET_ADMIN'] } } },
      'containerDefinitions[0].linuxParameters.capabilities.Add is not a field of KernelCapabilities (did you mean add?)',
    ],
    [
      { environment: { A: '1' } },
      'containerDefinitions[0].environment must be a list; got an object',
    ],
    [
      { healthCheck: ['CMD'] },
      'containerDefinitions[0].healthCheck must be an object (HealthCheck); got a list',
    ],
    [{ cpu: { units: 256 } }, 'containerDefinitions[0].cpu must be a single value; got an object'],
  ])('refuses a container with %j, naming the path', (container, problem) => {
    expect(parseTaskDefinitionFile(withContainer(container), 'td.json')).toEqual({
      problem: refusal(problem),
    });
  });

  it('checks volumes, tags and the other top-level structures too, and lists every problem', () => {
    const text = withContainer(
      { portMapping: [] },
      {
        volumes: [{ name: 'data', efsVolumeConfiguration: { fileSystemID: 'fs-1' } }],
        tags: [{ Key: 'team', value: 'web' }],
      },
    );
    expect(parseTaskDefinitionFile(text, 'td.json')).toEqual({
      problem: refusal(
        [
          'containerDefinitions[0].portMapping is not a field of ContainerDefinition (did you mean portMappings?)',
          'volumes[0].efsVolumeConfiguration.fileSystemID is not a field of EFSVolumeConfiguration (did you mean fileSystemId?)',
          'tags[0].Key is not a field of Tag (did you mean key?)',
        ].join('; '),
      ),
    });
  });

  it('accepts every field of a task definition that ECS described', () => {
    for (const name of ['web-fargate.describe.json', 'worker-ec2.describe.json']) {
      const text = readFileSync(`test/fixtures/ecs/${name}`, 'utf8');
      expect(parseTaskDefinitionFile(text, name)).toHaveProperty('request');
    }
  });

  it('reports deeply nested malformed JSON with its position, without overflowing the stack', () => {
    const deep = '{"family": ' + '['.repeat(200_000) + '1,}';
    expect(parseTaskDefinitionFile(deep, 'deep.json')).toEqual({
      problem: "file 'deep.json' is not valid JSON: unexpected '}' at line 1 column 200014",
    });
    expect(parseTaskDefinitionFile('['.repeat(200_000), 'deep.json')).toEqual({
      problem: "file 'deep.json' is not valid JSON: the file ends before the JSON does",
    });
  });

  it('refuses deeply nested valid JSON where a single value belongs, without overflowing', () => {
    const deep = '['.repeat(100_000) + ']'.repeat(100_000);
    const text = `{"family": "api", "cpu": ${deep}, "containerDefinitions": [{"name": "api"}]}`;
    expect(parseTaskDefinitionFile(text, 'td.json')).toEqual({
      problem: refusal('cpu must be a single value; got a list'),
    });
  });

  it.each([
    ['[]', "file 'td.json' must hold a JSON object"],
    ['{"containerDefinitions": [{"name": "a"}]}', "file 'td.json' has no 'family'"],
    [
      '{"family": "a", "containerDefinitions": [{"image": "x"}]}',
      "file 'td.json' needs 'containerDefinitions': a list of containers, each with a 'name'",
    ],
  ])('refuses %s', (text, problem) => {
    expect(parseTaskDefinitionFile(text, 'td.json')).toEqual({ problem });
  });
});

it('shortens task definition ARNs to family:revision', () => {
  expect(shortTaskDefinition('arn:aws:ecs:eu-west-1:123456789012:task-definition/web:42')).toBe(
    'web:42',
  );
  expect(shortTaskDefinition('web:42')).toBe('web:42');
});
