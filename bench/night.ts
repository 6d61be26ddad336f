/**
 * `npm run bench`: backup nights of a large fleet on the local EC2 endpoint, with EC2's request buckets enforced and
 * Lambda's time limit honoured, in virtual time; figures next to the throttle-bound minimum.
 *
 * Usage: npm run bench -- [--instances 10000] [--nights 2] [--latency 100] [--group-size 10]
 *                         [--max-concurrent-reboots N] [--competing-load F] [--retain 1] [--history 0]
 *                         [--json] [--no-bundles] [--no-heap] [--timeline FILE]
 *
 * `--retain N` is the fleet's `ami-backup:retain`; `--history N` starts each instance with N images of earlier nights,
 * so that rotation holds a steady fleet's images from the first night. Each function's peak heap in its largest
 * invocation is measured (bench/heap.ts) and must stay under {@link MEMORY_HEADROOM} of its `memorySize`; `--no-heap`
 * skips that measure (its full collections take most of a large fleet's wall time) and reports no heap.
 *
 * `--competing-load F` (0 to 1): another client of the account takes that share of each mutating bucket's refill
 * all night; the bound is then the one for what it leaves, and the throttled calls show what adapting cost.
 *
 * `--timeline FILE` writes the nights' timeline there, as `npm start` does (an aggregate lane per group over 200
 * instances, and the worst instances).
 */

import { dirname, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import Table from 'cli-table3';
import { BackupMode, BackupStep, OperatorTag } from '../lib/tags';
import { DEFAULT_DURATIONS, SimClock, startLocalEc2 } from '../local/ec2';
import { groupOf } from '../local/runner/downtime';
import type { FleetMember, LaunchedMember } from '../local/runner/fleet';
import { runNights } from '../local/runner/night';
import { loadServerlessConfig } from '../local/runner/serverless-config';
import type { InvocationRecord } from '../local/runner/simulation';
import { nightEvents } from '../local/timeline/events';
import { writeNightReport } from '../local/timeline/html';
import { nightTimeline } from '../local/timeline/lanes';
import { measureBundles } from './bundles';
import { deployWithParams } from './deployment';
import { HeapMeter, memorySizes } from './heap';
import { seedHistory } from './history';
import { nightBound, rebootGroups, rebootSlotSeconds } from './night-bound';
import { installVirtualTime } from './virtual-time';

const START = new Date('2026-11-25T20:00:00Z');
/** The run of the night before the benchmark's first (the deployment's reboot schedule runs at 03:00). */
const LAST_SEEDED_RUN = new Date('2026-11-25T03:00:00Z');
const DAY_MS = 86_400_000;
/** The share of its `memorySize` a function's peak heap may take (the rest: the runtime, code, buffers). */
const MEMORY_HEADROOM = 0.6;
/** The EC2 actions the service calls. */
const ACTIONS = [
  'DescribeInstances',
  'DescribeInstanceStatus',
  'DescribeImages',
  'DescribeSnapshots',
  'CreateImage',
  'CreateTags',
  'DeleteTags',
  'DeregisterImage',
  'DeleteSnapshot',
] as const;
/** Calls the service must never make (its images' reboots are EC2's, through CreateImage): shown only if made. */
const NEVER = ['RebootInstances'] as const;
const PROJECT_FILE = resolve(__dirname, '../serverless.yml');
/** The deployment's default cap on instances in an image's reboot at once (serverless.yml). */
const DEFAULT_MAX_CONCURRENT_REBOOTS = 50;

interface Options {
  instances: number;
  nights: number;
  latencyMs: number;
  /** Members of each `ami-backup:group` (0: no groups). */
  groupSize: number;
  /** The deployment parameter maxConcurrentReboots. */
  maxConcurrentReboots: number;
  /** The share of each mutating bucket's refill another client takes all night. */
  competingLoad: number;
  /** Every instance's `ami-backup:retain`. */
  retain: number;
  /** Nights of images each instance has before the first. */
  history: number;
  json: boolean;
  bundles: boolean;
  /** Whether each function's peak heap is measured. */
  measureHeap: boolean;
  /** Where to write the nights' timeline, if anywhere. */
  timeline: string | undefined;
}

/** Groups of the fleet: every `groupSize` instances in launch order share one. */
function groupCount(instances: number, groupSize: number): number {
  return groupSize === 0 ? 0 : Math.ceil(instances / groupSize);
}

function readOptions(): Options {
  const { values } = parseArgs({
    options: {
      instances: { type: 'string', default: '10000' },
      nights: { type: 'string', default: '2' },
      latency: { type: 'string', default: '100' },
      'group-size': { type: 'string', default: '10' },
      'max-concurrent-reboots': { type: 'string' },
      'competing-load': { type: 'string', default: '0' },
      retain: { type: 'string', default: '1' },
      history: { type: 'string', default: '0' },
      json: { type: 'boolean', default: false },
      'no-bundles': { type: 'boolean', default: false },
      'no-heap': { type: 'boolean', default: false },
      timeline: { type: 'string' },
    },
  });
  const whole = (name: string, raw: string, min: number): number => {
    const value = Number(raw);
    if (!Number.isInteger(value) || value < min) throw new Error(`--${name} must be a whole number ≥ ${min}`);
    return value;
  };
  const instances = whole('instances', values.instances, 1);
  const competingLoad = Number(values['competing-load']);
  if (!(competingLoad >= 0 && competingLoad < 1)) throw new Error('--competing-load must be at least 0 and under 1');
  const groupSize = whole('group-size', values['group-size'], 0);
  // Enough for every group to have a member down at once (the deployment's default would make them queue).
  const maxConcurrentReboots =
    values['max-concurrent-reboots'] === undefined
      ? groupSize === 0
        ? DEFAULT_MAX_CONCURRENT_REBOOTS
        : Math.min(10_000, groupCount(instances, groupSize))
      : whole('max-concurrent-reboots', values['max-concurrent-reboots'], 1);
  return {
    instances,
    nights: whole('nights', values.nights, 1),
    latencyMs: whole('latency', values.latency, 0),
    groupSize,
    maxConcurrentReboots,
    competingLoad,
    retain: whole('retain', values.retain, 1),
    history: whole('history', values.history, 0),
    json: values.json,
    bundles: !values['no-bundles'],
    measureHeap: !values['no-heap'],
    timeline: values.timeline,
  };
}

/**
 * A plain fleet: every instance opted in and kept to `retain` images, so that from the night after the `retain`-th
 * on each night expires one image per instance as well as making one; one in ten imaged without a reboot; every
 * `groupSize` instances in one `ami-backup:group` (so with groups of ten, each group has nine members imaged with
 * EC2's reboot).
 */
function benchFleet(size: number, groupSize: number, retain: number): FleetMember[] {
  const width = String(groupCount(size, groupSize)).length;
  return Array.from({ length: size }, (_, index) => ({
    name: `node-${String(index + 1).padStart(5, '0')}`,
    tags: {
      Backup: 'true',
      [OperatorTag.retain]: String(retain),
      ...(index % 10 === 9 ? { [OperatorTag.mode]: BackupMode.noReboot } : {}),
      ...(groupSize > 0
        ? { [OperatorTag.group]: `group-${String(Math.floor(index / groupSize) + 1).padStart(width, '0')}` }
        : {}),
    },
    optedIn: true,
  }));
}

export async function benchmarkNights(options: Omit<Options, 'json' | 'bundles' | 'timeline'>) {
  const wallStart = performance.now();
  let peakRss = process.memoryUsage().rss;
  // Earlier nights' images are made on the endpoint's clock, from before the first of them.
  const ec2 = await startLocalEc2({
    clock: SimClock.manual(new Date(START.getTime() - options.history * DAY_MS)),
    throttling: true,
    competingLoad: options.competingLoad,
  });
  // The endpoint's timeline (the runner reads its downtime from it too), for --timeline.
  const audit = ec2.backend.startAudit();
  const deployment = deployWithParams(PROJECT_FILE, { maxConcurrentReboots: String(options.maxConcurrentReboots) });
  const [settings] = loadServerlessConfig(deployment.file).functions.map((fn) => fn.environment);
  const environment = settings ?? {};
  const owner = environment.OWNER;
  if (owner === undefined) throw new Error("the functions' OWNER is not set");
  const time = installVirtualTime(ec2.clock, options.latencyMs);
  const heap = options.measureHeap ? new HeapMeter() : undefined;
  /** Cumulative EC2 calls at the start of each night's reboot, and after the last invocation. */
  const boundaries: Record<string, number>[] = [];
  let latest: Record<string, number> = {};
  /** The same for the calls EC2's buckets throttled. */
  const throttledBoundaries: Record<string, number>[] = [];
  let latestThrottled: Record<string, number> = {};
  const records: InvocationRecord[] = [];
  const fleet = benchFleet(options.instances, options.groupSize, options.retain);
  let launched: LaunchedMember[] = [];
  try {
    // Seeded in-process (the same model as RunInstances, without 10,000 calls that are not the service's).
    const launch = async (_client: unknown, members: readonly FleetMember[]): Promise<LaunchedMember[]> => {
      launched = members.map((member) => {
        const { instances } = ec2.backend.runInstances({
          imageId: 'ami-0123456789abcdef0',
          instanceType: 't3.micro',
          minCount: 1,
          maxCount: 1,
          tagSpecifications: [
            {
              resourceType: 'instance',
              tags: Object.entries({ Name: member.name, ...member.tags }).map(([key, value]) => ({ key, value })),
            },
          ],
          blockDeviceMappings: [],
        });
        return { ...member, instanceId: instances[0]?.id ?? '' };
      });
      seedHistory({
        ec2,
        members: launched,
        nights: options.history,
        lastRun: LAST_SEEDED_RUN,
        owner,
        defaultRetain: Number(environment.DEFAULT_RETAIN),
      });
      if (ec2.clock.nowMs() < START.getTime()) ec2.clock.advanceTo(START);
      return launched;
    };
    const counts = (): Record<string, number> =>
      Object.fromEntries([...ACTIONS, ...NEVER].map((action) => [action, ec2.callCount(action)]));
    const throttledCounts = (): Record<string, number> =>
      Object.fromEntries([...ACTIONS, ...NEVER].map((action) => [action, ec2.throttledCount(action)]));
    const report = await runNights({
      ec2,
      fleet,
      nights: options.nights,
      serverlessFile: deployment.file,
      projectRoot: dirname(PROJECT_FILE),
      logLevel: 'SILENT',
      throttling: true,
      // No progress is followed, so the runner samples nothing: downtime comes from the endpoint's timeline.
      // Images become available a few a second: deliver their events close to when they happen, not in bursts.
      stepMs: 10_000,
      launch,
      aroundInvocation: async (invoke, functionName) => {
        // Invocations overlap, so calls are tallied per night: from one reboot invocation to the next.
        if (functionName === 'reboot') {
          boundaries.push(counts());
          throttledBoundaries.push(throttledCounts());
        }
        try {
          return await (heap === undefined ? time.drive(invoke) : heap.measure(functionName, () => time.drive(invoke)));
        } finally {
          latest = counts();
          latestThrottled = throttledCounts();
          peakRss = Math.max(peakRss, process.memoryUsage().rss);
        }
      },
      onInvocation: (record) => {
        records.push(record);
      },
      aroundReport: (read) => time.drive(read),
    });
    return {
      report,
      records,
      night: { start: START.getTime(), end: ec2.clock.nowMs(), audit },
      fleet: launched,
      environment,
      heap: heap?.report() ?? {},
      heapCollections: { count: heap?.collections ?? 0, seconds: (heap?.collectionMs ?? 0) / 1000 },
      callsByNight: nightTallies([...boundaries, latest]),
      throttledByNight: nightTallies([...throttledBoundaries, latestThrottled]),
      wallSeconds: (performance.now() - wallStart) / 1000,
      peakRss,
    };
  } finally {
    heap?.stop();
    time.uninstall();
    deployment.remove();
    await ec2.stop();
  }
}

/** The calls of each night, from cumulative counts at its start and at the next one's. */
function nightTallies(boundaries: readonly Record<string, number>[]): Record<string, number>[] {
  return boundaries.slice(1).map((end, index) => {
    const start = boundaries[index] ?? {};
    return Object.fromEntries(Object.entries(end).map(([action, count]) => [action, count - (start[action] ?? 0)]));
  });
}

/** Seconds from the last night's reboot to the last invocation that recorded an outcome. */
function lastNightLength(records: readonly InvocationRecord[]): number {
  const reboot = records.filter((record) => record.functionName === 'reboot').at(-1);
  const lastNight =
    reboot === undefined ? [] : records.filter((record) => record.time.getTime() >= reboot.time.getTime());
  const recorded = lastNight.filter((record) => {
    const instances = (record.result as { instances?: { action: string }[] } | undefined)?.instances ?? [];
    return instances.some((outcome) => outcome.action === 'succeeded' || outcome.action === 'failed');
  });
  const last = recorded.at(-1);
  if (reboot === undefined || last === undefined) return 0;
  return (last.time.getTime() + last.simulatedMs - reboot.time.getTime()) / 1000;
}

async function main(): Promise<void> {
  const options = readOptions();
  const {
    report,
    records,
    night,
    fleet,
    environment,
    heap,
    heapCollections,
    callsByNight,
    throttledByNight,
    wallSeconds,
    peakRss,
  } = await benchmarkNights(options);
  const states = report.instances.filter((instance) => instance.optedIn);
  const backedUp = states.filter((instance) => instance.state === BackupStep.succeeded).length;
  const failed = states.filter((instance) => instance.state === BackupStep.failed).length;
  const ec2Calls: Record<string, number> = {};
  for (const tally of callsByNight)
    for (const [action, n] of Object.entries(tally ?? {})) ec2Calls[action] = (ec2Calls[action] ?? 0) + n;
  const problems = [...report.problems];
  const memory = memorySizes(PROJECT_FILE);
  for (const [name, measured] of Object.entries(heap)) {
    const size = memory[name];
    if (size !== undefined && measured.peakHeapMiB > MEMORY_HEADROOM * size) {
      problems.push(
        `${name}'s peak heap ${measured.peakHeapMiB} MiB is over ${MEMORY_HEADROOM * 100}% of its ${size} MB`,
      );
    }
  }
  for (const action of NEVER) {
    if ((ec2Calls[action] ?? 0) === 0) delete ec2Calls[action];
    else problems.push(`the service called ${action} ${ec2Calls[action]} time(s)`);
  }
  const lastTally = callsByNight.at(-1) ?? {};
  // What EC2's buckets took: a throttled call took no token.
  const lastThrottled = throttledByNight.at(-1) ?? {};
  const lastTaken = Object.fromEntries(
    Object.entries(lastTally).map(([action, n]) => [action, n - (lastThrottled[action] ?? 0)]),
  );
  const total = (tallies: readonly Record<string, number>[]): number =>
    tallies.flatMap((tally) => Object.values(tally)).reduce((sum, n) => sum + n, 0);
  const serviceCalls = total(callsByNight);
  const throttledCalls = total(throttledByNight);
  // From the second night on, when rotation has images to expire too.
  const steadyNights = callsByNight.length > 1 ? callsByNight.slice(1) : callsByNight;
  const steadyCalls = steadyNights.flatMap((tally) => Object.values(tally)).reduce((sum, n) => sum + n, 0);
  // One call per image made or expired (and per snapshot EC2 left behind); the rest are describes and tag writes,
  // batched 1,000 ids a call or paged: what a night costs besides, nearly the same for 100 instances or 10,000.
  const perImageActions = new Set(['CreateImage', 'DeregisterImage', 'DeleteSnapshot']);
  const steadyPerImageCalls = steadyNights
    .flatMap((tally) => Object.entries(tally))
    .reduce((sum, [action, n]) => sum + (perImageActions.has(action) ? n : 0), 0);
  const simulatedNightSeconds = lastNightLength(records);
  // The deployment's settings as the functions got them.
  const setting = (name: string): number => {
    const value = Number(environment[name]);
    if (!Number.isInteger(value)) throw new Error(`the functions' ${name} is not a whole number`);
    return value;
  };
  const bound = nightBound({
    calls: lastTaken,
    competingLoad: options.competingLoad,
    ...rebootGroups(
      fleet.map((member) => {
        const group = groupOf(member.tags);
        return {
          ...(group === undefined ? {} : { group }),
          reboot: member.tags[OperatorTag.mode] !== BackupMode.noReboot,
        };
      }),
    ),
    maxDownPerGroup: setting('MAX_DOWN_PER_GROUP'),
    maxConcurrentReboots: setting('MAX_CONCURRENT_REBOOTS'),
    rebootSlotSeconds: rebootSlotSeconds({
      rebootGraceSeconds: setting('REBOOT_GRACE_SECONDS'),
      shutdownSeconds: DEFAULT_DURATIONS.imageShutdown / 1000,
      bootSeconds: DEFAULT_DURATIONS.imageBoot / 1000,
    }),
    // The default 8 GiB root volume.
    imageSeconds: (DEFAULT_DURATIONS.imageBase + 8 * DEFAULT_DURATIONS.imagePerGiB) / 1000,
  });
  const longest = Math.max(...records.map((record) => record.simulatedMs)) / 1000;
  const bundles = options.bundles ? (await measureBundles()).bundles : [];
  const figures = {
    instances: options.instances,
    nights: options.nights,
    groupSize: options.groupSize,
    maxConcurrentReboots: setting('MAX_CONCURRENT_REBOOTS'),
    retain: options.retain,
    history: options.history,
    competingLoad: options.competingLoad,
    backedUp,
    verified: states.filter((instance) => instance.verified).length,
    failed,
    undone: states.length - backedUp - failed,
    // Down for an image's reboot: from the OS shutdown (the CreateImage call) until the instance status check is ok.
    maxDownAtOnce: report.totals.maxDownAtOnce,
    maxDownInOneGroup: report.totals.maxDownInOneGroup,
    // Invocations started while the same function ran, and firings its reserved concurrency refused (see the runner).
    overlappingInvocations: report.totals.overlappingInvocations,
    throttledInvocations: report.totals.throttledInvocations,
    maxDowntimeSecondsPerInstance: Math.max(0, ...states.map((instance) => instance.downtimeSeconds)),
    ec2Calls,
    callsPerInstancePerNight: Math.round((steadyCalls / steadyNights.length / options.instances) * 100) / 100,
    perImageCallsPerInstancePerNight:
      Math.round((steadyPerImageCalls / steadyNights.length / options.instances) * 100) / 100,
    batchedCallsPerNight: Math.round((steadyCalls - steadyPerImageCalls) / steadyNights.length),
    // Calls EC2's buckets refused with RequestLimitExceeded (all nights), and their share of the service's calls.
    throttledCalls,
    throttledShare: serviceCalls > 0 ? Math.round((throttledCalls / serviceCalls) * 10_000) / 10_000 : 0,
    simulatedNightSeconds: Math.round(simulatedNightSeconds),
    boundSeconds: Math.round(bound.seconds),
    boundBy: bound.by,
    throttleBoundSeconds: Math.round(bound.throttle.seconds),
    groupBoundSeconds: Math.round(bound.groupSeconds),
    staggerBoundSeconds: Math.round(bound.staggerSeconds),
    capBoundSeconds: Math.round(bound.capSeconds),
    ratio: bound.seconds > 0 ? Math.round((simulatedNightSeconds / bound.seconds) * 100) / 100 : null,
    longestInvocationSeconds: Math.round(longest),
    invocationsOverTimeLimit: records.filter((record) => record.simulatedMs > 900_000).length,
    invocations: records.length,
    wallSeconds: Math.round(wallSeconds * 10) / 10,
    peakRssMiB: Math.round(peakRss / 1024 / 1024),
    // Each function's largest invocation (none with --no-heap), and the memory it is given.
    heapMeasured: options.measureHeap,
    peakHeapMiB: Object.fromEntries(Object.entries(heap).map(([name, measured]) => [name, measured.peakHeapMiB])),
    memorySizeMiB: memory,
    heap,
    // Full collections forced to measure the heap, and the wall time they took (part of wallSeconds).
    heapCollections: heapCollections.count,
    heapCollectionSeconds: Math.round(heapCollections.seconds * 10) / 10,
    bundles,
    problems,
  };
  if (options.json) {
    process.stdout.write(`${JSON.stringify(figures, null, 2)}\n`);
  } else {
    const { ec2Calls: calls, bundles: sizes, problems, peakHeapMiB, memorySizeMiB, heap: heaps, ...scalars } = figures;
    const table = new Table({ head: ['figure', 'value'] });
    for (const [name, value] of Object.entries(scalars)) table.push([name, String(value)]);
    const callTable = new Table({ head: ['EC2 action', 'calls (all nights)'] });
    for (const [action, count] of Object.entries(calls)) callTable.push([action, String(count)]);
    const bundleTable = new Table({ head: ['function', 'bytes', 'import (ms)', 'naive import (ms)'] });
    for (const bundle of sizes) {
      bundleTable.push([
        bundle.function,
        String(bundle.bytes),
        bundle.importMs.toFixed(0),
        bundle.naiveImportMs.toFixed(0),
      ]);
    }
    const heapTable = new Table({
      head: ['function', 'peak heap (MiB)', 'memorySize (MiB)', 'share', 'invocations', 'overlapped'],
    });
    for (const [name, measured] of Object.entries(heaps)) {
      const size = memorySizeMiB[name];
      heapTable.push([
        name,
        measured.peakHeapMiB.toFixed(1),
        String(size ?? ''),
        size === undefined ? '' : `${Math.round((measured.peakHeapMiB / size) * 100)}%`,
        String(measured.invocations),
        String(measured.overlapped),
      ]);
    }
    const tables = [table, callTable, heapTable, ...(sizes.length > 0 ? [bundleTable] : [])];
    process.stdout.write(`${tables.map((each) => each.toString()).join('\n')}\n`);
    for (const problem of problems) process.stdout.write(`problem: ${problem}\n`);
  }
  if (options.timeline !== undefined) {
    writeNightReport(options.timeline, nightTimeline(nightEvents({ ...night, records, report })));
    process.stderr.write(`The nights' timeline: ${options.timeline}\n`);
  }
  if (problems.length > 0) process.exitCode = 1;
}

if (require.main === module) {
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';
  main().catch((error: unknown) => {
    process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exitCode = 2;
  });
}
