/**
 * What deploy-ecs needs for services on the CODE_DEPLOY controller: the inputs, and the client,
 * made only when such a service is found (its SDK is a separate chunk, loaded with `import()`).
 * Types only: importing this file loads nothing.
 */
import type { CodeDeployClient } from '@aws-sdk/client-codedeploy';
import type { AppSpecHook } from './appspec.js';

/** The part of the CodeDeploy client the library uses; a CodeDeployClient or a mock of one. */
export type CodeDeployApi = Pick<CodeDeployClient, 'send'>;

export interface CodeDeployOptions {
  /** Default: `AppECS-<cluster>-<service>`. */
  application?: string;
  /** Default: `DgpECS-<cluster>-<service>`. */
  deploymentGroup?: string;
  /** Default: the deployment group's. */
  deploymentConfig?: string;
  description?: string;
  hooks?: AppSpecHook[];
  /** Makes the client; called once, and only when a service uses the CODE_DEPLOY controller. */
  client?: () => Promise<CodeDeployApi>;
  /** Called as soon as CodeDeploy accepted a deployment (the post step stops it if main dies). */
  onDeploymentCreated?: (service: string, deploymentId: string) => void;
}
