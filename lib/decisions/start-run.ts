/**
 * Starting a night's run: which opted-in instances to reboot, which to image as they are, and which to leave.
 * Pure: a function of the instances (with their tags), the policy and the run.
 */
import type { Instance, TagWrite } from '../model';
import { isOptedIn, parseInstancePolicy, parseMode } from '../policy';
import { BackupMode, BackupStep, formatRunId, IN_PROGRESS_STEPS, InstanceTag, isBackupStep, tagValue } from '../tags';
import { rebootConfirmed, runOf } from './progress';

export interface StartRunSettings {
  readonly optIn: { readonly key: string; readonly value: string };
  readonly defaultRetain: number;
  readonly readyTimeoutSeconds: number;
}

export type StartDecision =
  /** Reboot now (the image is made once the reboot is over). */
  | { readonly kind: 'reboot'; readonly instanceId: string }
  /** Image as it is: no-reboot mode, or a stopped instance whose disks are at rest. */
  | { readonly kind: 'queue'; readonly instanceId: string; readonly reason: string }
  /** Cannot be backed up this run; recorded as failed on the instance. */
  | { readonly kind: 'fail'; readonly instanceId: string; readonly reason: string }
  /** Nothing to do (and nothing to record). */
  | { readonly kind: 'skip'; readonly instanceId: string; readonly reason: string };

export interface StartRunPlan {
  readonly runId: string;
  readonly decisions: readonly StartDecision[];
  /** Tag writes, in the order they must be applied: before any reboot, so a crash never loses a rebooted instance. */
  readonly tagWrites: readonly TagWrite[];
  /** Instances whose policy-error tag must go (their tags are valid again). */
  readonly clearPolicyError: readonly string[];
  readonly rebootIds: readonly string[];
}

/** EC2 allows 50 user tags per resource (`aws:` tags do not count). */
const MAX_USER_TAGS = 50;

/**
 * Whether the instance can take every tag the service may write on it in a run. Without room, the step could never
 * be recorded: the run fails, and the failure can only be published.
 */
export function hasRoomForStepTags(tags: Instance['tags']): boolean {
  const keys = new Set(Object.keys(tags).filter((key) => !key.startsWith('aws:')));
  for (const key of Object.values(InstanceTag)) keys.add(key);
  return keys.size <= MAX_USER_TAGS;
}

function decide(instance: Instance, now: Date, runId: string, settings: StartRunSettings): StartDecision {
  const instanceId = instance.id;
  if (!isOptedIn(instance.tags, settings.optIn)) {
    return { kind: 'skip', instanceId, reason: `not opted in (${settings.optIn.key}=${settings.optIn.value})` };
  }
  const run = runOf(instance);
  if (run !== undefined && isBackupStep(run.step)) {
    if (run.runId === runId) {
      // A retry of this run: an instance recorded as rebooting whose reboot EC2 never confirmed is rebooted now.
      if (run.step === BackupStep.rebooting && !rebootConfirmed(instance, run.since) && instance.state === 'running') {
        return { kind: 'reboot', instanceId };
      }
      return { kind: 'skip', instanceId, reason: `run ${runId} already started (${run.step})` };
    }
    if (run.step === BackupStep.imaging) {
      // An earlier run's image is still pending; createImages records its outcome (or its timeout).
      return { kind: 'skip', instanceId, reason: `the image of run ${run.runId} is still pending` };
    }
    const inProgress = IN_PROGRESS_STEPS.includes(run.step);
    if (inProgress && now.getTime() - run.since.getTime() < settings.readyTimeoutSeconds * 1000) {
      return { kind: 'skip', instanceId, reason: `run ${run.runId} is in progress (${run.step})` };
    }
    // Older than the ready timeout: that run is over (createImages records it failed); this one starts afresh.
  }
  // Before the mode: nothing is recorded on an instance that is going away, whatever its tags say.
  if (instance.state === 'terminated' || instance.state === 'shutting-down') {
    return { kind: 'skip', instanceId, reason: `instance is ${instance.state}` };
  }
  if (!hasRoomForStepTags(instance.tags)) {
    return {
      kind: 'fail',
      instanceId,
      reason: `no room for the service's ${Object.keys(InstanceTag).length} tags: EC2 allows ${MAX_USER_TAGS} per instance`,
    };
  }
  // An invalid mode leaves no safe choice (reboot or not); an invalid retention only stops rotation, not backups.
  const mode = parseMode(instance.tags);
  if (!mode.ok) return { kind: 'fail', instanceId, reason: mode.problems.join('; ') };
  switch (instance.state) {
    case 'running':
      return mode.value === BackupMode.noReboot
        ? { kind: 'queue', instanceId, reason: 'no-reboot mode' }
        : { kind: 'reboot', instanceId };
    case 'stopped':
      return { kind: 'queue', instanceId, reason: 'stopped: imaged as it is' };
    case 'pending':
    case 'stopping':
      return { kind: 'fail', instanceId, reason: `instance was ${instance.state} when the run started` };
  }
}

/** The instance tags that confirm EC2 accepted the run's reboot (the same for every instance rebooted in one call). */
export function rebootConfirmation(now: Date): TagWrite['tags'] {
  return { [InstanceTag.rebootedAt]: now.toISOString() };
}

/**
 * Plans the start of run `runId` at `now`. A rerun of the same run changes nothing (instances already in it are
 * skipped); instances stuck in an earlier run's reboot or queue start afresh.
 */
export function planStartRun(
  instances: readonly Instance[],
  now: Date,
  settings: StartRunSettings,
  runId: string = formatRunId(now),
): StartRunPlan {
  const since = now.toISOString();
  const decisions = instances.map((instance) => decide(instance, now, runId, settings));
  const tagWrites: TagWrite[] = [];
  const clearPolicyError: string[] = [];
  instances.forEach((instance, index) => {
    const decision = decisions[index];
    // Without room for its tags, the failure is only published (see the use case).
    if (decision === undefined || decision.kind === 'skip' || !hasRoomForStepTags(instance.tags)) return;
    const policy = parseInstancePolicy(instance.tags, settings.defaultRetain);
    const policyError = policy.ok ? undefined : policy.problems.join('; ');
    if (policyError !== undefined && instance.tags[InstanceTag.policyError] !== tagValue(policyError)) {
      tagWrites.push({ resourceId: instance.id, tags: { [InstanceTag.policyError]: tagValue(policyError) } });
    }
    if (policyError === undefined && instance.tags[InstanceTag.policyError] !== undefined) {
      clearPolicyError.push(instance.id);
    }
    const run = { [InstanceTag.run]: runId, [InstanceTag.since]: since };
    if (decision.kind === 'reboot') {
      tagWrites.push({ resourceId: instance.id, tags: { ...run, [InstanceTag.state]: BackupStep.rebooting } });
    } else if (decision.kind === 'queue') {
      tagWrites.push({ resourceId: instance.id, tags: { ...run, [InstanceTag.state]: BackupStep.queued } });
    } else {
      tagWrites.push({
        resourceId: instance.id,
        tags: {
          ...run,
          [InstanceTag.state]: BackupStep.failed,
          [InstanceTag.lastError]: tagValue(`${runId}: ${decision.reason}`),
        },
      });
    }
  });
  const rebootIds = decisions.flatMap((decision) => (decision.kind === 'reboot' ? [decision.instanceId] : []));
  return { runId, decisions, tagWrites, clearPolicyError, rebootIds };
}
