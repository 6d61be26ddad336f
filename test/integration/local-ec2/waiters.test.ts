import {
  CreateImageCommand,
  type EC2Client,
  RunInstancesCommand,
  waitUntilImageAvailable,
  waitUntilInstanceRunning,
  waitUntilInstanceStatusOk,
  waitUntilSnapshotCompleted,
} from '@aws-sdk/client-ec2';
import { type Ec2Event, type LocalEc2, SimClock } from '../../../local/ec2';
import { startTestEc2 } from './helpers';

// SDK waiters poll in real time (at least 1 s apart): the endpoint's clock runs 600× faster, so EC2's minutes pass
// between two polls.
const SPEED = 600;
const WAIT = { maxWaitTime: 20, minDelay: 1, maxDelay: 1 };

let ec2: LocalEc2;
let client: EC2Client;

beforeEach(async () => {
  ({ ec2, client } = await startTestEc2({ clock: SimClock.realTime({ speed: SPEED }) }));
});
afterEach(async () => {
  await ec2.stop();
});

async function launch(): Promise<string> {
  const result = await client.send(
    new RunInstancesCommand({ ImageId: 'ami-0123456789abcdef0', MinCount: 1, MaxCount: 1 }),
  );
  return result.Instances?.[0]?.InstanceId as string;
}

it('waitUntilInstanceRunning and waitUntilInstanceStatusOk succeed once the instance is running and checked', async () => {
  const instanceId = await launch();
  const running = await waitUntilInstanceRunning({ client, ...WAIT }, { InstanceIds: [instanceId] });
  expect(running.state).toBe('SUCCESS');
  const ok = await waitUntilInstanceStatusOk({ client, ...WAIT }, { InstanceIds: [instanceId] });
  expect(ok.state).toBe('SUCCESS');
  expect(ec2.backend.instances.get(instanceId)?.state).toBe('running');
}, 15_000);

it('waitUntilImageAvailable and waitUntilSnapshotCompleted succeed once the image is made', async () => {
  const instanceId = await launch();
  await waitUntilInstanceRunning({ client, ...WAIT }, { InstanceIds: [instanceId] });
  const { ImageId } = await client.send(
    new CreateImageCommand({ InstanceId: instanceId, Name: 'waited', NoReboot: true }),
  );
  const snapshotIds = ec2.backend.images.get(ImageId as string)?.devices.map((device) => device.snapshotId) ?? [];
  expect(snapshotIds).toHaveLength(1);

  const available = await waitUntilImageAvailable({ client, ...WAIT }, { ImageIds: [ImageId as string] });
  expect(available.state).toBe('SUCCESS');
  const completed = await waitUntilSnapshotCompleted({ client, ...WAIT }, { SnapshotIds: snapshotIds });
  expect(completed.state).toBe('SUCCESS');
}, 15_000);

it('waitUntilImageAvailable fails when the image fails', async () => {
  const instanceId = await launch();
  await waitUntilInstanceRunning({ client, ...WAIT }, { InstanceIds: [instanceId] });
  ec2.faults.failImagesOf(instanceId);
  const { ImageId } = await client.send(
    new CreateImageCommand({ InstanceId: instanceId, Name: 'doomed', NoReboot: true }),
  );
  // The waiter throws an Error whose message is its JSON result.
  await expect(waitUntilImageAvailable({ client, ...WAIT }, { ImageIds: [ImageId as string] })).rejects.toThrow(
    /"state":"FAILURE"/,
  );
}, 15_000);

it('on a real-time clock, changes happen and their events are delivered without any request', async () => {
  const states: string[] = [];
  ec2.events.subscribe((event: Ec2Event) => {
    if ('state' in event.detail) states.push(event.detail.state);
  });
  await launch();
  // pending → running takes 30 simulated seconds: 50 ms at 600x.
  await new Promise((resolve) => setTimeout(resolve, 300));
  expect(states).toEqual(['pending', 'running']);
});
