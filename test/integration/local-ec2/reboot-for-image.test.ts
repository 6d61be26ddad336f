import {
  CreateImageCommand,
  DescribeImagesCommand,
  DescribeInstanceStatusCommand,
  DescribeInstancesCommand,
  DescribeSnapshotsCommand,
  type EC2Client,
  type InstanceStatus,
  RebootInstancesCommand,
  RunInstancesCommand,
  StartInstancesCommand,
  StopInstancesCommand,
} from '@aws-sdk/client-ec2';
import {
  DEFAULT_DURATIONS,
  type Ec2Event,
  type LocalEc2,
  type LocalEc2Options,
  type SimClock,
} from '../../../local/ec2';
import { MINUTE, START, startTestEc2 } from './helpers';

const SECOND = 1000;
/** An image of the default instance (one 8 GiB root volume) completes this long after CreateImage. */
const IMAGE_TIME = DEFAULT_DURATIONS.imageBase + 8 * DEFAULT_DURATIONS.imagePerGiB;

let ec2: LocalEc2;
let client: EC2Client;
let clock: SimClock;
let events: Ec2Event[];

async function start(options: LocalEc2Options = {}): Promise<void> {
  ({ ec2, client, clock } = await startTestEc2({ audit: true, ...options }));
  events = [];
  ec2.events.subscribe((event) => events.push(event));
}

afterEach(async () => {
  await ec2.stop();
});

/** An instance launched at START, running with its status checks ok 10 minutes later (the clock is left there). */
async function runningInstance(): Promise<string> {
  const launched = await client.send(
    new RunInstancesCommand({ ImageId: 'ami-0123456789abcdef0', MinCount: 1, MaxCount: 1 }),
  );
  clock.advance(10 * MINUTE);
  return launched.Instances?.[0]?.InstanceId as string;
}

/** CreateImage as the service calls it for its reboot mode: NoReboot left out (EC2's default is false). */
async function createImage(instanceId: string, name: string, noReboot?: boolean): Promise<string> {
  const result = await client.send(
    new CreateImageCommand({
      InstanceId: instanceId,
      Name: name,
      ...(noReboot === undefined ? {} : { NoReboot: noReboot }),
      TagSpecifications: [{ ResourceType: 'image', Tags: [{ Key: 'ami-backup:instance', Value: instanceId }] }],
    }),
  );
  return result.ImageId as string;
}

async function status(instanceId: string): Promise<InstanceStatus | undefined> {
  const result = await client.send(new DescribeInstanceStatusCommand({ InstanceIds: [instanceId] }));
  return result.InstanceStatuses?.[0];
}

/** State, instance status check (summary and reachability) and system status check, in one line. */
async function checks(instanceId: string): Promise<[string?, string?, string?, string?]> {
  const current = await status(instanceId);
  return [
    current?.InstanceState?.Name,
    current?.InstanceStatus?.Status,
    current?.InstanceStatus?.Details?.[0]?.Status,
    current?.SystemStatus?.Status,
  ];
}

async function imageState(imageId: string): Promise<string | undefined> {
  return (await client.send(new DescribeImagesCommand({ ImageIds: [imageId] }))).Images?.[0]?.State;
}

async function snapshotStartTimes(imageId: string): Promise<(Date | undefined)[]> {
  const result = await client.send(
    new DescribeSnapshotsCommand({ Filters: [{ Name: 'description', Values: [`*${imageId}`] }] }),
  );
  return (result.Snapshots ?? []).map((snapshot) => snapshot.StartTime);
}

describe('CreateImage without NoReboot on a running instance', () => {
  beforeEach(() => start());

  it('shuts the OS down, snapshots at rest, boots, and passes the next status check, staying running throughout', async () => {
    const instanceId = await runningInstance();
    events.length = 0; // the launch's own events
    clock.advance(20 * SECOND); // CreateImage at 10:20 after launch
    const calledAt = clock.nowMs();
    const imageId = await createImage(instanceId, 'reboot-for-image');

    // Shutdown (30 s), boot (60 s): down until 11:50, then the first status check on the minute grid, at 12:00.
    expect(await checks(instanceId)).toEqual(['running', 'initializing', 'initializing', 'ok']);
    clock.advance(DEFAULT_DURATIONS.imageShutdown);
    expect(await checks(instanceId)).toEqual(['running', 'initializing', 'initializing', 'ok']);
    clock.advance(DEFAULT_DURATIONS.imageBoot);
    expect(clock.nowMs()).toBe(START.getTime() + 11 * MINUTE + 50 * SECOND);
    expect(await checks(instanceId)).toEqual(['running', 'initializing', 'initializing', 'ok']);
    clock.advance(10 * SECOND - 1);
    expect(await checks(instanceId)).toEqual(['running', 'initializing', 'initializing', 'ok']);
    clock.advance(1);
    expect(clock.nowMs()).toBe(START.getTime() + 12 * MINUTE);
    expect(await checks(instanceId)).toEqual(['running', 'ok', 'passed', 'ok']);

    // The snapshots were taken at the end of the shutdown, with the data at rest.
    expect(await snapshotStartTimes(imageId)).toEqual([new Date(calledAt + DEFAULT_DURATIONS.imageShutdown)]);
    // The image keeps its own pending time, counted from the call.
    clock.advance(calledAt + IMAGE_TIME - 1 - clock.nowMs());
    expect(await imageState(imageId)).toBe('pending');
    clock.advance(1);
    expect(await imageState(imageId)).toBe('available');
    const instance = (await client.send(new DescribeInstancesCommand({ InstanceIds: [instanceId] }))).Reservations?.[0]
      ?.Instances?.[0];
    expect(instance?.State?.Name).toBe('running');
    expect(instance?.StateReason).toBeUndefined();
    // A reboot, not a stop: no instance state-change event.
    expect(events.filter((event) => event['detail-type'] === 'EC2 Instance State-change Notification')).toEqual([]);
  });

  it('matches status filters as initializing, its system status ok, during the reboot', async () => {
    const instanceId = await runningInstance();
    await createImage(instanceId, 'filtered');
    const initializing = await client.send(
      new DescribeInstanceStatusCommand({ Filters: [{ Name: 'instance-status.status', Values: ['initializing'] }] }),
    );
    expect(initializing.InstanceStatuses?.map((entry) => entry.InstanceId)).toEqual([instanceId]);
    const systemOk = await client.send(
      new DescribeInstanceStatusCommand({ Filters: [{ Name: 'system-status.status', Values: ['ok'] }] }),
    );
    expect(systemOk.InstanceStatuses?.map((entry) => entry.InstanceId)).toEqual([instanceId]);
  });

  it('with NoReboot=true leaves the instance alone: checks stay ok, snapshots start at the call', async () => {
    const instanceId = await runningInstance();
    const calledAt = clock.nowMs();
    const imageId = await createImage(instanceId, 'no-reboot', true);
    expect(await checks(instanceId)).toEqual(['running', 'ok', 'passed', 'ok']);
    clock.advance(DEFAULT_DURATIONS.imageShutdown + DEFAULT_DURATIONS.imageBoot);
    expect(await checks(instanceId)).toEqual(['running', 'ok', 'passed', 'ok']);
    expect(await snapshotStartTimes(imageId)).toEqual([new Date(calledAt)]);
  });

  it('does not reboot a stopped instance', async () => {
    const instanceId = await runningInstance();
    await client.send(new StopInstancesCommand({ InstanceIds: [instanceId] }));
    clock.advance(MINUTE);
    const calledAt = clock.nowMs();
    const imageId = await createImage(instanceId, 'from-stopped');
    expect(await snapshotStartTimes(imageId)).toEqual([new Date(calledAt)]);
    await client.send(new StartInstancesCommand({ InstanceIds: [instanceId] }));
    clock.advance(DEFAULT_DURATIONS.instancePending + DEFAULT_DURATIONS.statusInitializing);
    expect(await checks(instanceId)).toEqual(['running', 'ok', 'passed', 'ok']);
  });

  it('still fails its image when the instance is rebooted meanwhile', async () => {
    const instanceId = await runningInstance();
    const imageId = await createImage(instanceId, 'interrupted');
    clock.advance(DEFAULT_DURATIONS.imageShutdown + 10 * SECOND);
    await client.send(new RebootInstancesCommand({ InstanceIds: [instanceId] }));
    expect(await imageState(imageId)).toBe('failed');
    expect(await checks(instanceId)).toEqual(['running', 'initializing', 'initializing', 'ok']);
  });
});

describe('the phases of a reboot for an image', () => {
  it('are configurable', async () => {
    await start({ durations: { imageShutdown: 10 * SECOND, imageBoot: 5 * SECOND, statusCheckInterval: 0 } });
    const instanceId = await runningInstance();
    const calledAt = clock.nowMs();
    const imageId = await createImage(instanceId, 'quick');
    clock.advance(15 * SECOND - 1);
    expect(await checks(instanceId)).toEqual(['running', 'initializing', 'initializing', 'ok']);
    clock.advance(1);
    expect(await checks(instanceId)).toEqual(['running', 'ok', 'passed', 'ok']);
    expect(await snapshotStartTimes(imageId)).toEqual([new Date(calledAt + 10 * SECOND)]);
  });
});

describe('faults.unhealthyAfterImageOf', () => {
  beforeEach(() => start());

  it('leaves the instance impaired after its image reboot, until a stop and start; the image completes', async () => {
    const instanceId = await runningInstance();
    ec2.faults.unhealthyAfterImageOf(instanceId, { once: true });
    const imageId = await createImage(instanceId, 'unhealthy');
    clock.advance(2 * MINUTE - 1);
    expect(await checks(instanceId)).toEqual(['running', 'initializing', 'initializing', 'ok']);
    clock.advance(1);
    expect(await checks(instanceId)).toEqual(['running', 'impaired', 'failed', 'ok']);
    clock.advance(IMAGE_TIME);
    expect(await imageState(imageId)).toBe('available');
    const impaired = await client.send(
      new DescribeInstanceStatusCommand({ Filters: [{ Name: 'instance-status.reachability', Values: ['failed'] }] }),
    );
    expect(impaired.InstanceStatuses?.map((entry) => entry.InstanceId)).toEqual([instanceId]);

    // A reboot does not cure it.
    await client.send(new RebootInstancesCommand({ InstanceIds: [instanceId] }));
    clock.advance(DEFAULT_DURATIONS.rebootDelay + DEFAULT_DURATIONS.rebootWindow);
    expect(await checks(instanceId)).toEqual(['running', 'impaired', 'failed', 'ok']);

    // A stop and start does.
    await client.send(new StopInstancesCommand({ InstanceIds: [instanceId] }));
    clock.advance(DEFAULT_DURATIONS.instanceStopping);
    await client.send(new StartInstancesCommand({ InstanceIds: [instanceId] }));
    clock.advance(DEFAULT_DURATIONS.instancePending + DEFAULT_DURATIONS.statusInitializing);
    expect(await checks(instanceId)).toEqual(['running', 'ok', 'passed', 'ok']);

    // `once`: the next image's reboot ends healthy.
    await createImage(instanceId, 'healthy again');
    clock.advance(3 * MINUTE);
    expect(await checks(instanceId)).toEqual(['running', 'ok', 'passed', 'ok']);
  });

  it('applies to every image reboot unless once, and not to images without a reboot', async () => {
    const instanceId = await runningInstance();
    ec2.faults.unhealthyAfterImageOf(instanceId);
    await createImage(instanceId, 'no reboot', true);
    clock.advance(3 * MINUTE);
    expect(await checks(instanceId)).toEqual(['running', 'ok', 'passed', 'ok']);
    await createImage(instanceId, 'first');
    clock.advance(3 * MINUTE);
    expect(await checks(instanceId)).toEqual(['running', 'impaired', 'failed', 'ok']);
    await client.send(new StopInstancesCommand({ InstanceIds: [instanceId] }));
    clock.advance(DEFAULT_DURATIONS.instanceStopping);
    await client.send(new StartInstancesCommand({ InstanceIds: [instanceId] }));
    clock.advance(DEFAULT_DURATIONS.instancePending + DEFAULT_DURATIONS.statusInitializing);
    await createImage(instanceId, 'second');
    clock.advance(3 * MINUTE);
    expect(await checks(instanceId)).toEqual(['running', 'impaired', 'failed', 'ok']);
  });
});

describe('the image-created audit entry', () => {
  beforeEach(() => start());

  it('records the source instance, NoReboot, its state, and for a reboot when it went down and was back healthy', async () => {
    const instanceId = await runningInstance();
    clock.advance(20 * SECOND);
    const calledAt = clock.nowMs();
    const rebooted = await createImage(instanceId, 'rebooted');
    clock.advance(10 * MINUTE);
    const withoutReboot = await createImage(instanceId, 'not rebooted', true);
    await client.send(new StopInstancesCommand({ InstanceIds: [instanceId] }));
    clock.advance(MINUTE);
    const fromStopped = await createImage(instanceId, 'from stopped', false);

    const created = ec2.audit.filter((entry) => entry.kind === 'image-created');
    expect(created).toEqual([
      {
        at: calledAt,
        region: 'us-east-1',
        kind: 'image-created',
        id: rebooted,
        tags: new Map([['ami-backup:instance', instanceId]]),
        creationDate: calledAt,
        instanceId,
        noReboot: false,
        instanceState: 'running',
        downAt: calledAt,
        healthyAt: START.getTime() + 12 * MINUTE,
      },
      expect.objectContaining({ id: withoutReboot, instanceId, noReboot: true, instanceState: 'running' }),
      expect.objectContaining({ id: fromStopped, instanceId, noReboot: false, instanceState: 'stopped' }),
    ]);
    for (const entry of created.slice(1)) {
      expect(entry).not.toHaveProperty('downAt');
      expect(entry).not.toHaveProperty('healthyAt');
    }
    // RebootInstances keeps its own entry; a reboot for an image is not one.
    expect(ec2.audit.filter((entry) => entry.kind === 'instance-rebooted')).toEqual([]);
  });

  it('says when the check turned impaired, instead of healthy, under the unhealthy-after-image fault', async () => {
    const instanceId = await runningInstance();
    ec2.faults.unhealthyAfterImageOf(instanceId);
    const calledAt = clock.nowMs();
    await createImage(instanceId, 'impaired');
    const [entry] = ec2.audit.filter((each) => each.kind === 'image-created');
    expect(entry).toMatchObject({ downAt: calledAt, impairedAt: calledAt + 2 * MINUTE });
    expect(entry).not.toHaveProperty('healthyAt');
  });
});
