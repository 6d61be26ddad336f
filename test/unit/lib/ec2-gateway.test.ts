import {
  CopyImageCommand,
  type CopyImageCommandInput,
  CreateImageCommand,
  type CreateImageCommandInput,
  CreateTagsCommand,
  type CreateTagsCommandInput,
  DeleteSnapshotCommand,
  DeleteTagsCommand,
  DeregisterImageCommand,
  DescribeImagesCommand,
  type DescribeImagesCommandInput,
  DescribeInstanceStatusCommand,
  type DescribeInstanceStatusCommandInput,
  DescribeInstancesCommand,
  type DescribeInstancesCommandInput,
  DescribeSnapshotsCommand,
  EC2Client,
  EC2ServiceException,
  ModifyImageAttributeCommand,
  ModifySnapshotAttributeCommand,
  type Instance as SdkInstance,
} from '@aws-sdk/client-ec2';
import { mockClient } from 'aws-sdk-client-mock';
import { Ec2Gateway } from '../../../lib/ec2-gateway';
import { CopyTag, ImageMode, ImageTag } from '../../../lib/tags';

const ec2 = mockClient(EC2Client);
const OWNER = 'ami-backup-test';

/** An error as the SDK throws it for an EC2 error response. */
function ec2Error(code: string, message: string, httpStatusCode = 400): EC2ServiceException {
  const $fault = httpStatusCode >= 500 ? 'server' : 'client';
  return new EC2ServiceException({ name: code, message, $fault, $metadata: { httpStatusCode } });
}

function sdkInstance(id: string, state = 'running', tags: Record<string, string> = {}): SdkInstance {
  return {
    InstanceId: id,
    State: { Name: state as 'running', Code: 16 },
    Tags: Object.entries(tags).map(([Key, Value]) => ({ Key, Value })),
  };
}

function instanceIdsOf(input: DescribeInstancesCommandInput): string[] {
  return input.Filters?.find((filter) => filter.Name === 'instance-id')?.Values ?? [];
}

function ids(count: number, prefix = 'i-'): string[] {
  return Array.from({ length: count }, (_, index) => `${prefix}${index.toString(16).padStart(8, '0')}`);
}

beforeEach(() => {
  ec2.reset();
});

describe('Ec2Gateway.findInstances', () => {
  it('reads every instance of every reservation on every page', async () => {
    // Prepare
    ec2
      .on(DescribeInstancesCommand)
      .resolves({
        Reservations: [
          { Instances: [sdkInstance('i-00000001'), sdkInstance('i-00000002', 'stopped', { Backup: 'true' })] },
          { Instances: [sdkInstance('i-00000003')] },
        ],
        NextToken: 'page-2',
      })
      .on(DescribeInstancesCommand, { NextToken: 'page-2' })
      .resolves({ Reservations: [{ Instances: [sdkInstance('i-00000004', 'terminated')] }, {}] });

    // Act
    const instances = await new Ec2Gateway(new EC2Client({})).findInstances({
      tag: { key: 'Backup', values: ['true'] },
    });

    // Assess
    expect(instances).toEqual([
      { id: 'i-00000001', state: 'running', tags: {} },
      { id: 'i-00000002', state: 'stopped', tags: { Backup: 'true' } },
      { id: 'i-00000003', state: 'running', tags: {} },
      { id: 'i-00000004', state: 'terminated', tags: {} },
    ]);
    expect(ec2.commandCalls(DescribeInstancesCommand)[0]?.args[0].input.Filters).toEqual([
      { Name: 'tag:Backup', Values: ['true'] },
    ]);
  });

  it('finds every one of many ids, asking in slices EC2 accepts', async () => {
    // Prepare
    const wanted = ids(450);
    ec2.on(DescribeInstancesCommand).callsFake((input: DescribeInstancesCommandInput) => ({
      Reservations: [{ Instances: instanceIdsOf(input).map((id) => sdkInstance(id)) }],
    }));

    // Act
    const instances = await new Ec2Gateway(new EC2Client({})).findInstances({ instanceIds: wanted });

    // Assess
    expect(instances.map((instance) => instance.id)).toEqual(wanted);
    for (const call of ec2.commandCalls(DescribeInstancesCommand)) {
      expect(instanceIdsOf(call.args[0].input).length).toBeLessThanOrEqual(200);
    }
  });

  it('finds nothing for an empty id list, never every instance', async () => {
    // Prepare
    ec2.on(DescribeInstancesCommand).resolves({ Reservations: [{ Instances: [sdkInstance('i-00000001')] }] });

    // Act
    const instances = await new Ec2Gateway(new EC2Client({})).findInstances({ instanceIds: [] });

    // Assess
    expect(instances).toEqual([]);
    expect(ec2.commandCalls(DescribeInstancesCommand)).toHaveLength(0);
  });
});

describe('Ec2Gateway.findHealth', () => {
  it('reads both status checks of every instance asked for, across pages and slices of 100', async () => {
    // Prepare
    const wanted = ids(150);
    ec2.on(DescribeInstanceStatusCommand).callsFake((input: DescribeInstanceStatusCommandInput) => {
      const asked = input.InstanceIds ?? [];
      const half = Math.ceil(asked.length / 2);
      const page = input.NextToken === undefined ? asked.slice(0, half) : asked.slice(half);
      return {
        InstanceStatuses: page.map((id, index) => ({
          InstanceId: id,
          InstanceStatus: { Status: index % 2 === 0 ? 'ok' : 'initializing' },
          SystemStatus: { Status: 'ok' },
        })),
        ...(input.NextToken === undefined ? { NextToken: 'rest' } : {}),
      };
    });

    // Act
    const health = await new Ec2Gateway(new EC2Client({})).findHealth(wanted);

    // Assess
    expect([...health.keys()].sort()).toEqual(wanted);
    expect(health.get(wanted[0] ?? '')).toEqual({ instanceStatus: 'ok', systemStatus: 'ok' });
    for (const call of ec2.commandCalls(DescribeInstanceStatusCommand)) {
      expect(call.args[0].input.InstanceIds?.length).toBeLessThanOrEqual(100);
      expect(call.args[0].input.IncludeAllInstances).toBe(true);
    }
  });

  it('reads a missing summary as insufficient data, never as ok', async () => {
    // Prepare
    ec2.on(DescribeInstanceStatusCommand).resolves({ InstanceStatuses: [{ InstanceId: 'i-00000001' }] });

    // Act
    const health = await new Ec2Gateway(new EC2Client({})).findHealth(['i-00000001']);

    // Assess
    expect(health.get('i-00000001')).toEqual({
      instanceStatus: 'insufficient-data',
      systemStatus: 'insufficient-data',
    });
  });
});

describe('Ec2Gateway: images and snapshots', () => {
  it('reads every owned image on every page, with its snapshots and failure reason', async () => {
    // Prepare
    ec2
      .on(DescribeImagesCommand)
      .resolves({
        Images: [
          {
            ImageId: 'ami-00000001',
            Name: 'ami-backup-i-00000001-20261126T0300Z',
            State: 'available',
            CreationDate: '2026-11-26T03:10:00.000Z',
            Tags: [{ Key: ImageTag.managedBy, Value: OWNER }],
            BlockDeviceMappings: [
              { DeviceName: '/dev/xvda', Ebs: { SnapshotId: 'snap-00000001' } },
              { DeviceName: '/dev/sdb', VirtualName: 'ephemeral0' },
              { DeviceName: '/dev/sdc', Ebs: { SnapshotId: 'snap-00000002' } },
            ],
          },
        ],
        NextToken: 'page-2',
      })
      .on(DescribeImagesCommand, { NextToken: 'page-2' })
      .resolves({
        Images: [
          {
            ImageId: 'ami-00000002',
            Name: 'ami-backup-i-00000001-20261125T0300Z',
            State: 'failed',
            CreationDate: '2026-11-25T03:10:00.000Z',
            StateReason: { Code: 'Client.InstanceTerminated', Message: 'instance rebooted' },
          },
        ],
      });

    // Act
    const images = await new Ec2Gateway(new EC2Client({})).findOwnedImages(OWNER);

    // Assess
    expect(images).toEqual([
      {
        id: 'ami-00000001',
        name: 'ami-backup-i-00000001-20261126T0300Z',
        state: 'available',
        createdAt: new Date('2026-11-26T03:10:00.000Z'),
        tags: { [ImageTag.managedBy]: OWNER },
        snapshotIds: ['snap-00000001', 'snap-00000002'],
      },
      {
        id: 'ami-00000002',
        name: 'ami-backup-i-00000001-20261125T0300Z',
        state: 'failed',
        createdAt: new Date('2026-11-25T03:10:00.000Z'),
        tags: {},
        snapshotIds: [],
        stateReason: 'instance rebooted',
      },
    ]);
    const first = ec2.commandCalls(DescribeImagesCommand)[0]?.args[0].input;
    expect(first?.Owners).toEqual(['self']);
    expect(first?.Filters).toEqual([{ Name: `tag:${ImageTag.managedBy}`, Values: [OWNER] }]);
  });

  it('finds images by many names and by id, asking in slices EC2 accepts', async () => {
    // Prepare: EC2 answers with an image for each name (or id) it is asked for
    const names = Array.from({ length: 450 }, (_, index) => `ami-backup-i-${index.toString(16).padStart(8, '0')}-run`);
    ec2.on(DescribeImagesCommand).callsFake((input: DescribeImagesCommandInput) => {
      const [filter] = input.Filters ?? [];
      return {
        Images: (filter?.Values ?? []).map((value, index) =>
          filter?.Name === 'name'
            ? { ImageId: `ami-${index.toString(16).padStart(8, '0')}`, Name: value, State: 'available' }
            : { ImageId: value, Name: `image ${value}`, State: 'pending' },
        ),
      };
    });
    const gateway = new Ec2Gateway(new EC2Client({}));

    // Act
    const byName = await gateway.findImagesByName(names);
    const byId = await gateway.findImagesById(['ami-0000000a', 'ami-0000000b']);

    // Assess
    expect(byName.map((image) => image.name)).toEqual(names);
    expect(byId.map((image) => [image.id, image.state])).toEqual([
      ['ami-0000000a', 'pending'],
      ['ami-0000000b', 'pending'],
    ]);
    for (const call of ec2.commandCalls(DescribeImagesCommand)) {
      expect(call.args[0].input.Owners).toEqual(['self']);
      expect(call.args[0].input.Filters?.[0]?.Values?.length).toBeLessThanOrEqual(200);
    }
  });

  it('reads every owned snapshot on every page', async () => {
    // Prepare
    const startedAt = new Date('2026-11-26T03:10:00.000Z');
    ec2
      .on(DescribeSnapshotsCommand)
      .resolves({
        Snapshots: [
          {
            SnapshotId: 'snap-00000001',
            State: 'completed',
            StartTime: startedAt,
            Description: 'Created by CreateImage(i-00000001) for ami-00000001',
            Tags: [{ Key: ImageTag.managedBy, Value: OWNER }],
          },
        ],
        NextToken: 'page-2',
      })
      .on(DescribeSnapshotsCommand, { NextToken: 'page-2' })
      .resolves({ Snapshots: [{ SnapshotId: 'snap-00000002', State: 'pending', StartTime: startedAt }] });

    // Act
    const snapshots = await new Ec2Gateway(new EC2Client({})).findOwnedSnapshots(OWNER);

    // Assess
    expect(snapshots).toEqual([
      {
        id: 'snap-00000001',
        state: 'completed',
        startedAt,
        description: 'Created by CreateImage(i-00000001) for ami-00000001',
        tags: { [ImageTag.managedBy]: OWNER },
      },
      { id: 'snap-00000002', state: 'pending', startedAt, description: '', tags: {} },
    ]);
    expect(ec2.commandCalls(DescribeSnapshotsCommand)[0]?.args[0].input.OwnerIds).toEqual(['self']);
  });

  it('shows every owned snapshot to keep, page by page, and returns only those it keeps', async () => {
    // Prepare
    const startedAt = new Date('2026-11-26T03:10:00.000Z');
    const snapshot = (id: string) => ({ SnapshotId: id, State: 'completed' as const, StartTime: startedAt });
    ec2
      .on(DescribeSnapshotsCommand)
      .resolves({ Snapshots: [snapshot('snap-00000001'), snapshot('snap-00000002')], NextToken: 'page-2' })
      .on(DescribeSnapshotsCommand, { NextToken: 'page-2' })
      .resolves({ Snapshots: [snapshot('snap-00000003')] });
    const seen: string[] = [];

    // Act
    const kept = await new Ec2Gateway(new EC2Client({})).findOwnedSnapshots(OWNER, (each) => {
      seen.push(each.id);
      return each.id !== 'snap-00000002';
    });

    // Assess
    expect(seen).toEqual(['snap-00000001', 'snap-00000002', 'snap-00000003']);
    expect(kept.map((each) => each.id)).toEqual(['snap-00000001', 'snap-00000003']);
  });
});

describe('Ec2Gateway.writeTags', () => {
  /** The tags each resource ends up with, as CreateTags calls applied them. */
  function recordTagging(refuse: (resources: readonly string[]) => EC2ServiceException | undefined = () => undefined) {
    const tagged = new Map<string, Record<string, string>>();
    ec2.on(CreateTagsCommand).callsFake((input: CreateTagsCommandInput) => {
      const resources = input.Resources ?? [];
      const refusal = refuse(resources);
      if (refusal !== undefined) throw refusal;
      for (const id of resources) {
        const tags = tagged.get(id) ?? {};
        for (const tag of input.Tags ?? []) tags[tag.Key ?? ''] = tag.Value ?? '';
        tagged.set(id, tags);
      }
      return {};
    });
    return tagged;
  }

  it('tags resources that receive the same tags in one call, whatever the key order', async () => {
    // Prepare
    const tagged = recordTagging();
    const writes = [
      { resourceId: 'i-00000001', tags: { a: '1', b: '2' } },
      { resourceId: 'i-00000002', tags: { b: '2', a: '1' } },
      { resourceId: 'i-00000003', tags: { a: '1', b: '3' } },
    ];

    // Act
    const failures = await new Ec2Gateway(new EC2Client({})).writeTags(writes);

    // Assess
    expect(failures.size).toBe(0);
    expect(Object.fromEntries(tagged)).toEqual({
      'i-00000001': { a: '1', b: '2' },
      'i-00000002': { a: '1', b: '2' },
      'i-00000003': { a: '1', b: '3' },
    });
    expect(ec2.commandCalls(CreateTagsCommand).map((call) => call.args[0].input.Resources)).toEqual([
      ['i-00000001', 'i-00000002'],
      ['i-00000003'],
    ]);
  });

  it('tags more than 1000 resources in calls of at most 1000', async () => {
    // Prepare
    const tagged = recordTagging();
    const resources = ids(2500);

    // Act
    await new Ec2Gateway(new EC2Client({})).writeTags(
      resources.map((resourceId) => ({ resourceId, tags: { a: '1' } })),
    );

    // Assess
    expect([...tagged.keys()].sort()).toEqual(resources);
    expect(ec2.commandCalls(CreateTagsCommand).map((call) => call.args[0].input.Resources?.length)).toEqual([
      1000, 1000, 500,
    ]);
  });

  it('repeats a refused batch once without the resource EC2 names, so it costs only its own tags', async () => {
    // Prepare
    const refusal = ec2Error('InvalidInstanceID.NotFound', "The instance ID 'i-0000000b' does not exist");
    const tagged = recordTagging((resources) => (resources.includes('i-0000000b') ? refusal : undefined));
    const writes = ['i-0000000a', 'i-0000000b', 'i-0000000c'].map((resourceId) => ({ resourceId, tags: { a: '1' } }));

    // Act
    const failures = await new Ec2Gateway(new EC2Client({})).writeTags(writes);

    // Assess
    expect([...tagged.keys()].sort()).toEqual(['i-0000000a', 'i-0000000c']);
    expect(Object.fromEntries(failures)).toEqual({
      'i-0000000b': "InvalidInstanceID.NotFound: The instance ID 'i-0000000b' does not exist",
    });
    expect(ec2.commandCalls(CreateTagsCommand)).toHaveLength(2);
  });

  it('drops every resource EC2 names in one go, and tags the other 998 in a single repeat', async () => {
    // Prepare
    const resources = ids(1000);
    const gone = [resources[17], resources[503]] as string[]; // both indices are within the 1000 ids
    const refusal = ec2Error('InvalidInstanceID.NotFound', `The instance IDs '${gone.join(', ')}' do not exist`);
    const tagged = recordTagging((batch) => (batch.some((id) => gone.includes(id)) ? refusal : undefined));

    // Act
    const failures = await new Ec2Gateway(new EC2Client({})).writeTags(
      resources.map((resourceId) => ({ resourceId, tags: { a: '1' } })),
    );

    // Assess
    expect([...failures.keys()].sort()).toEqual([...gone].sort());
    expect(tagged.size).toBe(998);
    expect(ec2.commandCalls(CreateTagsCommand).map((call) => call.args[0].input.Resources?.length)).toEqual([
      1000, 998,
    ]);
  });

  it('splits a refused batch that names no resource in halves, down to the one EC2 refuses', async () => {
    // Prepare
    const resources = ids(8);
    const tagged = recordTagging((batch) =>
      batch.includes('i-00000005') ? ec2Error('InvalidParameterValue', 'Value is invalid for one resource') : undefined,
    );

    // Act
    const failures = await new Ec2Gateway(new EC2Client({})).writeTags(
      resources.map((resourceId) => ({ resourceId, tags: { a: '1' } })),
    );

    // Assess
    expect([...failures.keys()]).toEqual(['i-00000005']);
    expect([...tagged.keys()].sort()).toEqual(resources.filter((id) => id !== 'i-00000005'));
    // 8 → 4 + 4 → 2 + 2 → 1 + 1: seven calls, where one by one would take nine.
    expect(ec2.commandCalls(CreateTagsCommand)).toHaveLength(7);
  });

  it('does not repeat a refused batch when the invocation has no time left for it', async () => {
    // Prepare
    const refusal = ec2Error('InvalidInstanceID.NotFound', "The instance ID 'i-0000000b' does not exist");
    const tagged = recordTagging((resources) => (resources.includes('i-0000000b') ? refusal : undefined));
    const writes = ['i-0000000a', 'i-0000000b'].map((resourceId) => ({ resourceId, tags: { a: '1' } }));
    const gateway = new Ec2Gateway(new EC2Client({})).forInvocation(() => 1_000);

    // Act
    const failures = await gateway.writeTags(writes);

    // Assess
    expect(tagged.size).toBe(0);
    expect([...failures.keys()]).toEqual(['i-0000000a', 'i-0000000b']);
    expect(failures.get('i-0000000a')).toMatch(/no time left/);
    expect(ec2.commandCalls(CreateTagsCommand)).toHaveLength(1);
  });

  it.each([
    ['RequestLimitExceeded', 503],
    ['InternalError', 500],
  ] as const)('does not split the batch on %s (each call would fail alike)', async (code, status) => {
    // Prepare
    const tagged = recordTagging(() => ec2Error(code, 'try later', status));
    const writes = ['i-0000000a', 'i-0000000b'].map((resourceId) => ({ resourceId, tags: { a: '1' } }));

    // Act
    const failures = await new Ec2Gateway(new EC2Client({})).writeTags(writes);

    // Assess
    expect(tagged.size).toBe(0);
    expect([...failures.keys()]).toEqual(['i-0000000a', 'i-0000000b']);
    expect(ec2.commandCalls(CreateTagsCommand)).toHaveLength(1);
  });

  it('makes no call for no writes', async () => {
    // Act
    const failures = await new Ec2Gateway(new EC2Client({})).writeTags([]);

    // Assess
    expect(failures.size).toBe(0);
    expect(ec2.commandCalls(CreateTagsCommand)).toHaveLength(0);
  });
});

describe('Ec2Gateway.deleteTags', () => {
  it('removes the keys from each resource; a refused batch costs only the resource EC2 refuses', async () => {
    // Prepare
    ec2.on(DeleteTagsCommand).callsFake((input: { Resources?: string[] }) => {
      if (input.Resources?.includes('i-0000000b')) throw ec2Error('InvalidInstanceID.NotFound', 'gone');
      return {};
    });

    // Act
    const failures = await new Ec2Gateway(new EC2Client({})).deleteTags(
      ['i-0000000a', 'i-0000000b'],
      ['ami-backup:policy-error'],
    );

    // Assess
    expect([...failures.keys()]).toEqual(['i-0000000b']);
    expect(ec2.commandCalls(DeleteTagsCommand)[0]?.args[0].input.Tags).toEqual([{ Key: 'ami-backup:policy-error' }]);
  });
});

describe('Ec2Gateway.createImage', () => {
  const request = {
    instanceId: 'i-0123456789abcdef0',
    name: 'ami-backup-i-0123456789abcdef0-20261126T0300Z',
    description: 'ami-backup of i-0123456789abcdef0, run 20261126T0300Z',
    mode: ImageMode.reboot,
    tags: { [ImageTag.managedBy]: OWNER, [ImageTag.instanceId]: 'i-0123456789abcdef0' },
  };

  it.each<[ImageMode, boolean]>([
    [ImageMode.reboot, false],
    [ImageMode.noReboot, true],
    [ImageMode.stopped, true],
  ])(
    'in %s mode calls CreateImage with NoReboot=%s, tagging the image and its snapshots at once',
    async (mode, noReboot) => {
      // Prepare
      ec2.on(CreateImageCommand).resolves({ ImageId: 'ami-0abc1234def567890' });

      // Act
      const created = await new Ec2Gateway(new EC2Client({})).createImage({ ...request, mode });

      // Assess
      expect(created).toEqual({ imageId: 'ami-0abc1234def567890', existed: false });
      const input = ec2.commandCalls(CreateImageCommand)[0]?.args[0].input as CreateImageCommandInput;
      expect(input).toMatchObject({ InstanceId: request.instanceId, Name: request.name, NoReboot: noReboot });
      const tags = [
        { Key: ImageTag.managedBy, Value: OWNER },
        { Key: ImageTag.instanceId, Value: 'i-0123456789abcdef0' },
      ];
      expect(input.TagSpecifications).toEqual([
        { ResourceType: 'image', Tags: tags },
        { ResourceType: 'snapshot', Tags: tags },
      ]);
    },
  );

  // Known defect: the adapter takes the first `ami-` followed by hex digits in the message, which is the start of the
  // quoted name ("ami-bac…"), not the image after "in use by AMI". Turn this into `it` once the adapter reads the latter.
  it('returns the image that already has the name (a rerun after a crash), not a piece of the name', async () => {
    // Prepare: EC2's message quotes the name, which itself starts with "ami-"
    ec2
      .on(CreateImageCommand)
      .rejects(
        ec2Error('InvalidAMIName.Duplicate', `AMI name ${request.name} is already in use by AMI ami-0abc1234def567890`),
      );

    // Act
    const created = await new Ec2Gateway(new EC2Client({})).createImage(request);

    // Assess
    expect(created).toEqual({ imageId: 'ami-0abc1234def567890', existed: true });
  });

  it.each([
    ec2Error('InvalidAMIName.Malformed', 'AMI names must be between 3 and 128 characters long'),
    ec2Error('IncorrectInstanceState', 'The instance is not in a state from which it can be imaged'),
    ec2Error('InvalidAMIName.Duplicate', 'AMI name is already in use'),
  ])('passes on any other refusal (%s)', async (error) => {
    // Prepare
    ec2.on(CreateImageCommand).rejects(error);

    // Act / Assess
    await expect(new Ec2Gateway(new EC2Client({})).createImage(request)).rejects.toBe(error);
  });
});

describe('Ec2Gateway.copyImage', () => {
  const request = {
    instanceId: 'i-0123456789abcdef0',
    region: 'us-west-2',
    sourceImageId: 'ami-0abc1234def567890',
    sourceRegion: 'us-east-1',
    name: 'ami-backup-i-0123456789abcdef0-20261126T0300Z',
    description: 'ami-backup copy of ami-0abc1234def567890 (us-east-1)',
    tags: { [ImageTag.managedBy]: OWNER, [CopyTag.sourceImage]: 'ami-0abc1234def567890' },
    encrypted: false,
  };

  it('calls CopyImage with the source, the name as client token, and the tags of the copy and its snapshots', async () => {
    // Prepare
    ec2.on(CopyImageCommand).resolves({ ImageId: 'ami-0fed1234abc567890' });

    // Act
    const copied = await new Ec2Gateway(new EC2Client({})).copyImage(request);

    // Assess
    expect(copied).toEqual({ imageId: 'ami-0fed1234abc567890', existed: false });
    const input = ec2.commandCalls(CopyImageCommand)[0]?.args[0].input as CopyImageCommandInput;
    const tags = [
      { Key: ImageTag.managedBy, Value: OWNER },
      { Key: CopyTag.sourceImage, Value: 'ami-0abc1234def567890' },
    ];
    expect(input).toEqual({
      SourceImageId: request.sourceImageId,
      SourceRegion: 'us-east-1',
      Name: request.name,
      Description: request.description,
      ClientToken: request.name,
      TagSpecifications: [
        { ResourceType: 'image', Tags: tags },
        { ResourceType: 'snapshot', Tags: tags },
      ],
    });
  });

  it('asks for encryption, with the key when there is one', async () => {
    // Prepare
    ec2.on(CopyImageCommand).resolves({ ImageId: 'ami-0fed1234abc567890' });

    // Act
    await new Ec2Gateway(new EC2Client({})).copyImage({ ...request, encrypted: true, kmsKeyId: 'key-west' });

    // Assess
    expect(ec2.commandCalls(CopyImageCommand)[0]?.args[0].input).toMatchObject({
      Encrypted: true,
      KmsKeyId: 'key-west',
    });
  });

  it('returns the copy that already has the name (a rerun after a crash)', async () => {
    // Prepare
    ec2
      .on(CopyImageCommand)
      .rejects(
        ec2Error('InvalidAMIName.Duplicate', `AMI name ${request.name} is already in use by AMI ami-0fed1234abc567890`),
      );

    // Act
    const copied = await new Ec2Gateway(new EC2Client({})).copyImage(request);

    // Assess
    expect(copied).toEqual({ imageId: 'ami-0fed1234abc567890', existed: true });
  });

  it("passes on EC2's limit on concurrent copies", async () => {
    // Prepare
    const limit = ec2Error('ResourceLimitExceeded', 'You have reached the limit of concurrent AMI copies');
    ec2.on(CopyImageCommand).rejects(limit);

    // Act / Assess
    await expect(new Ec2Gateway(new EC2Client({})).copyImage(request)).rejects.toBe(limit);
  });
});

describe('Ec2Gateway.deregister', () => {
  it('reports the snapshots EC2 did not delete with the image', async () => {
    // Prepare
    ec2.on(DeregisterImageCommand).resolves({
      DeleteSnapshotResults: [
        { SnapshotId: 'snap-00000001', ReturnCode: 'success' },
        { SnapshotId: 'snap-00000002', ReturnCode: 'skipped' },
      ],
    });

    // Act
    const result = await new Ec2Gateway(new EC2Client({})).deregister('ami-00000001', [
      'snap-00000001',
      'snap-00000002',
      'snap-00000003',
    ]);

    // Assess
    expect(result).toEqual({ snapshotsLeft: ['snap-00000002', 'snap-00000003'], snapshotsDeleted: 1 });
    expect(ec2.commandCalls(DeregisterImageCommand)[0]?.args[0].input).toEqual({
      ImageId: 'ami-00000001',
      DeleteAssociatedSnapshots: true,
    });
  });

  it.each(['InvalidAMIID.NotFound', 'InvalidAMIID.Unavailable'])(
    'counts an image already gone (%s) as deregistered, its snapshots left to delete',
    async (code) => {
      // Prepare
      ec2.on(DeregisterImageCommand).rejects(ec2Error(code, 'no such image'));

      // Act
      const result = await new Ec2Gateway(new EC2Client({})).deregister('ami-00000001', ['snap-00000001']);

      // Assess
      expect(result).toEqual({ snapshotsLeft: ['snap-00000001'], snapshotsDeleted: 0 });
    },
  );

  it('passes on any other refusal', async () => {
    // Prepare
    const error = ec2Error('UnauthorizedOperation', 'You are not authorized');
    ec2.on(DeregisterImageCommand).rejects(error);

    // Act / Assess
    await expect(new Ec2Gateway(new EC2Client({})).deregister('ami-00000001', [])).rejects.toBe(error);
  });
});

describe('Ec2Gateway.deleteSnapshot', () => {
  it('says whether it deleted the snapshot or found it gone', async () => {
    // Prepare
    ec2
      .on(DeleteSnapshotCommand, { SnapshotId: 'snap-00000001' })
      .resolves({})
      .on(DeleteSnapshotCommand, { SnapshotId: 'snap-00000002' })
      .rejects(ec2Error('InvalidSnapshot.NotFound', "The snapshot 'snap-00000002' does not exist."));
    const gateway = new Ec2Gateway(new EC2Client({}));

    // Act / Assess
    await expect(gateway.deleteSnapshot('snap-00000001')).resolves.toBe(true);
    await expect(gateway.deleteSnapshot('snap-00000002')).resolves.toBe(false);
  });

  it('passes on a snapshot still in use', async () => {
    // Prepare
    const error = ec2Error('InvalidSnapshot.InUse', 'The snapshot snap-00000001 is currently in use by ami-00000001');
    ec2.on(DeleteSnapshotCommand).rejects(error);

    // Act / Assess
    await expect(new Ec2Gateway(new EC2Client({})).deleteSnapshot('snap-00000001')).rejects.toBe(error);
  });
});

describe('Ec2Gateway: sharing', () => {
  const TEAM = '111122223333';
  const AUDIT = '444455556666';
  const KEY = 'arn:aws:kms:us-east-1:123456789012:key/customer';
  const image = {
    id: 'ami-0a01',
    name: 'ami-backup-i-0a-20261126T0300Z',
    state: 'available' as const,
    createdAt: new Date('2026-11-26T03:00:00.000Z'),
    tags: {},
    snapshotIds: ['snap-0a', 'snap-0b'],
  };

  it("finds the service's images and snapshots each account may use, one describe of each per account", async () => {
    // Prepare
    const described = { ImageId: 'ami-0a01', State: 'available' as const, Name: image.name };
    ec2
      .on(DescribeImagesCommand, { ExecutableUsers: [TEAM] })
      .resolves({ Images: [described] })
      .on(DescribeImagesCommand, { ExecutableUsers: [AUDIT] })
      .resolves({ Images: [] });
    ec2
      .on(DescribeSnapshotsCommand, { RestorableByUserIds: [TEAM] })
      .resolves({
        Snapshots: [
          { SnapshotId: 'snap-0a', State: 'completed', Description: 'Created by CreateImage(i-0a) for ami-0a01' },
        ],
      })
      .on(DescribeSnapshotsCommand, { RestorableByUserIds: [AUDIT] })
      .resolves({
        Snapshots: [
          { SnapshotId: 'snap-0a', State: 'completed', Description: 'Created by CreateImage(i-0a) for ami-0a01' },
          { SnapshotId: 'snap-0c', State: 'completed', Description: 'Created by CreateImage(i-0c) for ami-0c01' },
        ],
      });

    // Act
    const shared = await new Ec2Gateway(new EC2Client({})).findSharedWith('ami-backup-dev', [TEAM, AUDIT]);

    // Assess
    expect(shared.images.map((found) => found.id)).toEqual(['ami-0a01']);
    expect(shared.launchAccounts).toEqual(new Map([['ami-0a01', [TEAM]]]));
    expect(shared.createVolumeAccounts).toEqual(
      new Map([
        ['snap-0a', [TEAM, AUDIT]],
        ['snap-0c', [AUDIT]],
      ]),
    );
    // The image of a snapshot shared while the image is not (a pass died between the two): read by the caller.
    expect(shared.imagesOfSharedSnapshots).toEqual(['ami-0a01', 'ami-0c01']);
    expect(ec2.commandCalls(DescribeImagesCommand)[0]?.args[0].input).toMatchObject({
      Owners: ['self'],
      ExecutableUsers: [TEAM],
      Filters: [{ Name: 'tag:ami-backup:managed-by', Values: ['ami-backup-dev'] }],
    });
    expect(ec2.commandCalls(DescribeSnapshotsCommand)).toHaveLength(2);
    await expect(new Ec2Gateway(new EC2Client({})).findSharedWith('ami-backup-dev', ['all'])).rejects.toThrow(
      'not account ids',
    );
  });

  it('finds the images carrying any of several tag keys in one paged describe', async () => {
    // Prepare
    ec2.on(DescribeImagesCommand).resolves({ Images: [{ ImageId: 'ami-0a01', State: 'available', Name: image.name }] });

    // Act
    const found = await new Ec2Gateway(new EC2Client({})).findOwnedImagesTagged('ami-backup-dev', [
      'ami-backup:shared-with',
      'ami-backup:reencrypted-from',
    ]);

    // Assess
    expect(found.map((each) => each.id)).toEqual(['ami-0a01']);
    expect(ec2.commandCalls(DescribeImagesCommand).map((call) => call.args[0].input)).toEqual([
      expect.objectContaining({
        Owners: ['self'],
        Filters: [
          { Name: 'tag:ami-backup:managed-by', Values: ['ami-backup-dev'] },
          { Name: 'tag-key', Values: ['ami-backup:shared-with', 'ami-backup:reencrypted-from'] },
        ],
      }),
    ]);
  });

  it("reads each encrypted snapshot's key, by snapshot-id filter", async () => {
    // Prepare
    ec2.on(DescribeSnapshotsCommand).resolves({
      Snapshots: [
        { SnapshotId: 'snap-0a', Encrypted: true, KmsKeyId: KEY },
        { SnapshotId: 'snap-0b', Encrypted: false },
      ],
    });

    // Act
    const keys = await new Ec2Gateway(new EC2Client({})).findSnapshotKeys(image.snapshotIds);

    // Assess
    expect(keys).toEqual(new Map([['snap-0a', KEY]]));
    expect(ec2.commandCalls(DescribeSnapshotsCommand)[0]?.args[0].input).toMatchObject({
      OwnerIds: ['self'],
      Filters: [{ Name: 'snapshot-id', Values: ['snap-0a', 'snap-0b'] }],
    });
  });

  it('shares create-volume on each snapshot before launch on the image, for account ids only', async () => {
    // Prepare
    const order: string[] = [];
    ec2.on(ModifySnapshotAttributeCommand).callsFake((input: { SnapshotId: string }) => {
      order.push(input.SnapshotId);
      return {};
    });
    ec2.on(ModifyImageAttributeCommand).callsFake((input: { ImageId: string }) => {
      order.push(input.ImageId);
      return {};
    });

    // Act
    await new Ec2Gateway(new EC2Client({})).sharePermissions({
      imageId: 'ami-0a01',
      snapshotIds: ['snap-0a', 'snap-0b'],
      accounts: [TEAM, AUDIT],
    });

    // Assess
    expect(order).toEqual(['snap-0a', 'snap-0b', 'ami-0a01']);
    expect(ec2.commandCalls(ModifySnapshotAttributeCommand)[0]?.args[0].input).toEqual({
      SnapshotId: 'snap-0a',
      Attribute: 'createVolumePermission',
      OperationType: 'add',
      UserIds: [TEAM, AUDIT],
    });
    expect(ec2.commandCalls(ModifyImageAttributeCommand)[0]?.args[0].input).toEqual({
      ImageId: 'ami-0a01',
      LaunchPermission: { Add: [{ UserId: TEAM }, { UserId: AUDIT }] },
    });
  });

  it('unshares launch on the image before create-volume on its snapshots', async () => {
    // Prepare
    const order: string[] = [];
    ec2.on(ModifySnapshotAttributeCommand).callsFake((input: { SnapshotId: string; OperationType: string }) => {
      order.push(`${input.SnapshotId} ${input.OperationType}`);
      return {};
    });
    ec2.on(ModifyImageAttributeCommand).callsFake((input: { ImageId: string }) => {
      order.push(input.ImageId);
      return {};
    });

    // Act
    await new Ec2Gateway(new EC2Client({})).unsharePermissions({
      imageId: 'ami-0a01',
      snapshotIds: ['snap-0a'],
      accounts: [AUDIT],
    });

    // Assess
    expect(order).toEqual(['ami-0a01', 'snap-0a remove']);
    expect(ec2.commandCalls(ModifyImageAttributeCommand)[0]?.args[0].input).toEqual({
      ImageId: 'ami-0a01',
      LaunchPermission: { Remove: [{ UserId: AUDIT }] },
    });
  });

  it('takes an image or snapshot gone meanwhile as nothing to share, and as unshared already', async () => {
    // Prepare
    ec2.on(ModifySnapshotAttributeCommand).resolves({});
    ec2
      .on(ModifyImageAttributeCommand)
      .rejects(ec2Error('InvalidAMIID.NotFound', "The image id '[ami-0a01]' does not exist"));
    const gateway = new Ec2Gateway(new EC2Client({}));
    const change = { imageId: 'ami-0a01', snapshotIds: ['snap-0a'], accounts: [TEAM] };

    // Act, Assess
    await expect(gateway.sharePermissions(change)).resolves.toBe(false);
    await expect(gateway.unsharePermissions(change)).resolves.toBeUndefined();
    // The snapshots are still unshared after the image is found gone.
    expect(ec2.commandCalls(ModifySnapshotAttributeCommand).map((call) => call.args[0].input.OperationType)).toEqual([
      'add',
      'remove',
    ]);
    ec2.reset();
    ec2.on(ModifySnapshotAttributeCommand).rejects(ec2Error('InvalidSnapshot.NotFound', 'gone'));
    await expect(gateway.sharePermissions(change)).resolves.toBe(false);
    expect(ec2.commandCalls(ModifyImageAttributeCommand)).toHaveLength(0);
    // Any other refusal is an error.
    ec2.reset();
    ec2.on(ModifySnapshotAttributeCommand).rejects(ec2Error('UnauthorizedOperation', 'denied'));
    await expect(gateway.sharePermissions(change)).rejects.toThrow('denied');
  });

  it('refuses to make a backup public: a change naming anything but account ids makes no call at all', async () => {
    // Prepare
    const gateway = new Ec2Gateway(new EC2Client({}));
    const change = { imageId: 'ami-0a01', snapshotIds: ['snap-0a'], accounts: [TEAM, 'all'] };

    // Act, Assess
    await expect(gateway.sharePermissions(change)).rejects.toThrow('not account ids, nothing shared: all');
    await expect(gateway.unsharePermissions(change)).rejects.toThrow('not account ids, nothing shared: all');
    expect(ec2.commandCalls(ModifyImageAttributeCommand)).toHaveLength(0);
    expect(ec2.commandCalls(ModifySnapshotAttributeCommand)).toHaveLength(0);
  });
});
