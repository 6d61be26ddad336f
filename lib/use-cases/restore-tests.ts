/**
 * Restore tests: a pass judges the test instances in flight (passed, failed, timed out), records each result on its
 * image with an event, terminates every test instance whose test is over, then (unless it is a checking pass) launches
 * test instances from the newest good backups. All state is in tags: any pass, after a crash anywhere, converges.
 */
import { EventType, type ServiceEvent } from '../backup-events';
import {
  isTestInstance,
  judgeTests,
  type Launch,
  planLaunches,
  resultTag,
  type TestVerdict,
} from '../decisions/restore-tests';
import { errorMessage } from '../errors';
import type { Invocation } from '../input';
import type { Instance } from '../model';
import { ApprovalTag, approvalAfterRestoreTest, ImageTag, RestoreTestTag } from '../tags';
import type { InstanceOutcome, Summary, UseCaseContext } from './context';

export interface RestoreTestOutcome extends InstanceOutcome {
  /** The test instance, when there is one. */
  readonly testInstanceId?: string;
}

export interface RestoreTestSummary extends Summary {
  readonly instances: readonly RestoreTestOutcome[];
  /** Whether this pass could launch tests (the checking passes only judge and clean up). */
  readonly launching: boolean;
  /** Results recorded by this pass. */
  readonly passed: number;
  readonly failed: number;
  readonly launched: number;
  readonly terminated: number;
  readonly errors: readonly string[];
}

export async function runRestoreTests(invocation: Invocation, context: UseCaseContext): Promise<RestoreTestSummary> {
  const { config, ec2, events, logger } = context;
  const settings = config.restoreTests;
  const launching = invocation.rule !== settings.checksRule;
  const empty = { passed: 0, failed: 0, launched: 0, terminated: 0, errors: [] as string[] };
  const summary = (instances: RestoreTestOutcome[], counts = empty): RestoreTestSummary => ({
    function: 'restoreTests',
    now: invocation.now.toISOString(),
    dryRun: invocation.dryRun,
    instances,
    launching,
    ...counts,
  });
  if (settings.subnetId === undefined || settings.securityGroupId === undefined) {
    logger.info('restore tests are off: no subnet configured (restoreTestSubnetId)');
    return summary([]);
  }
  const { subnetId, securityGroupId } = settings;
  const wanted = invocation.instanceIds === undefined ? undefined : new Set(invocation.instanceIds);
  const inScope = (instanceId: string | undefined): boolean => wanted === undefined || wanted.has(instanceId ?? '');

  // The service's test instances: they carry its ownership tag, which no instance it backs up carries.
  const tests = (await ec2.findInstances({ tag: { key: ImageTag.managedBy, values: [config.owner] } })).filter(
    (instance) => isTestInstance(instance, config.owner) && inScope(instance.tags[ImageTag.instanceId]),
  );
  // A checking pass with nothing in flight costs this one call.
  if (!launching && tests.length === 0) return summary([]);
  const images = await ec2.findOwnedImages(config.owner);
  const running = tests.filter((test) => test.state === 'running').map((test) => test.id);
  const health = running.length === 0 ? new Map() : await ec2.findHealth(running);
  const verdicts = judgeTests(tests, images, health, config.owner, invocation.now, settings);
  let launches: Launch[] = [];
  if (launching) {
    const optedIn = (
      await ec2.findInstances({
        tag: { key: config.optIn.key, values: [config.optIn.value] },
        ...(invocation.instanceIds === undefined ? {} : { instanceIds: invocation.instanceIds }),
      })
    ).filter((instance: Instance) => !isTestInstance(instance, config.owner));
    launches = planLaunches(
      optedIn,
      images,
      tests,
      { owner: config.owner, accountId: context.accountId },
      invocation.now,
      {
        ...settings,
      },
    );
  }
  const outcomes: RestoreTestOutcome[] = [];
  const verdictOutcome = (verdict: TestVerdict, error?: string): RestoreTestOutcome => ({
    instanceId: verdict.instanceId ?? '',
    action: verdict.action,
    testInstanceId: verdict.testInstanceId,
    ...(verdict.imageId === undefined ? {} : { imageId: verdict.imageId }),
    ...(verdict.reason === undefined ? {} : { reason: verdict.reason }),
    ...(error === undefined ? {} : { error }),
  });
  if (invocation.dryRun) {
    outcomes.push(...verdicts.map((verdict) => verdictOutcome(verdict)));
    outcomes.push(
      ...launches.map((launch) => ({ instanceId: launch.instanceId, action: 'launch', imageId: launch.imageId })),
    );
    return summary(outcomes);
  }

  const errors: string[] = [];
  let passed = 0;
  let failed = 0;
  // Results: published, then recorded on the image (a crash in between repeats an event rather than losing it), then
  // the test instance terminated (a crash before that leaves a recorded test, whose instance the next pass ends).
  const decided = verdicts.filter((verdict) => verdict.result !== undefined);
  const unrecorded = new Map<string, string>();
  if (decided.length > 0) {
    try {
      await events.publish(decided.map((verdict) => resultEvent(verdict, invocation.now)));
      // The result and the image's approval in one call: a failed test revokes it at once.
      const approvals = new Map(images.map((image) => [image.id, image.tags[ApprovalTag.approved]]));
      const failures = await ec2.writeTags(
        decided.map((verdict) => {
          const approval = approvalAfterRestoreTest(
            approvals.get(verdict.imageId ?? ''),
            verdict.result?.passed === true,
          );
          return {
            resourceId: verdict.imageId ?? '',
            tags: {
              [RestoreTestTag.result]: resultTag(verdict) ?? '',
              ...(approval === undefined ? {} : { [ApprovalTag.approved]: approval }),
            },
          };
        }),
      );
      for (const [imageId, reason] of failures) unrecorded.set(imageId, reason);
    } catch (error: unknown) {
      for (const verdict of decided) unrecorded.set(verdict.imageId ?? '', errorMessage(error));
    }
  }
  const toTerminate = verdicts.filter((verdict) => verdict.terminate && !unrecorded.has(verdict.imageId ?? ''));
  const notTerminated =
    toTerminate.length === 0 ? new Map<string, string>() : await terminate(toTerminate.map((v) => v.testInstanceId));
  for (const verdict of verdicts) {
    const error = unrecorded.get(verdict.imageId ?? '') ?? notTerminated.get(verdict.testInstanceId);
    const outcome = verdictOutcome(verdict, error);
    outcomes.push(outcome);
    if (verdict.result !== undefined && !unrecorded.has(verdict.imageId ?? '')) {
      if (verdict.result.passed) passed += 1;
      else failed += 1;
    }
    const fields = { ...outcome };
    if (error !== undefined) {
      errors.push(`${verdict.testInstanceId}: ${error}`);
      logger.error('restore test not recorded or its instance not terminated', fields);
    } else if (verdict.action === 'failed') logger.error('restore test failed', fields);
    else if (verdict.action !== 'wait' && verdict.action !== 'done')
      logger.info(`restore test ${verdict.action}`, fields);
  }

  let launched = 0;
  for (const launch of launches) {
    try {
      const testInstanceId = await ec2.runTestInstance({
        imageId: launch.imageId,
        ...(launch.instanceType === undefined ? {} : { instanceType: launch.instanceType }),
        subnetId,
        securityGroupId,
        clientToken: launch.clientToken,
        tags: {
          [ImageTag.managedBy]: config.owner,
          [RestoreTestTag.testInstance]: launch.testRun,
          [RestoreTestTag.imageId]: launch.imageId,
          [ImageTag.instanceId]: launch.instanceId,
        },
      });
      launched += 1;
      outcomes.push({ instanceId: launch.instanceId, action: 'launch', imageId: launch.imageId, testInstanceId });
      logger.info('restore test launched', { instanceId: launch.instanceId, imageId: launch.imageId, testInstanceId });
    } catch (error: unknown) {
      errors.push(`${launch.imageId}: ${errorMessage(error)}`);
      outcomes.push({
        instanceId: launch.instanceId,
        action: 'launch',
        imageId: launch.imageId,
        error: errorMessage(error),
      });
      logger.error('restore test not launched', {
        instanceId: launch.instanceId,
        imageId: launch.imageId,
        error: errorMessage(error),
      });
    }
  }
  return summary(outcomes, {
    passed,
    failed,
    launched,
    terminated: toTerminate.length - notTerminated.size,
    errors,
  });

  async function terminate(ids: string[]): Promise<Map<string, string>> {
    try {
      return new Map(await ec2.terminate(ids));
    } catch (error: unknown) {
      return new Map(ids.map((id) => [id, errorMessage(error)]));
    }
  }
}

function resultEvent(verdict: TestVerdict, now: Date): ServiceEvent {
  const passed = verdict.result?.passed === true;
  return {
    type: passed ? EventType.restoreTestPassed : EventType.restoreTestFailed,
    time: now,
    detail: {
      instanceId: verdict.instanceId,
      imageId: verdict.imageId,
      testInstanceId: verdict.testInstanceId,
      ...(passed ? {} : { reason: verdict.reason }),
    },
  };
}
