/**
 * The host side of deploy-ec2-ssm: a bash script generated from a DeploySpec by a pure function.
 * It is what SSM runs on every instance and what `print-script: true` shows.
 *
 * Layout: a settings block, the only place where spec values appear (each through `quote`), then
 * a fixed body that never interpolates anything. On each host the body: takes a host-wide lock →
 * logs in (ECR via the AWS CLI and the instance role) → pulls while the old container serves →
 * reads SSM parameters into a 0600 env-file → sets the old container aside (rename, stop) → runs
 * the new one → waits for health on the host → on failure shows the new container's log, removes
 * it and restarts the old one → on success removes the old container and prunes old images.
 * It ends with exactly one result line (src/ssm/result.ts), whatever happened.
 *
 * Why the old container is renamed rather than removed: a rollback then restarts exactly what
 * ran before (its own env, mounts and flags), and a deploy killed halfway (SSM timeout, SIGKILL)
 * leaves it behind for the next run to restore.
 */
import {
  formatImageReference,
  imageName,
  parseEcrHost,
  parseImageReference,
  type ImageReference,
} from '../image/reference.js';
import { quote, quoteArray } from './quote.js';
import { RESULT_MARKER } from './result.js';
import {
  DEFAULT_LOCK_FILE,
  DEFAULT_LOCK_TIMEOUT_SECONDS,
  deploySpecProblems,
  formatPortMapping,
  type DeploySpec,
} from './spec.js';

/** Suffix of the name the previous container carries while the new one proves itself. */
export const SET_ASIDE_SUFFIX = '-shipyard-previous';

/** The repository names an engine may list the image under (Docker Hub names have two forms). */
function repositoryNames(ref: ImageReference): string[] {
  const name = imageName(ref);
  if (ref.registry !== '') return [name];
  const hub = ref.repository.includes('/') ? `docker.io/${name}` : `docker.io/library/${name}`;
  return [name, hub];
}

/** Multi-line bash array assignment, one quoted element per line. */
function arrayLines(name: string, values: readonly string[]): string {
  if (values.length === 0) return `${name}=()`;
  return `${name}=(\n${values.map((v) => `  ${quote(v)}`).join('\n')}\n)`;
}

/**
 * The host script for `spec`: bash, `set -euo pipefail`, passes shellcheck. Throws when the spec
 * is invalid (the input parser is expected to have reported that already, naming the input).
 */
export function renderDeployScript(spec: DeploySpec): string {
  const problems = deploySpecProblems(spec);
  if (problems.length > 0) {
    throw new Error(`cannot generate the deploy script: ${problems.join('; ')}`);
  }
  const ref = parseImageReference(spec.image) as ImageReference; // checked just above
  const registry = spec.registryLogin === 'ecr' ? ref.registry : '';
  // Parameters are read in the instances' region; ECR is logged in to in the registry's own
  // region (its host name says which), so a cross-region registry works.
  const region = spec.region ?? '';
  const ecrRegion = (registry ? parseEcrHost(registry)?.region : undefined) ?? region;
  const image = formatImageReference(ref);

  const runArgs = [
    `--name=${spec.containerName}`,
    `--restart=${spec.restartPolicy}`,
    ...spec.ports.map((p) => `--publish=${formatPortMapping(p)}`),
    ...spec.env.map(([name, value]) => `--env=${name}=${value}`),
    ...spec.runOptions,
  ];
  const settings = [
    `engine=${quote(spec.engine)}`,
    `container=${quote(spec.containerName)}`,
    `image=${quote(image)}`,
    `# ECR registry to log in to ('' = no login) and its region; the region for SSM parameters`,
    `# ('' = the AWS CLI's default)`,
    `registry=${quote(registry)}`,
    `ecr_region=${quote(ecrRegion)}`,
    `region=${quote(region)}`,
    `stop_timeout=${quote(String(spec.stopTimeoutSeconds))}`,
    `# Run on the host with sh -c; '' = the image's HEALTHCHECK, or "still running" at the end`,
    `health_cmd=${quote(spec.healthCmd ?? '')}`,
    `health_timeout=${quote(String(spec.healthTimeoutSeconds))}`,
    `keep_images=${quote(String(spec.keepImages))}`,
    `prune_repos=${quoteArray(repositoryNames(ref))}`,
    `lock_file=${quote(spec.lockFile ?? DEFAULT_LOCK_FILE)}`,
    `lock_timeout=${quote(String(spec.lockTimeoutSeconds ?? DEFAULT_LOCK_TIMEOUT_SECONDS))}`,
    `result_marker=${quote(RESULT_MARKER)}`,
    `# Engine run flags (besides --detach, the env-file and the image)`,
    arrayLines('run_args', runArgs),
    `# Pairs: variable name, SSM parameter name (values are read on the host, never written here)`,
    arrayLines('ssm_env', spec.envFromSsm.flat()),
  ];

  return [
    '#!/usr/bin/env bash',
    `# shipyard deploy-ec2-ssm: replace container ${spec.containerName} on this host.`,
    '# Generated. Every value in the settings block is one shell word (single-quoted unless plain);',
    '# nothing in it is ever evaluated.',
    '# Runs under bash even when started as `sh script.sh`.',
    '# shellcheck disable=SC2016 # $ and backticks in values are literal on purpose',
    'if [ -z "${BASH_VERSION:-}" ]; then exec bash "$0" "$@"; fi',
    'set -euo pipefail',
    '',
    '# --- settings ---',
    ...settings,
    '',
    BODY,
  ].join('\n');
}

/** Raw template text: `\${` is written for bash's `${`, everything else is literal bash. */
function bash(strings: TemplateStringsArray): string {
  return strings.raw.join('').replaceAll('\\${', '${');
}

const BODY = bash`# --- body (identical for every deploy) ---
umask 077
# stdout: progress. fd 3 (the original stderr): only the result line, so it survives SSM keeping
# just the start of long stdout. fd 5: stdout again, for progress from inside $(...).
exec 3>&2 2>&1 5>&1

aside="$container-shipyard-previous"
step=start            # what is being done, for messages and the result
phase=untouched       # untouched: old container as it was | replacing: old one set aside | healthy
has_previous=false    # a running container was set aside and can be restarted
prev_image='' prev_image_id='' new_image_id='' env_file='' err_line='' interrupted=''
result_printed=false

say() { printf '==> %(%H:%M:%S)T %s\n' -1 "$*"; }
note() { printf '    %s\n' "$*"; }
# Indented tail of some output, lines cut to a readable width.
excerpt() { tail -n "$1" | cut -c1-300 | sed 's/^/    | /'; }

# ticking WHAT CMD...: run CMD, saying "still WHAT after Ns" every progress_every seconds, so no
# wait is silent for long. The ticker dies with CMD (or with this script), and its sleep holds no
# output pipe, so nothing lingers on the output after the script ends.
progress_every=30
ticking() {
  local what=$1 ticker rc=0
  shift
  (
    started=$SECONDS
    while sleep "$progress_every" >/dev/null 2>&1 3>&- 5>&-; do
      kill -0 "$$" 2>/dev/null || exit 0
      note "still $what after $((SECONDS - started))s" >&5
    done
  ) 9>&- &
  ticker=$!
  "$@" || rc=$?
  kill "$ticker" 2>/dev/null || true
  wait "$ticker" 2>/dev/null || true
  return "$rc"
}

# Every engine and AWS CLI call closes fd 9 (the lock): conmon and other daemons started by the
# engine would inherit it and keep the lock held for the container's whole life.
eng() { "$engine" "$@" 9>&-; }
# The CLI retries throttling with backoff (adaptive mode) and never starts a pager.
aws_cli() {
  AWS_RETRY_MODE="\${AWS_RETRY_MODE:-adaptive}" AWS_MAX_ATTEMPTS="\${AWS_MAX_ATTEMPTS:-10}" AWS_PAGER='' \
    aws \${region:+"--region=$region"} "$@" 9>&-
}

json_str() {
  local s=$1
  s=\${s//\\/\\\\}
  s=\${s//\"/\\\"}
  s=\${s//$'\n'/\\n}
  s=\${s//$'\r'/\\r}
  s=\${s//$'\t'/\\t}
  s=\${s//[[:cntrl:]]/?}
  printf '"%s"' "$s"
}

# finish OUTCOME REASON: print the one result line and exit (0 only for deployed).
finish() {
  local outcome=$1 reason=$2 failed_step=$step line
  if [[ $outcome == deployed ]]; then failed_step=''; fi
  line="{\"outcome\":$(json_str "$outcome"),\"container\":$(json_str "$container")"
  line+=",\"newImage\":$(json_str "$image"),\"newImageId\":$(json_str "$new_image_id")"
  line+=",\"previousImage\":$(json_str "$prev_image"),\"previousImageId\":$(json_str "$prev_image_id")"
  line+=",\"reason\":$(json_str "$reason"),\"failedStep\":$(json_str "$failed_step")}"
  remove_env_file
  result_printed=true
  if [[ $outcome == deployed ]]; then say "deployed $image as $container"; else say "$outcome: $reason"; fi
  printf '%s%s\n' "$result_marker" "$line"
  printf '%s%s\n' "$result_marker" "$line" >&3 || true
  if [[ $outcome == deployed ]]; then exit 0; fi
  exit 1
}

remove_env_file() {
  if [[ -n $env_file ]]; then
    rm -f -- "$env_file" || true
    env_file=''
  fi
}

# Anything that was not handled on purpose (set -e, a signal) ends here: undo what was started.
# shellcheck disable=SC2317 # called by the EXIT trap
on_exit() {
  local rc=$?
  set +e
  trap '' TERM INT HUP
  remove_env_file
  if [[ $result_printed == true ]]; then exit "$rc"; fi
  local why="unexpected failure (exit code $rc, line \${err_line:-?})"
  if [[ -n $interrupted ]]; then why="interrupted by $interrupted"; fi
  case $phase in
    replacing) roll_back "$why" ;;
    healthy) finish deployed '' ;;
    *) finish failed "$why" ;;
  esac
}
set -E
trap 'err_line=$LINENO' ERR
trap on_exit EXIT
trap 'interrupted=SIGTERM; exit 143' TERM
trap 'interrupted=SIGINT; exit 130' INT
trap 'interrupted=SIGHUP; exit 129' HUP

container_exists() { eng container inspect --format '{{.Id}}' "$1" >/dev/null 2>&1; }
# NAME -> "running|status|exit code|restart count", or nothing when there is no such container
container_state() {
  eng container inspect --format '{{.State.Running}}|{{.State.Status}}|{{.State.ExitCode}}|{{.RestartCount}}' "$1" 2>/dev/null || true
}
# Docker prints image IDs as sha256:<hex>, podman often as bare hex: report one form.
norm_id() {
  if [[ -z $1 || $1 == sha256:* ]]; then printf '%s' "$1"; else printf 'sha256:%s' "$1"; fi
}
image_id() { norm_id "$(eng image inspect --format '{{.Id}}' "$1" 2>/dev/null || true)"; }
# The container's HEALTHCHECK status (starting, healthy, unhealthy), empty when it has none.
health_status() {
  eng container inspect --format '{{if .State.Health}}{{.State.Health.Status}}{{end}}' "$1" 2>/dev/null || true
}

take_lock() {
  step=lock
  command -v flock >/dev/null || finish failed "flock (util-linux) is not installed"
  if ! mkdir -p -- "$(dirname -- "$lock_file")" || ! { exec 9>>"$lock_file"; }; then
    finish failed "cannot open the lock file $lock_file"
  fi
  if ! flock -n 9; then
    local started=$SECONDS waited chunk holder
    holder=$(head -n 1 -- "$lock_file" 2>/dev/null | cut -c1-200 || true)
    say "waiting up to \${lock_timeout}s for another deploy on this host to finish (lock $lock_file\${holder:+, held by $holder})"
    while :; do
      waited=$((SECONDS - started))
      chunk=$((lock_timeout - waited))
      if ((chunk > progress_every)); then chunk=$progress_every; fi
      if ((chunk <= 0)); then
        finish failed "another deploy held $lock_file for more than \${lock_timeout}s"
      fi
      if flock -w "$chunk" 9; then break; fi
      note "still waiting for the lock after $((SECONDS - started))s"
    done
    note "got the lock after $((SECONDS - started))s"
  fi
  printf 'pid %s deploying %s since %(%F %T)T\n' "$$" "$container" -1 >"$lock_file"
}

# A deploy killed (SIGKILL, power loss) while its old container was set aside left it behind; the
# container under the real name, if any, was never verified. Put the old one back first.
recover_set_aside() {
  step=recover
  if ! container_exists "$aside"; then return 0; fi
  say "an interrupted deploy left the previous container set aside as $aside: restoring it"
  if container_exists "$container" && ! eng rm --force "$container" >/dev/null; then
    finish failed "could not remove the unverified $container left by an interrupted deploy"
  fi
  if ! eng rename "$aside" "$container" || ! eng start "$container" >/dev/null; then
    finish failed "could not restore $aside, left by an interrupted deploy"
  fi
}

log_in() {
  if [[ -z $registry ]]; then return 0; fi
  local region=$ecr_region # seen by aws_cli: the registry's region, not the parameters'
  step=login
  say "logging in to $registry with the instance role"
  command -v aws >/dev/null || finish failed "the AWS CLI (aws) is not installed; registry-login ecr needs it"
  if ! aws_cli ecr get-login-password | eng login --username AWS --password-stdin "$registry" >/dev/null; then
    finish failed "could not log in to $registry (does the instance role allow ecr:GetAuthorizationToken?)"
  fi
}

pull_image() {
  step=pull
  say "pulling $image (the running container keeps serving)"
  local attempt out
  for attempt in 1 2 3; do
    if out=$(ticking pulling eng pull --quiet "$image" 2>&1); then break; fi
    # The last line, the engine's error, goes into the result; show what led to it.
    printf '%s\n' "$out" | head -n -1 | excerpt 5
    if ((attempt == 3)) || grep -qiE 'manifest unknown|not found|denied|unauthorized|invalid reference' <<<"$out"; then
      finish failed "could not pull $image (the running container was not touched): $(printf '%s\n' "$out" | tail -n 1 | cut -c1-300)"
    fi
    note "$(printf '%s\n' "$out" | tail -n 1 | cut -c1-300)"
    note "retrying in $((attempt * 3))s"
    sleep $((attempt * 3))
  done
  new_image_id=$(image_id "$image")
  say "pulled $image ($new_image_id)"
}

record_previous() {
  step=inspect
  local info running
  if ! info=$(eng container inspect --format '{{.State.Running}}|{{.Image}}|{{.Config.Image}}' "$container" 2>/dev/null); then
    note "no container named $container yet: first deploy"
    return 0
  fi
  IFS='|' read -r running prev_image_id prev_image <<<"$info"
  if [[ $running == true ]]; then
    has_previous=true
    prev_image_id=$(norm_id "$prev_image_id")
    note "running now: $prev_image ($prev_image_id)"
  else
    note "$container exists but is not running ($prev_image): it will be replaced, with nothing to roll back to"
    prev_image='' prev_image_id=''
  fi
}

# SSM parameters -> a 0600 env-file, read before anything is stopped so a missing parameter
# leaves the old container serving. Values never reach argv, the log or the script text.
fetch_ssm_env() {
  if ((\${#ssm_env[@]} == 0)); then return 0; fi
  step=env-from-ssm
  say "reading $((\${#ssm_env[@]} / 2)) SSM parameter(s) into an env-file"
  command -v aws >/dev/null || finish failed "the AWS CLI (aws) is not installed; env-from-ssm needs it"
  env_file=$(mktemp "\${TMPDIR:-/tmp}/shipyard-env.XXXXXXXXXX")
  chmod 600 "$env_file"
  local i=0 name param value
  while ((i < \${#ssm_env[@]})); do
    name=\${ssm_env[i]} param=\${ssm_env[i + 1]}
    i=$((i + 2))
    # The trailing x keeps trailing newlines of the value from being eaten by $(...).
    if ! value=$(aws_cli ssm get-parameter --with-decryption "--name=$param" \
      --query Parameter.Value --output text && printf x); then
      finish failed "could not read SSM parameter $param for $name (does it exist, and may the instance role ssm:GetParameter and kms:Decrypt it?)"
    fi
    value=\${value%x}
    value=\${value%$'\n'}
    if [[ $value == *$'\n'* || $value == *$'\r'* ]]; then
      finish failed "SSM parameter $param for $name holds a line break, which an env-file cannot carry"
    fi
    printf '%s=%s\n' "$name" "$value" >>"$env_file"
  done
  value=''
  note "env-file ready: $((\${#ssm_env[@]} / 2)) variable(s), mode 0600"
}

# The old container stays whole under another name until the new one is healthy.
set_previous_aside() {
  step=stop
  if [[ $has_previous == true ]]; then
    if ! eng rename "$container" "$aside"; then
      finish failed "could not rename the running container to $aside (it was left serving)"
    fi
    phase=replacing
    say "stopping the previous container (up to \${stop_timeout}s)"
    if ! ticking "stopping the previous container" eng stop -t "$stop_timeout" "$aside" >/dev/null; then
      roll_back "could not stop the previous container"
    fi
  elif container_exists "$container"; then
    eng rm --force "$container" >/dev/null
    phase=replacing
  else
    phase=replacing
  fi
}

run_new() {
  step=run
  local args=(run --detach)
  if [[ -n $env_file ]]; then args+=("--env-file=$env_file"); fi
  args+=(\${run_args[@]+"\${run_args[@]}"} "$image")
  say "starting $container from $image"
  if ! eng "\${args[@]}" >/dev/null; then
    remove_env_file
    roll_back "the engine could not start the new container"
  fi
  remove_env_file
}

# Sets why and returns 1 when the new container stopped or restarted.
still_up() {
  local running status code restarts
  IFS='|' read -r running status code restarts <<<"$(container_state "$container")"
  if [[ $running != true ]]; then
    why="the new container stopped (status \${status:-gone}, exit code \${code:-?})"
    return 1
  fi
  if [[ \${restarts:-0} != 0 ]]; then
    why="the new container crashed and was restarted $restarts time(s)"
    return 1
  fi
}

# Healthy = health_cmd exits 0; else the image's HEALTHCHECK says healthy; else the container is
# still up after health_timeout. One log line per change of state, and one every progress_every s.
wait_healthy() {
  step=health
  local deadline=$((SECONDS + health_timeout)) mode state last='' out rc limit status
  local next_note=$((SECONDS + progress_every))
  if [[ -n $health_cmd ]]; then
    mode=cmd
    say "waiting up to \${health_timeout}s for the health command to succeed"
  elif [[ -n $(health_status "$container") ]]; then
    mode=image
    say "waiting up to \${health_timeout}s for the image's HEALTHCHECK to report healthy"
  else
    mode=running
    say "no health command and no HEALTHCHECK: checking that it stays up for \${health_timeout}s"
  fi
  while :; do
    if ! still_up; then return 1; fi
    case $mode in
      cmd)
        limit=$((deadline - SECONDS))
        if ((limit > 10)); then limit=10; elif ((limit < 1)); then limit=1; fi
        rc=0
        out=$(timeout -k 2 "$limit" sh -c "$health_cmd" 2>&1 9>&-) || rc=$?
        if ((rc == 0)); then
          note "healthy: the health command succeeded"
          return 0
        fi
        state="health command failed (exit $rc): $(printf '%s\n' "$out" | head -n 1 | cut -c1-200)"
        ;;
      image)
        # podman runs HEALTHCHECKs from systemd timers, which a host may not have: run it here.
        if [[ $engine == podman ]]; then eng healthcheck run "$container" >/dev/null 2>&1 || true; fi
        status=$(health_status "$container")
        if [[ $status == healthy ]]; then
          note "healthy: HEALTHCHECK reports healthy"
          return 0
        fi
        if [[ $status == unhealthy ]]; then
          why="the image's HEALTHCHECK reports unhealthy"
          return 1
        fi
        state="HEALTHCHECK: \${status:-none}"
        ;;
      running)
        if ((SECONDS >= deadline)); then
          note "still running after \${health_timeout}s"
          return 0
        fi
        state=running
        ;;
    esac
    if [[ $state != "$last" ]]; then
      note "$state"
      last=$state
      next_note=$((SECONDS + progress_every))
    fi
    if ((SECONDS >= deadline)); then
      why="not healthy after \${health_timeout}s: $state"
      return 1
    fi
    if ((SECONDS >= next_note)); then
      note "still waiting, $((deadline - SECONDS))s left: $state"
      next_note=$((SECONDS + progress_every))
    fi
    sleep 1
  done
}

# roll_back REASON: remove the new container, restart the previous one; prints the result, exits 1.
roll_back() {
  local reason=$1 state
  set +e
  trap '' TERM INT HUP
  say "rolling back: $reason"
  remove_env_file
  if container_exists "$container"; then
    note "last 50 lines of the new container's log:"
    eng logs --tail 50 "$container" 2>&1 | excerpt 50
    if ! eng rm --force "$container" >/dev/null; then
      step=rollback
      finish failed "$reason; and the new container could not be removed"
    fi
  fi
  if [[ $has_previous != true ]]; then
    finish failed-no-previous "$reason; there was no previous container to go back to"
  fi
  if ! eng rename "$aside" "$container" || ! eng start "$container" >/dev/null; then
    step=rollback
    finish failed "$reason; and the previous container could not be restarted (it may be named $aside)"
  fi
  local i
  for i in 1 2 3 4 5 6 7 8 9 10; do
    state=$(container_state "$container")
    if [[ $state == true\|* ]]; then break; fi
    sleep 1
  done
  if [[ $state != true\|* ]]; then
    step=rollback
    finish failed "$reason; and the previous container did not stay up after a restart ($state)"
  fi
  finish rolled-back "$reason; the previous container ($prev_image) is running again"
}

prune_images() {
  step=prune
  local listing id repo tag kept=' ' gone=0 r ours
  if ! listing=$(eng images --no-trunc --format '{{.ID}} {{.Repository}} {{.Tag}}' 2>/dev/null); then
    note "could not list images; old images were not removed"
    return 0
  fi
  while read -r id repo tag; do
    ours=false
    for r in "\${prune_repos[@]}"; do if [[ $repo == "$r" ]]; then ours=true; fi; done
    if [[ $ours != true ]]; then continue; fi
    id=$(norm_id "$id")
    if [[ $kept == *" $id "* ]]; then continue; fi
    # Engines list newest first: keep the first keep_images distinct images, and the new one.
    if (($(wc -w <<<"$kept") < keep_images)) || [[ $id == "$new_image_id" ]]; then
      kept+="$id "
      continue
    fi
    if [[ $tag == '<none>' || -z $tag ]]; then set -- "$id"; else set -- "$repo:$tag"; fi
    if eng rmi "$1" >/dev/null 2>&1; then
      note "removed old image $1"
      gone=$((gone + 1))
    else
      note "kept old image $1 (in use)"
    fi
  done <<<"$listing"
  if ((gone > 0)); then say "removed $gone old image(s), keeping the newest $keep_images"; fi
}

main() {
  say "deploying $image as $container with $engine"
  command -v "$engine" >/dev/null || finish failed "$engine is not installed on this host"
  take_lock
  recover_set_aside
  log_in
  pull_image
  record_previous
  fetch_ssm_env
  set_previous_aside
  run_new
  if ! wait_healthy; then roll_back "$why"; fi
  phase=healthy
  step=cleanup
  if [[ $has_previous == true ]]; then eng rm --force "$aside" >/dev/null || note "could not remove $aside"; fi
  prune_images || true
  finish deployed ''
}

why=''
main
`;
