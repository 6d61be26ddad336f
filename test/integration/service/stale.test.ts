/**
 * An instance whose backups stop succeeding is reported stale: backed up the first night, its images fail the next two
 * (the endpoint fails them), and the run starts after its last good backup is older than `staleAfterHours` (36) report
 * it, with a `Backup Stale` event and in the start's summary; so is one whose images fail from its first night, counted
 * from that night; the instance backed up every night is never stale.
 */
import { type LocalEc2, SimClock, startLocalEc2 } from '../../../local/ec2';
import { type FleetMember, type LaunchedMember, launchFleet } from '../../../local/runner/fleet';
import { type NightReport, runNights } from '../../../local/runner/night';
import type { InvocationRecord } from '../../../local/runner/simulation';
import { deployedIam, EVENING, SERVERLESS_FILE } from './fixtures';

const FLEET: readonly FleetMember[] = [
  { name: 'steady', tags: { Backup: 'true' }, optedIn: true },
  { name: 'lapsing', tags: { Backup: 'true' }, optedIn: true },
  { name: 'never-good', tags: { Backup: 'true' }, optedIn: true },
];

interface StaleDetail {
  instanceId: string;
  lastSuccess?: string;
  hours: number;
  runId: string;
}

let ec2: LocalEc2;
let report: NightReport;
let launched: LaunchedMember[] = [];
const starts: { runId: string; stale: { instanceId: string }[] }[] = [];

beforeAll(async () => {
  ec2 = await startLocalEc2({ clock: SimClock.manual(EVENING), throttling: false, iam: await deployedIam() });
  report = await runNights({
    ec2,
    fleet: FLEET,
    nights: 4,
    serverlessFile: SERVERLESS_FILE,
    logLevel: 'SILENT',
    launch: async (client, fleet) => {
      launched = await launchFleet(client, fleet);
      // The never-good instance's images fail from the first night on.
      ec2.faults.failImagesOf(launched.find((member) => member.name === 'never-good')?.instanceId ?? '');
      return launched;
    },
    onInvocation: (record: InvocationRecord) => {
      const result = record.result as { runId?: string; stale?: { instanceId: string }[] } | undefined;
      if (record.functionName === 'reboot' && result?.runId !== undefined) {
        starts.push({ runId: result.runId, stale: result.stale ?? [] });
      }
      // From the first night's rotation on (its backup recorded good), the lapsing instance's images fail.
      if (record.functionName === 'rotate' && starts.length === 1) {
        ec2.faults.failImagesOf(launched.find((member) => member.name === 'lapsing')?.instanceId ?? '');
      }
    },
  });
}, 120_000);

afterAll(async () => {
  await ec2.stop();
});

const idOf = (name: string): string => launched.find((member) => member.name === name)?.instanceId ?? '';

it('reports the instance stale once its last good backup is two days old, and keeps reporting it', () => {
  // The runner sees the lapsing and the never-good instances' last nights fail: the only problems.
  expect([...report.problems].sort()).toEqual([
    expect.stringMatching(/^lapsing: no new good image in the last night/),
    expect.stringMatching(/^never-good: no new good image in the last night/),
  ]);
  expect(starts.map((start) => start.runId)).toEqual([
    '20261126T0300Z',
    '20261127T0300Z',
    '20261128T0300Z',
    '20261129T0300Z',
  ]);
  // A day after its last good backup (or its first run, for the never-good one), not yet; two and three days after,
  // stale.
  const bothStale = [idOf('lapsing'), idOf('never-good')].sort();
  expect(starts.map((start) => start.stale.map((entry) => entry.instanceId).sort())).toEqual([
    [],
    [],
    bothStale,
    bothStale,
  ]);
  expect(report.totals.staleInstances).toBe(2);
  expect(report.metrics.StaleInstances).toBe(4);
});

it("publishes a Backup Stale event at each of those runs' starts, with its last good backup and its age", () => {
  const events = ec2.putEvents
    .filter((entry) => entry.DetailType === 'Backup Stale')
    .map((entry) => JSON.parse(entry.Detail ?? '{}') as StaleDetail);
  expect(events.filter((event) => event.instanceId === idOf('lapsing'))).toEqual([
    expect.objectContaining({
      instanceId: idOf('lapsing'),
      lastSuccess: '20261126T0300Z',
      hours: 48,
      runId: '20261128T0300Z',
    }),
    expect.objectContaining({
      instanceId: idOf('lapsing'),
      lastSuccess: '20261126T0300Z',
      hours: 72,
      runId: '20261129T0300Z',
    }),
  ]);
  // Without a good backup ever, counted from its first run, and without a last success.
  expect(events.filter((event) => event.instanceId === idOf('never-good'))).toEqual([
    { instanceId: idOf('never-good'), hours: 48, runId: '20261128T0300Z' },
    { instanceId: idOf('never-good'), hours: 72, runId: '20261129T0300Z' },
  ]);
  expect(events.map((event) => event.instanceId)).not.toContain(idOf('steady'));
});
