/** Injected faults as the unmodified SDK sees them: EC2's and EventBridge's error shapes, retried or not. */
import {
  CreateImageCommand,
  DescribeImagesCommand,
  DescribeInstancesCommand,
  EC2Client,
  RunInstancesCommand,
} from '@aws-sdk/client-ec2';
import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { INTERNAL_ERROR, type LocalEc2, SimClock, startLocalEc2 } from '../../../local/ec2';
import { failureOf } from '../local-ec2/helpers';

const credentials = { accessKeyId: 'test', secretAccessKey: 'test' };
let ec2: LocalEc2;
let client: EC2Client;

beforeEach(async () => {
  ec2 = await startLocalEc2({ clock: SimClock.manual(new Date('2026-11-27T03:00:00Z')), throttling: false });
  client = new EC2Client({ endpoint: ec2.url, region: 'us-east-1', credentials, maxAttempts: 3 });
});

afterEach(async () => {
  await ec2.stop();
});

it('a throttled call is retried by the SDK and succeeds; a storm beyond its attempts surfaces as RequestLimitExceeded', async () => {
  ec2.faults.failCalls({ calls: ['DescribeInstances'], nth: 1 });
  await expect(client.send(new DescribeInstancesCommand({}))).resolves.toBeDefined();
  expect(ec2.callCount('DescribeInstances')).toBe(2);
  ec2.faults.throttle(1, { calls: ['DescribeInstances'] });
  expect(await failureOf(client.send(new DescribeInstancesCommand({})))).toMatchObject({
    name: 'RequestLimitExceeded',
    status: 503,
  });
});

it('a 500 reaches the SDK as InternalError; a cut-off is answered at once and not retried', async () => {
  ec2.faults.failCalls({ probability: 1, error: INTERNAL_ERROR, calls: ['RunInstances'] });
  const run = new RunInstancesCommand({ ImageId: 'ami-0123456789abcdef0', MinCount: 1, MaxCount: 1 });
  expect(await failureOf(client.send(run))).toMatchObject({ name: 'InternalError', status: 500 });
  expect(ec2.backend.instances.size).toBe(0);
  ec2.faults.clear();
  ec2.faults.cutAfter(0);
  const requests = ec2.faults.requests;
  expect(await failureOf(client.send(new DescribeInstancesCommand({})))).toMatchObject({
    name: 'InvocationCutOff',
    status: 400,
  });
  expect(ec2.faults.requests - requests).toBe(1);
});

it('EventBridge gets the fault in its own JSON shape', async () => {
  const events = new EventBridgeClient({ endpoint: ec2.url, region: 'us-east-1', credentials, maxAttempts: 1 });
  ec2.faults.failCalls({ calls: ['PutEvents'], nth: 1 });
  const put = new PutEventsCommand({ Entries: [{ Source: 's', DetailType: 'd', Detail: '{}' }] });
  await expect(events.send(put)).rejects.toMatchObject({ name: 'RequestLimitExceeded' });
  await expect(events.send(put)).resolves.toMatchObject({ FailedEntryCount: 0 });
  expect(ec2.putEvents).toHaveLength(1);
});

it('a new image stays out of DescribeImages for the delay set, then shows', async () => {
  const launched = await client.send(
    new RunInstancesCommand({ ImageId: 'ami-0123456789abcdef0', MinCount: 1, MaxCount: 1 }),
  );
  ec2.clock.advance(60_000);
  ec2.faults.hideNewImages(120_000);
  const made = await client.send(
    new CreateImageCommand({ InstanceId: launched.Instances?.[0]?.InstanceId, Name: 'late', NoReboot: true }),
  );
  const listed = async (): Promise<(string | undefined)[]> =>
    ((await client.send(new DescribeImagesCommand({ Owners: ['self'] }))).Images ?? []).map((image) => image.ImageId);
  expect(await listed()).toEqual([]);
  ec2.clock.advance(120_000);
  expect(await listed()).toEqual([made.ImageId]);
});
