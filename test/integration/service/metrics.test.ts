/** The functions' CloudWatch metrics, as Lambda's output carries them (embedded metric format). */
import type { EC2Client } from '@aws-sdk/client-ec2';
import { OperatorTag } from '../../../lib/tags';
import { LOCAL_ACCOUNT_ID, type LocalEc2 } from '../../../local/ec2';
import { launchFleet } from '../../../local/runner/fleet';
import { emfValues } from '../../../local/runner/metrics-capture';
import { scheduledEvent } from '../../../local/runner/simulation';
import { type ServiceUnderTest, startService } from './fixtures';

let ec2: LocalEc2;
let client: EC2Client;
let invoke: ServiceUnderTest['invoke'];

afterAll(async () => {
  client.destroy();
  await ec2.stop();
});

it('writes, at the end of a run start, its counts in the namespace ami-backup with the stage as dimension', async () => {
  ({ ec2, client, invoke } = await startService({}, { metrics: 'stdout' }));
  await launchFleet(client, [
    { name: 'good', tags: { Backup: 'true' }, optedIn: true },
    { name: 'bad-mode', tags: { Backup: 'true', [OperatorTag.mode]: 'sometimes' }, optedIn: true },
  ]);
  const written: string[] = [];
  const write = jest.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    written.push(String(chunk));
    return true;
  });
  try {
    const start = new Date('2026-11-26T03:00:00Z');
    ec2.clock.advanceTo(start);
    await invoke('reboot', scheduledEvent('reboot', start, 'us-east-1', LOCAL_ACCOUNT_ID));
  } finally {
    write.mockRestore();
  }

  const emf = written
    .flatMap((line) => line.split('\n'))
    .filter((line) => line.includes('"_aws"'))
    .map((line) => JSON.parse(line) as Record<string, unknown>);
  expect(emf).toHaveLength(1);
  const [document] = emf as [Record<string, unknown>];
  expect(document).toMatchObject({ stage: 'dev', BackupsFailed: 1, StaleInstances: 0 });
  expect(document._aws).toMatchObject({
    CloudWatchMetrics: [{ Namespace: 'ami-backup', Dimensions: [expect.arrayContaining(['stage'])] }],
  });
});

it('counts every throttled attempt of an invocation in ThrottledCalls, retried ones included, and no denied call', async () => {
  // Prepare: the service of the test above (its functions are bound to its endpoint), under a throttling storm.
  await launchFleet(
    client,
    Array.from({ length: 6 }, (_, index) => ({ name: `node-${index}`, tags: { Backup: 'true' }, optedIn: true })),
  );
  const start = new Date('2026-11-27T03:00:00Z');
  ec2.clock.advanceTo(start);
  // EC2's calls only: the invocation's EventBridge calls go to the same endpoint, and ThrottledCalls counts EC2's.
  const storm = ec2.faults.throttle(0.5, { calls: ['DescribeInstances', 'CreateTags', 'DeleteTags'], seed: 7 });
  const injectedBefore = ec2.faults.injected;
  const written: string[] = [];
  const write = jest.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    written.push(String(chunk));
    return true;
  });

  // Act
  try {
    await invoke('reboot', scheduledEvent('reboot', start, 'us-east-1', LOCAL_ACCOUNT_ID));
  } finally {
    write.mockRestore();
    storm();
  }

  // Assess: every throttle the endpoint answered in the invocation is counted, once per attempt.
  const throttles = ec2.faults.injected - injectedBefore;
  const values = written
    .flatMap((line) => line.split('\n'))
    .flatMap((line) => {
      const found = emfValues(line);
      return found === undefined ? [] : [found];
    });
  expect(throttles).toBeGreaterThan(1);
  expect(values).toEqual([expect.objectContaining({ ThrottledCalls: throttles, DeniedCalls: 0 })]);
});
