import {
  DescribeInstanceStatusCommand,
  DescribeInstancesCommand,
  type EC2Client,
  paginateDescribeInstanceStatus,
  paginateDescribeInstances,
  RebootInstancesCommand,
  RunInstancesCommand,
  StartInstancesCommand,
  StopInstancesCommand,
  TerminateInstancesCommand,
} from '@aws-sdk/client-ec2';
import type { Ec2Event, LocalEc2, SimClock } from '../../../local/ec2';
import { DEFAULT_DURATIONS } from '../../../local/ec2';
import { failureOf, MINUTE, START, startTestEc2 } from './helpers';

let ec2: LocalEc2;
let client: EC2Client;
let clock: SimClock;

beforeEach(async () => {
  ({ ec2, client, clock } = await startTestEc2());
});
afterEach(async () => {
  await ec2.stop();
});

async function launch(count: number, tags: Record<string, string> = {}): Promise<string[]> {
  const result = await client.send(
    new RunInstancesCommand({
      ImageId: 'ami-0123456789abcdef0',
      InstanceType: 't3.micro',
      MinCount: count,
      MaxCount: count,
      TagSpecifications: [
        { ResourceType: 'instance', Tags: Object.entries(tags).map(([Key, Value]) => ({ Key, Value })) },
      ],
    }),
  );
  return (result.Instances ?? []).map((instance) => instance.InstanceId as string);
}

async function stateOf(instanceId: string): Promise<string | undefined> {
  const result = await client.send(new DescribeInstancesCommand({ InstanceIds: [instanceId] }));
  return result.Reservations?.[0]?.Instances?.[0]?.State?.Name;
}

async function statusOf(instanceId: string): Promise<string | undefined> {
  const result = await client.send(
    new DescribeInstanceStatusCommand({ InstanceIds: [instanceId], IncludeAllInstances: true }),
  );
  return result.InstanceStatuses?.[0]?.InstanceStatus?.Status;
}

describe('RunInstances', () => {
  it('launches MaxCount instances in one reservation, pending, with an 8 GiB gp3 root volume and tags', async () => {
    const result = await client.send(
      new RunInstancesCommand({
        ImageId: 'ami-0123456789abcdef0',
        InstanceType: 't3.small',
        MinCount: 1,
        MaxCount: 3,
        TagSpecifications: [
          { ResourceType: 'instance', Tags: [{ Key: 'Backup', Value: 'true' }] },
          { ResourceType: 'volume', Tags: [{ Key: 'Disk', Value: 'yes' }] },
        ],
        BlockDeviceMappings: [{ DeviceName: '/dev/sdf', Ebs: { VolumeSize: 20, VolumeType: 'io2' } }],
      }),
    );

    expect(result.ReservationId).toMatch(/^r-[0-9a-f]{17}$/);
    expect(result.OwnerId).toBe('123456789012');
    expect(result.Instances).toHaveLength(3);
    const [first] = result.Instances ?? [];
    expect(first?.InstanceId).toMatch(/^i-[0-9a-f]{17}$/);
    expect(first?.State).toEqual({ Code: 0, Name: 'pending' });
    expect(first?.InstanceType).toBe('t3.small');
    expect(first?.LaunchTime).toEqual(START);
    expect(first?.Tags).toEqual([{ Key: 'Backup', Value: 'true' }]);
    expect(first?.RootDeviceName).toBe('/dev/xvda');
    expect(first?.BlockDeviceMappings?.map((mapping) => mapping.DeviceName)).toEqual(['/dev/xvda', '/dev/sdf']);
    const volumeId = first?.BlockDeviceMappings?.[0]?.Ebs?.VolumeId as string;
    const volume = ec2.backend.volumes.get(volumeId);
    expect(volume).toMatchObject({ size: 8, volumeType: 'gp3', deleteOnTermination: true });
    expect(Object.fromEntries(volume?.tags ?? [])).toEqual({ Disk: 'yes' });
  });

  it('becomes running after the pending duration, and its state changes are emitted as events', async () => {
    const events: Ec2Event[] = [];
    ec2.events.subscribe((event) => events.push(event));
    const [instanceId] = await launch(1);

    clock.advance(DEFAULT_DURATIONS.instancePending - 1);
    expect(await stateOf(instanceId as string)).toBe('pending');
    clock.advance(1);
    expect(await stateOf(instanceId as string)).toBe('running');

    expect(events).toEqual([
      {
        version: '0',
        id: expect.any(String),
        'detail-type': 'EC2 Instance State-change Notification',
        source: 'aws.ec2',
        account: '123456789012',
        time: '2026-03-01T00:00:00Z',
        region: 'us-east-1',
        resources: [`arn:aws:ec2:us-east-1:123456789012:instance/${instanceId}`],
        detail: { 'instance-id': instanceId, state: 'pending' },
      },
      expect.objectContaining({
        time: '2026-03-01T00:00:30Z',
        detail: { 'instance-id': instanceId, state: 'running' },
      }),
    ]);
  });

  it('rejects a malformed image id and a tag specification for another resource type', async () => {
    expect(
      await failureOf(client.send(new RunInstancesCommand({ ImageId: 'ami-xyz', MinCount: 1, MaxCount: 1 }))),
    ).toMatchObject({ name: 'InvalidAMIID.Malformed', status: 400 });
    expect(
      await failureOf(
        client.send(
          new RunInstancesCommand({
            ImageId: 'ami-0123456789abcdef0',
            MinCount: 1,
            MaxCount: 1,
            TagSpecifications: [{ ResourceType: 'image', Tags: [{ Key: 'a', Value: 'b' }] }],
          }),
        ),
      ),
    ).toMatchObject({ name: 'InvalidParameterValue' });
  });
});

describe('DescribeInstances', () => {
  it('names unknown and malformed ids in its errors', async () => {
    const [known] = await launch(1);
    const unknown = await failureOf(
      client.send(new DescribeInstancesCommand({ InstanceIds: [known as string, 'i-0000000000000000a'] })),
    );
    expect(unknown).toEqual({
      name: 'InvalidInstanceID.NotFound',
      message: "The instance ID 'i-0000000000000000a' does not exist",
      status: 400,
    });
    const malformed = await failureOf(client.send(new DescribeInstancesCommand({ InstanceIds: ['instance-1'] })));
    expect(malformed).toMatchObject({ name: 'InvalidInstanceID.Malformed', status: 400 });
  });

  it('filters by tag, tag-key, tag-value, state and id with wildcards: values OR-ed, filters AND-ed', async () => {
    const [web] = await launch(1, { Backup: 'true', Name: 'web-1' });
    const [db] = await launch(1, { Backup: 'yes', Name: 'db-1' });
    const [plain] = await launch(1, { Name: 'Web-2' });
    const ids = async (filters: { Name: string; Values: string[] }[]): Promise<string[]> => {
      const result = await client.send(new DescribeInstancesCommand({ Filters: filters }));
      return (result.Reservations ?? []).flatMap((r) => (r.Instances ?? []).map((i) => i.InstanceId as string)).sort();
    };

    expect(await ids([{ Name: 'tag:Backup', Values: ['true', 'yes'] }])).toEqual([web, db].sort());
    expect(await ids([{ Name: 'tag:Name', Values: ['web-*'] }])).toEqual([web]); // case-sensitive
    expect(await ids([{ Name: 'tag:Name', Values: ['?eb-?'] }])).toEqual([web, plain].sort());
    expect(await ids([{ Name: 'tag-key', Values: ['Back*'] }])).toEqual([web, db].sort());
    expect(await ids([{ Name: 'tag-value', Values: ['db-1'] }])).toEqual([db]);
    expect(
      await ids([
        { Name: 'tag-key', Values: ['Backup'] },
        { Name: 'tag:Name', Values: ['db-*'] },
      ]),
    ).toEqual([db]);
    expect(await ids([{ Name: 'instance-id', Values: [plain as string] }])).toEqual([plain]);
    expect(await ids([{ Name: 'instance-state-name', Values: ['running'] }])).toEqual([]);
    clock.advance(MINUTE);
    expect(await ids([{ Name: 'instance-state-name', Values: ['running'] }])).toHaveLength(3);
  });

  it('always sends a reservation set, empty when nothing matches', async () => {
    const result = await client.send(
      new DescribeInstancesCommand({ Filters: [{ Name: 'tag:Nothing', Values: ['*'] }] }),
    );
    expect(result.Reservations).toEqual([]);
  });

  it('pages with MaxResults and NextToken, the last page without a token; the paginator sees every instance', async () => {
    const launched = [...(await launch(7)), ...(await launch(5))];
    const first = await client.send(new DescribeInstancesCommand({ MaxResults: 5 }));
    const firstIds = (first.Reservations ?? []).flatMap((r) => r.Instances ?? []).map((i) => i.InstanceId);
    expect(firstIds).toHaveLength(5);
    expect(first.NextToken).toEqual(expect.any(String));

    const seen: string[] = [];
    let pages = 0;
    for await (const page of paginateDescribeInstances({ client, pageSize: 5 }, {})) {
      pages += 1;
      seen.push(...(page.Reservations ?? []).flatMap((r) => r.Instances ?? []).map((i) => i.InstanceId as string));
      if (pages === 3) expect(page.NextToken).toBeUndefined();
    }
    expect(pages).toBe(3);
    expect(seen.sort()).toEqual(launched.sort());
  });

  it('rejects MaxResults outside 5–1000 and MaxResults combined with ids', async () => {
    const [instanceId] = await launch(1);
    expect(await failureOf(client.send(new DescribeInstancesCommand({ MaxResults: 4 })))).toMatchObject({
      name: 'InvalidParameterValue',
    });
    expect(await failureOf(client.send(new DescribeInstancesCommand({ MaxResults: 1001 })))).toMatchObject({
      name: 'InvalidParameterValue',
    });
    expect(
      await failureOf(
        client.send(new DescribeInstancesCommand({ MaxResults: 5, InstanceIds: [instanceId as string] })),
      ),
    ).toMatchObject({ name: 'InvalidParameterCombination', status: 400 });
  });

  it('rejects an unknown filter name', async () => {
    expect(
      await failureOf(client.send(new DescribeInstancesCommand({ Filters: [{ Name: 'colour', Values: ['red'] }] }))),
    ).toMatchObject({ name: 'InvalidParameterValue' });
  });
});

describe('instance lifecycle', () => {
  it('stops, starts and terminates through AWS states; a terminated instance is visible about an hour', async () => {
    const [instanceId] = (await launch(1)) as [string];
    clock.advance(MINUTE);

    const stop = await client.send(new StopInstancesCommand({ InstanceIds: [instanceId] }));
    expect(stop.StoppingInstances).toEqual([
      {
        InstanceId: instanceId,
        CurrentState: { Code: 64, Name: 'stopping' },
        PreviousState: { Code: 16, Name: 'running' },
      },
    ]);
    clock.advance(DEFAULT_DURATIONS.instanceStopping);
    expect(await stateOf(instanceId)).toBe('stopped');

    const start = await client.send(new StartInstancesCommand({ InstanceIds: [instanceId] }));
    expect(start.StartingInstances?.[0]?.CurrentState).toEqual({ Code: 0, Name: 'pending' });
    clock.advance(DEFAULT_DURATIONS.instancePending);
    expect(await stateOf(instanceId)).toBe('running');

    const terminate = await client.send(new TerminateInstancesCommand({ InstanceIds: [instanceId] }));
    expect(terminate.TerminatingInstances?.[0]?.CurrentState).toEqual({ Code: 32, Name: 'shutting-down' });
    clock.advance(DEFAULT_DURATIONS.instanceShuttingDown);
    expect(await stateOf(instanceId)).toBe('terminated');
    clock.advance(DEFAULT_DURATIONS.terminatedVisible - 1);
    expect(await stateOf(instanceId)).toBe('terminated');
    clock.advance(1);
    expect(await failureOf(stateOf(instanceId))).toMatchObject({ name: 'InvalidInstanceID.NotFound' });
  });

  it('applies AWS state rules with IncorrectInstanceState', async () => {
    const [instanceId] = (await launch(1)) as [string];
    const stopPending = await failureOf(client.send(new StopInstancesCommand({ InstanceIds: [instanceId] })));
    expect(stopPending).toEqual({
      name: 'IncorrectInstanceState',
      message: `The instance '${instanceId}' cannot be stopped as it has never reached the 'running' state.`,
      status: 400,
    });
    clock.advance(MINUTE);
    await client.send(new StopInstancesCommand({ InstanceIds: [instanceId] }));
    const startStopping = await failureOf(client.send(new StartInstancesCommand({ InstanceIds: [instanceId] })));
    expect(startStopping).toEqual({
      name: 'IncorrectInstanceState',
      message: `The instance '${instanceId}' is not in a state from which it can be started.`,
      status: 400,
    });
    expect(await failureOf(client.send(new RebootInstancesCommand({ InstanceIds: [instanceId] })))).toMatchObject({
      name: 'IncorrectInstanceState',
    });
  });

  it('ignores a reboot of a terminated instance', async () => {
    const [instanceId] = (await launch(1)) as [string];
    await client.send(new TerminateInstancesCommand({ InstanceIds: [instanceId] }));
    clock.advance(MINUTE);
    await expect(client.send(new RebootInstancesCommand({ InstanceIds: [instanceId] }))).resolves.toBeDefined();
    expect(await stateOf(instanceId)).toBe('terminated');
  });
});

describe('DescribeInstanceStatus', () => {
  it('reports initializing after launch, ok later, and a not-ok window after a reboot while staying running', async () => {
    const events: Ec2Event[] = [];
    const [instanceId] = (await launch(1)) as [string];
    clock.advance(DEFAULT_DURATIONS.instancePending);
    const initializing = await client.send(new DescribeInstanceStatusCommand({ InstanceIds: [instanceId] }));
    expect(initializing.InstanceStatuses).toEqual([
      {
        InstanceId: instanceId,
        AvailabilityZone: 'us-east-1a',
        InstanceState: { Code: 16, Name: 'running' },
        SystemStatus: { Status: 'initializing', Details: [{ Name: 'reachability', Status: 'initializing' }] },
        InstanceStatus: { Status: 'initializing', Details: [{ Name: 'reachability', Status: 'initializing' }] },
        Events: [],
      },
    ]);
    clock.advance(DEFAULT_DURATIONS.statusInitializing);
    expect(await statusOf(instanceId)).toBe('ok');

    ec2.events.subscribe((event) => events.push(event));
    await client.send(new RebootInstancesCommand({ InstanceIds: [instanceId] }));
    clock.advance(DEFAULT_DURATIONS.rebootDelay);
    expect(await statusOf(instanceId)).not.toBe('ok');
    expect(await stateOf(instanceId)).toBe('running');
    clock.advance(DEFAULT_DURATIONS.rebootWindow);
    expect(await statusOf(instanceId)).toBe('ok');
    expect(events).toEqual([]); // a reboot is no state change
  });

  it('lists running instances only unless IncludeAllInstances, then not-applicable for the others', async () => {
    const [running, stopped] = (await launch(2)) as [string, string];
    clock.advance(MINUTE);
    await client.send(new StopInstancesCommand({ InstanceIds: [stopped] }));
    clock.advance(MINUTE);

    const runningOnly = await client.send(new DescribeInstanceStatusCommand({}));
    expect(runningOnly.InstanceStatuses?.map((status) => status.InstanceId)).toEqual([running]);
    const all = await client.send(new DescribeInstanceStatusCommand({ IncludeAllInstances: true }));
    const stoppedStatus = all.InstanceStatuses?.find((status) => status.InstanceId === stopped);
    expect(stoppedStatus?.InstanceState?.Name).toBe('stopped');
    expect(stoppedStatus?.InstanceStatus?.Status).toBe('not-applicable');
  });

  it('filters on instance and system status, pages, and refuses more than 100 ids or MaxResults with ids', async () => {
    const ids = await launch(6);
    clock.advance(DEFAULT_DURATIONS.instancePending);
    const initializing = await client.send(
      new DescribeInstanceStatusCommand({ Filters: [{ Name: 'instance-status.status', Values: ['initializing'] }] }),
    );
    expect(initializing.InstanceStatuses).toHaveLength(6);
    clock.advance(DEFAULT_DURATIONS.statusInitializing);
    const okBoth = await client.send(
      new DescribeInstanceStatusCommand({
        Filters: [
          { Name: 'instance-status.status', Values: ['ok'] },
          { Name: 'system-status.status', Values: ['ok'] },
          { Name: 'instance-state-name', Values: ['running'] },
        ],
      }),
    );
    expect(okBoth.InstanceStatuses).toHaveLength(6);

    const seen: string[] = [];
    for await (const page of paginateDescribeInstanceStatus({ client, pageSize: 5 }, {})) {
      seen.push(...(page.InstanceStatuses ?? []).map((status) => status.InstanceId as string));
    }
    expect(seen.sort()).toEqual([...ids].sort());

    const tooMany = Array.from({ length: 101 }, (_, index) => `i-${index.toString(16).padStart(17, '0')}`);
    expect(await failureOf(client.send(new DescribeInstanceStatusCommand({ InstanceIds: tooMany })))).toMatchObject({
      name: 'InvalidParameterValue',
    });
    expect(
      await failureOf(
        client.send(new DescribeInstanceStatusCommand({ InstanceIds: [ids[0] as string], MaxResults: 5 })),
      ),
    ).toMatchObject({ name: 'InvalidParameterCombination' });
  });
});
