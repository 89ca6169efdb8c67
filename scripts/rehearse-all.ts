/**
 * `npm start`: the EC2 rehearsal (scripts/rehearse.ts), then the ECS one (scripts/rehearse-ecs.ts),
 * each shown as it runs, then ONE final table: a row per EC2 release and a row per deploy-ecs step.
 * Each part stays runnable on its own; this only runs both and joins their rows (the EC2 rows
 * from its printed table, the ECS rows from the file rehearse-ecs writes).
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

interface Part {
  code: number;
  stdout: string;
}

/** Run a part with its output shown as it comes (and kept, to read its table). */
function runPart(script: string, env: Record<string, string> = {}): Promise<Part> {
  return new Promise((resolve) => {
    const child = spawn('npx', ['tsx', script], {
      stdio: ['inherit', 'pipe', 'inherit'],
      env: { ...process.env, ...env },
    });
    let stdout = '';
    child.stdout.on('data', (chunk: Buffer) => {
      process.stdout.write(chunk);
      stdout += chunk.toString();
    });
    child.on('close', (code) => resolve({ code: code ?? 1, stdout }));
  });
}

// Ctrl-C reaches the parts too (same process group): they clean up and end; wait for them.
process.on('SIGINT', () => {});

const dir = mkdtempSync(join(tmpdir(), 'shipyard-rehearsal-rows-'));
const rowsFile = join(dir, 'ecs.json');
try {
  const ec2 = await runPart('scripts/rehearse.ts');
  console.log('\n== deploy-ecs\n');
  const ecs = await runPart('scripts/rehearse-ecs.ts', { SHIPYARD_REHEARSAL_ECS_ROWS: rowsFile });

  // EC2 rows as rehearse.ts prints them: | version | image digest | result | deploy time | downtime | serving after |
  const ec2Rows = ec2.stdout
    .split('\n')
    .filter((l) => /^\| v\d /.test(l))
    .map((l) =>
      l
        .split('|')
        .slice(1, -1)
        .map((c) => c.trim()),
    )
    .map(([version, , result, time, downtime, serving]) => [
      'deploy-ec2-ssm',
      `release ${version}`,
      result ?? '?',
      time ?? '',
      `${downtime}; serving ${serving}`,
    ]);
  let ecsRows: string[][] = [];
  try {
    const parsed = JSON.parse(readFileSync(rowsFile, 'utf8')) as Array<Record<string, string>>;
    ecsRows = parsed.map((r) => [
      'deploy-ecs',
      `${r.service} (${r.strategy})`,
      r.status === r.expected ? r.status! : `${r.status} (expected ${r.expected})`,
      r.time ?? '',
      `${r.title}; rolled-back ${r.rolledBack}; ${r.calls} API calls`,
    ]);
  } catch {
    /* the ECS part did not get as far as its rows */
  }

  console.log('\n== npm start: result\n');
  const header = ['action', 'what', 'result', 'time', 'details'];
  const rows = [...ec2Rows, ...ecsRows];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) =>
    `| ${cells.map((c, i) => c.padEnd(widths[i] ?? 0)).join(' | ')} |`;
  console.log(
    [line(header), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...rows.map(line)].join(
      '\n',
    ),
  );
  const ok = ec2.code === 0 && ecs.code === 0 && ecsRows.length === 3;
  console.log(
    `\n${ok ? 'both rehearsals passed' : `a rehearsal FAILED (EC2 exit ${ec2.code}, ECS exit ${ecs.code})`}`,
  );
  process.exitCode = ok ? 0 : 1;
} finally {
  rmSync(dir, { recursive: true, force: true });
}
