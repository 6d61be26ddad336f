import {
  CreateImageCommand,
  DescribeImagesCommand,
  DescribeInstancesCommand,
  type DescribeInstancesCommandInput,
  type EC2Client,
  RebootInstancesCommand,
  RunInstancesCommand,
  StartInstancesCommand,
  StopInstancesCommand,
} from '@aws-sdk/client-ec2';
import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { XMLParser } from 'fast-xml-parser';
import type { Ec2Event, LocalEc2, SimClock } from '../../../local/ec2';
import { clientFor, failureOf, MINUTE, outcomeOf, rawQuery, startTestEc2 } from './helpers';

let ec2: LocalEc2;
let client: EC2Client;
let clock: SimClock;
const logged: unknown[] = [];

beforeEach(async () => {
  logged.length = 0;
  ({ ec2, client, clock } = await startTestEc2({ logError: (_message, error) => logged.push(error) }));
});
afterEach(async () => {
  await ec2.stop();
});

const parser = new XMLParser({ parseTagValue: false, trimValues: false, ignoreAttributes: false });

async function launch(count: number): Promise<string[]> {
  const result = await client.send(
    new RunInstancesCommand({ ImageId: 'ami-0123456789abcdef0', MinCount: count, MaxCount: count }),
  );
  return (result.Instances ?? []).map((instance) => instance.InstanceId as string);
}

describe('the EC2 Query wire format', () => {
  it('answers a namespaced <ActionResponse> with requestId, the same id in x-amzn-requestid, and unpadded leaves', async () => {
    const [instanceId] = await launch(1);
    const response = await rawQuery(ec2.url, { Action: 'DescribeInstances', 'InstanceId.1': instanceId as string });
    expect(response.status).toBe(200);
    const document = parser.parse(response.body);
    const root = document.DescribeInstancesResponse;
    expect(root['@_xmlns']).toBe('http://ec2.amazonaws.com/doc/2016-11-15/');
    expect(root.requestId).toBe(response.requestId);
    expect(root.reservationSet.item.instancesSet.item.instanceId).toBe(instanceId);
    expect(root.reservationSet.item.instancesSet.item.instanceState).toEqual({ code: '0', name: 'pending' });
    expect(response.body.replace(/^<\?xml[^>]*>\n/, '')).not.toMatch(/>\s+</);
  });

  it('answers errors as <Response><Errors><Error> with RequestID, and the SDK reads code, message and status', async () => {
    const response = await rawQuery(ec2.url, { Action: 'DescribeInstances', 'InstanceId.1': 'i-00000000' });
    expect(response.status).toBe(400);
    const document = parser.parse(response.body);
    expect(document.Response.Errors.Error).toEqual({
      Code: 'InvalidInstanceID.NotFound',
      Message: "The instance ID 'i-00000000' does not exist",
    });
    expect(document.Response.RequestID).toBe(response.requestId);
  });

  it('answers an unknown action with InvalidAction (400), never a server error', async () => {
    const response = await rawQuery(ec2.url, { Action: 'LaunchRockets' });
    expect(response.status).toBe(400);
    expect(parser.parse(response.body).Response.Errors.Error.Code).toBe('InvalidAction');
  });

  it('answers an internal exception with 500 InternalError, and logs it', async () => {
    ec2.events.subscribe(() => {
      throw new Error('listener broke');
    });
    const failure = await failureOf(launch(1));
    expect(failure).toMatchObject({ name: 'InternalError', status: 500 });
    expect(logged).toEqual([expect.objectContaining({ message: 'listener broke' })]);
  });

  it('answers DryRun with 412 DryRunOperation and changes nothing', async () => {
    const [instanceId] = (await launch(1)) as [string];
    clock.advance(MINUTE);
    const dryRuns = [
      client.send(new RebootInstancesCommand({ InstanceIds: [instanceId], DryRun: true })),
      client.send(new StopInstancesCommand({ InstanceIds: [instanceId], DryRun: true })),
      client.send(new CreateImageCommand({ InstanceId: instanceId, Name: 'dry', DryRun: true })),
      client.send(
        new RunInstancesCommand({ ImageId: 'ami-0123456789abcdef0', MinCount: 1, MaxCount: 1, DryRun: true }),
      ),
    ];
    for (const dryRun of dryRuns) {
      expect(await failureOf(dryRun)).toEqual({
        name: 'DryRunOperation',
        message: 'Request would have succeeded, but DryRun flag is set.',
        status: 412,
      });
    }
    const described = await client.send(new DescribeInstancesCommand({}));
    expect(described.Reservations?.flatMap((r) => r.Instances ?? []).map((i) => i.State?.Name)).toEqual(['running']);
    expect((await client.send(new DescribeImagesCommand({ Owners: ['self'] }))).Images).toEqual([]);
  });

  it('counts the calls it serves, per action', async () => {
    await launch(1);
    await client.send(new DescribeInstancesCommand({}));
    await client.send(new DescribeInstancesCommand({}));
    expect([ec2.callCount(), ec2.callCount('DescribeInstances'), ec2.callCount('RunInstances')]).toEqual([3, 2, 1]);
  });
});

describe('throttling', () => {
  it('throttles a burst over the bucket with 503 RequestLimitExceeded, and refills on the clock', async () => {
    ec2.setThrottling(true);
    const [instanceId] = (await launch(1)) as [string];
    clock.advance(MINUTE);
    await client.send(new StopInstancesCommand({ InstanceIds: [instanceId] }));
    clock.advance(MINUTE);
    // StartInstances: 5 requests, refilled at 2 per second.
    const starts = [];
    for (let index = 0; index < 6; index++) {
      starts.push(
        await failureOf(client.send(new StartInstancesCommand({ InstanceIds: [instanceId] }))).catch(() => undefined),
      );
    }
    expect(starts.slice(0, 5)).toEqual(Array(5).fill(undefined));
    expect(starts[5]).toEqual({ name: 'RequestLimitExceeded', message: 'Request limit exceeded.', status: 503 });
    clock.advance(500);
    await expect(client.send(new StartInstancesCommand({ InstanceIds: [instanceId] }))).resolves.toBeDefined();
  });

  it('gives unfiltered, unpaginated DescribeInstances a smaller bucket than filtered calls', async () => {
    ec2.setThrottling(true);
    const outcomes = async (input: DescribeInstancesCommandInput, count: number): Promise<number> => {
      let throttled = 0;
      for (let index = 0; index < count; index++) {
        if ((await outcomeOf(client.send(new DescribeInstancesCommand(input)))) === 'RequestLimitExceeded') throttled++;
      }
      return throttled;
    };
    expect(await outcomes({}, 51)).toBe(1);
    expect(await outcomes({ Filters: [{ Name: 'instance-state-name', Values: ['running'] }] }, 101)).toBe(1);
  });

  it('lets the SDK retry a throttled call when time moves on', async () => {
    const retrying = clientFor(ec2.url, 3);
    // Time moves on only when a call is throttled (two tokens of the unfiltered DescribeInstances bucket), so the
    // outcome does not depend on how fast the machine runs the calls. Inside the retry middleware: once per attempt.
    retrying.middlewareStack.add(
      (next) => async (args) => {
        try {
          return await next(args);
        } catch (err: unknown) {
          if (err instanceof Error && err.name === 'RequestLimitExceeded') clock.advance(200);
          throw err;
        }
      },
      { step: 'finalizeRequest', priority: 'low', name: 'advanceClockWhenThrottled' },
    );
    ec2.setThrottling(true);
    for (let index = 0; index < 56; index++) await retrying.send(new DescribeInstancesCommand({}));
    // Every call succeeded in the end: the first 50 from the full bucket, then every other one after being throttled
    // once and retried (each throttle brings two tokens), whatever the machine's speed or the SDK's backoff.
    expect(ec2.callCount('DescribeInstances')).toBe(56 + 3);
  });
});

describe('events', () => {
  it('drops events on request: by predicate, and at a seeded random rate', async () => {
    const received: Ec2Event[] = [];
    ec2.events.subscribe((event) => received.push(event));
    const stateOf = (event: Ec2Event): string | undefined => ('state' in event.detail ? event.detail.state : undefined);
    ec2.events.drop((event) => stateOf(event) === 'pending');
    await launch(4);
    clock.advance(MINUTE);
    expect(received.map(stateOf)).toEqual(['running', 'running', 'running', 'running']);

    received.length = 0;
    ec2.events.setDropRate(0.5, 42);
    await launch(200);
    clock.advance(MINUTE);
    expect(received.length).toBeGreaterThan(100);
    expect(received.length).toBeLessThan(300);
    ec2.events.setDropRate(1);
    await launch(5);
    clock.advance(MINUTE);
    ec2.events.setDropRate(0);
    const before = received.length;
    await launch(1);
    clock.advance(MINUTE);
    expect(received.length).toBe(before + 1);
  });
});

describe('EventBridge PutEvents', () => {
  it('records the entries sent by the EventBridge SDK and answers an EventId for each', async () => {
    const eventBridge = new EventBridgeClient({
      endpoint: ec2.url,
      region: 'us-east-1',
      credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
    });
    const result = await eventBridge.send(
      new PutEventsCommand({
        Entries: [
          {
            Source: 'ami-backup',
            DetailType: 'Backup Succeeded',
            Detail: '{"instanceId":"i-1"}',
            EventBusName: 'default',
          },
          { Source: 'ami-backup', DetailType: 'Backup Failed', Detail: '{}', Resources: ['arn:aws:ec2:::x'] },
        ],
      }),
    );
    expect(result.FailedEntryCount).toBe(0);
    expect(result.Entries).toEqual([{ EventId: expect.any(String) }, { EventId: expect.any(String) }]);
    expect(ec2.putEvents).toEqual([
      expect.objectContaining({
        EventId: result.Entries?.[0]?.EventId,
        Source: 'ami-backup',
        DetailType: 'Backup Succeeded',
        Detail: '{"instanceId":"i-1"}',
        EventBusName: 'default',
        receivedAt: clock.now(),
      }),
      expect.objectContaining({ DetailType: 'Backup Failed', Resources: ['arn:aws:ec2:::x'] }),
    ]);
  });

  it('fails an entry without a JSON object detail, and rejects more than 10 entries', async () => {
    const eventBridge = new EventBridgeClient({
      endpoint: ec2.url,
      region: 'us-east-1',
      credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
      maxAttempts: 1,
    });
    const partial = await eventBridge.send(
      new PutEventsCommand({
        Entries: [
          { Source: 's', DetailType: 'd', Detail: 'not json' },
          { Source: 's', DetailType: 'd', Detail: '{}' },
        ],
      }),
    );
    expect(partial.FailedEntryCount).toBe(1);
    expect(partial.Entries?.[0]?.ErrorCode).toBe('InvalidArgument');
    const entries = Array.from({ length: 11 }, () => ({ Source: 's', DetailType: 'd', Detail: '{}' }));
    expect(await failureOf(eventBridge.send(new PutEventsCommand({ Entries: entries })))).toMatchObject({
      name: 'ValidationException',
      status: 400,
    });
    expect(ec2.putEvents).toHaveLength(1);
  });
});
