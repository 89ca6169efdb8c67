// Types of bench/lib.mjs, so TypeScript benches can import it directly.
import type { ChildProcess } from 'node:child_process';

export function median(xs: number[]): number;
export function quantile(xs: number[], q: number): number;
export function mean(xs: number[]): number;
export function sleep(ms: number): Promise<void>;
export function launchAction(
  bundle: string,
  inputs: Record<string, string>,
  env?: Record<string, string>,
): {
  startedAt: number;
  child: ChildProcess;
  done: Promise<{ code: number | null; endedAt: number; stdout: string; outputs: string }>;
};
export function printTable(headers: string[], rows: Array<Array<string | number>>): void;
export function ms(x: number): string;
export function bundleSizeRows(action: string, chunksWhat?: string): string[][];
export function measureStartup(opts: {
  bundle: string;
  inputs: (url: string) => Record<string, string>;
  env?: Record<string, string>;
  endpointVars?: string[];
  runs?: number;
}): Promise<{ bareMs: number; firstRequestMs: number }>;
export function startupRows(
  name: string,
  figures: { bareMs: number; firstRequestMs: number },
  budgetMs: number,
): string[][];
