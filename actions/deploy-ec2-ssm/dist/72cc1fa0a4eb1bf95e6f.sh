# shipyard deploy-ec2-ssm: replace one container on this host, safely.
#
# This file is the script every host runs. src/ssm/remote-script.ts replaces the settings block
# below with the deploy's own values (each one shell word, quoted, never evaluated); the body is
# never changed. It runs in two roles:
#
#   bash deploy.sh                          the launcher: what SSM runs. It starts the deploy in a
#                                           session of its own, follows its log, prints its result.
#   bash deploy.sh __detached RUN_DIR END   the deploy itself, out of reach of the SSM agent, which
#                                           SIGKILLs the launcher's whole process group on cancel
#                                           and at execution-timeout (no trap runs then). It ends
#                                           on the new version or on the previous one by itself,
#                                           before END (epoch seconds).
#
# With mode=one-off (pre-deploy-command) the same machinery runs the new image once instead of
# deploying it: lock -> sweep -> log in, pull, log out -> env-file -> create the one-off container
# (the service's env, env-file and run-options, no ports), delete the env-file -> run it attached
# until it exits or the deadline passes -> remove it. The service container is never touched.
#
# The deploy, in order: lock -> sweep leftovers -> log in, pull, log out (the old container serves)
# -> read SSM parameters into an env-file in the root-only state directory -> pre-flight: create
# the final container under a temporary name (and the candidate), then delete the env-file ->
# candidate first: start the new version on loopback ports beside the old one and check its
# health (a failure is `rejected`, the old container never stopped) -> check the time left ->
# swap: set the old container aside, start the final one, check health -> roll back to exactly
# the set-aside container on failure -> clean up.
#
# Runs under bash even when started as `sh deploy.sh`.
# shellcheck disable=SC2016 # $ and backticks in settings values are literal on purpose
if [ -z "${BASH_VERSION:-}" ]; then exec bash "$0" "$@"; fi
set -euo pipefail

# --- settings ---
# (an example; remote-script.ts writes the real block in its place)
engine=docker
container=web
image=registry.example/app:1
# ECR registry to log in to ('' = no login) and its region; the region for SSM parameters
registry=''
ecr_region=''
region=''
restart_policy=unless-stopped
stop_timeout=10
# Run on the host with sh -c; '' = the image's HEALTHCHECK, or "still running" at the end
health_cmd=''
health_timeout=60
keep_images=3
prune_repos=(registry.example/app)
# Root-only directory for the lock, the env-file, the logs and the results of deploys
state_dir=/run/shipyard
lock_timeout=300
# Seconds from the launch until the deploy must have ended (the SSM execution timeout)
execution_timeout=300
result_marker='shipyard-deploy-result: '
# Engine flags of the final container (besides --name, --detach, the env-file and the image)
final_args=(--restart=unless-stopped --publish=80:8000/tcp)
# Engine flags of the candidate; empty when candidate-first cannot apply, and candidate_off says why
candidate_args=(--restart=no --publish=127.0.0.1::8000/tcp)
candidate_off=''
# Container ports the health command can find as $SHIPYARD_PORT_<port>
container_ports=(8000/tcp)
# The workflow run deploying ('' outside Actions); a run older than the last one deployed here
# is not applied unless force=true
run_id=''
force=false
# Pairs: variable name, SSM parameter name (values are read on the host, never written here)
ssm_env=()
# deploy, or one-off: run the new image once with oneoff_command as its arguments (after the image,
# the ENTRYPOINT kept), with the flags in oneoff_args, and report its exit code
mode=deploy
oneoff_args=()
oneoff_command=()
# --- end of settings ---

# --- body (identical for every deploy) ---
umask 077
aside="$container-shipyard-previous"    # the old container while the new one proves itself
next="$container-shipyard-next"         # the final container, created before anything stops
candidate="$container-shipyard-candidate"
oneoff="$container-shipyard-oneoff"    # the one-off container of mode=one-off
runs_dir="$state_dir/runs"
last_result_file="$state_dir/last-result.$container"
if [[ $mode == one-off ]]; then last_result_file="$state_dir/last-oneoff.$container"; fi
last_run_file="$state_dir/last-run.$container"

say() { printf '==> %(%H:%M:%S)T %s\n' -1 "$*"; }
note() { printf '    %s\n' "$*"; }
# Indented tail of some output (engine errors, container logs), lines cut to a readable width.
excerpt() { tail -n "$1" | cut -c1-300 | sed 's/^/    | /'; }
now() { printf '%(%s)T' -1; }

json_str() {
  local s=$1
  s=${s//\\/\\\\}
  s=${s//\"/\\\"}
  s=${s//$'\n'/\\n}
  s=${s//$'\r'/\\r}
  s=${s//$'\t'/\\t}
  s=${s//[[:cntrl:]]/?}
  printf '"%s"' "$s"
}

# The state directory holds secrets for a moment (the env-file): root-only, and really ours.
prepare_state_dir() {
  mkdir -p -- "$state_dir" || return 1
  [[ -d $state_dir && ! -L $state_dir && -O $state_dir ]] || return 1
  chmod 700 -- "$state_dir" && mkdir -p -- "$runs_dir" || return 1
}

# =============================================================================================
# The launcher
# =============================================================================================

# Print the deploy's new log lines. A line that starts with the result marker can only come from
# something the deploy forwarded (a container's log): it is shown indented, so it counts for
# nothing. Only print_result below writes the marker at the start of a line.
forwarded=0
forward_log() {
  local log=$1 lines=() i n last
  [[ -s $log ]] || return 0
  mapfile -t lines <"$log"
  n=${#lines[@]}
  # A last line without its newline is still being written: leave it for the next round.
  last=$(tail -c 1 -- "$log")
  if [[ -n $last ]] && ((n > 0)); then n=$((n - 1)); fi
  for ((i = forwarded; i < n; i++)); do
    if [[ ${lines[i]} == "$result_marker"* ]]; then
      printf '    ! %s\n' "${lines[i]}"
    else
      printf '%s\n' "${lines[i]}"
    fi
  done
  if ((n > forwarded)); then forwarded=$n; fi
}

print_result() {
  printf '%s%s\n' "$result_marker" "$1"
  printf '%s%s\n' "$result_marker" "$1" >&3 || true
}

launch() {
  local run_dir pid='' end outcome result waited=0
  command -v setsid >/dev/null || {
    print_result "{\"outcome\":\"failed\",\"container\":$(json_str "$container"),\"newImage\":$(json_str "$image"),\"reason\":\"setsid (util-linux) is not installed\",\"failedStep\":\"start\"}"
    exit 1
  }
  if ! prepare_state_dir; then
    print_result "{\"outcome\":\"failed\",\"container\":$(json_str "$container"),\"newImage\":$(json_str "$image"),\"reason\":$(json_str "cannot use the state directory $state_dir (it must be a directory owned by this user)"),\"failedStep\":\"start\"}"
    exit 1
  fi
  run_dir="$runs_dir/$(now)-$$"
  mkdir -m 700 -- "$run_dir"
  : >"$run_dir/log"
  end=$(($(now) + execution_timeout))
  # setsid: a session and process group of its own, so the agent's kill of this group misses it.
  # No descriptor of ours goes with it: the agent waits for every holder of its output pipes.
  setsid bash "$0" __detached "$run_dir" "$end" </dev/null >>"$run_dir/log" 2>&1 3>&- &
  # The deploy writes its pid once it runs, and has the script open by then.
  while [[ ! -s $run_dir/pid ]] && ((waited < 100)); do
    sleep 0.1
    waited=$((waited + 1))
  done
  pid=$(cat -- "$run_dir/pid" 2>/dev/null || true)
  if [[ $0 == "$state_dir"/launch.* ]]; then rm -f -- "$0"; fi
  printf '    deploy running detached as pid %s; log %s\n' "${pid:-?}" "$run_dir/log"
  while :; do
    forward_log "$run_dir/log"
    if [[ -s $run_dir/result ]]; then break; fi
    if [[ -z $pid ]] || ! kill -0 "$pid" 2>/dev/null; then
      sleep 0.2
      forward_log "$run_dir/log"
      break
    fi
    sleep 0.5
  done
  forward_log "$run_dir/log"
  if [[ -s $run_dir/result ]]; then
    result=$(head -n 1 -- "$run_dir/result")
  else
    result="{\"outcome\":\"failed\",\"container\":$(json_str "$container"),\"newImage\":$(json_str "$image"),\"reason\":\"the deploy process ended without a result; see $run_dir/log on the host\",\"failedStep\":\"unknown\"}"
  fi
  print_result "$result"
  outcome=${result#*\"outcome\":\"}
  outcome=${outcome%%\"*}
  if [[ $mode == one-off ]]; then [[ $outcome == succeeded ]]; else [[ $outcome == deployed || $outcome == outdated ]]; fi
}

# =============================================================================================
# The deploy (detached)
# =============================================================================================

step=start            # what is being done, for messages and the result
phase=untouched       # untouched: old container as it was | replacing: old one set aside | healthy
has_previous=false    # a running container was set aside and can be restarted
prev_image='' prev_image_id='' prev_restart='' new_image_id='' env_file='' err_line='' interrupted=''
result_written=false
# mode=one-off: the exit code of the command ('' until it exited), the end of its output, and
# whether its container exists (only then may an interrupted run remove it: it is ours)
exit_code='' output_tail='' oneoff_created=false
run_dir='' deadline=0 why=''

# set_step NAME: what is being done now (the failed step of a result). The run directory keeps
# it as the phase, for whoever looks at the host while the deploy runs.
set_phase() { printf '%s\n' "$1" >"$run_dir/phase" 2>/dev/null || true; }
set_step() {
  step=$1
  set_phase "$1"
}

# ticking WHAT CMD...: run CMD, saying "still WHAT after Ns" every progress_every seconds, so no
# wait is silent for long. The ticker dies with CMD.
progress_every=30
ticking() {
  local what=$1 ticker rc=0
  shift
  (
    # The deploy's own TERM trap would wait for the sleep below before it ran: not here.
    trap - TERM INT HUP
    started=$SECONDS
    # The sleep holds no output: nothing waits on it once the command is done.
    while sleep "$progress_every" >/dev/null 2>&1 3>&- 5>&-; do
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
  AWS_RETRY_MODE="${AWS_RETRY_MODE:-adaptive}" AWS_MAX_ATTEMPTS="${AWS_MAX_ATTEMPTS:-10}" AWS_PAGER='' \
    aws ${region:+"--region=$region"} "$@" 9>&-
}
seconds_left() { echo $((deadline - $(now))); }
# Seconds kept back from the lock wait and the pull for what must follow them: the swap with its
# health check and a rollback, or for a one-off, removing its container and writing the result.
reserve=$((health_timeout + 2 * stop_timeout + 30))
if [[ $mode == one-off ]]; then reserve=$((stop_timeout + 15)); fi

# finish OUTCOME REASON: write the one result, remove what holds a secret, exit.
finish() {
  local outcome=$1 reason=$2 failed_step=$step line
  if [[ $outcome == deployed || $outcome == succeeded ]]; then failed_step=''; fi
  line="{\"outcome\":$(json_str "$outcome"),\"container\":$(json_str "$container")"
  line+=",\"newImage\":$(json_str "$image"),\"newImageId\":$(json_str "$new_image_id")"
  line+=",\"previousImage\":$(json_str "$prev_image"),\"previousImageId\":$(json_str "$prev_image_id")"
  line+=",\"reason\":$(json_str "$reason"),\"failedStep\":$(json_str "$failed_step")"
  if [[ $mode == one-off ]]; then
    line+=",\"mode\":\"one-off\",\"exitCode\":${exit_code:-null},\"outputTail\":$(json_str "$output_tail")"
  fi
  line+="}"
  remove_env_file
  if [[ $outcome == deployed ]]; then
    say "deployed $image as $container"
  elif [[ $outcome == succeeded ]]; then
    say "the one-off command succeeded (exit code 0)"
  else say "$outcome: $reason"; fi
  # Written whole, then renamed: the launcher never reads half a result.
  printf '%s\n' "$line" >"$run_dir/result.tmp" && mv -f -- "$run_dir/result.tmp" "$run_dir/result"
  printf '%s %s\n' "$(now)" "$line" >"$last_result_file" || true
  if [[ $outcome == deployed && -n $run_id ]]; then printf '%s\n' "$run_id" >"$last_run_file" || true; fi
  result_written=true
  set_phase finished
  if [[ $outcome == deployed || $outcome == outdated || $outcome == succeeded ]]; then exit 0; fi
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
  if [[ $result_written == true ]]; then exit "$rc"; fi
  local reason="unexpected failure (exit code $rc, line ${err_line:-?})"
  if [[ -n $interrupted ]]; then reason="interrupted by $interrupted"; fi
  eng rm --force "$candidate" "$next" >/dev/null 2>&1
  if [[ $oneoff_created == true ]]; then eng rm --force "$oneoff" >/dev/null 2>&1; fi
  case $phase in
    replacing) roll_back "$reason" ;;
    healthy) finish deployed '' ;;
    *) finish failed "$reason" ;;
  esac
}

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
# Whether a created container has a HEALTHCHECK (from its image or --health-cmd) that is not NONE.
has_healthcheck() {
  local test
  test=$(eng container inspect --format '{{if .Config.Healthcheck}}{{range .Config.Healthcheck.Test}}{{.}} {{end}}{{end}}' "$1" 2>/dev/null || true)
  [[ -n ${test// /} && $test != NONE* ]]
}
# Docker changes a restart policy in place; podman before 5 cannot (`update` has no --restart).
can_update_restart() {
  [[ $engine == docker ]] || eng update --help 2>/dev/null | grep -q -- '--restart'
}
set_restart() {
  if can_update_restart; then eng update --restart="$2" "$1" >/dev/null || note "could not set the restart policy of $1 to $2"; fi
}

take_lock() {
  set_step lock
  command -v flock >/dev/null || finish failed "flock (util-linux) is not installed"
  local lock_file="$state_dir/lock" limit=$lock_timeout left
  left=$(($(seconds_left) - reserve))
  if ((left < limit)); then limit=$((left > 0 ? left : 0)); fi
  if ! { exec 9>>"$lock_file"; }; then finish failed "cannot open the lock file $lock_file"; fi
  if ! flock -n 9; then
    local started=$SECONDS waited chunk holder
    holder=$(head -n 1 -- "$lock_file" 2>/dev/null | cut -c1-200 || true)
    say "waiting up to ${limit}s for another deploy on this host to finish (${holder:-lock $lock_file})"
    while :; do
      waited=$((SECONDS - started))
      chunk=$((limit - waited))
      if ((chunk > progress_every)); then chunk=$progress_every; fi
      if ((chunk <= 0)); then
        finish failed "another deploy held the lock for more than ${limit}s"
      fi
      if flock -w "$chunk" 9; then break; fi
      note "still waiting for the lock after $((SECONDS - started))s"
    done
    note "got the lock after $((SECONDS - started))s"
  fi
  printf 'pid %s deploying %s since %(%F %T)T\n' "$$" "$container" -1 >"$lock_file"
}

# Under the lock, nothing else is deploying: whatever an earlier, killed deploy left is swept.
sweep() {
  set_step sweep
  local f pid n=0
  for f in "$state_dir"/env.*; do
    [[ -e $f ]] || continue
    rm -f -- "$f" && n=$((n + 1))
  done
  for f in "$state_dir"/launch.*.sh; do
    [[ -e $f ]] || continue
    pid=${f#"$state_dir"/launch.}
    pid=${pid%%.*}
    if ! kill -0 "$pid" 2>/dev/null; then rm -f -- "$f" && n=$((n + 1)); fi
  done
  if ((n > 0)); then note "removed $n file(s) left by an interrupted deploy"; fi
  # Keep the logs of the last 10 deploys.
  # Keep the logs of the last 10 deploys (names start with the epoch: the glob sorts them by age).
  local dirs=("$runs_dir"/*/) i
  for ((i = 0; i < ${#dirs[@]} - 10; i++)); do
    f=${dirs[i]%/}
    if [[ -d $f && $f != "$run_dir" ]]; then rm -rf -- "$f"; fi
  done
  for f in "$candidate" "$next" "$oneoff"; do
    if container_exists "$f"; then
      note "removing $f, left by an interrupted deploy"
      eng rm --force "$f" >/dev/null || finish failed "could not remove $f, left by an interrupted deploy"
    fi
  done
}

# Runs only grow: a queued older run must not deploy over what a newer one deployed.
check_order() {
  set_step order
  [[ -n $run_id ]] || return 0
  local last
  last=$(head -n 1 -- "$last_run_file" 2>/dev/null | tr -cd '0-9' || true)
  if [[ -z $last ]] || ((${#last} > 18)) || ((last <= run_id)); then return 0; fi
  if [[ $force == true ]]; then
    note "force: applying run $run_id although run $last deployed here after it"
    return 0
  fi
  finish outdated "run $last deployed $container on this host after run $run_id; this older run is not applied (force: true applies it)"
}

# A deploy killed (power loss, OOM) while its old container was set aside left it behind; the
# container under the real name, if any, was never verified. Put the old one back first.
recover_set_aside() {
  set_step recover
  if ! container_exists "$aside"; then return 0; fi
  say "an interrupted deploy left the previous container set aside as $aside: restoring it"
  if container_exists "$container" && ! eng rm --force "$container" >/dev/null; then
    finish failed "could not remove the unverified $container left by an interrupted deploy"
  fi
  if ! eng rename "$aside" "$container" || ! eng start "$container" >/dev/null; then
    finish failed "could not restore $aside, left by an interrupted deploy"
  fi
  # It was set aside with restart policy no: give it back the one it was created with.
  local policy
  policy=$(eng container inspect --format '{{index .Config.Labels "shipyard.restart-policy"}}' "$container" 2>/dev/null || true)
  if [[ -n $policy && $policy != '<no value>' ]]; then set_restart "$container" "$policy"; fi
}

log_in() {
  if [[ -z $registry ]]; then return 0; fi
  local region=$ecr_region # seen by aws_cli: the registry's region, not the parameters'
  set_step login
  say "logging in to $registry with the instance role"
  command -v aws >/dev/null || finish failed "the AWS CLI (aws) is not installed; registry-login ecr needs it"
  if ! aws_cli ecr get-login-password | eng login --username AWS --password-stdin "$registry" >/dev/null; then
    finish failed "could not log in to $registry (does the instance role allow ecr:GetAuthorizationToken?)"
  fi
}

# The registry token is good for 12 hours: it does not stay in the engine's auth file.
log_out() {
  if [[ -n $registry ]]; then eng logout "$registry" >/dev/null 2>&1 || true; fi
}

pull_image() {
  set_step pull
  say "pulling $image (the running container keeps serving)"
  local attempt out left
  for attempt in 1 2 3; do
    left=$(($(seconds_left) - reserve))
    if ((left <= 0)); then
      log_out
      finish failed "no time left to pull $image before execution-timeout (the running container was not touched)"
    fi
    if out=$(ticking pulling timeout -k 5 "$left" "$engine" pull --quiet "$image" 2>&1 9>&-); then break; fi
    # The last line, the engine's error, goes into the result; show what led to it.
    printf '%s\n' "$out" | head -n -1 | excerpt 5
    if ((attempt == 3)) || grep -qiE 'manifest unknown|not found|denied|unauthorized|invalid reference' <<<"$out"; then
      log_out
      finish failed "could not pull $image (the running container was not touched): $(printf '%s\n' "$out" | tail -n 1 | cut -c1-300)"
    fi
    note "$(printf '%s\n' "$out" | tail -n 1 | cut -c1-300)"
    note "retrying in $((attempt * 3))s"
    sleep $((attempt * 3))
  done
  log_out
  new_image_id=$(image_id "$image")
  say "pulled $image ($new_image_id)"
}

record_previous() {
  set_step inspect
  local info running
  if ! info=$(eng container inspect --format '{{.State.Running}}|{{.Image}}|{{.Config.Image}}|{{.HostConfig.RestartPolicy.Name}}|{{.HostConfig.RestartPolicy.MaximumRetryCount}}' "$container" 2>/dev/null); then
    note "no container named $container yet: first deploy"
    return 0
  fi
  local retries
  IFS='|' read -r running prev_image_id prev_image prev_restart retries <<<"$info"
  if [[ $prev_restart == on-failure && ${retries:-0} != 0 ]]; then prev_restart="on-failure:$retries"; fi
  if [[ -z $prev_restart ]]; then prev_restart=no; fi
  if [[ $running == true ]]; then
    has_previous=true
    prev_image_id=$(norm_id "$prev_image_id")
    note "running now: $prev_image ($prev_image_id)"
  else
    note "$container exists but is not running ($prev_image): it will be replaced, with nothing to roll back to"
    prev_image='' prev_image_id=''
  fi
}

# SSM parameters -> a 0600 env-file in the root-only state directory, read before anything is
# stopped so a missing parameter leaves the old container serving. Values never reach argv, the
# log or the script text, and the file is gone once the containers are created.
fetch_ssm_env() {
  if ((${#ssm_env[@]} == 0)); then return 0; fi
  set_step env-from-ssm
  say "reading $((${#ssm_env[@]} / 2)) SSM parameter(s) into an env-file"
  command -v aws >/dev/null || finish failed "the AWS CLI (aws) is not installed; env-from-ssm needs it"
  env_file=$(mktemp "$state_dir/env.XXXXXXXXXX")
  chmod 600 "$env_file"
  local i=0 name param value
  while ((i < ${#ssm_env[@]})); do
    name=${ssm_env[i]} param=${ssm_env[i + 1]}
    i=$((i + 2))
    # The trailing x keeps trailing newlines of the value from being eaten by $(...).
    if ! value=$(aws_cli ssm get-parameter --with-decryption "--name=$param" \
      --query Parameter.Value --output text && printf x); then
      finish failed "could not read SSM parameter $param for $name (does it exist, and may the instance role ssm:GetParameter and kms:Decrypt it?)"
    fi
    value=${value%x}
    value=${value%$'\n'}
    if [[ $value == *$'\n'* || $value == *$'\r'* ]]; then
      finish failed "SSM parameter $param for $name holds a line break, which an env-file cannot carry"
    fi
    printf '%s=%s\n' "$name" "$value" >>"$env_file"
  done
  value=''
  note "env-file ready: $((${#ssm_env[@]} / 2)) variable(s), mode 0600, in $state_dir"
}

# create NAME ARGS...: create (not start) a container of the new image; prints the engine's error.
create() {
  local name=$1 out
  shift
  local args=(create "--name=$name" "--label=shipyard.restart-policy=$restart_policy")
  if [[ -n $env_file ]]; then args+=("--env-file=$env_file"); fi
  args+=("$@" "$image")
  if ! out=$(eng "${args[@]}" 2>&1); then
    printf '%s\n' "$out" | tail -n 1 | cut -c1-300
    return 1
  fi
}

# Pre-flight: everything the engine checks at create (ports, flags, volumes, user) fails here,
# with the old container untouched.
preflight() {
  set_step preflight
  local err
  say "pre-flight: creating the new container as $next (nothing is stopped yet)"
  if ! err=$(create "$next" "${final_args[@]}"); then
    finish failed "the engine refused the new container's settings (the running container was not touched): $err"
  fi
  use_candidate=false
  if [[ -n $candidate_off ]]; then
    note "no candidate first: $candidate_off"
  elif [[ -n $health_cmd && $health_cmd != *SHIPYARD_PORT_* ]] && ! has_healthcheck "$next"; then
    note "no candidate first: health-cmd names no \$SHIPYARD_PORT_<port>, so it would check the old container, and the image has no HEALTHCHECK"
    note "  (write it like: curl -fsS http://127.0.0.1:\$SHIPYARD_PORT_${container_ports[0]%/*}/health)"
  elif [[ -z $health_cmd ]] && ! has_healthcheck "$next"; then
    note "no candidate first: there is no health-cmd and the image has no HEALTHCHECK"
  else
    use_candidate=true
    if ! err=$(create "$candidate" "${candidate_args[@]}"); then
      remove_env_file
      eng rm --force "$next" >/dev/null 2>&1 || true
      finish failed "the engine refused the candidate container (the running container was not touched): $err"
    fi
  fi
  remove_env_file
}

# export_ports NAME: SHIPYARD_PORT_<container port> = the host port NAME publishes it on.
export_ports() {
  local p mapped var
  for p in "${container_ports[@]}"; do unset "SHIPYARD_PORT_${p%/*}"; done
  for p in "${container_ports[@]}"; do
    var="SHIPYARD_PORT_${p%/*}"
    # A port published for tcp and udp: the variable holds the tcp one.
    if [[ $p == */udp && -n ${!var:-} ]]; then continue; fi
    mapped=$(eng port "$1" "$p" 2>/dev/null | head -n 1 || true)
    mapped=${mapped##*:}
    if [[ $mapped =~ ^[0-9]+$ ]]; then export "$var=$mapped"; fi
  done
}

# Sets why and returns 1 when NAME stopped or restarted.
still_up() {
  local running status code restarts
  IFS='|' read -r running status code restarts <<<"$(container_state "$1")"
  if [[ $running != true ]]; then
    why="the new container stopped (status ${status:-gone}, exit code ${code:-?})"
    return 1
  fi
  if [[ ${restarts:-0} != 0 ]]; then
    why="the new container crashed and was restarted $restarts time(s)"
    return 1
  fi
}

# wait_healthy NAME MODE: cmd = health_cmd exits 0; image = the HEALTHCHECK says healthy;
# running = still up after health_timeout. One log line per change of state, one every 30 s.
wait_healthy() {
  local name=$1 mode=$2 deadline_h=$((SECONDS + health_timeout)) state last='' out rc limit status
  local next_note=$((SECONDS + progress_every))
  export_ports "$name"
  case $mode in
    cmd) say "waiting up to ${health_timeout}s for the health command to succeed on $name" ;;
    image) say "waiting up to ${health_timeout}s for the image's HEALTHCHECK to report $name healthy" ;;
    running) say "no health command and no HEALTHCHECK: checking that $name stays up for ${health_timeout}s" ;;
  esac
  while :; do
    if ! still_up "$name"; then return 1; fi
    case $mode in
      cmd)
        limit=$((deadline_h - SECONDS))
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
        if [[ $engine == podman ]]; then eng healthcheck run "$name" >/dev/null 2>&1 || true; fi
        status=$(health_status "$name")
        if [[ $status == healthy ]]; then
          note "healthy: HEALTHCHECK reports healthy"
          return 0
        fi
        if [[ $status == unhealthy ]]; then
          why="the image's HEALTHCHECK reports unhealthy"
          return 1
        fi
        state="HEALTHCHECK: ${status:-none}"
        ;;
      running)
        if ((SECONDS >= deadline_h)); then
          note "still running after ${health_timeout}s"
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
    if ((SECONDS >= deadline_h)); then
      why="not healthy after ${health_timeout}s: $state"
      return 1
    fi
    if ((SECONDS >= next_note)); then
      note "still waiting, $((deadline_h - SECONDS))s left: $state"
      next_note=$((SECONDS + progress_every))
    fi
    sleep 1
  done
}

final_mode() {
  if [[ -n $health_cmd ]]; then echo cmd; elif has_healthcheck "$container"; then echo image; else echo running; fi
}

show_log() {
  note "last 50 lines of the log of $1:"
  eng logs --tail 50 "$1" 2>&1 | excerpt 50
}

# Candidate first: the new version runs beside the old one, on loopback ports, until healthy.
# A candidate that fails is removed and the host reports `rejected`: service never stopped.
try_candidate() {
  set_step candidate
  local mode=image err
  if [[ -n $health_cmd && $health_cmd == *SHIPYARD_PORT_* ]]; then mode=cmd; fi
  say "starting the candidate $candidate beside the running container"
  if ! err=$(eng start "$candidate" 2>&1 >/dev/null); then
    show_log "$candidate"
    eng rm --force "$candidate" "$next" >/dev/null 2>&1 || true
    finish rejected "the engine could not start the new version (the running container was not touched): $(printf '%s\n' "$err" | tail -n 1 | cut -c1-300)"
  fi
  if ! wait_healthy "$candidate" "$mode"; then
    show_log "$candidate"
    eng rm --force "$candidate" "$next" >/dev/null 2>&1 || true
    finish rejected "the new version was not healthy as a candidate (the running container was not touched): ${why//new container/candidate}"
  fi
  eng rm --force "$candidate" >/dev/null 2>&1 || note "could not remove $candidate"
  say "the candidate is healthy: swapping"
}

# Everything from here to the end of the health check must fit before the deadline, rollback
# included; if it cannot, stop now with the old container serving.
check_time_left() {
  set_step time-check
  local left needed=$((2 * stop_timeout + health_timeout + 30))
  left=$(seconds_left)
  if ((left < needed)); then
    eng rm --force "$next" >/dev/null 2>&1 || true
    finish failed "only ${left}s left before execution-timeout, and the swap with its health check and a rollback needs about ${needed}s: the running container was not touched"
  fi
}

# The old container stays whole under another name until the new one is healthy. It does not
# come back by itself after a reboot while it is set aside.
set_previous_aside() {
  set_step stop
  if [[ $has_previous == true ]]; then
    if ! eng rename "$container" "$aside"; then
      eng rm --force "$next" >/dev/null 2>&1 || true
      finish failed "could not rename the running container to $aside (it was left serving)"
    fi
    phase=replacing
    set_restart "$aside" no
    say "stopping the previous container (up to ${stop_timeout}s)"
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

start_final() {
  set_step start
  say "starting $container from $image"
  if ! eng rename "$next" "$container"; then roll_back "the engine could not rename $next to $container"; fi
  local err
  if ! err=$(eng start "$container" 2>&1 >/dev/null); then
    roll_back "the engine could not start the new container: $(printf '%s\n' "$err" | tail -n 1 | cut -c1-300)"
  fi
}

# roll_back REASON: remove the new container, restart the previous one; writes the result, exits 1.
roll_back() {
  local reason=$1 state
  set +e
  trap '' TERM INT HUP
  set_phase rollback
  say "rolling back: $reason"
  remove_env_file
  eng rm --force "$next" >/dev/null 2>&1
  if container_exists "$container"; then
    show_log "$container"
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
  set_restart "$container" "$prev_restart"
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
  set_step prune
  local listing id repo tag kept=' ' gone=0 r ours
  if ! listing=$(eng images --no-trunc --format '{{.ID}} {{.Repository}} {{.Tag}}' 2>/dev/null); then
    note "could not list images; old images were not removed"
    return 0
  fi
  while read -r id repo tag; do
    ours=false
    for r in "${prune_repos[@]}"; do if [[ $repo == "$r" ]]; then ours=true; fi; done
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

# podman has no daemon: after a reboot only podman-restart.service starts containers, and only
# those with restart policy always.
podman_reboot_note() {
  [[ $engine == podman ]] || return 0
  local enabled
  enabled=$(systemctl is-enabled podman-restart.service 2>/dev/null || true)
  if [[ $enabled != enabled ]]; then
    note "warning: podman-restart.service is not enabled (${enabled:-no systemd}): after a reboot $container will not start again"
  elif [[ $restart_policy != always ]]; then
    note "warning: on podman only restart policy always survives a reboot (podman-restart.service); this one is $restart_policy"
  fi
}

# mode=one-off: the new image runs once, as `<engine> run --rm IMAGE ARGS...` would run it, in
# three steps so that the env-file lives only until the container exists: create, delete the
# env-file, start attached. Its output goes to the log; its exit code is the result. A watchdog
# stops it (SIGTERM, SIGKILL after stop_timeout) when the deadline passes.
oneoff_attach() {
  local line
  # Line by line as it comes (the log is a file: a pipe of cut and sed would hold it back), indented.
  eng start --attach "$oneoff" 2>&1 | tee -a -- "$run_dir/oneoff.out" |
    while IFS= read -r line || [[ -n $line ]]; do printf '    | %s\n' "${line:0:300}"; done
}

run_one_off() {
  set_step create
  local err left rc=0 state status='' code='' i watchdog timed_out="$run_dir/oneoff.timeout"
  local args=(create "--name=$oneoff" "--label=shipyard.one-off=$container")
  if [[ -n $env_file ]]; then args+=("--env-file=$env_file"); fi
  args+=("${oneoff_args[@]}" "$image" "${oneoff_command[@]}")
  say "creating the one-off container $oneoff (${#oneoff_command[@]} argument(s) after the image)"
  oneoff_created=true
  if ! err=$(eng "${args[@]}" 2>&1); then
    remove_env_file
    eng rm --force "$oneoff" >/dev/null 2>&1 || true
    oneoff_created=false
    finish failed "the engine refused the one-off container (nothing was run): $(printf '%s\n' "$err" | tail -n 1 | cut -c1-300)"
  fi
  remove_env_file
  set_step run
  left=$(($(seconds_left) - reserve))
  if ((left <= 0)); then
    eng rm --force "$oneoff" >/dev/null 2>&1 || true
    oneoff_created=false
    finish failed "no time left to run the one-off command before pre-deploy-timeout"
  fi
  say "running the one-off command (up to ${left}s); its output:"
  : >"$run_dir/oneoff.out"
  (
    trap 'kill "$sleeper" 2>/dev/null; exit 0' TERM
    sleep "$left" >/dev/null 2>&1 3>&- 5>&- &
    sleeper=$!
    wait "$sleeper" || exit 0
    : >"$timed_out"
    eng stop -t "$stop_timeout" "$oneoff" >/dev/null 2>&1 || eng rm --force "$oneoff" >/dev/null 2>&1 || true
  ) 9>&- &
  watchdog=$!
  ticking "running the one-off command" oneoff_attach || rc=$?
  kill "$watchdog" 2>/dev/null || true
  wait "$watchdog" 2>/dev/null || true
  output_tail=$(tail -n 15 -- "$run_dir/oneoff.out" | cut -c1-160 || true)
  rm -f -- "$run_dir/oneoff.out"
  # The engine may record the exit a moment after the attached client returned.
  for i in 1 2 3 4 5; do
    state=$(eng container inspect --format '{{.State.Status}}|{{.State.ExitCode}}' "$oneoff" 2>/dev/null || true)
    IFS='|' read -r status code <<<"$state"
    if [[ $status == exited || $status == stopped || -e $timed_out ]]; then break; fi
    sleep "$i"
  done
  eng rm --force "$oneoff" >/dev/null 2>&1 || note "could not remove $oneoff"
  oneoff_created=false
  if [[ -e $timed_out ]]; then
    rm -f -- "$timed_out"
    set_step timeout
    finish failed "the one-off command did not finish within pre-deploy-timeout (${left}s were left for it): it was stopped and removed"
  fi
  if [[ $status != exited && $status != stopped ]] || [[ ! $code =~ ^[0-9]+$ ]]; then
    finish failed "the one-off container ended as ${status:-gone} without an exit code (attach exit code $rc); it was removed"
  fi
  exit_code=$code
  if ((exit_code == 0)); then finish succeeded ''; fi
  finish failed "the one-off command exited with code $exit_code"
}

detached_main() {
  run_dir=$1 deadline=$2
  if [[ $0 == "$state_dir"/launch.* ]]; then rm -f -- "$0"; fi
  printf '%s\n' "$$" >"$run_dir/pid"
  # fd 5: the log, for progress from inside $(...).
  exec 5>&1
  set -E
  trap 'err_line=$LINENO' ERR
  trap on_exit EXIT
  trap 'interrupted=SIGTERM; exit 143' TERM
  trap 'interrupted=SIGINT; exit 130' INT
  trap 'interrupted=SIGHUP; exit 129' HUP

  if [[ $mode == one-off ]]; then
    say "running a one-off of $image beside $container with $engine, within $(seconds_left)s"
  else
    say "deploying $image as $container with $engine, within $(seconds_left)s"
  fi
  command -v "$engine" >/dev/null || finish failed "$engine is not installed on this host"
  take_lock
  sweep
  check_order
  recover_set_aside
  log_in
  pull_image
  if [[ $mode == one-off ]]; then
    fetch_ssm_env
    run_one_off
  fi
  record_previous
  fetch_ssm_env
  preflight
  if [[ $use_candidate == true ]]; then try_candidate; fi
  check_time_left
  set_previous_aside
  start_final
  set_step health
  if ! wait_healthy "$container" "$(final_mode)"; then roll_back "$why"; fi
  phase=healthy
  set_step cleanup
  if [[ $has_previous == true ]]; then eng rm --force "$aside" >/dev/null || note "could not remove $aside"; fi
  podman_reboot_note
  prune_images || true
  finish deployed ''
}

use_candidate=false
if [[ ${1:-} == __detached ]]; then
  detached_main "$2" "$3"
else
  exec 3>&2 2>&1
  launch
fi
