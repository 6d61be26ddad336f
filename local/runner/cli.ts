/**
 * `npm start`: backup nights on this machine, against the embedded local EC2 endpoint (or `--endpoint URL`).
 * Progress on the terminal while it runs, a table per instance at the end (or `--json`), exit status 0 only if every
 * instance that could be backed up was, and every retention holds.
 */

import { Console } from 'node:console';
import { createWriteStream } from 'node:fs';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { SingleBar } from 'cli-progress';
import Table from 'cli-table3';
import { seededRandom } from '../ec2/events';
import { writeNightReport } from '../timeline/html';
import { nightTimeline } from '../timeline/lanes';
import { recordNights } from '../timeline/record';
import { demoDeployment } from './demo';
import { DEMO_FLEET, generatedFleet } from './fleet';
import { type NightReport, type Progress, runNights } from './night';

const USAGE = `Usage: npm start -- [options]
  --nights N       nights to run (default 1)
  --instances N    a generated fleet of N instances instead of the demo fleet
  --seed S         seed of the generated fleet (default 1)
  --json           print a JSON summary on stdout, and nothing else there
  --endpoint URL   use this running EC2-compatible endpoint instead of the embedded one
  --speed N        with --endpoint: the runner's clock runs N times faster than real time (default 1)
  --throttling     let the embedded endpoint throttle as EC2 does
  --no-iam         do not enforce the functions' IAM roles on the embedded endpoint (enforced by default)
  --logs TARGET    the functions' logs: a file path, or "stderr" (default: none)
  --timeline FILE  write the night's timeline, an HTML page, there (default night-report.html)
  --no-timeline    do not write it (nor is it written with --endpoint)
  --help`;

function positive(name: string, raw: string | undefined, fallback: number): number {
  if (raw === undefined) return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value) || value <= 0) throw new Error(`--${name} must be a positive number, got '${raw}'`);
  return value;
}

/** Sends the functions' logs (Powertools' console) to a file or stderr, before any handler module is loaded. */
function routeLogs(target: string | undefined): void {
  if (target === undefined) return;
  const stream = target === 'stderr' ? process.stderr : createWriteStream(target, { flags: 'a' });
  // Powertools' Logger writes through the global console in dev mode.
  process.env.POWERTOOLS_DEV = 'true';
  globalThis.console = new Console({ stdout: stream, stderr: stream });
}

function duration(seconds: number): string {
  if (seconds === 0) return '-';
  return seconds >= 60 ? `${Math.floor(seconds / 60)} min ${String(seconds % 60).padStart(2, '0')} s` : `${seconds} s`;
}

/** Copies per Region and state: `us-west-2: 2 succeeded`. */
function copiesCell(copies: NightReport['instances'][number]['copies']): string {
  const counts = new Map<string, number>();
  for (const copy of copies)
    counts.set(`${copy.region}: ${copy.state}`, (counts.get(`${copy.region}: ${copy.state}`) ?? 0) + 1);
  return [...counts.entries()].map(([key, count]) => key.replace(': ', `: ${count} `)).join('\n');
}

function printTable(report: NightReport): void {
  const table = new Table({
    head: [
      'name',
      'instance',
      'mode',
      'group',
      'state',
      'verified',
      'kept',
      'expired',
      'snapshots deleted',
      'downtime',
      'restore test',
      'copies',
      'shared with',
      'error',
    ],
    colWidths: [null, null, null, null, null, null, null, null, null, null, null, null, null, 48],
    wordWrap: true,
  });
  for (const instance of report.instances) {
    table.push([
      instance.name,
      instance.instanceId,
      instance.optedIn ? instance.mode : 'not opted in',
      instance.group ?? '',
      instance.state,
      instance.verified ? 'yes' : '',
      instance.imagesKept,
      instance.imagesExpired,
      instance.snapshotsDeleted,
      duration(instance.downtimeSeconds),
      instance.restoreTest === undefined
        ? ''
        : `${instance.restoreTest.passed ? 'passed' : 'failed'} ${instance.restoreTest.at.slice(5, 16).replace('T', ' ')}`,
      copiesCell(instance.copies),
      instance.sharedWith.join('\n'),
      instance.error ?? '',
    ]);
  }
  const { totals } = report;
  process.stdout.write(`${table.toString()}\n`);
  process.stdout.write(
    `${report.nights} night(s), ${report.simulatedSeconds / 3600} simulated hours in ${report.wallSeconds} s: ` +
      `${totals.imagesCreated} images created, ${totals.imagesExpired} expired, ${totals.snapshotsDeleted} snapshots ` +
      `deleted, ${totals.failures} failures recorded, ${totals.ec2Calls} EC2 calls by ${report.invocations} invocations; ` +
      `at most ${totals.maxDownAtOnce} instance(s) down at once, ${totals.maxDownInOneGroup} of one group; ` +
      `${totals.deniedCalls} call(s) denied by IAM; ${totals.restoreTestsPassed} restore test(s) passed, ` +
      `${totals.restoreTestsFailed} failed; ${totals.staleInstances} instance(s) stale at the last run's start; ` +
      `${totals.copiesCreated} copies to other Regions made, ${totals.copiesExpired} expired there; ` +
      `${totals.imagesShared} image(s) shared with other accounts, ${totals.copiesReencrypted} copies re-encrypted ` +
      'for sharing\n',
  );
  const metrics = Object.entries(report.metrics).map(([name, value]) => `${name} ${value}`);
  if (metrics.length > 0) process.stdout.write(`metrics (namespace ami-backup): ${metrics.join(', ')}\n`);
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      nights: { type: 'string' },
      instances: { type: 'string' },
      seed: { type: 'string' },
      json: { type: 'boolean', default: false },
      endpoint: { type: 'string' },
      speed: { type: 'string' },
      throttling: { type: 'boolean', default: false },
      'no-iam': { type: 'boolean', default: false },
      logs: { type: 'string' },
      timeline: { type: 'string' },
      'no-timeline': { type: 'boolean', default: false },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  const nights = positive('nights', values.nights, 1);
  const fleet =
    values.instances === undefined
      ? DEMO_FLEET
      : generatedFleet(positive('instances', values.instances, 1), seededRandom(positive('seed', values.seed, 1)));
  if (values.endpoint !== undefined && values.timeline !== undefined) {
    throw new Error('--timeline needs the embedded endpoint: another keeps no timeline');
  }
  const timelineFile = values['no-timeline'] ? undefined : resolve(values.timeline ?? 'night-report.html');
  routeLogs(values.logs);
  // This machine may run Node.js 20 while Lambda runs 22: the SDK's notice about it is not news here.
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';

  const showProgress = !values.json && process.stderr.isTTY === true;
  const bar = new SingleBar({
    format: 'night {night}/{nights} {bar} {time} | {steps}',
    hideCursor: true,
    stream: process.stderr,
  });
  if (showProgress) bar.start(nights * 24 * 60, 0, { night: 1, nights, time: '', steps: '' });
  let firstTime: number | undefined;
  const onProgress = (progress: Progress): void => {
    firstTime ??= progress.time.getTime();
    const steps = Object.entries(progress.steps)
      .map(([step, count]) => `${step} ${count}`)
      .join(' · ');
    bar.update(Math.round((progress.time.getTime() - firstTime) / 60_000), {
      night: progress.night,
      time: `${progress.time.toISOString().slice(0, 16).replace('T', ' ')}Z`,
      steps,
    });
  };
  const common = {
    fleet,
    nights,
    serverlessFile: resolve(__dirname, '../../serverless.yml'),
    throttling: values.throttling,
    iam: !values['no-iam'],
    ...(values.logs === undefined ? { logLevel: 'SILENT' } : {}),
    // Followed only where it is shown: sampling the fleet each step costs calls.
    ...(showProgress ? { onProgress } : {}),
  };
  // Another endpoint may not know the demo's subnet, nor its recovery account, nor serve KMS: restore tests run, and
  // the share key is made, on the embedded one, which keeps a timeline.
  const { report, events } = await (values.endpoint === undefined
    ? recordNights({ ...common, ...demoDeployment(nights) })
    : runNights({
        ...common,
        endpoint: values.endpoint,
        ...(values.speed === undefined ? {} : { speed: positive('speed', values.speed, 1) }),
      }).then((report) => ({ report, events: undefined }))
  ).finally(() => {
    if (showProgress) bar.stop();
  });
  if (events !== undefined && timelineFile !== undefined) {
    writeNightReport(timelineFile, nightTimeline(events));
    process.stderr.write(`The night's timeline: ${timelineFile}\n`);
  }

  if (values.json) {
    const { instances, totals, simulatedSeconds, wallSeconds } = report;
    const summary = {
      nights: report.nights,
      instances: instances.map(({ expectedBackup, expectedFailure, ...instance }) => instance),
      totals,
      metrics: report.metrics,
      simulatedSeconds,
      wallSeconds,
      problems: report.problems,
    };
    process.stdout.write(`${JSON.stringify(summary, null, 2)}\n`);
  } else {
    printTable(report);
  }
  if (report.problems.length > 0) {
    process.stderr.write(`The nights did not do their job:\n${report.problems.map((p) => `- ${p}`).join('\n')}\n`);
    return 1;
  }
  return 0;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`);
    process.exitCode = 2;
  },
);
