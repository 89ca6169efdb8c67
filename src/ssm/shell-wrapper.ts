/**
 * How the deploy script travels through AWS-RunShellScript. The SSM agent writes the `commands`
 * element to `_script.sh` and starts it with `sh -c`, so on Debian and Ubuntu it would run under
 * dash, and an exit code of 194 would make the agent reboot the instance. The wrapper therefore:
 *  - copies the script, byte for byte, into the root-only state directory (never a shared /tmp:
 *    the script carries the `env` values) through a quoted here-document at the top level (no
 *    shell expands or parses its body, unlike a here-document inside `$(...)`, which older bash
 *    versions mis-parse), and runs that file with bash, stdin from /dev/null so no command in it
 *    waits for input. The text stays readable in the SSM console;
 *  - removes the copy however the script ends: the detached deploy removes it as soon as it runs,
 *    the wrapper after it, and the next deploy sweeps one whose wrapper was killed first
 *    (`launch.<pid>.sh`, the pid being the wrapper's own);
 *  - maps every failure to exit code 1: the result line, not the exit code, says what happened.
 */
import { quote } from './quote.js';

/**
 * A document plus the parameters of one command may not exceed 64 KB. AWS-RunShellScript itself is
 * about 1.5 KB and the other parameters a few bytes, so the commands element gets the rest with a
 * margin.
 */
export const MAX_COMMANDS_BYTES = 60_000;

const DELIMITER = 'SHIPYARD_DEPLOY_SCRIPT_END';

/** The `commands` element that runs `script` with bash on the host, from a copy in `stateDir`. */
export function wrapForRunShellScript(script: string, stateDir: string): string {
  const lines = new Set(script.split('\n'));
  let delimiter = DELIMITER;
  for (let n = 2; lines.has(delimiter); n++) delimiter = `${DELIMITER}_${n}`;
  return [
    '# shipyard deploy-ec2-ssm: the agent runs this with sh; the deploy script below runs with bash.',
    "command -v bash >/dev/null 2>&1 || { echo 'shipyard: bash is required on the instance' >&2; exit 1; }",
    `shipyard_dir=${quote(stateDir)}`,
    'umask 077',
    'if ! { mkdir -p "$shipyard_dir" && [ ! -L "$shipyard_dir" ] && chmod 700 "$shipyard_dir" && [ -O "$shipyard_dir" ]; }; then',
    '  echo "shipyard: cannot use $shipyard_dir as a private state directory" >&2',
    '  exit 1',
    'fi',
    'shipyard_script="$shipyard_dir/launch.$$.sh"',
    `cat >"$shipyard_script" <<'${delimiter}'`,
    script.replace(/\n+$/, ''),
    delimiter,
    'bash "$shipyard_script" </dev/null',
    'shipyard_status=$?',
    'rm -f "$shipyard_script"',
    '[ "$shipyard_status" -eq 0 ] || exit 1',
  ].join('\n');
}

export function utf8Bytes(text: string): number {
  return Buffer.byteLength(text, 'utf8');
}
