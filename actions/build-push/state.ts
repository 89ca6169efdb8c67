/** The names under which the main step hands its cleanup to the post step (core.saveState). */
export const STATE = {
  /** The private temp dir of the run (podman's auth file, digest files). */
  workDir: 'work_dir',
  /** JSON list of logins and builders not yet removed (src/image/leftovers.ts). */
  leftovers: 'leftovers',
} as const;
