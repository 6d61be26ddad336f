import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CreateImageCommand, DescribeImagesCommand, RunInstancesCommand } from '@aws-sdk/client-ec2';
import { SimClock } from '../../../local/ec2';
import { clientFor, MINUTE, START, startTestEc2 } from './helpers';

let directory: string;
beforeEach(() => {
  directory = mkdtempSync(join(tmpdir(), 'local-ec2-state-'));
});
afterEach(() => {
  rmSync(directory, { recursive: true, force: true });
});

it('restores resources, tags and pending changes from the state file, which then complete on the clock', async () => {
  const stateFile = join(directory, 'state.json');
  const first = await startTestEc2({ stateFile });
  const launched = await first.client.send(
    new RunInstancesCommand({
      ImageId: 'ami-0123456789abcdef0',
      MinCount: 1,
      MaxCount: 1,
      TagSpecifications: [{ ResourceType: 'instance', Tags: [{ Key: 'Backup', Value: 'true' }] }],
    }),
  );
  first.clock.advance(MINUTE);
  const { ImageId } = await first.client.send(
    new CreateImageCommand({ InstanceId: launched.Instances?.[0]?.InstanceId, Name: 'kept', NoReboot: true }),
  );
  await first.ec2.stop();
  expect(readdirSync(directory)).toEqual(['state.json']); // the temporary file was renamed over it

  const second = await startTestEc2({ stateFile, clock: SimClock.manual(new Date(START.getTime() + MINUTE)) });
  try {
    const client = clientFor(second.ec2.url);
    const describe = async () =>
      (await client.send(new DescribeImagesCommand({ ImageIds: [ImageId as string] }))).Images?.[0];
    expect((await describe())?.State).toBe('pending');
    second.clock.advance(10 * MINUTE);
    expect((await describe())?.State).toBe('available');
    expect(second.ec2.backend.instances.get(launched.Instances?.[0]?.InstanceId as string)?.tags.get('Backup')).toBe(
      'true',
    );
  } finally {
    await second.ec2.stop();
  }
});
