/**
 * The nightly start: tag each opted-in instance `queued` for this run (the createImages passes image it, with a reboot
 * in its group's turn), or record why it cannot be imaged. Nothing is rebooted here.
 */
import { backupFailed, EventType } from '../backup-events';
import { type StaleBackup, staleBackups } from '../decisions/stale';
import { planStartRun, type StartDecision } from '../decisions/start-run';
import { errorMessage } from '../errors';
import type { Invocation } from '../input';
import type { Instance } from '../model';
import { type CopySettings, parseCopyPolicy, parseSharePolicy } from '../policy';
import { IN_PROGRESS_STEPS, InstanceTag } from '../tags';
import type { InstanceOutcome, Summary, UseCaseContext } from './context';

/** Some instances could not be started; the invocation fails so that Lambda retries it. */
export class RunStartError extends Error {
  override readonly name = 'RunStartError';
}

export interface StartRunSummary extends Summary {
  readonly runId: string;
  /** Opted-in instances with no good backup younger than `staleAfterHours` (each also published as an event). */
  readonly stale: readonly StaleBackup[];
}

function outcome(decision: StartDecision, error?: string): InstanceOutcome {
  return {
    instanceId: decision.instanceId,
    action: decision.kind,
    ...('reason' in decision ? { reason: decision.reason } : {}),
    ...(error === undefined ? {} : { error }),
  };
}

/** Publishes `Backup Failed` for each [instance, reason]; a refused publication is an error of those instances. */
async function publishFailures(
  failures: readonly (readonly [string, string])[],
  runId: string,
  now: Date,
  context: UseCaseContext,
  errors: Map<string, string>,
): Promise<void> {
  if (failures.length === 0) return;
  try {
    await context.events.publish(
      failures.map(([instanceId, reason]) => backupFailed(now, { instanceId, runId, reason })),
    );
  } catch (error: unknown) {
    context.logger.error('publishing failures failed', { runId, error: errorMessage(error) });
    for (const [instanceId] of failures)
      errors.set(instanceId, `publishing the failure failed: ${errorMessage(error)}`);
  }
}

/**
 * The stale-backup audit's findings, logged and published once a run (a retried start publishes them again, as it
 * does failures). A failure to publish is logged: the audit repeats at the next run's start.
 */
async function reportStale(stale: readonly StaleBackup[], runId: string, now: Date, context: UseCaseContext) {
  if (stale.length === 0) return;
  for (const entry of stale) context.logger.warn('backup stale', { runId, ...entry });
  try {
    await context.events.publish(
      stale.map((entry) => ({
        type: EventType.backupStale,
        time: now,
        detail: { instanceId: entry.instanceId, lastSuccess: entry.lastSuccess, hours: entry.hours, runId },
      })),
    );
  } catch (error: unknown) {
    context.logger.error('publishing stale backups failed', { runId, error: errorMessage(error) });
  }
}

/** Whether any of the instances has its backups copied to another Region. */
export function wantsCopies(instances: readonly Instance[], settings: CopySettings): boolean {
  return instances.some((instance) => {
    const policy = parseCopyPolicy(instance.tags, settings);
    return policy.ok && policy.value.regions.length > 0;
  });
}

/** Whether some instance's backups are to be shared with another account (its tag, else the stage's default). */
export function wantsSharing(
  instances: readonly Instance[],
  settings: { readonly defaultAccounts: readonly string[] },
  accountId: string,
): boolean {
  return instances.some((instance) => {
    const policy = parseSharePolicy(instance.tags, settings.defaultAccounts, accountId);
    return policy.ok && policy.value.accounts.length > 0;
  });
}

export async function startRun(invocation: Invocation, context: UseCaseContext): Promise<StartRunSummary> {
  const { config, ec2, logger } = context;
  const instances = await ec2.findInstances(
    invocation.instanceIds === undefined
      ? { tag: { key: config.optIn.key, values: [config.optIn.value] } }
      : { instanceIds: invocation.instanceIds },
  );
  const plan = planStartRun(instances, invocation.now, { ...config, accountId: context.accountId });
  const stale = staleBackups(instances, invocation.now, config);
  const summary = (errors: ReadonlyMap<string, string>): StartRunSummary => ({
    function: 'reboot',
    now: invocation.now.toISOString(),
    dryRun: invocation.dryRun,
    runId: plan.runId,
    stale,
    instances: plan.decisions.map((decision) => outcome(decision, errors.get(decision.instanceId))),
  });
  if (invocation.dryRun) return summary(new Map());

  // Failures are published before they are recorded (a crash repeats an event rather than losing it).
  const errors = new Map<string, string>();
  await publishFailures(
    plan.decisions.flatMap((decision) => (decision.kind === 'fail' ? [[decision.instanceId, decision.reason]] : [])),
    plan.runId,
    invocation.now,
    context,
    errors,
  );
  await reportStale(stale, plan.runId, invocation.now, context);
  // An instance whose step is not recorded is not in the run: it is reported, and the invocation fails (below).
  const startErrors = new Map(await ec2.writeTags(plan.tagWrites));
  for (const [id, error] of startErrors) errors.set(id, error);
  if (plan.clearPolicyError.length > 0) {
    for (const [id, error] of await ec2.deleteTags(plan.clearPolicyError, [InstanceTag.policyError])) {
      logger.warn('could not clear the policy error tag', { instanceId: id, error });
    }
  }

  // The run's passes start now (also on a retry, whose instances are already in progress); if they cannot, the
  // invocation fails below and its retry starts them.
  const inProgress = new Set<string>(IN_PROGRESS_STEPS);
  const queued =
    plan.decisions.some((decision) => decision.kind === 'queue' && !errors.has(decision.instanceId)) ||
    instances.some((instance) => inProgress.has(instance.tags[InstanceTag.state] ?? ''));
  let passesError: string | undefined;
  if (queued) {
    try {
      await context.passes.start();
    } catch (error: unknown) {
      passesError = errorMessage(error);
      logger.error('starting the passes failed', { runId: plan.runId, error: passesError });
    }
  }
  // The copy passes too, when some instance wants copies: they follow the run's backups to other Regions.
  if (passesError === undefined && wantsCopies(instances, config.copies)) {
    try {
      await context.copyPasses.enable();
    } catch (error: unknown) {
      passesError = errorMessage(error);
      logger.error('starting the copy passes failed', { runId: plan.runId, error: passesError });
    }
  }

  // The share passes too, when some instance's backups are to be shared: they share each backup once it is good.
  if (passesError === undefined && wantsSharing(instances, config.shares, context.accountId)) {
    try {
      await context.sharePasses.enable();
    } catch (error: unknown) {
      passesError = errorMessage(error);
      logger.error('starting the share passes failed', { runId: plan.runId, error: passesError });
    }
  }

  const result = summary(errors);
  for (const instance of result.instances) {
    const log = instance.error === undefined ? logger.info.bind(logger) : logger.error.bind(logger);
    log('run start', { runId: plan.runId, ...instance });
  }
  // An instance whose step could not be recorded would miss the night unnoticed: failing the invocation makes Lambda
  // retry it (same event, same run id), and the retry skips the instances already started.
  const unstarted = [...startErrors.keys()];
  if (unstarted.length > 0) {
    throw new RunStartError(
      `run ${plan.runId}: ${unstarted.length} instances could not be started: ${unstarted
        .map((id) => `${id} (${startErrors.get(id)})`)
        .join(', ')}`,
    );
  }
  if (passesError !== undefined) throw new RunStartError(`run ${plan.runId}: its passes did not start: ${passesError}`);
  return result;
}
