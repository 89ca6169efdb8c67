/** The container engines the suite drives, on the runner (build-push) and on hosts (deploy-ec2-ssm). */
export type EngineName = 'docker' | 'podman';
export const ENGINES: readonly EngineName[] = ['docker', 'podman'];
