/** The nightly start: tag each opted-in instance with its step, then reboot those that need it. */
import { planStartRun, type StartDecision } from '../decisions/start-run';
import type { Invocation } from '../input';
import { BackupStep, InstanceTag, tagValue } from '../tags';
import type { InstanceOutcome, Summary, UseCaseContext } from './context';

export interface StartRunSummary extends Summary {
  readonly runId: string;
}

function outcome(decision: StartDecision, error?: string): InstanceOutcome {
  return {
    instanceId: decision.instanceId,
    action: decision.kind,
    ...('reason' in decision ? { reason: decision.reason } : {}),
    ...(error === undefined ? {} : { error }),
  };
}

export async function startRun(invocation: Invocation, context: UseCaseContext): Promise<StartRunSummary> {
  const { config, ec2, logger } = context;
  const instances = await ec2.findInstances(
    invocation.instanceIds === undefined
      ? { tag: { key: config.optIn.key, values: [config.optIn.value] } }
      : { instanceIds: invocation.instanceIds },
  );
  const plan = planStartRun(instances, invocation.now, config);
  const summary = (errors: ReadonlyMap<string, string>): StartRunSummary => ({
    function: 'reboot',
    now: invocation.now.toISOString(),
    dryRun: invocation.dryRun,
    runId: plan.runId,
    instances: plan.decisions.map((decision) => outcome(decision, errors.get(decision.instanceId))),
  });
  if (invocation.dryRun) return summary(new Map());

  // Tags first: an instance is rebooted only once its step is recorded, so a crash never loses track of it.
  const errors = new Map(await ec2.writeTags(plan.tagWrites));
  if (plan.clearPolicyError.length > 0) {
    for (const [id, error] of await ec2.deleteTags(plan.clearPolicyError, [InstanceTag.policyError])) {
      logger.warn('could not clear the policy error tag', { instanceId: id, error });
    }
  }
  const rebootFailures = await ec2.reboot(plan.rebootIds.filter((id) => !errors.has(id)));
  // A reboot EC2 refused is recorded as this run's failure: the image would not be the consistent one asked for.
  const failedTags = await ec2.writeTags(
    [...rebootFailures].map(([resourceId, error]) => ({
      resourceId,
      tags: {
        [InstanceTag.state]: BackupStep.failed,
        [InstanceTag.lastError]: tagValue(`${plan.runId}: reboot failed: ${error}`),
      },
    })),
  );
  for (const [id, error] of [...rebootFailures, ...failedTags]) errors.set(id, error);

  const result = summary(errors);
  for (const instance of result.instances) {
    const log = instance.error === undefined ? logger.info.bind(logger) : logger.error.bind(logger);
    log('run start', { runId: plan.runId, ...instance });
  }
  return result;
}
