/**
 * The handlers invoked one by one, as from the console or by a retried or overlapping schedule, against the local
 * EC2 endpoint: bad input changes nothing, a dry run changes nothing, reruns converge, a crash after CreateImage is
 * recovered, a reboot-mode backup is good only once its instance is back healthy, images of others are ignored, and
 * lost state-change events are made up for.
 */
import {
  CreateImageCommand,
  DeleteTagsCommand,
  DescribeInstanceStatusCommand,
  type EC2Client,
} from '@aws-sdk/client-ec2';
import {
  Approval,
  ApprovalTag,
  BackupStep,
  formatRunId,
  ImageTag,
  InstanceTag,
  imageName,
  OperatorTag,
} from '../../../lib/tags';
import { LOCAL_ACCOUNT_ID, type LocalEc2 } from '../../../local/ec2';
import { launchFleet } from '../../../local/runner/fleet';
import { scheduledEvent } from '../../../local/runner/simulation';
import { nextRunTime, type ServiceUnderTest, startService } from './fixtures';
import { type Inventory, inventory, OWNER, tagsOf } from './support';

const MINUTE = 60_000;

let ec2: LocalEc2;
let client: EC2Client;
let invoke: ServiceUnderTest['invoke'];

function at(time: Date): unknown {
  return scheduledEvent('test', time, 'us-east-1', LOCAL_ACCOUNT_ID);
}

async function launch(tags: Record<string, string>): Promise<string> {
  const [member] = await launchFleet(client, [{ name: 'test', tags, optedIn: true }]);
  return member?.instanceId ?? '';
}

/** What a comparison of two inventories must find equal: every tag, image and snapshot. */
function state(inv: Inventory): unknown {
  return {
    instances: inv.instances.map((instance) => [instance.InstanceId, instance.State?.Name, tagsOf(instance)]),
    images: inv.images.map((image) => [image.ImageId, image.State, tagsOf(image)]),
    snapshots: inv.snapshots.map((snapshot) => [snapshot.SnapshotId, tagsOf(snapshot)]),
  };
}

/** An `EC2 AMI State Change` event as EventBridge delivers it, at the endpoint's time. */
function amiEvent(imageId: string, imageState: string): unknown {
  return {
    version: '0',
    id: `event-${imageId}`,
    'detail-type': 'EC2 AMI State Change',
    source: 'aws.ec2',
    account: LOCAL_ACCOUNT_ID,
    time: ec2.clock.now().toISOString(),
    region: 'us-east-1',
    resources: [`arn:aws:ec2:us-east-1::image/${imageId}`],
    detail: { RequestId: 'r1', ImageId: imageId, State: imageState, ErrorMessage: '' },
  };
}

/**
 * Opted-in instances (reboot mode unless the tags say otherwise) through a run's start and its first sweep a minute
 * later: their images are being made, through EC2's reboot, from `ready`.
 */
async function rebootAndImageMany(
  count: number,
  tags: Record<string, string> = {},
): Promise<{ instanceIds: string[]; start: Date; ready: Date; runId: string }> {
  const members = await launchFleet(
    client,
    Array.from({ length: count }, (_, index) => ({
      name: `test-${index}`,
      tags: { Backup: 'true', ...tags },
      optedIn: true,
    })),
  );
  const start = nextRunTime(ec2);
  ec2.clock.advanceTo(start);
  const { runId } = (await invoke('reboot', at(start))) as { runId: string };
  const ready = new Date(start.getTime() + MINUTE);
  ec2.clock.advanceTo(ready);
  await invoke('createImages', at(ready));
  return { instanceIds: members.map((member) => member.instanceId), start, ready, runId };
}

/** The createImages sweeps, every minute from `from` for `minutes` minutes; the time of the last one. */
async function sweep(from: Date, minutes: number): Promise<Date> {
  let time = from;
  for (let minute = 1; minute <= minutes; minute += 1) {
    time = new Date(from.getTime() + minute * MINUTE);
    ec2.clock.advanceTo(time);
    await invoke('createImages', at(time));
  }
  return time;
}

function instanceTags(inv: Inventory, instanceId: string): Record<string, string> {
  return tagsOf(inv.instances.find((instance) => instance.InstanceId === instanceId) ?? {});
}

/** The endpoint's record of the images made from an instance: each call's NoReboot, and the reboot it made. */
function imagesCreatedFrom(instanceId: string) {
  return ec2.audit.filter((entry) => entry.kind === 'image-created' && entry.instanceId === instanceId);
}

/** An opted-in instance through a run's start and its first sweep: its image is being made at `ready`. */
async function rebootAndImage(
  tags: Record<string, string> = {},
): Promise<{ instanceId: string; ready: Date; runId: string }> {
  const { instanceIds, ready, runId } = await rebootAndImageMany(1, tags);
  return { instanceId: instanceIds[0] ?? '', ready, runId };
}

// One endpoint for the file: the handlers bind their SDK clients to it at cold start. Each test launches its own
// instances and starts its own run later on the clock.
beforeAll(async () => {
  ({ ec2, client, invoke } = await startService());
});

afterAll(async () => {
  await ec2.stop();
});

describe('console payloads', () => {
  it.each([
    [{ instanceIds: 'i-0123456789abcdef0' }, 'instanceIds must be an array'],
    [{ instanceIds: [] }, 'instanceIds must not be empty'],
    [{ instanceIds: ['i-0123456789abcdef0', 'vol-1'] }, 'instanceIds[1]'],
    [{ dryRun: 'yes' }, 'dryRun must be true or false'],
    [{ instanceId: ['i-0123456789abcdef0'] }, 'unknown field "instanceId"'],
    [[1, 2], 'the payload must be a JSON object'],
  ])('rejects %j naming the field, and changes nothing', async (payload, message) => {
    await launch({ Backup: 'true' });
    ec2.clock.advance(MINUTE);
    const before = state(await inventory(client));
    for (const name of ['reboot', 'createImages', 'recordImageState', 'rotate']) {
      await expect(invoke(name, payload)).rejects.toThrow(message);
    }
    expect(state(await inventory(client))).toEqual(before);
  });

  it('plans without changing anything on a dry run', async () => {
    const instanceId = await launch({ Backup: 'true' });
    ec2.clock.advance(MINUTE);
    const before = state(await inventory(client));
    const summary = await invoke('reboot', { instanceIds: [instanceId], dryRun: true });
    expect(summary.instances).toEqual([
      { instanceId, action: 'queue', reason: expect.stringContaining("imaged through EC2's reboot") },
    ]);
    await invoke('createImages', { dryRun: true });
    await invoke('rotate', { dryRun: true });
    expect(state(await inventory(client))).toEqual(before);
    expect(imagesCreatedFrom(instanceId)).toEqual([]);
  });

  it('acts only on the instances named', async () => {
    const named = await launch({ Backup: 'true' });
    const other = await launch({ Backup: 'true' });
    ec2.clock.advance(MINUTE);
    await invoke('reboot', { instanceIds: [named] });
    const after = await inventory(client);
    const tagsOfId = (id: string) => tagsOf(after.instances.find((instance) => instance.InstanceId === id) ?? {});
    expect(tagsOfId(named)[InstanceTag.state]).toBe(BackupStep.queued);
    expect(tagsOfId(other)[InstanceTag.state]).toBeUndefined();
  });
});

describe('reruns and crashes', () => {
  it('a retried run start queues nobody twice, and overlapping sweeps make one image per instance, with one reboot', async () => {
    const instanceId = await launch({ Backup: 'true' });
    const start = nextRunTime(ec2);
    ec2.clock.advanceTo(start);
    await invoke('reboot', at(start));
    const rerun = await invoke('reboot', at(start));
    expect(rerun.instances).toContainEqual(expect.objectContaining({ instanceId, action: 'skip' }));
    // The run start takes nothing down: the image, and its reboot, wait for a sweep.
    expect(imagesCreatedFrom(instanceId)).toEqual([]);

    const ready = new Date(start.getTime() + MINUTE);
    ec2.clock.advanceTo(ready);
    await Promise.all([invoke('createImages', at(ready)), invoke('createImages', at(ready))]);
    const images = (await inventory(client)).imagesOf(instanceId);
    expect(images.length).toBe(1);
    expect(images[0]?.Name).toBe(imageName(instanceId, (rerun as { runId: string }).runId));
    expect(imagesCreatedFrom(instanceId)).toEqual([
      expect.objectContaining({ id: images[0]?.ImageId, noReboot: false, instanceState: 'running' }),
    ]);
  });

  it('finds the image a crashed sweep made (and the reboot it began) before recording it, instead of a second', async () => {
    const instanceId = await launch({ Backup: 'true' });
    const start = nextRunTime(ec2);
    ec2.clock.advanceTo(start);
    const { runId } = (await invoke('reboot', at(start))) as { runId: string };
    const ready = new Date(start.getTime() + MINUTE);
    ec2.clock.advanceTo(ready);
    // The sweep's CreateImage went through, rebooting the instance, then the invocation died before tagging it.
    const tags = [
      { Key: ImageTag.managedBy, Value: OWNER },
      { Key: ImageTag.instanceId, Value: instanceId },
      { Key: ImageTag.run, Value: runId },
      { Key: ImageTag.imageMode, Value: 'reboot' },
    ];
    const made = await client.send(
      new CreateImageCommand({
        InstanceId: instanceId,
        Name: imageName(instanceId, runId),
        NoReboot: false,
        TagSpecifications: [
          { ResourceType: 'image', Tags: tags },
          { ResourceType: 'snapshot', Tags: tags },
        ],
      }),
    );
    await invoke('createImages', at(ready));
    const after = await inventory(client);
    expect(after.imagesOf(instanceId).map((image) => image.ImageId)).toEqual([made.ImageId]);
    expect(instanceTags(after, instanceId)).toMatchObject({
      [InstanceTag.state]: BackupStep.imaging,
      [InstanceTag.imageMode]: 'reboot',
    });
    // One reboot: the second CreateImage under the run's name was refused by EC2, not made again.
    expect(imagesCreatedFrom(instanceId)).toHaveLength(1);
    await sweep(ready, 15);
    expect(instanceTags(await inventory(client), instanceId)[InstanceTag.state]).toBe(BackupStep.succeeded);
  });

  it('records outcomes whose state-change event never came', async () => {
    const { instanceId, ready } = await rebootAndImage();
    // No event is delivered (nothing subscribes here): the next sweeps find the instance back and the image available.
    await sweep(ready, 15);
    expect(instanceTags(await inventory(client), instanceId)[InstanceTag.state]).toBe(BackupStep.succeeded);
  });
});

describe('a reboot-mode backup is verified: good only once the instance is back healthy', () => {
  it('images a running reboot-mode instance with EC2’s reboot, waits for its return, then records it good', async () => {
    const { instanceId, ready, runId } = await rebootAndImage();
    const [created] = imagesCreatedFrom(instanceId);
    expect(created).toMatchObject({ noReboot: false, instanceState: 'running' });
    expect(created?.healthyAt).toBeGreaterThan(created?.downAt ?? 0);
    expect(ec2.callCount('RebootInstances')).toBe(0);
    // Down: the instance status check is not ok during the reboot for the image.
    ec2.clock.advance(30_000);
    const status = await client.send(new DescribeInstanceStatusCommand({ InstanceIds: [instanceId] }));
    expect(status.InstanceStatuses?.[0]?.InstanceStatus?.Status).not.toBe('ok');

    // The image is available before the grace period is over: its event alone does not make it good.
    const early = new Date(ready.getTime() + 4 * MINUTE);
    ec2.clock.advanceTo(early);
    const [image] = (await inventory(client)).imagesOf(instanceId, 'available');
    expect(image).toBeDefined();
    const ignored = await invoke('recordImageState', amiEvent(image?.ImageId ?? '', 'available'));
    expect(ignored.ignored).toEqual([
      { imageId: image?.ImageId, reason: expect.stringContaining('not back from the reboot') },
    ]);
    expect(instanceTags(await inventory(client), instanceId)[InstanceTag.state]).toBe(BackupStep.imaging);

    // Recorded good by the first sweep that finds it back (after the grace period, both checks ok), never before.
    let recordedAt: number | undefined;
    for (let time = early; recordedAt === undefined && time.getTime() < early.getTime() + 10 * MINUTE; ) {
      time = await sweep(time, 1);
      const step = instanceTags(await inventory(client), instanceId)[InstanceTag.state];
      if (step === BackupStep.succeeded) recordedAt = time.getTime();
    }
    expect(recordedAt).toBeGreaterThanOrEqual(created?.healthyAt ?? Number.POSITIVE_INFINITY);
    const after = await inventory(client);
    expect(instanceTags(after, instanceId)).toMatchObject({
      [InstanceTag.state]: BackupStep.succeeded,
      [InstanceTag.lastSuccess]: runId,
      [InstanceTag.imageMode]: 'reboot',
    });
    expect(tagsOf(after.imagesOf(instanceId, 'available')[0] ?? {})).toMatchObject({
      [InstanceTag.state]: BackupStep.succeeded,
      [ImageTag.imageMode]: 'reboot',
    });
  });

  it('fails verification when the instance does not come back: the image is kept, never a good backup', async () => {
    const instanceId = await launch({ Backup: 'true', [OperatorTag.retain]: '1' });
    ec2.faults.unhealthyAfterImageOf(instanceId);
    const start = nextRunTime(ec2);
    ec2.clock.advanceTo(start);
    const { runId } = (await invoke('reboot', at(start))) as { runId: string };
    const published = ec2.putEvents.length;
    // The ready timeout is an hour: the sweeps wait that long for the instance, then give up.
    await sweep(start, 70);
    const after = await inventory(client);
    const tags = instanceTags(after, instanceId);
    expect(tags[InstanceTag.state]).toBe(BackupStep.failed);
    expect(tags[InstanceTag.lastError]).toMatch(new RegExp(`^${runId}: failed-verification: `));
    expect(tags[InstanceTag.lastSuccess]).toBeUndefined();
    const [image] = after.imagesOf(instanceId);
    expect(image?.State).toBe('available');
    expect(tagsOf(image ?? {})[InstanceTag.state]).toBe(BackupStep.failed);
    expect(after.snapshotsOf(image ?? {}).length).toBe(image?.BlockDeviceMappings?.length);
    const failures = ec2.putEvents
      .slice(published)
      .filter((entry) => entry.DetailType === 'Backup Failed')
      .map((entry) => JSON.parse(entry.Detail ?? '{}') as { instanceId: string; reason: string });
    expect(failures).toEqual([
      expect.objectContaining({ instanceId, reason: expect.stringMatching(/^failed-verification: /) }),
    ]);

    // Rotation keeps it: it never counts as a good backup, and it is all there is.
    ec2.clock.advance(3 * 60 * MINUTE);
    await invoke('rotate', at(ec2.clock.now()));
    const rotated = await inventory(client);
    expect(rotated.imagesOf(instanceId, 'available').map((kept) => kept.ImageId)).toEqual([image?.ImageId]);
  });
});

describe('image state-change events', () => {
  it('records an outcome once: a repeated event for a recorded image publishes and changes nothing', async () => {
    const { instanceId } = await rebootAndImage({ [OperatorTag.mode]: 'no-reboot' });
    ec2.clock.advance(30 * MINUTE);
    const [image] = (await inventory(client)).imagesOf(instanceId);
    const event = amiEvent(image?.ImageId ?? '', 'available');
    const first = await invoke('recordImageState', event);
    expect(first.instances).toEqual([expect.objectContaining({ instanceId, action: 'succeeded' })]);
    const published = ec2.putEvents.length;
    const before = state(await inventory(client));

    const again = await invoke('recordImageState', event);

    expect(again.ignored).toEqual([{ imageId: image?.ImageId, reason: expect.stringContaining('already recorded') }]);
    expect(ec2.putEvents.length).toBe(published);
    expect(state(await inventory(client))).toEqual(before);
  });

  it('ignores images the service does not own', async () => {
    const instanceId = await launch({ Backup: 'true' });
    ec2.clock.advance(MINUTE);
    const foreign = await client.send(
      new CreateImageCommand({ InstanceId: instanceId, Name: `someone-else-${instanceId}`, NoReboot: true }),
    );
    ec2.clock.advance(30 * MINUTE);
    const before = state(await inventory(client));
    const summary = await invoke('recordImageState', amiEvent(foreign.ImageId ?? '', 'available'));
    expect(summary.ignored).toEqual([{ imageId: foreign.ImageId, reason: 'image not managed by this service' }]);
    expect(state(await inventory(client))).toEqual(before);
  });
});

/** Lambda's SQS event: the image state queue's messages, each an EventBridge event. */
function queueBatch(bodies: readonly string[]): unknown {
  return {
    Records: bodies.map((body, index) => ({
      messageId: `message-${index}`,
      receiptHandle: `handle-${index}`,
      body,
      attributes: { ApproximateReceiveCount: '1' },
      messageAttributes: {},
      md5OfBody: '',
      eventSource: 'aws:sqs',
      eventSourceARN: `arn:aws:sqs:us-east-1:${LOCAL_ACCOUNT_ID}:ImageStateQueue`,
      awsRegion: 'us-east-1',
    })),
  };
}

describe('image state-change batches from the queue', () => {
  it('records every outcome of a batch with one look-up and two writes, and reports the messages that are not events', async () => {
    const { instanceIds } = await rebootAndImageMany(2, { [OperatorTag.mode]: 'no-reboot' });
    ec2.clock.advance(30 * MINUTE);
    const images = (await inventory(client)).images.filter((image) =>
      instanceIds.includes(tagsOf(image)[ImageTag.instanceId] ?? ''),
    );
    const events = images.map((image) => JSON.stringify(amiEvent(image.ImageId ?? '', 'available')));
    const describes = ec2.callCount('DescribeImages');
    const writes = ec2.callCount('CreateTags');

    const summary = await invoke(
      'recordImageState',
      queueBatch([...events, events[0] ?? '', 'not json', JSON.stringify({ source: 'aws.ec2' })]),
    );

    expect(images).toHaveLength(2);
    expect(summary.instances).toEqual(
      expect.arrayContaining(
        instanceIds.map((instanceId) => expect.objectContaining({ instanceId, action: 'succeeded' })),
      ),
    );
    expect(summary.batchItemFailures).toEqual([{ itemIdentifier: 'message-3' }, { itemIdentifier: 'message-4' }]);
    expect(ec2.callCount('DescribeImages') - describes).toBe(1);
    // One write for the images (their outcome and approval), then one for their instances.
    expect(ec2.callCount('CreateTags') - writes).toBe(2);
    const after = await inventory(client);
    for (const instanceId of instanceIds) {
      const instance = after.instances.find((candidate) => candidate.InstanceId === instanceId) ?? {};
      expect(tagsOf(instance)[InstanceTag.state]).toBe(BackupStep.succeeded);
      expect(tagsOf(instance)[ApprovalTag.approved]).toBeUndefined();
    }
    for (const image of after.images.filter((candidate) => images.some((made) => made.ImageId === candidate.ImageId))) {
      expect(tagsOf(image)).toMatchObject({
        [InstanceTag.state]: BackupStep.succeeded,
        [ApprovalTag.approved]: Approval.verified,
      });
    }
  });

  it('rejects a batch that is not made of SQS messages, and changes nothing', async () => {
    const before = state(await inventory(client));
    await expect(invoke('recordImageState', { Records: [] })).rejects.toThrow('Records must be a non-empty array');
    await expect(invoke('recordImageState', { Records: [{ body: '{}' }] })).rejects.toThrow('Records[0]');
    expect(state(await inventory(client))).toEqual(before);
  });
});

describe('failures at the start of a run', () => {
  it('records and publishes a backup that cannot start (invalid mode), and takes nothing down', async () => {
    const instanceId = await launch({ Backup: 'true', [OperatorTag.mode]: 'sometimes' });
    const start = nextRunTime(ec2);
    ec2.clock.advanceTo(start);
    const published = ec2.putEvents.length;

    await invoke('reboot', at(start));

    const instance = (await inventory(client)).instances.find((candidate) => candidate.InstanceId === instanceId) ?? {};
    expect(tagsOf(instance)[InstanceTag.state]).toBe(BackupStep.failed);
    expect(tagsOf(instance)[InstanceTag.lastError]).toContain(`${OperatorTag.mode}="sometimes"`);
    // Not rebooted: its status check stays ok (a reboot would make it initializing for a while).
    ec2.clock.advance(30_000);
    const status = await client.send(new DescribeInstanceStatusCommand({ InstanceIds: [instanceId] }));
    expect(status.InstanceStatuses?.[0]?.InstanceStatus?.Status).toBe('ok');
    const failures = ec2.putEvents
      .slice(published)
      .filter((entry) => entry.DetailType === 'Backup Failed')
      .map((entry) => JSON.parse(entry.Detail ?? '{}') as { instanceId: string; reason: string });
    expect(failures).toEqual([
      expect.objectContaining({ instanceId, reason: expect.stringContaining(OperatorTag.mode) }),
    ]);
  });
});

describe('an instance opted out mid-run', () => {
  /** Removes the opt-in tag, as an operator would. */
  async function optOut(instanceId: string): Promise<void> {
    await client.send(new DeleteTagsCommand({ Resources: [instanceId], Tags: [{ Key: 'Backup' }] }));
  }

  it('is dropped while queued: never imaged, no event, its tags left as they were', async () => {
    // Prepare: queued in a group behind a member that is down
    const pair = (await rebootAndImageMany(2, { [OperatorTag.group]: 'pair' })).instanceIds;
    const inv = await inventory(client);
    const first = pair.find((id) => instanceTags(inv, id)[InstanceTag.state] === BackupStep.imaging);
    const secondId = pair.find((id) => instanceTags(inv, id)[InstanceTag.state] === BackupStep.queued) ?? '';
    await optOut(secondId);
    const tagsBefore = instanceTags(await inventory(client), secondId);
    const published = ec2.putEvents.length;

    // Act: the passes of the next hour
    await sweep(ec2.clock.now(), 60);

    // Assess
    expect(imagesCreatedFrom(secondId)).toEqual([]);
    expect(instanceTags(await inventory(client), secondId)).toEqual(tagsBefore);
    const instancesInEvents = ec2.putEvents
      .slice(published)
      .map((entry) => (JSON.parse(entry.Detail ?? '{}') as { instanceId: string }).instanceId);
    expect(instancesInEvents).not.toContain(secondId);
    expect(instancesInEvents).toContain(first);
  });

  it('has its image outcome recorded on the image alone, published once', async () => {
    // Prepare: imaging without a reboot, then opted out
    const { instanceIds, runId } = await rebootAndImageMany(1, { [OperatorTag.mode]: 'no-reboot' });
    const instanceId = instanceIds[0] ?? '';
    await optOut(instanceId);
    const tagsBefore = instanceTags(await inventory(client), instanceId);
    const published = ec2.putEvents.length;

    // Act: the image completes; the passes of the next hour (its event is delivered too)
    const end = await sweep(ec2.clock.now(), 30);
    const [image] = (await inventory(client)).imagesOf(instanceId);
    await invoke('recordImageState', amiEvent(image?.ImageId ?? '', 'available'));
    await sweep(end, 30);

    // Assess
    const after = await inventory(client);
    expect(instanceTags(after, instanceId)).toEqual(tagsBefore);
    const [recorded] = after.imagesOf(instanceId);
    expect(tagsOf(recorded ?? {})).toMatchObject({
      [InstanceTag.state]: BackupStep.succeeded,
      [InstanceTag.lastSuccess]: runId,
    });
    const successes = ec2.putEvents
      .slice(published)
      .filter((entry) => entry.DetailType === 'Backup Succeeded')
      .map((entry) => JSON.parse(entry.Detail ?? '{}') as { instanceId: string })
      .filter((detail) => detail.instanceId === instanceId);
    expect(successes).toHaveLength(1);
  });
});

describe('the stale-backup audit at a run start', () => {
  it('reports, once, each opted-in instance whose last good backup is older than 36 hours, and no other', async () => {
    const start = nextRunTime(ec2);
    const hoursBefore = (hours: number) => formatRunId(new Date(start.getTime() - hours * 3_600_000));
    const members = await launchFleet(client, [
      { name: 'stale-48h', tags: { Backup: 'true', [InstanceTag.lastSuccess]: hoursBefore(48) }, optedIn: true },
      { name: 'fresh-24h', tags: { Backup: 'true', [InstanceTag.lastSuccess]: hoursBefore(24) }, optedIn: true },
      { name: 'just-36h', tags: { Backup: 'true', [InstanceTag.lastSuccess]: hoursBefore(36) }, optedIn: true },
      { name: 'opted-out', tags: { [InstanceTag.lastSuccess]: hoursBefore(96) }, optedIn: false },
    ]);
    const idOf = (name: string) => members.find((member) => member.name === name)?.instanceId;
    ec2.clock.advanceTo(start);
    const published = ec2.putEvents.length;

    const summary = (await invoke('reboot', at(start))) as { stale: { instanceId: string; hours: number }[] };

    const staleIds = summary.stale.map((entry) => entry.instanceId);
    expect(staleIds).toEqual(expect.arrayContaining([idOf('stale-48h'), idOf('just-36h')]));
    expect(staleIds).not.toContain(idOf('fresh-24h'));
    expect(staleIds).not.toContain(idOf('opted-out'));
    const events = ec2.putEvents.slice(published).filter((entry) => entry.DetailType === 'Backup Stale');
    const detail = events.map((entry) => JSON.parse(entry.Detail ?? '{}') as { instanceId: string; hours: number });
    expect(detail.filter((entry) => entry.instanceId === idOf('stale-48h'))).toEqual([
      expect.objectContaining({ instanceId: idOf('stale-48h'), hours: 48 }),
    ]);
    expect(detail.some((entry) => entry.instanceId === idOf('fresh-24h'))).toBe(false);
  });
});
