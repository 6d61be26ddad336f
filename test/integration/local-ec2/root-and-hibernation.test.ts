import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  CreateImageCommand,
  DescribeImagesCommand,
  DescribeInstanceStatusCommand,
  DescribeInstancesCommand,
  type EC2Client,
  type Instance,
  RunInstancesCommand,
  type RunInstancesCommandInput,
  StartInstancesCommand,
  StopInstancesCommand,
  TerminateInstancesCommand,
} from '@aws-sdk/client-ec2';
import { DEFAULT_DURATIONS, INSTANCE_STORE_AMI_ID, type LocalEc2, SimClock } from '../../../local/ec2';
import { clientFor, failureOf, MINUTE, rawQuery, START, startTestEc2 } from './helpers';

let ec2: LocalEc2;
let client: EC2Client;
let clock: SimClock;

beforeEach(async () => {
  ({ ec2, client, clock } = await startTestEc2());
});
afterEach(async () => {
  await ec2.stop();
});

async function launch(input: Partial<RunInstancesCommandInput> = {}): Promise<string> {
  const result = await client.send(
    new RunInstancesCommand({ ImageId: 'ami-0123456789abcdef0', MinCount: 1, MaxCount: 1, ...input }),
  );
  clock.advance(10 * MINUTE);
  return result.Instances?.[0]?.InstanceId as string;
}

async function instance(instanceId: string): Promise<Instance | undefined> {
  const result = await client.send(new DescribeInstancesCommand({ InstanceIds: [instanceId] }));
  return result.Reservations?.[0]?.Instances?.[0];
}

describe('an instance-store-backed instance', () => {
  it('is launched from INSTANCE_STORE_AMI_ID, with no EBS root volume; other AMIs stay EBS-backed', async () => {
    expect(INSTANCE_STORE_AMI_ID).toMatch(/^ami-[0-9a-f]{17}$/);
    const storeBacked = await launch({ ImageId: INSTANCE_STORE_AMI_ID });
    const ebsBacked = await launch();

    expect(await instance(storeBacked)).toMatchObject({
      ImageId: INSTANCE_STORE_AMI_ID,
      RootDeviceType: 'instance-store',
      RootDeviceName: '/dev/sda1',
      BlockDeviceMappings: [],
    });
    const ebs = await instance(ebsBacked);
    expect(ebs?.RootDeviceType).toBe('ebs');
    expect(ebs?.BlockDeviceMappings?.map((mapping) => mapping.DeviceName)).toEqual([ebs?.RootDeviceName]);

    const filtered = await client.send(
      new DescribeInstancesCommand({ Filters: [{ Name: 'root-device-type', Values: ['instance-store'] }] }),
    );
    expect(filtered.Reservations?.flatMap((reservation) => reservation.Instances?.map((i) => i.InstanceId))).toEqual([
      storeBacked,
    ]);
  });

  it('cannot be imaged (with or without NoReboot) nor stopped, as on EC2; it can be terminated', async () => {
    const instanceId = await launch({ ImageId: INSTANCE_STORE_AMI_ID });
    for (const NoReboot of [false, true]) {
      expect(
        await failureOf(client.send(new CreateImageCommand({ InstanceId: instanceId, Name: 'store', NoReboot }))),
      ).toEqual({
        name: 'InvalidParameterValue',
        message: `Invalid value '${instanceId}' for instanceId. Instance does not have a volume attached at root (/dev/sda1)`,
        status: 400,
      });
    }
    expect((await client.send(new DescribeImagesCommand({ Owners: ['self'] }))).Images).toEqual([]);
    expect(await failureOf(client.send(new StopInstancesCommand({ InstanceIds: [instanceId] })))).toEqual({
      name: 'UnsupportedOperation',
      message: `The instance '${instanceId}' does not have an 'ebs' root device type and cannot be stopped.`,
      status: 400,
    });
    // Its status checks are those of any running instance.
    const statuses = await client.send(new DescribeInstanceStatusCommand({ InstanceIds: [instanceId] }));
    expect(statuses.InstanceStatuses?.[0]?.InstanceStatus?.Status).toBe('ok');
    const terminated = await client.send(new TerminateInstancesCommand({ InstanceIds: [instanceId] }));
    expect(terminated.TerminatingInstances?.[0]?.CurrentState?.Name).toBe('shutting-down');
  });

  it('takes no EBS block device mappings at launch', async () => {
    const failure = await failureOf(
      client.send(
        new RunInstancesCommand({
          ImageId: INSTANCE_STORE_AMI_ID,
          MinCount: 1,
          MaxCount: 1,
          BlockDeviceMappings: [{ DeviceName: '/dev/sdf', Ebs: { VolumeSize: 20 } }],
        }),
      ),
    );
    expect(failure.message).toBe('EBS block device mappings not supported for instance-store AMIs.');
  });
});

describe('hibernation', () => {
  it('is reported as configured or not, as the launch asked', async () => {
    const configured = await launch({ HibernationOptions: { Configured: true } });
    const plain = await launch();
    expect((await instance(configured))?.HibernationOptions).toEqual({ Configured: true });
    expect((await instance(plain))?.HibernationOptions).toEqual({ Configured: false });
    // The wire form, as EC2 sends it.
    const raw = await rawQuery(ec2.url, { Action: 'DescribeInstances', 'InstanceId.1': configured });
    expect(raw.body).toContain('<hibernationOptions><configured>true</configured></hibernationOptions>');
  });

  it('hibernates a configured instance on StopInstances with Hibernate, and a start clears the reason', async () => {
    const instanceId = await launch({ HibernationOptions: { Configured: true } });
    const stopped = await client.send(new StopInstancesCommand({ InstanceIds: [instanceId], Hibernate: true }));
    expect(stopped.StoppingInstances?.[0]?.CurrentState?.Name).toBe('stopping');
    const hibernating = {
      Code: 'Client.UserInitiatedHibernate',
      Message: 'Client.UserInitiatedHibernate: User initiated hibernate',
    };
    expect((await instance(instanceId))?.StateReason).toEqual(hibernating);
    clock.advance(DEFAULT_DURATIONS.instanceStopping);
    expect(await instance(instanceId)).toMatchObject({ State: { Name: 'stopped' }, StateReason: hibernating });

    await client.send(new StartInstancesCommand({ InstanceIds: [instanceId] }));
    expect((await instance(instanceId))?.StateReason).toBeUndefined();
    clock.advance(DEFAULT_DURATIONS.instancePending);
    expect(await instance(instanceId)).toMatchObject({
      State: { Name: 'running' },
      HibernationOptions: { Configured: true },
    });
    expect((await instance(instanceId))?.StateReason).toBeUndefined();
  });

  it('is refused for an instance launched without it, which keeps running', async () => {
    const instanceId = await launch();
    expect(
      await failureOf(client.send(new StopInstancesCommand({ InstanceIds: [instanceId], Hibernate: true }))),
    ).toEqual({
      name: 'UnsupportedHibernationConfiguration',
      message: `The instance can't be hibernated because it was not configured at launch for hibernation: ${instanceId}`,
      status: 400,
    });
    expect((await instance(instanceId))?.State?.Name).toBe('running');
  });

  it('is not used by an ordinary stop, which reports a user-initiated shutdown', async () => {
    const instanceId = await launch({ HibernationOptions: { Configured: true } });
    await client.send(new StopInstancesCommand({ InstanceIds: [instanceId] }));
    clock.advance(DEFAULT_DURATIONS.instanceStopping);
    expect(await instance(instanceId)).toMatchObject({
      State: { Name: 'stopped' },
      StateReason: {
        Code: 'Client.UserInitiatedShutdown',
        Message: 'Client.UserInitiatedShutdown: User initiated shutdown',
      },
    });
  });
});

describe('the state file', () => {
  let directory: string;
  beforeEach(() => {
    directory = mkdtempSync(join(tmpdir(), 'local-ec2-state-'));
  });
  afterEach(() => {
    rmSync(directory, { recursive: true, force: true });
  });

  it('keeps root device types, hibernation, state reasons, reboot windows and impairments across a restart', async () => {
    await ec2.stop();
    const stateFile = join(directory, 'state.json');
    ({ ec2, client, clock } = await startTestEc2({ stateFile }));
    const storeBacked = await launch({ ImageId: INSTANCE_STORE_AMI_ID });
    const hibernated = await launch({ HibernationOptions: { Configured: true } });
    const impaired = await launch();
    const rebooting = await launch();
    await client.send(new StopInstancesCommand({ InstanceIds: [hibernated], Hibernate: true }));
    ec2.faults.unhealthyAfterImageOf(impaired);
    await client.send(new CreateImageCommand({ InstanceId: impaired, Name: 'impaired' }));
    clock.advance(3 * MINUTE);
    await client.send(new CreateImageCommand({ InstanceId: rebooting, Name: 'rebooting' }));
    const savedAt = clock.nowMs();
    await ec2.stop();

    ({ ec2, clock } = await startTestEc2({ stateFile, clock: SimClock.manual(new Date(savedAt)) }));
    client = clientFor(ec2.url);
    expect((await instance(storeBacked))?.RootDeviceType).toBe('instance-store');
    expect(await instance(hibernated)).toMatchObject({
      HibernationOptions: { Configured: true },
      StateReason: { Code: 'Client.UserInitiatedHibernate' },
    });
    const statusOf = async (instanceId: string) =>
      (await client.send(new DescribeInstanceStatusCommand({ InstanceIds: [instanceId] }))).InstanceStatuses?.[0]
        ?.InstanceStatus?.Status;
    try {
      expect(await statusOf(impaired)).toBe('impaired');
      expect(await statusOf(rebooting)).toBe('initializing');
      clock.advance(3 * MINUTE);
      expect(await statusOf(rebooting)).toBe('ok');
      expect(savedAt).toBeGreaterThan(START.getTime());
    } finally {
      await ec2.stop(); // writes the state file while its folder is still there
      ({ ec2, client, clock } = await startTestEc2());
    }
  });
});
