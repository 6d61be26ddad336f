import {
  CreateTagsCommand,
  DeleteTagsCommand,
  DescribeInstancesCommand,
  type EC2Client,
  RunInstancesCommand,
  type Tag,
} from '@aws-sdk/client-ec2';
import type { LocalEc2 } from '../../../local/ec2';
import { failureOf, startTestEc2 } from './helpers';

let ec2: LocalEc2;
let client: EC2Client;
let instanceId: string;
let volumeId: string;

beforeEach(async () => {
  ({ ec2, client } = await startTestEc2());
  const launched = await client.send(
    new RunInstancesCommand({
      ImageId: 'ami-0123456789abcdef0',
      MinCount: 1,
      MaxCount: 1,
      TagSpecifications: [{ ResourceType: 'instance', Tags: [{ Key: 'Name', Value: 'web' }] }],
    }),
  );
  instanceId = launched.Instances?.[0]?.InstanceId as string;
  volumeId = launched.Instances?.[0]?.BlockDeviceMappings?.[0]?.Ebs?.VolumeId as string;
});
afterEach(async () => {
  await ec2.stop();
});

async function tagsOf(id: string): Promise<Record<string, string>> {
  const result = await client.send(new DescribeInstancesCommand({ InstanceIds: [id] }));
  const tags: Tag[] = result.Reservations?.[0]?.Instances?.[0]?.Tags ?? [];
  return Object.fromEntries(tags.map((tag) => [tag.Key, tag.Value]));
}

const tag = (Key: string, Value?: string): Tag => (Value === undefined ? { Key } : { Key, Value });

describe('CreateTags', () => {
  it('adds and overwrites tags, on instances and volumes', async () => {
    await client.send(
      new CreateTagsCommand({ Resources: [instanceId, volumeId], Tags: [tag('Name', 'db'), tag('Backup', 'true')] }),
    );
    expect(await tagsOf(instanceId)).toEqual({ Name: 'db', Backup: 'true' });
    expect(Object.fromEntries(ec2.backend.volumes.get(volumeId)?.tags ?? [])).toEqual({ Name: 'db', Backup: 'true' });
  });

  it('rejects aws: keys, over-long keys and values, and more than 50 tags on a resource, changing nothing', async () => {
    const rejected = async (tags: Tag[]) =>
      failureOf(client.send(new CreateTagsCommand({ Resources: [instanceId], Tags: tags })));
    expect(await rejected([tag('aws:cloudformation:stack-name', 'x')])).toMatchObject({
      name: 'InvalidParameterValue',
    });
    expect(await rejected([tag('k'.repeat(129), 'x')])).toMatchObject({ name: 'InvalidParameterValue' });
    expect(await rejected([tag('long', 'v'.repeat(257))])).toMatchObject({ name: 'InvalidParameterValue' });
    await client.send(
      new CreateTagsCommand({ Resources: [instanceId], Tags: [tag('k'.repeat(128), 'v'.repeat(256))] }),
    );

    const fortyEight = Array.from({ length: 48 }, (_, index) => tag(`key-${index}`, 'v'));
    await client.send(new CreateTagsCommand({ Resources: [instanceId], Tags: fortyEight })); // 50 with Name and k…
    expect(await rejected([tag('one-too-many', 'v')])).toEqual({
      name: 'TagLimitExceeded',
      message: expect.any(String),
      status: 400,
    });
    expect(Object.keys(await tagsOf(instanceId))).toHaveLength(50);
  });

  it('answers the NotFound of the resource type, and tags nothing when one resource is unknown', async () => {
    const cases: [string, string][] = [
      ['i-0000000000000000a', 'InvalidInstanceID.NotFound'],
      ['ami-0000000000000000a', 'InvalidAMIID.NotFound'],
      ['snap-0000000000000000a', 'InvalidSnapshot.NotFound'],
      ['vol-0000000000000000a', 'InvalidVolume.NotFound'],
      ['thing-1', 'InvalidID'],
    ];
    for (const [id, code] of cases) {
      expect(
        await failureOf(client.send(new CreateTagsCommand({ Resources: [instanceId, id], Tags: [tag('New', 'x')] }))),
      ).toMatchObject({ name: code, status: 400 });
    }
    expect(await tagsOf(instanceId)).toEqual({ Name: 'web' });
  });

  it('refuses more than 1000 resource ids', async () => {
    const ids = Array.from({ length: 1001 }, () => instanceId);
    expect(
      await failureOf(client.send(new CreateTagsCommand({ Resources: ids, Tags: [tag('a', 'b')] }))),
    ).toMatchObject({ name: 'InvalidParameterValue' });
  });
});

describe('DeleteTags', () => {
  beforeEach(async () => {
    await client.send(
      new CreateTagsCommand({ Resources: [instanceId], Tags: [tag('a', '1'), tag('b', '2'), tag('empty', '')] }),
    );
  });

  it('deletes a key whatever its value when no value is given', async () => {
    await client.send(new DeleteTagsCommand({ Resources: [instanceId], Tags: [tag('a')] }));
    expect(await tagsOf(instanceId)).toEqual({ Name: 'web', b: '2', empty: '' });
  });

  it('deletes a key with a value only when the value matches; an empty value only matches an empty tag', async () => {
    await client.send(
      new DeleteTagsCommand({ Resources: [instanceId], Tags: [tag('a', 'other'), tag('b', '2'), tag('Name', '')] }),
    );
    expect(await tagsOf(instanceId)).toEqual({ Name: 'web', a: '1', empty: '' });
    await client.send(new DeleteTagsCommand({ Resources: [instanceId], Tags: [tag('empty', '')] }));
    expect(await tagsOf(instanceId)).toEqual({ Name: 'web', a: '1' });
  });

  it('deletes every user tag when no tags are given', async () => {
    await client.send(new DeleteTagsCommand({ Resources: [instanceId] }));
    expect(await tagsOf(instanceId)).toEqual({});
  });
});
