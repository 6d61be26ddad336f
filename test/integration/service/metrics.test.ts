/** The functions' CloudWatch metrics, as Lambda's output carries them (embedded metric format). */
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { OperatorTag } from '../../../lib/tags';
import { LOCAL_ACCOUNT_ID, type LocalEc2, SimClock, startLocalEc2 } from '../../../local/ec2';
import { launchFleet } from '../../../local/runner/fleet';
import { loadFunctions } from '../../../local/runner/functions';
import { OPERATOR_CREDENTIALS } from '../../../local/runner/night';
import { deployRules } from '../../../local/runner/rules';
import { lambdaContext, scheduledEvent } from '../../../local/runner/simulation';
import { clientFor } from '../local-ec2/helpers';
import { EVENING, SERVERLESS_FILE } from './fixtures';

let ec2: LocalEc2;

afterAll(async () => {
  await ec2.stop();
});

it('writes, at the end of a run start, its counts in the namespace ami-backup with the stage as dimension', async () => {
  ec2 = await startLocalEc2({ clock: SimClock.manual(EVENING), throttling: false });
  const functions = await loadFunctions(SERVERLESS_FILE, {
    stage: 'dev',
    endpoint: ec2.url,
    region: 'us-east-1',
    account: LOCAL_ACCOUNT_ID,
    logLevel: 'SILENT',
    metrics: 'stdout',
  });
  const eventBridge = new EventBridgeClient({
    endpoint: ec2.url,
    region: 'us-east-1',
    credentials: OPERATOR_CREDENTIALS,
  });
  await deployRules(functions, eventBridge);
  eventBridge.destroy();
  const client = clientFor(ec2.url, 3);
  await launchFleet(client, [
    { name: 'good', tags: { Backup: 'true' }, optedIn: true },
    { name: 'bad-mode', tags: { Backup: 'true', [OperatorTag.mode]: 'sometimes' }, optedIn: true },
  ]);
  client.destroy();
  const reboot = functions.find((fn) => fn.name === 'reboot');
  if (reboot === undefined) throw new Error('no reboot function');
  const written: string[] = [];
  const write = jest.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    written.push(String(chunk));
    return true;
  });
  try {
    const start = new Date('2026-11-26T03:00:00Z');
    ec2.clock.advanceTo(start);
    await reboot.handler(
      scheduledEvent('reboot', start, 'us-east-1', LOCAL_ACCOUNT_ID),
      lambdaContext('reboot', 900, 'us-east-1', LOCAL_ACCOUNT_ID),
    );
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
