/**
 * Copies to another Region, through the endpoint: nights of the real handlers with IAM as deployed, one instance
 * copying its good backups to us-west-2 (keeping two copies there), one naming a Region twice (a policy error, no copy).
 */
import { EC2Client, type Image } from '@aws-sdk/client-ec2';
import { CopyTag, ImageTag, InstanceTag, parseCopyRecord } from '../../../lib/tags';
import { type LocalEc2, SimClock, startLocalEc2 } from '../../../local/ec2';
import type { FleetMember } from '../../../local/runner/fleet';
import { type NightReport, OPERATOR_CREDENTIALS, runNights } from '../../../local/runner/night';
import { deployedIam, EVENING, SERVERLESS_FILE } from './fixtures';
import { inventory, OWNER, tagsOf } from './support';

const WEST = 'us-west-2';
const PARAMS = { copyAllowedRegions: WEST };
const FLEET: readonly FleetMember[] = [
  {
    name: 'dr',
    tags: { Backup: 'true', 'ami-backup:retain': '1', [CopyTag.copyTo]: WEST, [CopyTag.copyRetain]: '2' },
    optedIn: true,
  },
  {
    name: 'twice',
    tags: { Backup: 'true', 'ami-backup:retain': '1', [CopyTag.copyTo]: `${WEST},${WEST}` },
    optedIn: true,
  },
  { name: 'home-only', tags: { Backup: 'true', 'ami-backup:retain': '1' }, optedIn: true },
];

let ec2: LocalEc2;
let report: NightReport;
let west: EC2Client;
let home: EC2Client;

beforeAll(async () => {
  ec2 = await startLocalEc2({
    clock: SimClock.manual(EVENING),
    throttling: true,
    audit: true,
    iam: await deployedIam(PARAMS),
  });
  report = await runNights({
    ec2,
    fleet: FLEET,
    nights: 3,
    serverlessFile: SERVERLESS_FILE,
    logLevel: 'SILENT',
    params: PARAMS,
  });
  home = new EC2Client({ endpoint: ec2.url, region: 'us-east-1', credentials: OPERATOR_CREDENTIALS });
  west = new EC2Client({ endpoint: ec2.url, region: WEST, credentials: OPERATOR_CREDENTIALS });
}, 300_000);

afterAll(async () => {
  home.destroy();
  west.destroy();
  await ec2.stop();
});

const nameOf = (image: Image): string => image.Name ?? '';

it('backs up every instance, with no call denied', () => {
  expect(report.invocationErrors).toEqual([]);
  expect(report.totals.deniedCalls).toBe(0);
  expect(report.problems).toEqual([]);
});

it("copies each night's good backup once to the Region named, keeping copy-retain good copies there", async () => {
  const atHome = await inventory(home);
  const inWest = await inventory(west);
  const dr = atHome.instance('dr').InstanceId ?? '';
  const copies = inWest.imagesOf(dr);
  // Three nights, retain 2 there (and 1 at home): the first night's copy expired, with its snapshots.
  expect(copies.map((copy) => copy.State)).toEqual(['available', 'available']);
  expect(new Set(copies.map(nameOf)).size).toBe(2);
  expect(atHome.imagesOf(dr, 'available')).toHaveLength(1);
  for (const copy of copies) {
    expect(tagsOf(copy)).toMatchObject({
      [ImageTag.managedBy]: OWNER,
      [ImageTag.instanceId]: dr,
      [CopyTag.sourceRegion]: 'us-east-1',
      [ImageTag.retain]: '2',
      [InstanceTag.state]: 'succeeded',
    });
    expect(inWest.snapshotsOf(copy).length).toBeGreaterThan(0);
  }
  // Every snapshot in the Region belongs to a copy still there.
  const used = new Set(copies.flatMap((copy) => inWest.snapshotsOf(copy).map((snapshot) => snapshot.SnapshotId)));
  expect(inWest.snapshots.map((snapshot) => snapshot.SnapshotId).filter((id) => !used.has(id))).toEqual([]);
  // The newest backup at home records its copy.
  const newest = atHome.imagesOf(dr, 'available')[0];
  const record = parseCopyRecord(tagsOf(newest ?? {})[CopyTag.copies]);
  expect([...record.keys()]).toEqual([WEST]);
  expect(record.get(WEST)?.state).toBe('succeeded');
  expect(copies.map((copy) => copy.ImageId)).toContain(record.get(WEST)?.imageId);
  expect(tagsOf(copies.find((copy) => copy.ImageId === record.get(WEST)?.imageId) ?? {})[CopyTag.sourceImage]).toBe(
    newest?.ImageId,
  );
});

it('publishes one Copy Succeeded per copy made', () => {
  const succeeded = ec2.putEvents.filter((entry) => entry.DetailType === 'Copy Succeeded');
  const imageIds = succeeded.map((entry) => (JSON.parse(entry.Detail ?? '{}') as { imageId?: string }).imageId);
  expect(new Set(imageIds).size).toBe(3);
});

it('makes no copy for an instance naming a Region twice, and reports why on it', async () => {
  const atHome = await inventory(home);
  const inWest = await inventory(west);
  const twice = atHome.instance('twice');
  expect(inWest.imagesOf(twice.InstanceId ?? '')).toEqual([]);
  expect(tagsOf(twice)[InstanceTag.policyError]).toBe(`${CopyTag.copyTo}: "${WEST}" is listed twice`);
  expect(atHome.imagesOf(twice.InstanceId ?? '', 'available')).toHaveLength(1);
  expect(inWest.imagesOf(atHome.instance('home-only').InstanceId ?? '')).toEqual([]);
});

it('turns the copy passes off once no copy is in flight', () => {
  expect(ec2.eventRules.isEnabled('ami-backup-dev-copy-passes')).toBe(false);
});
