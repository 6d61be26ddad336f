/**
 * Restore tests on the local endpoint, through the handler as serverless.yml wires it and its role allows: a backup
 * that comes up healthy is recorded passed, one that does not is recorded failed with an event, and a pass killed after
 * any of its calls converges with one test instance per image, none left running.
 */
import {
  CreateImageCommand,
  DeleteTagsCommand,
  DescribeImagesCommand,
  DescribeInstancesCommand,
  type Instance,
  RunInstancesCommand,
} from '@aws-sdk/client-ec2';
import {
  Approval,
  ApprovalTag,
  BackupStep,
  ImageTag,
  InstanceTag,
  parseRestoreResult,
  RestoreTestTag,
} from '../../../lib/tags';
import { type ServiceUnderTest, startService } from './fixtures';
import { OWNER, tagsOf } from './support';

const PARAMS = { restoreTestSubnetId: 'subnet-0123456789abcdef0', restoreTestSecurityGroupId: 'sg-0123456789abcdef0' };
const CHECKS_RULE = 'arn:aws:events:us-east-1:123456789012:rule/ami-backup-dev-restore-test-checks';
const LAUNCH_RULE = 'arn:aws:events:us-east-1:123456789012:rule/ami-backup-dev-RestoreTestsEventsRuleSchedule1';
const MINUTE = 60_000;

let service: ServiceUnderTest;

beforeAll(async () => {
  service = await startService(PARAMS);
}, 120_000);

afterAll(async () => {
  service.client.destroy();
  await service.ec2.stop();
});

function scheduled(rule: string): { event: unknown; at: Date } {
  const now = service.ec2.clock.now().getTime();
  const at = new Date(now - (now % MINUTE));
  return {
    at,
    event: {
      version: '0',
      id: 'restore',
      'detail-type': 'Scheduled Event',
      source: 'aws.events',
      account: '123456789012',
      time: at.toISOString().replace('.000Z', 'Z'),
      region: 'us-east-1',
      resources: [rule],
      detail: {},
    },
  };
}

/** An opted-in instance with a good backup, as the service records one (the operator stands in for its functions). */
async function backedUpInstance(): Promise<{ instanceId: string; imageId: string }> {
  const { client, ec2 } = service;
  const launched = await client.send(
    new RunInstancesCommand({
      ImageId: 'ami-0123456789abcdef0',
      MinCount: 1,
      MaxCount: 1,
      InstanceType: 't3.small',
      TagSpecifications: [{ ResourceType: 'instance', Tags: [{ Key: 'Backup', Value: 'true' }] }],
    }),
  );
  const instanceId = launched.Instances?.[0]?.InstanceId ?? '';
  ec2.clock.advance(MINUTE);
  const run = '20261125T0300Z';
  const tags = Object.entries({
    [ImageTag.managedBy]: OWNER,
    [ImageTag.instanceId]: instanceId,
    [ImageTag.run]: run,
    [InstanceTag.state]: BackupStep.succeeded,
    [ApprovalTag.approved]: Approval.verified,
  }).map(([Key, Value]) => ({ Key, Value }));
  const image = await client.send(
    new CreateImageCommand({
      InstanceId: instanceId,
      Name: `ami-backup-${instanceId}-${run}`,
      NoReboot: true,
      TagSpecifications: [{ ResourceType: 'image', Tags: tags }],
    }),
  );
  ec2.clock.advance(30 * MINUTE); // available
  return { instanceId, imageId: image.ImageId ?? '' };
}

async function optOut(instanceId: string): Promise<void> {
  await service.client.send(new DeleteTagsCommand({ Resources: [instanceId], Tags: [{ Key: 'Backup' }] }));
}

/** Every instance launched from the image (terminated ones are listed for an hour). */
async function launchedFrom(imageId: string): Promise<Instance[]> {
  const output = await service.client.send(
    new DescribeInstancesCommand({ Filters: [{ Name: 'image-id', Values: [imageId] }] }),
  );
  return (output.Reservations ?? []).flatMap((reservation) => reservation.Instances ?? []);
}

async function approvalOf(imageId: string): Promise<string | undefined> {
  const output = await service.client.send(new DescribeImagesCommand({ ImageIds: [imageId] }));
  return tagsOf(output.Images?.[0] ?? {})[ApprovalTag.approved];
}

async function resultOf(imageId: string) {
  const output = await service.client.send(new DescribeImagesCommand({ ImageIds: [imageId] }));
  return parseRestoreResult(tagsOf(output.Images?.[0] ?? {})[RestoreTestTag.result]);
}

const eventsFor = (imageId: string) =>
  service.ec2.putEvents
    .filter(
      (entry) =>
        entry.Source === 'ami-backup' && (JSON.parse(entry.Detail ?? '{}') as { imageId?: string }).imageId === imageId,
    )
    .map((entry) => ({ type: entry.DetailType, detail: JSON.parse(entry.Detail ?? '{}') as Record<string, string> }));

/** Invokes, and tells the endpoint the invocation ended (lifting a cut); a killed invocation's error is swallowed. */
async function pass(rule: string): Promise<void> {
  try {
    await service.invoke('restoreTests', scheduled(rule).event);
  } catch {
    // killed
  } finally {
    service.ec2.faults.invocationEnded();
  }
}

describe('restore tests', () => {
  it('launches from the newest good backup into the subnet, records it passed with an event, and terminates it', async () => {
    // Prepare
    const { instanceId, imageId } = await backedUpInstance();

    // Act
    await pass(LAUNCH_RULE);
    const [testInstance] = await launchedFrom(imageId);
    service.ec2.clock.advance(5 * MINUTE);
    const { at } = scheduled(CHECKS_RULE);
    await pass(CHECKS_RULE);

    // Assess
    expect(testInstance).toMatchObject({ SubnetId: PARAMS.restoreTestSubnetId, InstanceType: 't3.small' });
    expect(tagsOf(testInstance ?? {})).toEqual({
      [ImageTag.managedBy]: OWNER,
      [RestoreTestTag.testInstance]: expect.stringMatching(/^\d{8}T\d{4}Z$/),
      [RestoreTestTag.imageId]: imageId,
      [ImageTag.instanceId]: instanceId,
    });
    expect(await resultOf(imageId)).toEqual({ at, passed: true });
    expect(await approvalOf(imageId)).toBe(Approval.restoreTested);
    expect(eventsFor(imageId)).toEqual([
      {
        type: 'Restore Test Passed',
        detail: { instanceId, imageId, testInstanceId: testInstance?.InstanceId ?? '' },
      },
    ]);
    expect((await launchedFrom(imageId)).map((instance) => instance.State?.Name)).toEqual(['shutting-down']);
    expect(service.ec2.denied).toEqual([]);
    await optOut(instanceId);
  });

  it('records a backup whose instance fails its status checks as failed, with the reason and an event', async () => {
    // Prepare
    const { instanceId, imageId } = await backedUpInstance();
    service.ec2.faults.unhealthyLaunchesFrom(imageId);

    // Act
    await pass(LAUNCH_RULE);
    service.ec2.clock.advance(5 * MINUTE);
    await pass(CHECKS_RULE);

    // Assess
    const reason = 'status checks impaired (instance impaired, system ok)';
    expect(await resultOf(imageId)).toMatchObject({ passed: false, reason });
    expect(await approvalOf(imageId)).toBe(Approval.restoreFailed);
    expect(eventsFor(imageId)).toEqual([
      { type: 'Restore Test Failed', detail: expect.objectContaining({ instanceId, imageId, reason }) },
    ]);
    expect((await launchedFrom(imageId)).map((instance) => instance.State?.Name)).toEqual(['shutting-down']);
    expect(service.ec2.denied).toEqual([]);
    await optOut(instanceId);
  });

  it.each([1, 2, 3, 4, 5, 6, 7].flatMap((k) => [['launch', k] as const, ['check', k] as const]))(
    'converges after the %s pass is killed after its call %i: one test instance, recorded, none left running',
    async (killed, k) => {
      // Prepare
      const { instanceId, imageId } = await backedUpInstance();

      // Act: the killed pass, Lambda's retry of the launch (same event), then the checking passes.
      if (killed === 'launch') service.ec2.faults.cutAfter(k);
      const launch = scheduled(LAUNCH_RULE).event;
      try {
        await service.invoke('restoreTests', launch);
      } catch {
        // killed
      } finally {
        // A cut not reached (the pass made fewer calls) is lifted too.
        service.ec2.faults.clear();
        service.ec2.faults.invocationEnded();
      }
      service.ec2.clock.advance(MINUTE);
      await service.invoke('restoreTests', launch);
      service.ec2.clock.advance(4 * MINUTE);
      if (killed === 'check') service.ec2.faults.cutAfter(k);
      await pass(CHECKS_RULE);
      service.ec2.faults.clear();
      for (const minutes of [5, 5, 20]) {
        service.ec2.clock.advance(minutes * MINUTE);
        await pass(CHECKS_RULE);
      }

      // Assess
      const launched = await launchedFrom(imageId);
      expect(launched.map((instance) => instance.State?.Name)).toEqual([
        expect.stringMatching(/^(shutting-down|terminated)$/),
      ]);
      expect((await resultOf(imageId))?.passed).toBe(true);
      const events = eventsFor(imageId);
      expect(events.length).toBeGreaterThanOrEqual(1);
      expect(new Set(events.map((event) => event.type))).toEqual(new Set(['Restore Test Passed']));
      expect(service.ec2.denied).toEqual([]);
      await optOut(instanceId);
    },
  );
});
