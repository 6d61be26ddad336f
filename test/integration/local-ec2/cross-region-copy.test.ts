import {
  CopyImageCommand,
  type CopyImageCommandInput,
  CreateImageCommand,
  DescribeImagesCommand,
  DescribeSnapshotsCommand,
  type EC2Client,
  type Image,
  RunInstancesCommand,
  type Snapshot,
  waitUntilImageAvailable,
} from '@aws-sdk/client-ec2';
import {
  type AmiStateChangeEvent,
  DEFAULT_DURATIONS,
  type Ec2Event,
  type LocalEc2,
  MAX_CONCURRENT_COPIES,
  type SimClock,
} from '../../../local/ec2';
import { clientIn, failureOf, MINUTE, startTestEc2 } from './helpers';

/** The base AMI's root volume: 8 GiB. */
const COPY_TIME = DEFAULT_DURATIONS.regionCopyBase + DEFAULT_DURATIONS.regionCopyPerGiB * 8;
const DEFAULT_KEY =
  /^arn:aws:kms:us-west-2:123456789012:key\/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

let ec2: LocalEc2;
let clock: SimClock;
let east: EC2Client;
let west: EC2Client;
let sourceId: string;
let sourceSnapshotId: string;

beforeEach(async () => {
  ({ ec2, clock } = await startTestEc2());
  east = clientIn(ec2.url, 'us-east-1');
  west = clientIn(ec2.url, 'us-west-2');
  const launched = await east.send(
    new RunInstancesCommand({ ImageId: 'ami-0123456789abcdef0', MinCount: 1, MaxCount: 1 }),
  );
  clock.advance(MINUTE);
  const created = await east.send(
    new CreateImageCommand({
      InstanceId: launched.Instances?.[0]?.InstanceId,
      Name: 'nightly',
      Description: 'the backup',
      NoReboot: true,
      TagSpecifications: [{ ResourceType: 'image', Tags: [{ Key: 'ami-backup:managed-by', Value: 'ami-backup' }] }],
    }),
  );
  sourceId = created.ImageId as string;
  clock.advance(10 * MINUTE);
  sourceSnapshotId = (await imageIn(east, sourceId))?.BlockDeviceMappings?.[0]?.Ebs?.SnapshotId as string;
});
afterEach(async () => {
  await ec2.stop();
});

async function imageIn(client: EC2Client, imageId: string): Promise<Image | undefined> {
  return (await client.send(new DescribeImagesCommand({ ImageIds: [imageId] }))).Images?.[0];
}

async function snapshotsOf(client: EC2Client, image: Image | undefined): Promise<Snapshot[]> {
  const SnapshotIds = (image?.BlockDeviceMappings ?? []).map((mapping) => mapping.Ebs?.SnapshotId as string);
  return (await client.send(new DescribeSnapshotsCommand({ SnapshotIds }))).Snapshots ?? [];
}

/** Resolves once a DescribeImages has been served after the first `polls`: a waiter's first poll. */
async function firstPollAfter(polls: number): Promise<void> {
  while (ec2.callCount('DescribeImages') <= polls) await new Promise((resolve) => setImmediate(resolve));
}

/** CopyImage of the source into `client`'s Region, with these parameters. */
async function copy(client: EC2Client, input: Partial<CopyImageCommandInput> = {}): Promise<string> {
  const result = await client.send(
    new CopyImageCommand({ SourceImageId: sourceId, SourceRegion: 'us-east-1', Name: 'dr-copy', ...input }),
  );
  return result.ImageId as string;
}

describe('a copy into another Region', () => {
  it('is pending with new snapshots in its Region for a time that grows with their size, then available', async () => {
    const events: Ec2Event[] = [];
    ec2.events.subscribe((event) => events.push(event), { region: 'us-west-2' });
    const homeEvents: Ec2Event[] = [];
    ec2.events.subscribe((event) => homeEvents.push(event));
    const sent = await west.send(
      new CopyImageCommand({ SourceImageId: sourceId, SourceRegion: 'us-east-1', Name: 'dr-copy' }),
    );
    const copyId = sent.ImageId as string;
    expect(copyId).toMatch(/^ami-[0-9a-f]{17}$/);

    const pending = await imageIn(west, copyId);
    expect(pending).toMatchObject({
      State: 'pending',
      Name: 'dr-copy',
      Description: 'the backup',
      SourceImageId: sourceId,
      SourceImageRegion: 'us-east-1',
      OwnerId: '123456789012',
    });
    expect(pending?.Tags ?? []).toEqual([]); // the source's tags stay behind without CopyImageTags
    const [snapshot, ...others] = await snapshotsOf(west, pending);
    expect(others).toEqual([]);
    expect(snapshot).toMatchObject({
      State: 'pending',
      VolumeId: 'vol-ffffffff',
      VolumeSize: 8,
      Encrypted: false,
      Description: `Copied for DestinationAmi ${copyId} from SourceAmi ${sourceId} for SourceSnapshot ${sourceSnapshotId}`,
    });
    expect(snapshot?.SnapshotId).not.toBe(sourceSnapshotId);
    expect(await failureOf(east.send(new DescribeImagesCommand({ ImageIds: [copyId] })))).toMatchObject({
      name: 'InvalidAMIID.NotFound',
    });
    expect(
      await failureOf(east.send(new DescribeSnapshotsCommand({ SnapshotIds: [snapshot?.SnapshotId as string] }))),
    ).toMatchObject({ name: 'InvalidSnapshot.NotFound' });

    clock.advance(COPY_TIME - 1000);
    expect((await imageIn(west, copyId))?.State).toBe('pending');
    clock.advance(1000);
    const available = await imageIn(west, copyId);
    expect(available?.State).toBe('available');
    expect((await snapshotsOf(west, available)).map((copied) => copied.State)).toEqual(['completed']);
    // The source is untouched.
    expect((await imageIn(east, sourceId))?.State).toBe('available');

    const amiEvents = events.filter(
      (event): event is AmiStateChangeEvent => event['detail-type'] === 'EC2 AMI State Change',
    );
    expect(amiEvents).toEqual([
      expect.objectContaining({
        region: 'us-west-2',
        resources: [`arn:aws:ec2:us-west-2::image/${copyId}`],
        detail: { RequestId: sent.$metadata.requestId, ImageId: copyId, State: 'available', ErrorMessage: '' },
      }),
    ]);
    expect(homeEvents.filter((event) => event['detail-type'] === 'EC2 AMI State Change')).toEqual([]);
  });

  it('takes longer than a copy within the Region', async () => {
    const within = await copy(east, { Name: 'local-copy' });
    const across = await copy(west);
    clock.advance(DEFAULT_DURATIONS.imageBase + DEFAULT_DURATIONS.imagePerGiB * 8);
    expect((await imageIn(east, within))?.State).toBe('available');
    expect((await imageIn(west, across))?.State).toBe('pending');
  });

  it('is what the SDK’s waitUntilImageAvailable waits for in the destination Region', async () => {
    const copyId = await copy(west);
    const polls = ec2.callCount('DescribeImages');
    const waiting = waitUntilImageAvailable(
      { client: west, maxWaitTime: 30, minDelay: 1, maxDelay: 1 },
      {
        ImageIds: [copyId],
      },
    );
    // Its first poll sees the copy pending; the copy completes before the next.
    await firstPollAfter(polls);
    clock.advance(COPY_TIME);
    expect((await waiting).state).toBe('SUCCESS');
    expect(ec2.callCount('DescribeImages')).toBe(polls + 2);
  });

  it('answers the same image for the same ClientToken, refuses it with other parameters or over 64 characters', async () => {
    const first = await copy(west, { ClientToken: 'copy-1' });
    expect(await copy(west, { ClientToken: 'copy-1' })).toBe(first);
    expect((await west.send(new DescribeImagesCommand({ Owners: ['self'] }))).Images).toHaveLength(1);
    expect(await failureOf(copy(west, { ClientToken: 'copy-1', Name: 'other-name' }))).toMatchObject({
      name: 'IdempotentParameterMismatch',
    });
    expect(await failureOf(copy(west, { ClientToken: 'x'.repeat(65), Name: 'long-token' }))).toMatchObject({
      name: 'InvalidParameterValue',
    });
    // Tokens are the destination Region's: the same one in another Region makes another copy.
    const elsewhere = await copy(clientIn(ec2.url, 'eu-west-1'), { ClientToken: 'copy-1' });
    expect(elsewhere).not.toBe(first);
  });

  it('applies TagSpecifications to the image and each new snapshot, and the source’s tags with CopyImageTags', async () => {
    const copyId = await copy(west, {
      CopyImageTags: true,
      TagSpecifications: [
        { ResourceType: 'image', Tags: [{ Key: 'ami-backup:copy-of', Value: sourceId }] },
        { ResourceType: 'snapshot', Tags: [{ Key: 'ami-backup:managed-by', Value: 'ami-backup' }] },
      ],
    });
    const copied = await imageIn(west, copyId);
    expect(copied?.Tags).toEqual([
      { Key: 'ami-backup:managed-by', Value: 'ami-backup' },
      { Key: 'ami-backup:copy-of', Value: sourceId },
    ]);
    expect((await snapshotsOf(west, copied)).map((snapshot) => snapshot.Tags)).toEqual([
      [{ Key: 'ami-backup:managed-by', Value: 'ami-backup' }],
    ]);
    expect(
      await failureOf(
        copy(west, {
          Name: 'tagged',
          TagSpecifications: [{ ResourceType: 'instance', Tags: [{ Key: 'k', Value: 'v' }] }],
        }),
      ),
    ).toMatchObject({ name: 'InvalidParameterValue' });
  });
});

describe('encryption of a copy', () => {
  it('encrypts the new snapshots with the destination Region’s default EBS key when asked without a key', async () => {
    const copied = await imageIn(west, await copy(west, { Encrypted: true }));
    const device = copied?.BlockDeviceMappings?.[0]?.Ebs;
    expect(device?.Encrypted).toBe(true);
    expect(device?.KmsKeyId).toMatch(DEFAULT_KEY);
    const [snapshot] = await snapshotsOf(west, copied);
    expect(snapshot).toMatchObject({ Encrypted: true, KmsKeyId: device?.KmsKeyId });
  });

  it('encrypts with the key given (a key id is the destination Region’s key), and needs Encrypted for a key', async () => {
    const keyId = '1234abcd-12ab-34cd-56ef-1234567890ab';
    const copied = await imageIn(west, await copy(west, { Encrypted: true, KmsKeyId: keyId }));
    expect((await snapshotsOf(west, copied))[0]).toMatchObject({
      Encrypted: true,
      KmsKeyId: `arn:aws:kms:us-west-2:123456789012:key/${keyId}`,
    });
    expect(await failureOf(copy(west, { Name: 'no-flag', KmsKeyId: keyId }))).toMatchObject({
      name: 'InvalidParameterDependency',
    });
  });

  it('keeps an encrypted source encrypted: with its key in its Region, the default key of another Region', async () => {
    const key = 'arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab';
    const encryptedId = await copy(east, { Name: 'encrypted', Encrypted: true, KmsKeyId: key });
    clock.advance(10 * MINUTE);
    const within = await east.send(
      new CopyImageCommand({ SourceImageId: encryptedId, SourceRegion: 'us-east-1', Name: 'again', Encrypted: false }),
    );
    expect((await snapshotsOf(east, await imageIn(east, within.ImageId as string)))[0]).toMatchObject({
      Encrypted: true,
      KmsKeyId: key,
    });
    const across = await west.send(
      new CopyImageCommand({ SourceImageId: encryptedId, SourceRegion: 'us-east-1', Name: 'encrypted' }),
    );
    const [snapshot] = await snapshotsOf(west, await imageIn(west, across.ImageId as string));
    expect(snapshot?.Encrypted).toBe(true);
    expect(snapshot?.KmsKeyId).toMatch(DEFAULT_KEY);
  });
});

describe('copies refused', () => {
  it('answers EC2’s errors for a source not in the source Region, not available, a bad id, a duplicate name', async () => {
    // The source is in us-east-1, not in us-west-2.
    expect(await failureOf(copy(east, { SourceRegion: 'us-west-2' }))).toMatchObject({
      name: 'InvalidAMIID.NotFound',
    });
    expect(await failureOf(copy(west, { SourceImageId: 'ami-12' }))).toMatchObject({ name: 'InvalidAMIID.Malformed' });
    expect(await failureOf(copy(west, { Name: 'a:b' }))).toMatchObject({ name: 'InvalidAMIName.Malformed' });
    expect(await failureOf(copy(west, { Name: '' }))).toMatchObject({ name: 'MissingParameter' });

    const launched = await east.send(
      new RunInstancesCommand({ ImageId: 'ami-0123456789abcdef0', MinCount: 1, MaxCount: 1 }),
    );
    clock.advance(MINUTE);
    const pending = await east.send(
      new CreateImageCommand({ InstanceId: launched.Instances?.[0]?.InstanceId, Name: 'pending', NoReboot: true }),
    );
    expect(await failureOf(copy(west, { SourceImageId: pending.ImageId as string }))).toMatchObject({
      name: 'IncorrectState',
    });

    // Names are unique per Region: the source's name is free in us-west-2 once, then taken.
    await copy(west, { Name: 'nightly' });
    expect(await failureOf(copy(west, { Name: 'nightly' }))).toMatchObject({ name: 'InvalidAMIName.Duplicate' });
  });

  it(`refuses more than ${MAX_CONCURRENT_COPIES} copies in progress into one Region, until one completes`, async () => {
    for (let index = 0; index < MAX_CONCURRENT_COPIES; index++) await copy(west, { Name: `copy-${index}` });
    expect(await failureOf(copy(west, { Name: 'one-too-many' }))).toMatchObject({
      name: 'ResourceLimitExceeded',
      status: 400,
    });
    // Another destination Region has its own limit.
    await copy(clientIn(ec2.url, 'eu-west-1'), { Name: 'elsewhere' });
    clock.advance(COPY_TIME);
    await copy(west, { Name: 'one-too-many' });
  });

  it('draws on the destination Region’s CopyImage bucket (100, one a second)', async () => {
    ec2.setThrottling(true);
    for (let index = 0; index < 100; index++) await copy(west, { Name: `copy-${index}` });
    expect(await failureOf(copy(west, { Name: 'throttled' }))).toMatchObject({
      name: 'RequestLimitExceeded',
      status: 503,
    });
    await copy(clientIn(ec2.url, 'eu-west-1'), { Name: 'other-bucket' });
    clock.advance(1000);
    // A token again, but the copies in progress are at their limit.
    expect(await failureOf(copy(west, { Name: 'throttled' }))).toMatchObject({ name: 'ResourceLimitExceeded' });
  });
});

describe('copy faults', () => {
  it('failCopies makes the selected copy fail when it would complete, with its snapshots in error', async () => {
    const events: Ec2Event[] = [];
    ec2.events.subscribe((event) => events.push(event), { region: 'us-west-2' });
    ec2.faults.failCopies({ region: 'us-west-2', once: true });
    const failedId = await copy(west);
    const nextId = await copy(west, { Name: 'next' });
    clock.advance(COPY_TIME);
    const failed = await imageIn(west, failedId);
    expect(failed).toMatchObject({
      State: 'failed',
      StateReason: { Code: 'Server.InternalError', Message: 'Internal error' },
    });
    expect((await snapshotsOf(west, failed)).map((snapshot) => snapshot.State)).toEqual(['error']);
    expect((await imageIn(west, nextId))?.State).toBe('available');
    expect(events.map((event) => event.detail)).toEqual([
      expect.objectContaining({ ImageId: failedId, State: 'failed', ErrorMessage: 'Internal error' }),
      expect.objectContaining({ ImageId: nextId, State: 'available' }),
    ]);
  });

  it('failCopies takes a source image and a state reason; the SDK waiter then fails', async () => {
    const remove = ec2.faults.failCopies({
      sourceImageId: sourceId,
      reason: { code: 'Client.InvalidKMSKey.InvalidState', message: 'The KMS key is not usable' },
    });
    const copyId = await copy(west);
    const polls = ec2.callCount('DescribeImages');
    const waiting = waitUntilImageAvailable(
      { client: west, maxWaitTime: 30, minDelay: 1, maxDelay: 1 },
      {
        ImageIds: [copyId],
      },
    );
    await firstPollAfter(polls);
    clock.advance(COPY_TIME);
    await expect(waiting).rejects.toThrow(/"state":"FAILURE"/);
    expect((await imageIn(west, copyId))?.StateReason).toEqual({
      Code: 'Client.InvalidKMSKey.InvalidState',
      Message: 'The KMS key is not usable',
    });
    remove();
    const healthy = await copy(west, { Name: 'healthy' });
    clock.advance(COPY_TIME);
    expect((await imageIn(west, healthy))?.State).toBe('available');
  });

  it('stallCopies leaves the selected copies pending for good, other Regions’ copies unaffected', async () => {
    const remove = ec2.faults.stallCopies({ region: 'us-west-2' });
    const stalled = await copy(west);
    const elsewhere = await copy(clientIn(ec2.url, 'eu-west-1'));
    clock.advance(48 * 60 * MINUTE);
    const image = await imageIn(west, stalled);
    expect(image?.State).toBe('pending');
    expect((await snapshotsOf(west, image)).map((snapshot) => snapshot.State)).toEqual(['pending']);
    expect((await imageIn(clientIn(ec2.url, 'eu-west-1'), elsewhere))?.State).toBe('available');
    remove();
    const later = await copy(west, { Name: 'later' });
    clock.advance(COPY_TIME);
    expect((await imageIn(west, later))?.State).toBe('available');
    expect((await imageIn(west, stalled))?.State).toBe('pending');
  });
});
