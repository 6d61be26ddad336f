import {
  CreateImageCommand,
  DeleteSnapshotCommand,
  DeregisterImageCommand,
  DescribeImagesCommand,
  DescribeSnapshotsCommand,
  type EC2Client,
  type Image,
  paginateDescribeImages,
  paginateDescribeSnapshots,
  RebootInstancesCommand,
  RunInstancesCommand,
  StopInstancesCommand,
} from '@aws-sdk/client-ec2';
import type { AmiStateChangeEvent, Ec2Event, LocalEc2, SimClock } from '../../../local/ec2';
import { DEFAULT_DURATIONS } from '../../../local/ec2';
import { failureOf, MINUTE, startTestEc2 } from './helpers';

let ec2: LocalEc2;
let client: EC2Client;
let clock: SimClock;
let events: Ec2Event[];

beforeEach(async () => {
  ({ ec2, client, clock } = await startTestEc2());
  events = [];
  ec2.events.subscribe((event) => events.push(event));
});
afterEach(async () => {
  await ec2.stop();
});

const amiEvents = (): AmiStateChangeEvent[] =>
  events.filter((event): event is AmiStateChangeEvent => event['detail-type'] === 'EC2 AMI State Change');

/** A running instance with a root volume and one 20 GiB data volume. */
async function runningInstance(): Promise<string> {
  const result = await client.send(
    new RunInstancesCommand({
      ImageId: 'ami-0123456789abcdef0',
      MinCount: 1,
      MaxCount: 1,
      BlockDeviceMappings: [{ DeviceName: '/dev/sdf', Ebs: { VolumeSize: 20 } }],
    }),
  );
  clock.advance(10 * MINUTE);
  return result.Instances?.[0]?.InstanceId as string;
}

async function createImage(instanceId: string, name: string, noReboot = true): Promise<string> {
  const result = await client.send(
    new CreateImageCommand({
      InstanceId: instanceId,
      Name: name,
      Description: 'nightly',
      NoReboot: noReboot,
      TagSpecifications: [
        { ResourceType: 'image', Tags: [{ Key: 'ami-backup:managed-by', Value: 'ami-backup-dev' }] },
        { ResourceType: 'snapshot', Tags: [{ Key: 'kind', Value: 'backup' }] },
      ],
    }),
  );
  return result.ImageId as string;
}

async function image(imageId: string): Promise<Image | undefined> {
  return (await client.send(new DescribeImagesCommand({ ImageIds: [imageId] }))).Images?.[0];
}

/** Long enough for an image of the test instance (28 GiB) to complete. */
const IMAGE_TIME = DEFAULT_DURATIONS.imageBase + 28 * DEFAULT_DURATIONS.imagePerGiB;

describe('CreateImage', () => {
  it('makes a pending image with one pending snapshot per volume, available and completed on the clock', async () => {
    const instanceId = await runningInstance();
    const imageId = await createImage(instanceId, 'web (nightly) 2026-03-01T0000Z');
    expect(imageId).toMatch(/^ami-[0-9a-f]{17}$/);

    const pending = await image(imageId);
    expect(pending).toMatchObject({
      ImageId: imageId,
      State: 'pending',
      OwnerId: '123456789012',
      Name: 'web (nightly) 2026-03-01T0000Z',
      Description: 'nightly',
      SourceInstanceId: instanceId,
      RootDeviceType: 'ebs',
      Tags: [{ Key: 'ami-backup:managed-by', Value: 'ami-backup-dev' }],
    });
    const snapshotIds = (pending?.BlockDeviceMappings ?? []).map((mapping) => mapping.Ebs?.SnapshotId as string);
    expect(pending?.BlockDeviceMappings?.map((mapping) => [mapping.DeviceName, mapping.Ebs?.VolumeSize])).toEqual([
      ['/dev/xvda', 8],
      ['/dev/sdf', 20],
    ]);
    const snapshots = await client.send(new DescribeSnapshotsCommand({ SnapshotIds: snapshotIds }));
    expect(snapshots.Snapshots?.map((snapshot) => snapshot.State)).toEqual(['pending', 'pending']);
    expect(snapshots.Snapshots?.[0]).toMatchObject({
      Description: `Created by CreateImage(${instanceId}) for ${imageId}`,
      OwnerId: '123456789012',
      Tags: [{ Key: 'kind', Value: 'backup' }],
    });

    clock.advance(IMAGE_TIME - 1);
    expect((await image(imageId))?.State).toBe('pending');
    clock.advance(1);
    expect((await image(imageId))?.State).toBe('available');
    const completed = await client.send(new DescribeSnapshotsCommand({ SnapshotIds: snapshotIds }));
    expect(completed.Snapshots?.map((snapshot) => [snapshot.State, snapshot.Progress])).toEqual([
      ['completed', '100%'],
      ['completed', '100%'],
    ]);
    expect(amiEvents()).toEqual([
      {
        version: '0',
        id: expect.any(String),
        'detail-type': 'EC2 AMI State Change',
        source: 'aws.ec2',
        account: '123456789012',
        time: new Date(clock.nowMs()).toISOString().replace(/\.\d{3}Z$/, 'Z'),
        region: 'us-east-1',
        resources: [`arn:aws:ec2:us-east-1::image/${imageId}`],
        detail: { RequestId: expect.any(String), ImageId: imageId, State: 'available', ErrorMessage: '' },
      },
    ]);
  });

  it('validates the AMI name: length, characters (no colon) and uniqueness', async () => {
    const instanceId = await runningInstance();
    for (const name of ['ab', 'x'.repeat(129), 'backup 2026-03-01T00:00:00Z', 'name#1']) {
      expect(await failureOf(createImage(instanceId, name))).toMatchObject({
        name: 'InvalidAMIName.Malformed',
        status: 400,
      });
    }
    await expect(createImage(instanceId, `x${'y'.repeat(127)}`)).resolves.toMatch(/^ami-/);
    const first = await createImage(instanceId, "all (ok) [chars] ./-'@_");
    expect(await failureOf(createImage(instanceId, "all (ok) [chars] ./-'@_"))).toEqual({
      name: 'InvalidAMIName.Duplicate',
      message: `AMI name all (ok) [chars] ./-'@_ is already in use by AMI ${first}`,
      status: 400,
    });
  });

  it('leaves a name free while only another account’s image holds it, also after the state is saved and loaded', async () => {
    const instanceId = await runningInstance();
    ec2.backend.shareImage({ ownerId: '210987654321', name: 'shared-name', tags: new Map() });
    const restored = await startTestEc2({ initialState: ec2.backend.exportState() });
    try {
      await expect(createImage(instanceId, 'shared-name')).resolves.toMatch(/^ami-/);
      const [instance] = restored.ec2.backend.runInstances({
        imageId: 'ami-0123456789abcdef0',
        instanceType: 't3.micro',
        minCount: 1,
        maxCount: 1,
        tagSpecifications: [],
        blockDeviceMappings: [],
      }).instances;
      restored.clock.advance(5 * MINUTE);
      const created = await restored.client.send(
        new CreateImageCommand({ InstanceId: instance?.id, Name: 'shared-name', NoReboot: true }),
      );
      expect(created.ImageId).toMatch(/^ami-/);
    } finally {
      await restored.ec2.stop();
    }
  });

  it('refuses a description over 255 characters, a pending instance and an unknown one', async () => {
    const instanceId = await runningInstance();
    expect(
      await failureOf(
        client.send(new CreateImageCommand({ InstanceId: instanceId, Name: 'long', Description: 'd'.repeat(256) })),
      ),
    ).toMatchObject({ name: 'InvalidParameterValue' });
    const launched = await client.send(
      new RunInstancesCommand({ ImageId: 'ami-0123456789abcdef0', MinCount: 1, MaxCount: 1 }),
    );
    const pendingId = launched.Instances?.[0]?.InstanceId as string;
    expect(await failureOf(createImage(pendingId, 'from pending'))).toMatchObject({ name: 'IncorrectInstanceState' });
    expect(await failureOf(createImage('i-0000000000000000f', 'from nothing'))).toMatchObject({
      name: 'InvalidInstanceID.NotFound',
    });
  });

  it('without NoReboot puts the instance through a reboot window, which does not fail its own image', async () => {
    const instanceId = await runningInstance();
    const imageId = await createImage(instanceId, 'with reboot', false);
    const status = ec2.backend.instances.get(instanceId);
    expect(status?.rebootFrom).toBe(clock.nowMs());
    clock.advance(IMAGE_TIME);
    expect((await image(imageId))?.State).toBe('available');
  });

  it('fails a pending image when its instance is rebooted; its snapshots go to error', async () => {
    const instanceId = await runningInstance();
    const imageId = await createImage(instanceId, 'interrupted');
    clock.advance(MINUTE);
    await client.send(new RebootInstancesCommand({ InstanceIds: [instanceId] }));

    const failed = await image(imageId);
    expect(failed?.State).toBe('failed');
    expect(failed?.StateReason).toEqual({ Code: 'Client.InstanceTerminated', Message: expect.any(String) });
    const snapshots = await client.send(
      new DescribeSnapshotsCommand({ Filters: [{ Name: 'description', Values: [`*${imageId}`] }] }),
    );
    expect(snapshots.Snapshots?.map((snapshot) => snapshot.State)).toEqual(['error', 'error']);
    expect(amiEvents().map((event) => [event.detail.State, event.detail.ErrorMessage])).toEqual([
      ['failed', failed?.StateReason?.Message],
    ]);
  });

  it('keeps a pending image when the instance stops, if interruption failures are switched off', async () => {
    await ec2.stop();
    ({ ec2, client, clock } = await startTestEc2({ failImagesOnInterruption: false }));
    const instanceId = await runningInstance();
    const imageId = await createImage(instanceId, 'survives');
    await client.send(new StopInstancesCommand({ InstanceIds: [instanceId] }));
    clock.advance(IMAGE_TIME);
    expect((await image(imageId))?.State).toBe('available');
  });

  it('fails the images of an instance on request: every one, or only the next', async () => {
    const always = await runningInstance();
    const once = await runningInstance();
    ec2.faults.failImagesOf(always);
    ec2.faults.failImagesOf(once, { once: true });
    const images = [
      await createImage(always, 'always 1'),
      await createImage(always, 'always 2'),
      await createImage(once, 'once 1'),
      await createImage(once, 'once 2'),
    ];
    clock.advance(IMAGE_TIME);
    const states = await Promise.all(images.map(async (imageId) => (await image(imageId))?.State));
    expect(states).toEqual(['failed', 'failed', 'failed', 'available']);
  });
});

describe('DescribeImages', () => {
  it('filters by owner, name, state, tags, source instance and description, with wildcards', async () => {
    const instanceId = await runningInstance();
    const a = await createImage(instanceId, 'web-2026-03-01');
    clock.advance(IMAGE_TIME);
    const b = await createImage(instanceId, 'web-2026-03-02');
    const ids = async (filters: { Name: string; Values: string[] }[], owners = ['self']): Promise<string[]> => {
      const result = await client.send(new DescribeImagesCommand({ Owners: owners, Filters: filters }));
      return (result.Images ?? []).map((found) => found.ImageId as string);
    };
    expect(await ids([{ Name: 'name', Values: ['web-2026-03-0?'] }])).toEqual([a, b]);
    expect(await ids([{ Name: 'state', Values: ['available'] }])).toEqual([a]);
    expect(await ids([{ Name: 'state', Values: ['pending'] }], ['123456789012'])).toEqual([b]);
    expect(await ids([{ Name: 'tag:ami-backup:managed-by', Values: ['ami-backup-*'] }])).toEqual([a, b]);
    expect(await ids([{ Name: 'tag-key', Values: ['other'] }])).toEqual([]);
    expect(await ids([{ Name: 'image-id', Values: [b] }])).toEqual([b]);
    expect(await ids([{ Name: 'source-instance-id', Values: [instanceId] }])).toEqual([a, b]);
    expect(await ids([{ Name: 'description', Values: ['night*'] }])).toEqual([a, b]);
    expect(await ids([], ['amazon'])).toEqual([]);
  });

  it('answers NotFound and Malformed for explicit ids, and pages with the paginator', async () => {
    expect(
      await failureOf(client.send(new DescribeImagesCommand({ ImageIds: ['ami-00000000000000000'] }))),
    ).toMatchObject({ name: 'InvalidAMIID.NotFound', status: 400 });
    expect(await failureOf(client.send(new DescribeImagesCommand({ ImageIds: ['image-1'] })))).toMatchObject({
      name: 'InvalidAMIID.Malformed',
    });
    const instanceId = await runningInstance();
    const created: string[] = [];
    for (let index = 0; index < 7; index++) created.push(await createImage(instanceId, `paged-${index}`));
    const seen: string[] = [];
    let pages = 0;
    for await (const page of paginateDescribeImages({ client, pageSize: 3 }, { Owners: ['self'] })) {
      pages += 1;
      seen.push(...(page.Images ?? []).map((found) => found.ImageId as string));
    }
    expect(pages).toBe(3);
    expect(seen).toEqual(created);
  });
});

describe('DeregisterImage and DeleteSnapshot', () => {
  it('protects the snapshots of a registered image, then deletes them after deregistration', async () => {
    const instanceId = await runningInstance();
    const imageId = await createImage(instanceId, 'to rotate');
    clock.advance(IMAGE_TIME);
    const snapshotId = (await image(imageId))?.BlockDeviceMappings?.[0]?.Ebs?.SnapshotId as string;

    expect(await failureOf(client.send(new DeleteSnapshotCommand({ SnapshotId: snapshotId })))).toEqual({
      name: 'InvalidSnapshot.InUse',
      message: `The snapshot ${snapshotId} is currently in use by ${imageId}`,
      status: 400,
    });
    const deregistered = await client.send(new DeregisterImageCommand({ ImageId: imageId }));
    expect(deregistered.DeleteSnapshotResults).toBeUndefined();
    await client.send(new DeleteSnapshotCommand({ SnapshotId: snapshotId }));
    expect(await failureOf(client.send(new DescribeSnapshotsCommand({ SnapshotIds: [snapshotId] })))).toMatchObject({
      name: 'InvalidSnapshot.NotFound',
    });
    expect(await failureOf(client.send(new DeleteSnapshotCommand({ SnapshotId: snapshotId })))).toMatchObject({
      name: 'InvalidSnapshot.NotFound',
    });
    expect(amiEvents().map((event) => event.detail.State)).toEqual(['available', 'deregistered']);
  });

  it('deletes associated snapshots on request, and the image lingers as deregistered before vanishing', async () => {
    const instanceId = await runningInstance();
    const imageId = await createImage(instanceId, 'with snapshots');
    clock.advance(IMAGE_TIME);
    const snapshotIds = ((await image(imageId))?.BlockDeviceMappings ?? []).map((m) => m.Ebs?.SnapshotId as string);

    const result = await client.send(new DeregisterImageCommand({ ImageId: imageId, DeleteAssociatedSnapshots: true }));
    expect(result.Return).toBe(true);
    expect(result.DeleteSnapshotResults).toEqual(
      snapshotIds.map((SnapshotId) => ({ SnapshotId, ReturnCode: 'success' })),
    );
    const remaining = await client.send(new DescribeSnapshotsCommand({ OwnerIds: ['self'] }));
    expect(remaining.Snapshots).toEqual([]);
    expect((await image(imageId))?.State).toBe('deregistered');
    expect(await failureOf(client.send(new DeregisterImageCommand({ ImageId: imageId })))).toMatchObject({
      status: 400,
    });
    // The name is free again at once.
    await expect(createImage(instanceId, 'with snapshots')).resolves.toMatch(/^ami-/);
    clock.advance(DEFAULT_DURATIONS.deregisteredVisible);
    expect(await failureOf(image(imageId))).toMatchObject({ name: 'InvalidAMIID.NotFound' });
  });

  it('lets the snapshots of a deregistered pending image complete on their own', async () => {
    const instanceId = await runningInstance();
    const imageId = await createImage(instanceId, 'abandoned');
    const snapshotIds = ((await image(imageId))?.BlockDeviceMappings ?? []).map((m) => m.Ebs?.SnapshotId as string);
    await client.send(new DeregisterImageCommand({ ImageId: imageId }));
    clock.advance(IMAGE_TIME);
    const snapshots = await client.send(new DescribeSnapshotsCommand({ SnapshotIds: snapshotIds }));
    expect(snapshots.Snapshots?.map((snapshot) => snapshot.State)).toEqual(['completed', 'completed']);
    expect(amiEvents().map((event) => event.detail.State)).toEqual(['deregistered']);
  });

  it('skips a snapshot that another registered image still uses', async () => {
    const instanceId = await runningInstance();
    const imageId = await createImage(instanceId, 'shared');
    clock.advance(IMAGE_TIME);
    const snapshotId = (await image(imageId))?.BlockDeviceMappings?.[0]?.Ebs?.SnapshotId as string;
    // Another image registered on the same snapshot (as RegisterImage would make).
    const other = ec2.backend.images.get(imageId);
    if (other === undefined) throw new Error('image missing');
    ec2.backend.importState({
      instances: [],
      volumes: [],
      snapshots: [],
      copyTokens: [],
      images: [{ ...other, id: 'ami-0000000000000000b', name: 'registered copy', tags: new Map(), seq: 10_000 }],
      nextSeq: 10_001,
    });
    const result = await client.send(new DeregisterImageCommand({ ImageId: imageId, DeleteAssociatedSnapshots: true }));
    expect(result.DeleteSnapshotResults?.find((entry) => entry.SnapshotId === snapshotId)?.ReturnCode).toBe('skipped');
  });
});

describe('DescribeSnapshots', () => {
  it('filters by status, tags and id, pages, and answers NotFound for unknown ids', async () => {
    const instanceId = await runningInstance();
    const first = await createImage(instanceId, 'one');
    clock.advance(IMAGE_TIME);
    await createImage(instanceId, 'two');
    const count = async (filters: { Name: string; Values: string[] }[]): Promise<number> =>
      (await client.send(new DescribeSnapshotsCommand({ OwnerIds: ['self'], Filters: filters }))).Snapshots?.length ??
      0;
    expect(await count([{ Name: 'status', Values: ['completed'] }])).toBe(2);
    expect(await count([{ Name: 'status', Values: ['pending', 'completed'] }])).toBe(4);
    expect(await count([{ Name: 'tag:kind', Values: ['back*'] }])).toBe(4);
    expect(await count([{ Name: 'tag-key', Values: ['nothing'] }])).toBe(0);
    expect(await count([{ Name: 'description', Values: [`*for ${first}`] }])).toBe(2);
    const firstSnapshot = (await image(first))?.BlockDeviceMappings?.[0]?.Ebs?.SnapshotId as string;
    expect(await count([{ Name: 'snapshot-id', Values: [firstSnapshot] }])).toBe(1);

    let pages = 0;
    let total = 0;
    for await (const page of paginateDescribeSnapshots({ client, pageSize: 5 }, { OwnerIds: ['self'] })) {
      pages += 1;
      total += page.Snapshots?.length ?? 0;
    }
    expect([pages, total]).toEqual([1, 4]);
    expect(
      await failureOf(client.send(new DescribeSnapshotsCommand({ SnapshotIds: ['snap-00000000000000000'] }))),
    ).toMatchObject({ name: 'InvalidSnapshot.NotFound', status: 400 });
  });
});
