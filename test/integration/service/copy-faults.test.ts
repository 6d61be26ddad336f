/**
 * Copies that do not finish, through the endpoint: a copy EC2 fails (into us-west-2), and one that stays pending past
 * the image timeout (into eu-west-1), are each recorded failed (on the copy and its source), published, cleaned up in
 * their Region, and never made again for the same backup.
 */
import { EC2Client } from '@aws-sdk/client-ec2';
import { CopyTag, InstanceTag, parseCopyRecord } from '../../../lib/tags';
import { type LocalEc2, SimClock, startLocalEc2 } from '../../../local/ec2';
import type { FleetMember } from '../../../local/runner/fleet';
import { type NightReport, OPERATOR_CREDENTIALS, runNights } from '../../../local/runner/night';
import { deployedIam, EVENING, SERVERLESS_FILE } from './fixtures';
import { inventory, tagsOf } from './support';

const FAILING = 'us-west-2';
const STALLING = 'eu-west-1';
/** The shortest image timeout the service takes: the copy pass after it (every 15 minutes) finds the copy late. */
const PARAMS = { copyAllowedRegions: `${FAILING},${STALLING}`, imageTimeoutSeconds: '600' };
const FLEET: readonly FleetMember[] = [
  { name: 'dr-failing', tags: { Backup: 'true', [CopyTag.copyTo]: FAILING }, optedIn: true },
  { name: 'dr-stalling', tags: { Backup: 'true', [CopyTag.copyTo]: STALLING }, optedIn: true },
];

let ec2: LocalEc2;
let report: NightReport;
const clients = new Map<string, EC2Client>();
const client = (region: string): EC2Client => {
  const existing =
    clients.get(region) ?? new EC2Client({ endpoint: ec2.url, region, credentials: OPERATOR_CREDENTIALS });
  clients.set(region, existing);
  return existing;
};

beforeAll(async () => {
  ec2 = await startLocalEc2({ clock: SimClock.manual(EVENING), audit: true, iam: await deployedIam(PARAMS) });
  ec2.faults.failCopies({ region: FAILING });
  ec2.faults.stallCopies({ region: STALLING });
  report = await runNights({
    ec2,
    fleet: FLEET,
    nights: 1,
    serverlessFile: SERVERLESS_FILE,
    logLevel: 'SILENT',
    params: PARAMS,
  });
}, 120_000);

afterAll(async () => {
  for (const each of clients.values()) each.destroy();
  await ec2.stop();
});

/** The failure recorded on the instance's good backup for the Region, and the copy failures published for it. */
async function recordedFailure(
  name: string,
  region: string,
): Promise<{ record: string | undefined; events: string[] }> {
  const atHome = await inventory(client('us-east-1'));
  const backup = atHome.imagesOf(atHome.instance(name).InstanceId ?? '', 'available')[0];
  const events = ec2.putEvents
    .filter((entry) => entry.DetailType === 'Copy Failed')
    .map((entry) => JSON.parse(entry.Detail ?? '{}') as { region?: string; reason?: string })
    .filter((detail) => detail.region === region)
    .map((detail) => detail.reason ?? '');
  return { record: parseCopyRecord(tagsOf(backup ?? {})[CopyTag.copies]).get(region)?.state, events };
}

/** What is left of the copies in a Region: images not deregistered, and snapshots. */
async function leftIn(region: string): Promise<{ images: number; snapshots: number }> {
  const there = await inventory(client(region));
  return {
    images: there.images.filter((image) => image.State !== 'deregistered').length,
    snapshots: there.snapshots.length,
  };
}

it('backs both instances up, with no call denied, and stops the copy passes', async () => {
  expect(report.invocationErrors).toEqual([]);
  expect(report.totals.deniedCalls).toBe(0);
  const atHome = await inventory(client('us-east-1'));
  for (const name of ['dr-failing', 'dr-stalling']) {
    expect(tagsOf(atHome.instance(name))[InstanceTag.state]).toBe('succeeded');
    expect(atHome.imagesOf(atHome.instance(name).InstanceId ?? '', 'available')).toHaveLength(1);
  }
  expect(ec2.eventRules.isEnabled('ami-backup-dev-copy-passes')).toBe(false);
  // One copy each, ever.
  expect(ec2.callCount('CopyImage')).toBe(2);
});

it('records a copy EC2 failed, publishes it, and deletes it with its snapshots', async () => {
  const { record, events } = await recordedFailure('dr-failing', FAILING);
  expect(record).toBe('failed');
  expect(events).toHaveLength(1);
  expect(events[0]).toMatch(/^copy failed: /);
  expect(await leftIn(FAILING)).toEqual({ images: 0, snapshots: 0 });
});

it('fails a copy still pending after the image timeout, publishes it, and cleans it up', async () => {
  const { record, events } = await recordedFailure('dr-stalling', STALLING);
  expect(record).toBe('failed');
  expect(events).toEqual(['copy still pending after 600 s: cleaned up']);
  expect(await leftIn(STALLING)).toEqual({ images: 0, snapshots: 0 });
});
