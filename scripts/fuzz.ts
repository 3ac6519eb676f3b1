/**
 * Fuzzes the parsers we own with mutated real files (see docs/fuzz.md).
 *
 *     npm run fuzz -- <target>|all [--seconds N] [--seed S] [--inputs N] [--jobs N] [--hang-ms N] [--memory-mb N] [--json]
 *     npm run fuzz -- <target> --replay <file>
 *     npm run fuzz -- --list
 *
 * Prints one line per distinct crash as it is found (its input goes to scratch/fuzz-crashes/), then per target the
 * inputs tried, the time, inputs per second and the crashes, and the CPU. Exits 1 when anything crashed.
 */
import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { availableParallelism, cpus } from 'node:os';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { fuzz, replay, type FuzzCrash, type FuzzReport } from './fuzz/harness.js';
import { TARGETS } from './fuzz/targets/index.js';

const USAGE = `usage: npm run fuzz -- <target>|all [--seconds N] [--seed S] [--inputs N] [--jobs N] [--hang-ms N] [--memory-mb N] [--json]
       npm run fuzz -- <target> --replay <file>
       npm run fuzz -- --list`;

/** A report without the crashing inputs' bytes, as children print it for --jobs. */
type Summary = Omit<FuzzReport, 'crashes'> & { readonly crashes: readonly Omit<FuzzCrash, 'input'>[] };

function number(name: string, text: string | undefined, fallback: number, min: number): number {
  if (text === undefined) return fallback;
  const value = Number(text);
  if (!(text.trim() !== '' && Number.isFinite(value) && value >= min)) {
    throw new RangeError(`Expected --${name} to be a number of at least ${min}, got "${text}"`);
  }
  return value;
}

function crashLine(crash: Omit<FuzzCrash, 'input'>): string {
  const first = crash.detail.split('\n')[0]?.slice(0, 160) ?? '';
  return `crash: ${crash.target} ${crash.kind}: ${crash.signature} — ${first} (input ${crash.iteration})${crash.file === undefined ? '' : ` -> ${crash.file}`}`;
}

function summarize(report: FuzzReport): Summary {
  return { ...report, crashes: report.crashes.map(({ input: _input, ...rest }) => rest) };
}

/** Runs `jobs` processes of this script with seeds seed, seed+1, ... and adds up their reports. */
async function runJobs(target: string, jobs: number, args: { seconds: number; seed: number; inputs: number; hangMs: number; memoryMb: number }): Promise<Summary> {
  const script = fileURLToPath(import.meta.url);
  const children = Array.from({ length: jobs }, (_, j) => {
    const argv = [target, '--json', '--seconds', String(args.seconds), '--seed', String(args.seed + j), '--hang-ms', String(args.hangMs), '--memory-mb', String(args.memoryMb)];
    if (args.inputs > 0) argv.push('--inputs', String(Math.ceil(args.inputs / jobs)));
    const child = spawn(process.execPath, [...process.execArgv, script, ...argv], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (out += chunk));
    return new Promise<Summary>((resolve, reject) => {
      child.on('error', reject);
      child.on('close', () => {
        try {
          resolve((JSON.parse(out) as Summary[])[0]!);
        } catch (error) {
          reject(new Error(`fuzz job ${j} for ${target} printed no report`, { cause: error }));
        }
      });
    });
  });
  const reports = await Promise.all(children);
  const crashes = new Map<string, Omit<FuzzCrash, 'input'>>();
  for (const c of reports.flatMap((r) => r.crashes)) {
    const seen = crashes.get(c.signature);
    crashes.set(c.signature, seen === undefined ? c : { ...seen, count: seen.count + c.count });
  }
  const sum = (f: (r: Summary) => number): number => reports.reduce((n, r) => n + f(r), 0);
  const seconds = Math.max(...reports.map((r) => r.seconds));
  return {
    target,
    seed: args.seed,
    inputs: sum((r) => r.inputs),
    seconds,
    inputsPerSecond: sum((r) => r.inputsPerSecond),
    crashes: [...crashes.values()],
    crashingInputs: sum((r) => r.crashingInputs),
    restarts: sum((r) => r.restarts),
    parsed: sum((r) => r.parsed),
    outcomes: Math.max(...reports.map((r) => r.outcomes)),
    seeds: reports[0]?.seeds ?? 0,
    corpus: sum((r) => r.corpus),
  };
}

function table(summaries: readonly Summary[], jobs: number): string {
  const rows = summaries.map((s) => [
    s.target,
    s.inputs.toLocaleString('en-US'),
    s.seconds.toFixed(1),
    Math.round(s.inputsPerSecond).toLocaleString('en-US'),
    `${((100 * s.parsed) / Math.max(1, s.inputs)).toFixed(1)}%`,
    String(s.outcomes),
    s.crashes.length === 0 ? '0' : `${s.crashes.length} distinct (${s.crashingInputs} inputs)`,
  ]);
  const head = ['parser', 'inputs', 'seconds', 'inputs/s', 'parsed', 'outcomes', 'crashes'];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: readonly string[]): string => cells.map((c, i) => (i === 0 || i === head.length - 1 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ').trimEnd();
  const cpu = `${cpus()[0]?.model.trim() ?? 'unknown CPU'}, ${availableParallelism()} cores${jobs > 1 ? ` (${jobs} jobs per parser)` : ' (one worker per parser)'}`;
  return [line(head), ...rows.map(line), `CPU: ${cpu}`].join('\n');
}

async function main(): Promise<number> {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      seconds: { type: 'string' },
      seed: { type: 'string' },
      inputs: { type: 'string' },
      jobs: { type: 'string' },
      'hang-ms': { type: 'string' },
      'memory-mb': { type: 'string' },
      replay: { type: 'string' },
      json: { type: 'boolean', default: false },
      list: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  if (values.list) {
    for (const t of TARGETS.values()) console.log(`${t.name}\n  ${t.about}\n  accepted errors: ${t.contract}`);
    return 0;
  }
  const [which, ...extra] = positionals;
  if (which === undefined || extra.length > 0) {
    console.error(USAGE);
    return 2;
  }
  const names = which === 'all' ? [...TARGETS.keys()] : [which];
  for (const name of names) {
    if (!TARGETS.has(name)) {
      console.error(`unknown parser "${name}" (expected all or one of ${[...TARGETS.keys()].join(', ')})`);
      return 2;
    }
  }

  if (values.replay !== undefined) {
    const result = await replay(which, new Uint8Array(await readFile(values.replay)));
    const error = result.error instanceof Error ? (result.error.stack ?? result.error.message) : String(result.error);
    console.log(result.outcome === 'ok' ? 'ok: the input was accepted' : `${result.outcome === 'crash' ? 'CRASH' : 'rejected within the contract'}: ${error}`);
    return result.outcome === 'crash' ? 1 : 0;
  }

  const args = {
    seconds: number('seconds', values.seconds, 10, 0),
    seed: number('seed', values.seed, 1, 0),
    inputs: number('inputs', values.inputs, 0, 0),
    hangMs: number('hang-ms', values['hang-ms'], 10_000, 1),
    memoryMb: number('memory-mb', values['memory-mb'], 1024, 16),
  };
  const jobs = number('jobs', values.jobs, 1, 1);
  const summaries: Summary[] = [];
  for (const target of names) {
    if (jobs > 1) {
      summaries.push(await runJobs(target, jobs, args));
      continue;
    }
    const report = await fuzz({
      target,
      seconds: args.seconds,
      seed: args.seed,
      maxInputs: args.inputs,
      hangMs: args.hangMs,
      memoryLimitMb: args.memoryMb,
      onCrash: (crash) => console.error(crashLine(crash)),
    });
    summaries.push(summarize(report));
    if (!values.json && names.length > 1) console.error(`${target}: ${report.inputs} inputs in ${report.seconds.toFixed(1)} s, ${report.crashes.length} distinct crashes`);
  }
  console.log(values.json ? JSON.stringify(summaries, null, 2) : table(summaries, jobs));
  return summaries.some((s) => s.crashes.length > 0) ? 1 : 0;
}

process.exitCode = await main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : String(error));
  return 2;
});
