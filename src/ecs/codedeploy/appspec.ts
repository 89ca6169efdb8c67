/**
 * The AppSpec of a CodeDeploy deployment of an ECS service, generated from the service and the
 * revision to deploy: the target service's task definition, the container and port its load
 * balancer sends traffic to, and the optional lifecycle hooks (`appspec-hooks`). No SDK here: the
 * input reader checks hooks with it, and it is bundled with the rolling path.
 */
import { createHash } from 'node:crypto';
import { shown } from '../../inputs/reader.js';

/** The lifecycle events of an ECS deployment that run a hook, in the order CodeDeploy runs them. */
const ECS_HOOK_STAGES = [
  'BeforeInstall',
  'AfterInstall',
  'AfterAllowTestTraffic',
  'BeforeAllowTraffic',
  'AfterAllowTraffic',
] as const;
export type HookStage = (typeof ECS_HOOK_STAGES)[number];
export type AppSpecHook = [stage: HookStage, functionArn: string];

/** `arn:aws:lambda:us-east-1:123456789012:function:name`, with an optional version or alias. */
const LAMBDA_FUNCTION_ARN =
  /^arn:aws[a-z-]*:lambda:[a-z]{2}(?:-[a-z]+)+-\d+:\d{12}:function:[A-Za-z0-9_-]{1,64}(?::[A-Za-z0-9_$-]{1,128})?$/;

/**
 * Check `Stage=function-arn` pairs (already split by the input reader): the stage must be one of
 * ECS_HOOK_STAGES and the ARN a Lambda function's. Returns the hooks, or the problems (each
 * without the input's name).
 */
export function checkHooks(
  pairs: ReadonlyArray<[string, string]>,
): { hooks: AppSpecHook[] } | { problems: string[] } {
  const problems: string[] = [];
  const hooks: AppSpecHook[] = [];
  for (const [stage, arn] of pairs) {
    const known = ECS_HOOK_STAGES.find((s) => s === stage);
    if (!known) {
      problems.push(
        `names stage '${stage}', which is not an ECS lifecycle hook: use one of ${ECS_HOOK_STAGES.join(', ')}`,
      );
      continue;
    }
    if (!LAMBDA_FUNCTION_ARN.test(arn)) {
      problems.push(
        `must give a Lambda function ARN for ${stage} (arn:aws:lambda:<region>:<account>:function:<name>); got ${shown(arn)}`,
      );
      continue;
    }
    hooks.push([known, arn]);
  }
  return problems.length > 0 ? { problems } : { hooks };
}

export interface AppSpecSource {
  taskDefinitionArn: string;
  containerName: string;
  containerPort: number;
  hooks: readonly AppSpecHook[];
}

/**
 * The AppSpec as YAML (`version: 0.0`, as AWS documents it). String values are written as JSON
 * strings, which YAML reads as double-quoted scalars, so no value can change the structure.
 * Hooks are listed in the order CodeDeploy runs them.
 */
export function appSpecYaml(src: AppSpecSource): string {
  const q = (text: string) => JSON.stringify(text);
  const lines = [
    'version: 0.0',
    'Resources:',
    '  - TargetService:',
    '      Type: AWS::ECS::Service',
    '      Properties:',
    `        TaskDefinition: ${q(src.taskDefinitionArn)}`,
    '        LoadBalancerInfo:',
    `          ContainerName: ${q(src.containerName)}`,
    `          ContainerPort: ${src.containerPort}`,
  ];
  const hooks = [...src.hooks].sort(
    (a, b) => ECS_HOOK_STAGES.indexOf(a[0]) - ECS_HOOK_STAGES.indexOf(b[0]),
  );
  if (hooks.length > 0) {
    lines.push('Hooks:');
    for (const [stage, arn] of hooks) lines.push(`  - ${stage}: ${q(arn)}`);
  }
  return `${lines.join('\n')}\n`;
}

/** CreateDeployment's revision: the AppSpec content and its SHA-256, as CodeDeploy checks it. */
export function appSpecRevision(content: string) {
  return {
    revisionType: 'AppSpecContent' as const,
    appSpecContent: { content, sha256: createHash('sha256').update(content).digest('hex') },
  };
}

/** The AWS console's names: `AppECS-<cluster>-<service>` and `DgpECS-<cluster>-<service>`. */
export function defaultNames(cluster: string, service: string) {
  const name = (nameOrArn: string) => nameOrArn.split('/').pop() ?? nameOrArn;
  return {
    application: `AppECS-${name(cluster)}-${name(service)}`,
    deploymentGroup: `DgpECS-${name(cluster)}-${name(service)}`,
  };
}
