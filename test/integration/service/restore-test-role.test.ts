/**
 * The restoreTests role as deployed, enforced by the local endpoint: it launches only from this stage's images, only
 * into the configured subnet, only with the test-instance tag, and terminates only the service's test instances.
 */
import {
  CreateImageCommand,
  EC2Client,
  RunInstancesCommand,
  type RunInstancesCommandInput,
  TerminateInstancesCommand,
} from '@aws-sdk/client-ec2';
import { ImageTag, RestoreTestTag } from '../../../lib/tags';
import { type LocalEc2, SimClock, startLocalEc2 } from '../../../local/ec2';
import { functionAccessKeyId } from '../../../local/runner/functions';
import { clientFor } from '../local-ec2/helpers';
import { deployedIam, EVENING } from './fixtures';
import { OWNER } from './support';

const SUBNET = 'subnet-0123456789abcdef0';
const GROUP = 'sg-0123456789abcdef0';
let ec2: LocalEc2;
let operator: EC2Client;
let role: EC2Client;
let ownImage: string;
let foreignImage: string;

const tagged = (entries: Readonly<Record<string, string>>) =>
  Object.entries(entries).map(([Key, Value]) => ({ Key, Value }));
const testTags = (imageId: string) =>
  tagged({
    [ImageTag.managedBy]: OWNER,
    [RestoreTestTag.testInstance]: '20261129T1200Z',
    [RestoreTestTag.imageId]: imageId,
    [ImageTag.instanceId]: 'i-0123456789abcdef0',
  });

async function outcome(call: Promise<unknown>): Promise<string> {
  try {
    await call;
    return 'allowed';
  } catch (error: unknown) {
    return error instanceof Error ? error.name : String(error);
  }
}

function launch(input: Partial<RunInstancesCommandInput> & { imageId: string }) {
  const { imageId, ...rest } = input;
  return role.send(
    new RunInstancesCommand({
      ImageId: imageId,
      MinCount: 1,
      MaxCount: 1,
      NetworkInterfaces: [{ DeviceIndex: 0, SubnetId: SUBNET, Groups: [GROUP], AssociatePublicIpAddress: false }],
      TagSpecifications: [
        { ResourceType: 'instance', Tags: testTags(imageId) },
        { ResourceType: 'volume', Tags: testTags(imageId) },
      ],
      ...rest,
    }),
  );
}

beforeAll(async () => {
  ec2 = await startLocalEc2({
    clock: SimClock.manual(EVENING),
    throttling: false,
    iam: await deployedIam({ restoreTestSubnetId: SUBNET, restoreTestSecurityGroupId: GROUP }),
  });
  operator = clientFor(ec2.url);
  role = new EC2Client({
    endpoint: ec2.url,
    region: 'us-east-1',
    credentials: { accessKeyId: functionAccessKeyId('restoreTests'), secretAccessKey: 'local' },
    maxAttempts: 1,
  });
  const source = await operator.send(
    new RunInstancesCommand({ ImageId: 'ami-0123456789abcdef0', MinCount: 1, MaxCount: 1 }),
  );
  const instanceId = source.Instances?.[0]?.InstanceId ?? '';
  ec2.clock.advance(60_000);
  const image = async (name: string, owner: string | undefined) =>
    (
      await operator.send(
        new CreateImageCommand({
          InstanceId: instanceId,
          Name: name,
          NoReboot: true,
          ...(owner === undefined
            ? {}
            : { TagSpecifications: [{ ResourceType: 'image', Tags: tagged({ [ImageTag.managedBy]: owner }) }] }),
        }),
      )
    ).ImageId ?? '';
  ownImage = await image('own', OWNER);
  foreignImage = await image('foreign', 'ami-backup-prod');
  ec2.clock.advance(3_600_000);
});

afterAll(async () => {
  operator.destroy();
  role.destroy();
  await ec2.stop();
});

describe('the restoreTests role', () => {
  it('launches a tagged test instance from an own image into the configured subnet', async () => {
    expect(await outcome(launch({ imageId: ownImage }))).toBe('allowed');
  });

  it('refuses to launch from an image that is not this stage’s', async () => {
    expect(await outcome(launch({ imageId: foreignImage }))).toBe('UnauthorizedOperation');
    expect(await outcome(launch({ imageId: 'ami-0123456789abcdef0' }))).toBe('UnauthorizedOperation');
  });

  it('refuses to launch into another subnet or security group', async () => {
    const elsewhere = (SubnetId: string, group: string) =>
      launch({ imageId: ownImage, NetworkInterfaces: [{ DeviceIndex: 0, SubnetId, Groups: [group] }] });
    expect(await outcome(elsewhere('subnet-0fffffffffffffff0', GROUP))).toBe('UnauthorizedOperation');
    expect(await outcome(elsewhere(SUBNET, 'sg-0fffffffffffffff0'))).toBe('UnauthorizedOperation');
  });

  it('refuses to launch without the test-instance tag, or with another key', async () => {
    const { [RestoreTestTag.testInstance]: _marker, ...withoutMarker } = Object.fromEntries(
      testTags(ownImage).map((tag) => [tag.Key, tag.Value]),
    );
    expect(
      await outcome(
        launch({
          imageId: ownImage,
          TagSpecifications: [{ ResourceType: 'instance', Tags: tagged(withoutMarker as Record<string, string>) }],
        }),
      ),
    ).toBe('UnauthorizedOperation');
    expect(
      await outcome(
        launch({
          imageId: ownImage,
          TagSpecifications: [{ ResourceType: 'instance', Tags: [...testTags(ownImage), { Key: 'Name', Value: 'x' }] }],
        }),
      ),
    ).toBe('UnauthorizedOperation');
  });

  it('terminates only instances carrying the test-instance and ownership tags', async () => {
    const plain = await operator.send(
      new RunInstancesCommand({ ImageId: 'ami-0123456789abcdef0', MinCount: 1, MaxCount: 1 }),
    );
    const ownerOnly = await operator.send(
      new RunInstancesCommand({
        ImageId: 'ami-0123456789abcdef0',
        MinCount: 1,
        MaxCount: 1,
        TagSpecifications: [{ ResourceType: 'instance', Tags: tagged({ [ImageTag.managedBy]: OWNER }) }],
      }),
    );
    const test = await launch({ imageId: ownImage });
    const terminate = (id: string | undefined) => role.send(new TerminateInstancesCommand({ InstanceIds: [id ?? ''] }));
    expect(await outcome(terminate(plain.Instances?.[0]?.InstanceId))).toBe('UnauthorizedOperation');
    expect(await outcome(terminate(ownerOnly.Instances?.[0]?.InstanceId))).toBe('UnauthorizedOperation');
    expect(await outcome(terminate(test.Instances?.[0]?.InstanceId))).toBe('allowed');
  });
});
