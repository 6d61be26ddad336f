/**
 * RunInstances from an image of the account: the image must exist and be available; the subnet, security groups and
 * tags are recorded; a client token makes the launch idempotent as EC2 documents it; the instance goes pending →
 * running with status checks initializing → ok (or impaired, under the fault), and terminating it shuts it down.
 */
import {
  CreateImageCommand,
  DescribeInstanceStatusCommand,
  DescribeInstancesCommand,
  type EC2Client,
  type Instance,
  RunInstancesCommand,
  type RunInstancesCommandInput,
  TerminateInstancesCommand,
} from '@aws-sdk/client-ec2';
import type { LocalEc2, SimClock } from '../../../local/ec2';
import { failureOf, MINUTE, startTestEc2 } from './helpers';

let ec2: LocalEc2;
let client: EC2Client;
let clock: SimClock;
let imageId: string;
let pendingImageId: string;

beforeAll(async () => {
  ({ ec2, client, clock } = await startTestEc2());
  const source = await client.send(
    new RunInstancesCommand({ ImageId: 'ami-0123456789abcdef0', MinCount: 1, MaxCount: 1, InstanceType: 't3.large' }),
  );
  const instanceId = source.Instances?.[0]?.InstanceId ?? '';
  clock.advance(MINUTE);
  imageId = (await client.send(new CreateImageCommand({ InstanceId: instanceId, Name: 'base', NoReboot: true })))
    .ImageId as string;
  clock.advance(60 * MINUTE); // available
  pendingImageId = (await client.send(new CreateImageCommand({ InstanceId: instanceId, Name: 'next', NoReboot: true })))
    .ImageId as string;
});

afterAll(async () => {
  client.destroy();
  await ec2.stop();
});

const launch = (input: Partial<RunInstancesCommandInput> = {}) =>
  client.send(
    new RunInstancesCommand({
      ImageId: imageId,
      MinCount: 1,
      MaxCount: 1,
      InstanceType: 't3.micro',
      NetworkInterfaces: [
        { DeviceIndex: 0, SubnetId: 'subnet-0abc', Groups: ['sg-0def'], AssociatePublicIpAddress: false },
      ],
      TagSpecifications: [{ ResourceType: 'instance', Tags: [{ Key: 'purpose', Value: 'restore-test' }] }],
      ...input,
    }),
  );

async function described(instanceId: string): Promise<Instance | undefined> {
  const output = await client.send(new DescribeInstancesCommand({ InstanceIds: [instanceId] }));
  return output.Reservations?.[0]?.Instances?.[0];
}

async function checks(instanceId: string): Promise<[string | undefined, string | undefined]> {
  const output = await client.send(
    new DescribeInstanceStatusCommand({ InstanceIds: [instanceId], IncludeAllInstances: true }),
  );
  const status = output.InstanceStatuses?.[0];
  return [status?.InstanceStatus?.Status, status?.SystemStatus?.Status];
}

describe('RunInstances from an image', () => {
  it('launches from an available image into the subnet and security group asked for, with its tags', async () => {
    // Prepare / Act
    const output = await launch();
    const instanceId = output.Instances?.[0]?.InstanceId ?? '';

    // Assess
    const instance = await described(instanceId);
    expect(instance).toMatchObject({
      ImageId: imageId,
      SubnetId: 'subnet-0abc',
      SecurityGroups: [{ GroupId: 'sg-0def' }],
      State: { Name: 'pending' },
      Tags: [{ Key: 'purpose', Value: 'restore-test' }],
    });
    expect(instance?.PublicIpAddress).toBeUndefined();
  });

  it('refuses an image that does not exist, and one that is not available yet', async () => {
    expect(await failureOf(launch({ ImageId: 'ami-00000000000000001' }))).toMatchObject({
      name: 'InvalidAMIID.NotFound',
    });
    expect(await failureOf(launch({ ImageId: pendingImageId }))).toMatchObject({ name: 'InvalidAMIID.Unavailable' });
  });

  it('refuses a subnet both on the instance and on its network interface', async () => {
    expect(await failureOf(launch({ SubnetId: 'subnet-0abc' }))).toMatchObject({
      name: 'InvalidParameterCombination',
    });
  });

  it('goes pending → running, its status checks initializing → ok, then shutting-down → terminated', async () => {
    // Prepare
    const instanceId = (await launch()).Instances?.[0]?.InstanceId ?? '';
    expect(await checks(instanceId)).toEqual(['not-applicable', 'not-applicable']);

    // Act / Assess
    clock.advance(MINUTE);
    expect((await described(instanceId))?.State?.Name).toBe('running');
    expect(await checks(instanceId)).toEqual(['initializing', 'initializing']);
    clock.advance(3 * MINUTE);
    expect(await checks(instanceId)).toEqual(['ok', 'ok']);
    await client.send(new TerminateInstancesCommand({ InstanceIds: [instanceId] }));
    expect((await described(instanceId))?.State?.Name).toBe('shutting-down');
    clock.advance(MINUTE);
    expect((await described(instanceId))?.State?.Name).toBe('terminated');
  });

  it('fails the status checks of an instance launched from an image under the fault', async () => {
    // Prepare
    ec2.faults.unhealthyLaunchesFrom(imageId, { once: true });
    const unhealthy = (await launch()).Instances?.[0]?.InstanceId ?? '';
    const healthy = (await launch()).Instances?.[0]?.InstanceId ?? '';

    // Act
    clock.advance(5 * MINUTE);

    // Assess
    expect(await checks(unhealthy)).toEqual(['impaired', 'ok']);
    expect(await checks(healthy)).toEqual(['ok', 'ok']);
  });

  it('answers a repeated client token with the same instance, and another request with the token is refused', async () => {
    // Prepare
    const first = await launch({ ClientToken: `restore-${imageId}-20261129` });
    const instanceId = first.Instances?.[0]?.InstanceId ?? '';
    clock.advance(MINUTE);

    // Act
    const again = await launch({ ClientToken: `restore-${imageId}-20261129` });
    const mismatch = await failureOf(launch({ ClientToken: `restore-${imageId}-20261129`, InstanceType: 't3.large' }));
    await client.send(new TerminateInstancesCommand({ InstanceIds: [instanceId] }));
    clock.advance(2 * 60 * MINUTE); // gone from DescribeInstances
    const afterTermination = await launch({ ClientToken: `restore-${imageId}-20261129` });

    // Assess
    expect(again.ReservationId).toBe(first.ReservationId);
    expect(again.Instances?.map((instance) => [instance.InstanceId, instance.State?.Name])).toEqual([
      [instanceId, 'running'],
    ]);
    expect(mismatch.name).toBe('IdempotentParameterMismatch');
    expect(afterTermination.Instances?.map((instance) => [instance.InstanceId, instance.State?.Name])).toEqual([
      [instanceId, 'terminated'],
    ]);
    const all = await client.send(new DescribeInstancesCommand({ Filters: [{ Name: 'image-id', Values: [imageId] }] }));
    const launchedWithToken = (all.Reservations ?? [])
      .flatMap((reservation) => reservation.Instances ?? [])
      .filter((instance) => instance.ClientToken === `restore-${imageId}-20261129`);
    expect(launchedWithToken).toEqual([]);
  });
});
