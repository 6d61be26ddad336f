/**
 * Starting a night's run: which opted-in instances to queue for their image, which cannot be imaged (screened before
 * anything touches them), and which to leave. Nothing is rebooted here: the createImages passes image the queue, in
 * each group's turn. Pure: a function of the instances (with their tags), the policy and the run.
 */
import { HIBERNATED_STATE_REASON, type Instance, type TagWrite } from '../model';
import {
  type CopySettings,
  copyPolicyProblems,
  floorProblems,
  isOptedIn,
  NO_COPIES,
  parseGroup,
  parseInstancePolicy,
  parseMode,
  parseSharePolicy,
} from '../policy';
import { BackupMode, BackupStep, formatRunId, InstanceTag, isBackupStep, OperatorTag, tagValue } from '../tags';
import { runOf, windowEnd } from './progress';

export interface StartRunSettings {
  readonly optIn: { readonly key: string; readonly value: string };
  readonly defaultRetain: number;
  readonly rebootWindowMinutes: number;
  /** The deployment's retention floor: a tag below it is a policy error (the floor applies). */
  readonly minRetain: number;
  readonly minRetainDays: number;
  /** Where copies may go: invalid copy tags are policy errors too (no copy is made, the backup still runs). */
  readonly copies?: CopySettings;
  /** Whom backups are shared with by default: an invalid share tag is a policy error too (nothing is shared). */
  readonly shares?: { readonly defaultAccounts: readonly string[] };
  /** The account the service runs in, which a share tag may not name. */
  readonly accountId?: string;
}

export type StartDecision =
  /** To be imaged this run: the reason says how (with EC2's reboot in its group's turn, crash-consistent, at rest). */
  | { readonly kind: 'queue'; readonly instanceId: string; readonly reason: string }
  /** Cannot be backed up this run; recorded as failed on the instance. */
  | { readonly kind: 'fail'; readonly instanceId: string; readonly reason: string }
  /** Nothing to do (and nothing to record). */
  | { readonly kind: 'skip'; readonly instanceId: string; readonly reason: string };

export interface StartRunPlan {
  readonly runId: string;
  readonly decisions: readonly StartDecision[];
  /** Tag writes: every queued instance of the run gets the same tags, so they go in a few CreateTags calls. */
  readonly tagWrites: readonly TagWrite[];
  /** Instances whose policy-error tag must go (their tags are valid again). */
  readonly clearPolicyError: readonly string[];
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

/** Why an instance cannot be imaged at all, checked before anything touches it; undefined if it can. */
function screen(instance: Instance): string | undefined {
  if (instance.rootDeviceType === 'instance-store') {
    return 'root device is instance-store: CreateImage makes AMIs of EBS-backed instances only';
  }
  if (instance.state === 'stopped' && instance.stateReasonCode === HIBERNATED_STATE_REASON) {
    // AWS: an instance launched from an AMI of a hibernated instance may not be reachable; its RAM is on the root.
    return 'instance is hibernated: an AMI of it may not launch usable instances (start it, or stop it without hibernating)';
  }
  return undefined;
}

function queueReason(instance: Instance, mode: BackupMode): string {
  switch (instance.state) {
    case 'stopped':
      return 'stopped: imaged at rest, without a reboot';
    case 'running':
      return mode === BackupMode.noReboot
        ? 'no-reboot mode: imaged crash-consistent, without downtime'
        : "reboot mode: imaged through EC2's reboot, in its group's turn";
    default:
      return `instance is ${instance.state}: imaged once it is running or stopped, within the reboot window`;
  }
}

function decide(instance: Instance, now: Date, runId: string, settings: StartRunSettings): StartDecision {
  const instanceId = instance.id;
  if (!isOptedIn(instance.tags, settings.optIn)) {
    return { kind: 'skip', instanceId, reason: `not opted in (${settings.optIn.key}=${settings.optIn.value})` };
  }
  const run = runOf(instance);
  if (run !== undefined && isBackupStep(run.step)) {
    if (run.runId === runId) return { kind: 'skip', instanceId, reason: `run ${runId} already started (${run.step})` };
    if (run.step === BackupStep.imaging) {
      // An earlier run's image (or the instance's return from its reboot) is still awaited; createImages records it.
      return { kind: 'skip', instanceId, reason: `the image of run ${run.runId} is still in progress` };
    }
    if (run.step === BackupStep.queued && now.getTime() < windowEnd(run, settings).getTime()) {
      return { kind: 'skip', instanceId, reason: `run ${run.runId} is in progress (queued)` };
    }
    // An earlier run, over: this one starts afresh.
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
  const unsupported = screen(instance);
  if (unsupported !== undefined) return { kind: 'fail', instanceId, reason: unsupported };
  // An invalid mode or group leaves no safe choice (reboot or not, and with whom); an invalid retention only stops
  // rotation, not backups.
  const mode = parseMode(instance.tags);
  const group = parseGroup(instance.tags);
  if (!mode.ok || !group.ok) {
    return {
      kind: 'fail',
      instanceId,
      reason: [mode, group].flatMap((parsed) => (parsed.ok ? [] : parsed.problems)).join('; '),
    };
  }
  return { kind: 'queue', instanceId, reason: queueReason(instance, mode.value) };
}

function sharePolicyProblems(instance: Instance, settings: StartRunSettings): string[] {
  const policy = parseSharePolicy(instance.tags, settings.shares?.defaultAccounts ?? [], settings.accountId ?? '');
  return policy.ok ? [] : policy.problems;
}

/**
 * Plans the start of run `runId` at `now`. A rerun of the same run changes nothing (instances already in it are
 * skipped); instances left queued by an earlier run whose window is over start afresh.
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
    const floor = { retain: settings.minRetain, retainDays: settings.minRetainDays };
    const problems = [
      ...(policy.ok ? [] : policy.problems),
      ...floorProblems(instance.tags, OperatorTag, floor),
      ...copyPolicyProblems(instance.tags, settings.copies ?? NO_COPIES, floor),
      ...sharePolicyProblems(instance, settings),
    ];
    const policyError = problems.length === 0 ? undefined : problems.join('; ');
    if (policyError !== undefined && instance.tags[InstanceTag.policyError] !== tagValue(policyError)) {
      tagWrites.push({ resourceId: instance.id, tags: { [InstanceTag.policyError]: tagValue(policyError) } });
    }
    if (policyError === undefined && instance.tags[InstanceTag.policyError] !== undefined) {
      clearPolicyError.push(instance.id);
    }
    const neverBackedUp =
      instance.tags[InstanceTag.lastSuccess] === undefined && instance.tags[InstanceTag.firstRun] === undefined;
    const run = {
      [InstanceTag.run]: runId,
      [InstanceTag.since]: since,
      ...(neverBackedUp ? { [InstanceTag.firstRun]: runId } : {}),
    };
    if (decision.kind === 'queue') {
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
  return { runId, decisions, tagWrites, clearPolicyError };
}
