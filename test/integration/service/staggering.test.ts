/**
 * Staggering, through the handlers wired from serverless.yml (with a 20-minute reboot window, `--param` style) against
 * the local EC2 endpoint, every createImages sweep a minute apart on a manual clock: a group's members go down one at
 * a time, an Auto Scaling group counts as a group, an instance not reached within the window is recorded
 * `missed-window`, left alone, and taken first the next night; instances pending or stopping at the run's start are
 * imaged once they settle.
 */
import {
  type EC2Client,
  StartInstancesCommand,
  StopInstancesCommand,
  TerminateInstancesCommand,
} from '@aws-sdk/client-ec2';
import { BackupStep, ImageTag, InstanceTag, OperatorTag } from '../../../lib/tags';
import { type AuditEntry, LOCAL_ACCOUNT_ID, type LocalEc2 } from '../../../local/ec2';
import { groupOf, imageReboots, peaksByGroup } from '../../../local/runner/downtime';
import { type FleetMember, launchFleet } from '../../../local/runner/fleet';
import { scheduledEvent } from '../../../local/runner/simulation';
import { nextRunTime, type ServiceUnderTest, startService } from './fixtures';
import { inventory, tagsOf } from './support';

const MINUTE = 60_000;
const DAY = 24 * 60 * MINUTE;
const WINDOW_MINUTES = 20;

let ec2: LocalEc2;
let client: EC2Client;
let service: ServiceUnderTest;
let launchedIds: string[] = [];

/** Invokes a function with the scheduled event of `time`. */
function invoke(name: string, time: Date): Promise<Record<string, unknown>> {
  return service.invoke(name, scheduledEvent('test', time, 'us-east-1', LOCAL_ACCOUNT_ID));
}

async function launch(members: readonly FleetMember[]): Promise<string[]> {
  const launched = await launchFleet(client, members);
  for (const member of launched) {
    if (member.autoScalingGroup !== undefined) ec2.setAutoScalingGroup(member.instanceId, member.autoScalingGroup);
  }
  launchedIds.push(...launched.map((member) => member.instanceId));
  ec2.clock.advance(5 * MINUTE); // running, checks passed
  return launched.map((member) => member.instanceId);
}

/** A run's start at `start`, then a createImages sweep every minute for `minutes` minutes. */
async function night(start: Date, minutes: number): Promise<Record<string, unknown>> {
  ec2.clock.advanceTo(start);
  const started = await invoke('reboot', start);
  for (let minute = 1; minute <= minutes; minute += 1) {
    const time = new Date(start.getTime() + minute * MINUTE);
    ec2.clock.advanceTo(time);
    await invoke('createImages', time);
  }
  return started;
}

function reboots(ids: readonly string[]): AuditEntry[] {
  return ec2.audit.filter(
    (entry) => entry.kind === 'image-created' && entry.downAt !== undefined && ids.includes(entry.instanceId ?? ''),
  );
}

/** The most members of each group down at once, on the endpoint's timeline. */
async function groupPeaks(ids: readonly string[]): Promise<Record<string, number>> {
  const intervals = imageReboots(reboots(ids), { end: ec2.clock.nowMs() });
  const groups = new Map(
    (await inventory(client)).instances
      .filter((instance) => ids.includes(instance.InstanceId ?? ''))
      .map((instance) => [instance.InstanceId ?? '', groupOf(tagsOf(instance))]),
  );
  return Object.fromEntries([...peaksByGroup(intervals, groups)].map(([group, peak]) => [group, peak.count]));
}

async function tagsById(ids: readonly string[]): Promise<Map<string, Record<string, string>>> {
  const inv = await inventory(client);
  return new Map(ids.map((id) => [id, tagsOf(inv.instances.find((instance) => instance.InstanceId === id) ?? {})]));
}

beforeAll(async () => {
  service = await startService({ rebootWindowMinutes: String(WINDOW_MINUTES) });
  ({ ec2, client } = service);
});

// Each test's instances leave the account, so that the next test's runs hold only its own.
afterEach(async () => {
  if (launchedIds.length > 0) await client.send(new TerminateInstancesCommand({ InstanceIds: launchedIds }));
  launchedIds = [];
  ec2.clock.advance(2 * 60 * MINUTE);
});

afterAll(async () => {
  await ec2.stop();
});

it('misses the window for the members a group could not reach: recorded, not rebooted after it, first the next night', async () => {
  const ids = await launch(
    Array.from({ length: 6 }, (_, index) => ({
      name: `big-${index}`,
      tags: { Backup: 'true', [OperatorTag.group]: 'big' },
      optedIn: true,
    })),
  );
  const start = nextRunTime(ec2);
  const { runId } = (await night(start, 60)) as { runId: string };
  const windowEnd = start.getTime() + WINDOW_MINUTES * MINUTE;

  const tags = await tagsById(ids);
  const missed = ids.filter((id) =>
    (tags.get(id)?.[InstanceTag.lastError] ?? '').startsWith(`${runId}: missed-window:`),
  );
  const imaged = ids.filter((id) => tags.get(id)?.[InstanceTag.state] === BackupStep.succeeded);
  expect(missed.length).toBeGreaterThan(0);
  expect(imaged.length).toBeGreaterThan(0);
  expect(missed.length + imaged.length).toBe(ids.length);
  for (const id of missed) expect(tags.get(id)?.[InstanceTag.state]).toBe(BackupStep.failed);
  // No reboot began after the window, and the missed ones were not touched.
  expect(reboots(ids).filter((entry) => entry.at >= windowEnd)).toEqual([]);
  expect(reboots(missed)).toEqual([]);
  expect(
    (await inventory(client)).images.filter((image) => missed.includes(tagsOf(image)[ImageTag.instanceId] ?? '')),
  ).toEqual([]);
  expect(await groupPeaks(ids)).toEqual({ big: 1 });

  // The next night takes the missed ones first.
  const next = new Date(start.getTime() + DAY);
  await night(next, 60);
  const order = reboots(ids)
    .filter((entry) => entry.at >= next.getTime())
    .sort((a, b) => a.at - b.at)
    .map((entry) => entry.instanceId);
  expect(order.slice(0, missed.length).sort()).toEqual([...missed].sort());
  const after = await tagsById(ids);
  for (const id of missed) expect(after.get(id)?.[InstanceTag.state]).toBe(BackupStep.succeeded);
  expect(await groupPeaks(ids)).toEqual({ big: 1 });
}, 60_000);

it('groups the members of an Auto Scaling group by it; an operator’s group tag wins over it', async () => {
  const [asgA, asgB, own, plain] = await launch([
    { name: 'asg-a', tags: { Backup: 'true' }, autoScalingGroup: 'fleet-asg', optedIn: true },
    { name: 'asg-b', tags: { Backup: 'true' }, autoScalingGroup: 'fleet-asg', optedIn: true },
    {
      name: 'asg-own',
      tags: { Backup: 'true', [OperatorTag.group]: 'mine' },
      autoScalingGroup: 'fleet-asg',
      optedIn: true,
    },
    { name: 'plain', tags: { Backup: 'true' }, optedIn: true },
  ]);
  const ids = [asgA, asgB, own, plain].map((id) => id ?? '');
  await night(nextRunTime(ec2), 30);
  const tags = await tagsById(ids);
  for (const id of ids) expect(tags.get(id)?.[InstanceTag.state]).toBe(BackupStep.succeeded);
  expect(await groupPeaks(ids)).toEqual({ 'fleet-asg': 1, mine: 1 });
  // The Auto Scaling members went one after the other, while the others went at once with the first of them.
  const first = (id: string) => reboots([id])[0]?.downAt ?? 0;
  const asgFirst = Math.min(first(ids[0] ?? ''), first(ids[1] ?? ''));
  const asgSecond = Math.max(first(ids[0] ?? ''), first(ids[1] ?? ''));
  expect(first(ids[2] ?? '')).toBe(asgFirst);
  expect(first(ids[3] ?? '')).toBe(asgFirst);
  // Not before the first is seen back: the grace period (300 s) after its image's reboot began, then checks ok.
  expect(asgSecond).toBeGreaterThanOrEqual(asgFirst + 5 * MINUTE);
}, 60_000);

it('images an instance pending or stopping at the run’s start once it settles, within the window', async () => {
  const [settling, waking] = await launch([
    { name: 'settling', tags: { Backup: 'true' }, optedIn: true },
    { name: 'waking', tags: { Backup: 'true' }, optedIn: true },
  ]);
  const ids = [settling ?? '', waking ?? ''];
  await client.send(new StopInstancesCommand({ InstanceIds: [waking ?? ''] }));
  const start = nextRunTime(ec2);
  // At the start, one is still stopping (45 s) and the other still pending (30 s).
  ec2.clock.advanceTo(new Date(start.getTime() - 20_000));
  await client.send(new StopInstancesCommand({ InstanceIds: [settling ?? ''] }));
  await client.send(new StartInstancesCommand({ InstanceIds: [waking ?? ''] }));
  ec2.clock.advanceTo(new Date(start.getTime() - 10_000));
  const started = await night(start, 15);

  expect(started.instances).toEqual(
    expect.arrayContaining([
      expect.objectContaining({ instanceId: settling, action: 'queue', reason: expect.stringContaining('stopping') }),
      expect.objectContaining({ instanceId: waking, action: 'queue', reason: expect.stringContaining('pending') }),
    ]),
  );
  const tags = await tagsById(ids);
  expect(tags.get(settling ?? '')).toMatchObject({
    [InstanceTag.state]: BackupStep.succeeded,
    [InstanceTag.imageMode]: 'stopped',
  });
  expect(tags.get(waking ?? '')).toMatchObject({
    [InstanceTag.state]: BackupStep.succeeded,
    [InstanceTag.imageMode]: 'reboot',
  });
  for (const entry of ec2.audit.filter((e) => e.kind === 'image-created' && ids.includes(e.instanceId ?? ''))) {
    expect(entry.at).toBeLessThan(start.getTime() + WINDOW_MINUTES * MINUTE);
  }
}, 60_000);
