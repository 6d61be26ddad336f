/**
 * The demo's sharing, seen from the recovery account: two nights deployed as `npm start` deploys (a customer managed
 * key made first, named in shareKmsKey; the recovery account on the endpoint), then that account's own credentials
 * find the backups shared with it and launch from them. db-1's backups are shared as they are; vault-1's, encrypted
 * with the AWS managed key, through copies re-encrypted with the demo's key.
 */
import { resolve } from 'node:path';
import {
  DescribeImagesCommand,
  DescribeInstancesCommand,
  EC2Client,
  type Image,
  RunInstancesCommand,
} from '@aws-sdk/client-ec2';
import { readConfig } from '../../../lib/config';
import { ImageTag, ShareTag } from '../../../lib/tags';
import { type LocalEc2, SimClock, startLocalEc2 } from '../../../local/ec2';
import { DEMO_SHARE_CREDENTIALS, demoDeployment } from '../../../local/runner/demo';
import { DEMO_FLEET, DEMO_SHARE_ACCOUNT } from '../../../local/runner/fleet';
import { checkSharing, worldOf } from '../../../local/runner/invariants';
import { deployLocally, type NightReport, OPERATOR_CREDENTIALS, runNights } from '../../../local/runner/night';

const ROOT = resolve(__dirname, '../../..');
const SERVERLESS_FILE = resolve(ROOT, 'serverless.yml');
const REGION = 'us-east-1';
const NIGHTS = 2;

let ec2: LocalEc2;
/** The deployment's parameters: the demo's, and the key made for re-encrypted copies (shareKmsKey). */
let deployed: Readonly<Record<string, string>>;
let report: NightReport;
let recovery: EC2Client;
let operator: EC2Client;

beforeAll(async () => {
  const { start, params, accounts, prepare } = demoDeployment(NIGHTS);
  ec2 = await startLocalEc2({ clock: SimClock.manual(start), throttling: false, region: REGION, accounts });
  // As the demo deploys: the key made, then the roles enforced with the parameters naming it.
  deployed =
    (await deployLocally(ec2, { params, prepare, accounts, serverlessFile: SERVERLESS_FILE, region: REGION })) ?? {};
  report = await runNights({
    fleet: DEMO_FLEET,
    nights: NIGHTS,
    serverlessFile: SERVERLESS_FILE,
    logLevel: 'SILENT',
    ec2,
    accounts,
    params: deployed,
  });
  recovery = new EC2Client({ endpoint: ec2.url, region: REGION, credentials: DEMO_SHARE_CREDENTIALS, maxAttempts: 3 });
  operator = new EC2Client({ endpoint: ec2.url, region: REGION, credentials: OPERATOR_CREDENTIALS, maxAttempts: 3 });
}, 180_000);

afterAll(async () => {
  recovery?.destroy();
  operator?.destroy();
  await ec2?.stop();
});

const instanceIdOf = (name: string): string => report.instances.find((entry) => entry.name === name)?.instanceId ?? '';
const tags = (image: Image): Record<string, string> =>
  Object.fromEntries((image.Tags ?? []).map((tag) => [tag.Key ?? '', tag.Value ?? '']));

/** The operator's images of an instance, good backups and re-encrypted copies apart. */
async function imagesOf(name: string): Promise<{ backups: Image[]; copies: Image[] }> {
  const { Images = [] } = await operator.send(
    new DescribeImagesCommand({
      Owners: ['self'],
      Filters: [{ Name: `tag:${ImageTag.instanceId}`, Values: [instanceIdOf(name)] }],
    }),
  );
  return {
    backups: Images.filter((image) => tags(image)[ShareTag.reencryptedFrom] === undefined),
    copies: Images.filter((image) => tags(image)[ShareTag.reencryptedFrom] !== undefined),
  };
}

/** Launches from an image as the recovery account; where the instance got to a few minutes later. */
async function recoveryLaunches(imageId: string): Promise<string | undefined> {
  const launched = await recovery.send(
    new RunInstancesCommand({ ImageId: imageId, InstanceType: 't3.micro', MinCount: 1, MaxCount: 1 }),
  );
  const instanceId = launched.Instances?.[0]?.InstanceId ?? '';
  ec2.clock.advance(5 * 60_000);
  const described = await recovery.send(new DescribeInstancesCommand({ InstanceIds: [instanceId] }));
  return described.Reservations?.[0]?.Instances?.[0]?.State?.Name;
}

it('reports the nights done, nothing denied, and whom each newest good backup is shared with', () => {
  expect(report.problems).toEqual([]);
  expect(report.totals.deniedCalls).toBe(0);
  const shared = report.instances.filter((entry) => entry.sharedWith.length > 0);
  expect(shared.map((entry) => [entry.name, entry.sharedWith])).toEqual([
    ['db-1', [DEMO_SHARE_ACCOUNT]],
    ['vault-1', [DEMO_SHARE_ACCOUNT]],
  ]);
  // Each night's good backup of each, shared once; one copy re-encrypted a night.
  expect(report.totals).toMatchObject({ imagesShared: 2 * NIGHTS, copiesReencrypted: NIGHTS });
});

it('lets the recovery account find exactly the backups shared with it (ExecutableUsers self), none of them its own', async () => {
  const db = await imagesOf('db-1');
  const vault = await imagesOf('vault-1');
  expect(db.backups).toHaveLength(NIGHTS);
  expect(db.copies).toEqual([]);
  // vault-1's backups under aws/ebs are never shared themselves: a copy of each, re-encrypted with the demo's key.
  expect(vault.backups).toHaveLength(NIGHTS);
  expect(vault.copies).toHaveLength(NIGHTS);
  expect(deployed.shareKmsKey).toMatch(/^arn:aws:kms:us-east-1:123456789012:key\//);
  for (const copy of vault.copies) {
    expect(copy.BlockDeviceMappings?.[0]?.Ebs).toMatchObject({ Encrypted: true, KmsKeyId: deployed.shareKmsKey });
  }
  const { Images = [] } = await recovery.send(new DescribeImagesCommand({ ExecutableUsers: ['self'] }));
  const expected = [...db.backups, ...vault.copies].map((image) => image.ImageId).sort();
  expect(Images.map((image) => image.ImageId).sort()).toEqual(expected);
  expect(new Set(Images.map((image) => image.OwnerId))).toEqual(new Set(['123456789012']));
  expect(Images.every((image) => image.Public === false)).toBe(true);
  const own = await recovery.send(new DescribeImagesCommand({ Owners: ['self'] }));
  expect(own.Images).toEqual([]);
});

it('lets the recovery account launch from a shared backup and from a re-encrypted copy, not from the aws/ebs source', async () => {
  const db = await imagesOf('db-1');
  const vault = await imagesOf('vault-1');
  const newest = (images: Image[]): string =>
    [...images].sort((a, b) => (b.CreationDate ?? '').localeCompare(a.CreationDate ?? ''))[0]?.ImageId ?? '';
  expect(await recoveryLaunches(newest(db.backups))).toBe('running');
  // The copy's key is granted to the recovery account: EBS restores its volume there.
  expect(await recoveryLaunches(newest(vault.copies))).toBe('running');
  const source = newest(vault.backups);
  await expect(
    recovery.send(new RunInstancesCommand({ ImageId: source, InstanceType: 't3.micro', MinCount: 1, MaxCount: 1 })),
  ).rejects.toMatchObject({ name: 'InvalidAMIID.NotFound' });
});

it('holds the sharing invariants: nothing shared with an account its instance does not name, nothing public', () => {
  const after = worldOf(ec2.backend, ec2.clock.nowMs());
  expect(after.images.some((image) => (image.launchUserIds ?? []).includes(DEMO_SHARE_ACCOUNT))).toBe(true);
  // The deployment's settings, as the functions read them from their environment.
  expect(checkSharing({ after, settings: readConfig() })).toEqual([]);
});
