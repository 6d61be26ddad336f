/**
 * Sharing with another account, through the endpoint with IAM as deployed: nights of the real handlers, then what the
 * second account sees and can launch with its own credentials, the key grants, and revocation when an instance stops
 * naming the account.
 */
import {
  CreateTagsCommand,
  DeleteTagsCommand,
  DescribeImagesCommand,
  DescribeInstancesCommand,
  EC2Client,
  type Image,
  RunInstancesCommand,
} from '@aws-sdk/client-ec2';
import { CreateKeyCommand, KMSClient, ListGrantsCommand } from '@aws-sdk/client-kms';
import { ImageTag, InstanceTag, ShareTag } from '../../../lib/tags';
import { type IamOptions, type LocalEc2, SimClock, startLocalEc2 } from '../../../local/ec2';
import type { FleetMember } from '../../../local/runner/fleet';
import { type NightReport, OPERATOR_CREDENTIALS, runNights } from '../../../local/runner/night';
import { deployedIam, EVENING, invokerOn, SERVERLESS_FILE } from './fixtures';
import { inventory, OWNER, tagsOf } from './support';

const TARGET = '210987654321';
const TARGET_KEY = 'target';

let ec2: LocalEc2;
let report: NightReport;
let home: EC2Client;
let target: EC2Client;
let kms: KMSClient;
/** The customer managed key re-encrypted copies are made with (`shareKmsKey`). */
let shareKey: string;
/** A customer managed key an instance's volumes use, which the deployment may grant (`shareGrantKeys`). */
let volumeKey: string;
let params: Record<string, string>;

/** IAM as deployed, and the second account's administrator (allowed everything in that account). */
async function withTargetAccount(deployed: Promise<IamOptions>): Promise<IamOptions> {
  const { principals } = await deployed;
  const administrator = {
    arn: `arn:aws:iam::${TARGET}:user/admin`,
    policies: [
      { Version: '2012-10-17' as const, Statement: [{ Effect: 'Allow' as const, Action: '*', Resource: '*' }] },
    ],
  };
  return { principals: { ...principals, [TARGET_KEY]: administrator } };
}

const fleet = (): FleetMember[] => [
  { name: 'shared', tags: { Backup: 'true', 'ami-backup:retain': '1', [ShareTag.shareWith]: TARGET }, optedIn: true },
  {
    name: 'customer-key',
    tags: { Backup: 'true', 'ami-backup:retain': '1', [ShareTag.shareWith]: TARGET },
    encryptedRoot: { kmsKeyId: volumeKey },
    optedIn: true,
  },
  {
    name: 'aws-managed',
    tags: { Backup: 'true', 'ami-backup:retain': '1', [ShareTag.shareWith]: TARGET },
    encryptedRoot: {},
    optedIn: true,
  },
  { name: 'public', tags: { Backup: 'true', 'ami-backup:retain': '1', [ShareTag.shareWith]: 'all' }, optedIn: true },
  { name: 'private', tags: { Backup: 'true', 'ami-backup:retain': '1' }, optedIn: true },
];

beforeAll(async () => {
  ec2 = await startLocalEc2({
    clock: SimClock.manual(EVENING),
    throttling: true,
    audit: true,
    iam: await withTargetAccount(deployedIam()),
    accounts: { [TARGET_KEY]: TARGET },
  });
  kms = new KMSClient({ endpoint: ec2.url, region: 'us-east-1', credentials: OPERATOR_CREDENTIALS });
  shareKey = (await kms.send(new CreateKeyCommand({ Description: 'sharing' }))).KeyMetadata?.Arn ?? '';
  volumeKey = (await kms.send(new CreateKeyCommand({ Description: 'volumes' }))).KeyMetadata?.Arn ?? '';
  params = { shareKmsKey: shareKey, shareGrantKeys: volumeKey };
  report = await runNights({
    ec2,
    fleet: fleet(),
    nights: 2,
    serverlessFile: SERVERLESS_FILE,
    logLevel: 'SILENT',
    params,
  });
  home = new EC2Client({ endpoint: ec2.url, region: 'us-east-1', credentials: OPERATOR_CREDENTIALS });
  target = new EC2Client({
    endpoint: ec2.url,
    region: 'us-east-1',
    credentials: { accessKeyId: TARGET_KEY, secretAccessKey: 'local' },
  });
}, 300_000);

afterAll(async () => {
  home.destroy();
  target.destroy();
  kms.destroy();
  await ec2.stop();
});

/** The backups among an instance's images (its re-encrypted copies carry its instance id too). */
const backupsOf = (images: readonly Image[]): Image[] =>
  images.filter((image) => tagsOf(image)[ShareTag.reencryptedFrom] === undefined);

const idOf = (name: string): Promise<string> => inventory(home).then((found) => found.instance(name).InstanceId ?? '');

/** The images the second account may launch, as it sees them. */
async function launchableByTarget(): Promise<Image[]> {
  const { Images } = await target.send(new DescribeImagesCommand({ ExecutableUsers: ['self'] }));
  return Images ?? [];
}

/** Launches as the second account; where the instance got to two minutes later (a volume it cannot use fails it). */
async function targetLaunches(imageId: string): Promise<string | undefined> {
  const launched = await target.send(new RunInstancesCommand({ ImageId: imageId, MinCount: 1, MaxCount: 1 }));
  const instanceId = launched.Instances?.[0]?.InstanceId ?? '';
  ec2.clock.advance(120_000);
  const described = await target.send(new DescribeInstancesCommand({ InstanceIds: [instanceId] }));
  return described.Reservations?.[0]?.Instances?.[0]?.State?.Name;
}

async function serviceGrants(keyId: string): Promise<string[]> {
  const { Grants } = await kms.send(new ListGrantsCommand({ KeyId: keyId }));
  return (Grants ?? []).filter((grant) => grant.Name?.startsWith(`${OWNER}-`)).map((grant) => grant.Name ?? '');
}

it('backs up every instance, with no call denied', () => {
  expect(report.invocationErrors).toEqual([]);
  expect(report.totals.deniedCalls).toBe(0);
  expect(report.problems).toEqual([]);
});

it('lets the second account launch each kept good backup of the instances naming it, and nothing else', async () => {
  const atHome = await inventory(home);
  const shared = atHome.instance('shared').InstanceId ?? '';
  const customer = atHome.instance('customer-key').InstanceId ?? '';
  const managed = atHome.instance('aws-managed').InstanceId ?? '';
  const visible = await launchableByTarget();
  const byInstance = (instanceId: string) =>
    visible.filter((image) => tagsOf(image)[ImageTag.instanceId] === instanceId);
  // Retain 1: the second night's backup; the first night's expired, unshared first.
  expect(byInstance(shared).map((image) => image.ImageId)).toEqual(
    atHome.imagesOf(shared, 'available').map((image) => image.ImageId),
  );
  expect(byInstance(customer).map((image) => image.ImageId)).toEqual(
    atHome.imagesOf(customer, 'available').map((image) => image.ImageId),
  );
  // The instance under the AWS managed key: its backup is never shared itself, its re-encrypted copy is.
  const [copy, ...more] = byInstance(managed);
  expect(more).toEqual([]);
  expect(tagsOf(copy ?? {})).toMatchObject({ [ImageTag.managedBy]: OWNER, [ShareTag.sharedWith]: TARGET });
  const source = tagsOf(copy ?? {})[ShareTag.reencryptedFrom];
  expect(backupsOf(atHome.imagesOf(managed, 'available')).map((image) => image.ImageId)).toEqual([source]);
  expect(copy?.BlockDeviceMappings?.[0]?.Ebs).toMatchObject({ Encrypted: true, KmsKeyId: shareKey });
  // Nothing of the others, and nothing public.
  expect(visible).toHaveLength(3);
  const { Images: publicImages } = await target.send(new DescribeImagesCommand({ ExecutableUsers: ['all'] }));
  expect(publicImages).toEqual([]);
});

it('lets the second account launch from each shared image, its keys granted', async () => {
  for (const image of await launchableByTarget()) {
    expect(await targetLaunches(image.ImageId ?? '')).toBe('running');
  }
  // One grant per key and account: on the volumes' key, and on the key the copies are re-encrypted with.
  expect(await serviceGrants(volumeKey)).toEqual([`${OWNER}-${TARGET}`]);
  expect(await serviceGrants(shareKey)).toEqual([`${OWNER}-${TARGET}`]);
});

it('never makes a backup public: share-with=all is a policy error on the instance, nothing shared', async () => {
  const atHome = await inventory(home);
  const instance = atHome.instance('public');
  expect(tagsOf(instance)[InstanceTag.policyError]).toContain(ShareTag.shareWith);
  for (const image of atHome.imagesOf(instance.InstanceId ?? '')) {
    expect(image.Public).toBe(false);
    expect(tagsOf(image)[ShareTag.sharedWith]).toBeUndefined();
  }
  expect(atHome.images.every((image) => image.Public === false)).toBe(true);
});

it('keeps exactly one re-encrypted copy per kept backup: the first night’s went with its source', async () => {
  const atHome = await inventory(home);
  const copies = atHome.images.filter((image) => tagsOf(image)[ShareTag.reencryptedFrom] !== undefined);
  expect(copies.map((copy) => copy.State)).toEqual(['available']);
  const managed = atHome.instance('aws-managed').InstanceId ?? '';
  expect(copies.map((copy) => tagsOf(copy)[ShareTag.reencryptedFrom])).toEqual(
    backupsOf(atHome.imagesOf(managed, 'available')).map((image) => image.ImageId),
  );
  // Every snapshot of the service belongs to an image still there.
  const used = new Set(atHome.images.flatMap((image) => atHome.snapshotsOf(image).map((s) => s.SnapshotId)));
  const owned = atHome.snapshots.filter((snapshot) => tagsOf(snapshot)[ImageTag.managedBy] === OWNER);
  expect(owned.filter((snapshot) => !used.has(snapshot.SnapshotId))).toEqual([]);
});

it('unshares every image before it is deregistered', () => {
  const deregistered = ec2.audit.filter(
    (entry) => entry.kind === 'image-deregistered' && entry.tags.get(ImageTag.managedBy) === OWNER,
  );
  // The first night's backups of three sharing instances, and the re-encrypted copy of one.
  expect(deregistered.filter((entry) => entry.tags.get(ShareTag.sharedWith) === TARGET)).toHaveLength(3);
  expect(deregistered.filter((entry) => (entry.launchAccounts ?? []).length > 0)).toEqual([]);
});

it('publishes Image Shared once per image shared, with the account', () => {
  const shared = ec2.putEvents.filter((entry) => entry.DetailType === 'Image Shared');
  const details = shared.map((entry) => JSON.parse(entry.Detail ?? '{}') as { imageId?: string; accounts?: string });
  expect(details.every((detail) => detail.accounts === TARGET)).toBe(true);
  // Two nights of three instances' images (the managed key's through its copies).
  expect(new Set(details.map((detail) => detail.imageId)).size).toBe(6);
  expect(details).toHaveLength(6);
});

it('revokes an account an instance no longer names, then its key grant once no shared image needs it', async () => {
  const invoke = await invokerOn(ec2, params);
  const daily = (): Promise<Record<string, unknown>> =>
    invoke('shareImages', {
      source: 'aws.events',
      'detail-type': 'Scheduled Event',
      time: ec2.clock.now().toISOString(),
      resources: ['arn:aws:events:us-east-1:123456789012:rule/ami-backup-dev-shareImages-daily'],
      detail: {},
    });
  const shared = await idOf('shared');
  const customer = await idOf('customer-key');
  await home.send(new DeleteTagsCommand({ Resources: [shared], Tags: [{ Key: ShareTag.shareWith }] }));
  const first = await daily();
  expect(first.errors).toEqual([]);
  const visible = (await launchableByTarget()).map((image) => tagsOf(image)[ImageTag.instanceId]);
  expect(visible).not.toContain(shared);
  expect(visible).toContain(customer);
  expect(ec2.putEvents.filter((entry) => entry.DetailType === 'Share Revoked')).toHaveLength(1);
  const atHome = await inventory(home);
  const [image] = atHome.imagesOf(shared, 'available');
  expect(tagsOf(image ?? {})[ShareTag.sharedWith]).toBe('');
  await expect(targetLaunches(image?.ImageId ?? '')).rejects.toMatchObject({ name: 'InvalidAMIID.NotFound' });
  // The volumes' key is still needed by the customer-key instance's backup.
  expect(await serviceGrants(volumeKey)).toEqual([`${OWNER}-${TARGET}`]);

  // An empty tag shares with no account: its grant goes too, once no shared image uses the key.
  await home.send(new CreateTagsCommand({ Resources: [customer], Tags: [{ Key: ShareTag.shareWith, Value: '' }] }));
  const second = await daily();
  expect(second).toMatchObject({ errors: [], grantsRevoked: 1 });
  expect(await serviceGrants(volumeKey)).toEqual([]);
  expect(await serviceGrants(shareKey)).toEqual([`${OWNER}-${TARGET}`]);
  // A pass with nothing to change changes nothing.
  const third = await daily();
  expect(third).toMatchObject({ errors: [], imagesShared: 0, imagesUnshared: 0, grantsCreated: 0, grantsRevoked: 0 });
});
