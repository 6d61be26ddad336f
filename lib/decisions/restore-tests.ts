/**
 * Restore tests: which images to launch an instance from, and what each test instance's state says. Pure: a function
 * of the opted-in instances, the service's images, its test instances (with their status checks) and now.
 *
 * A test launches an instance from an instance's newest good backup (an image that is the service's own and recorded
 * `succeeded`), and passes once that instance is `running` with both status checks `ok`. It fails when a status check
 * is `impaired`, the instance stops or is terminated by anyone else, or it has not passed within the timeout. The
 * result is recorded on the image (`ami-backup:restore-test`), and the test instance is then terminated: a test
 * instance never outlives its test, whatever happened to the pass that launched it.
 *
 * What it promises: one test instance per image and test run (a pass repeated with the same time chooses the same
 * images, and skips those already tested in that run or with a test in flight); nothing is launched from an image that
 * is not the service's own good backup; every test instance is terminated once its result is recorded, once it is
 * older than the timeout, or once its image is gone.
 */
import type { CheckStatus, Image, Instance, InstanceHealth } from '../model';
import {
  formatRestoreResult,
  formatRunId,
  ImageTag,
  parseRestoreResult,
  type RestoreResult,
  RestoreTestTag,
} from '../tags';
import { isGood, lookAlikeReasons, type Ours } from './rotation';

export interface RestoreTestSettings {
  /** Instances tested per run, the least recently tested first; undefined: all. */
  readonly sample?: number;
  /** A test not passed this long after its launch fails, and its instance is terminated. */
  readonly timeoutMinutes: number;
  /** The instance type of test instances; undefined: the source instance's. */
  readonly instanceType?: string;
}

export interface Launch {
  readonly instanceId: string;
  readonly imageId: string;
  /** Undefined when neither the settings nor EC2 say (EC2's default type then). */
  readonly instanceType?: string;
  /** The run the test belongs to: the pass's minute. */
  readonly testRun: string;
  /** RunInstances' idempotency token: the image and the test run, so a repeated pass launches nothing more. */
  readonly clientToken: string;
}

export type TestAction =
  /** Running, both status checks ok: record `passed`, then terminate. */
  | 'passed'
  /** Impaired, stopped, terminated by someone else, or timed out: record `failed`, then terminate. */
  | 'failed'
  /** Still starting, within the timeout. */
  | 'wait'
  /** Its result is recorded already, or its image is gone: only terminate it. */
  | 'terminate'
  /** Shutting down or terminated, its result recorded: nothing left to do. */
  | 'done';

export interface TestVerdict {
  readonly testInstanceId: string;
  readonly action: TestAction;
  /** The instance the tested image was made from. */
  readonly instanceId?: string;
  readonly imageId?: string;
  readonly reason?: string;
  /** The result to record on the image, for `passed` and `failed`. */
  readonly result?: RestoreResult;
  /** Whether the test instance is to be terminated now. */
  readonly terminate: boolean;
}

const MINUTE_MS = 60_000;
const GONE: ReadonlySet<string> = new Set(['shutting-down', 'terminated']);

/** RunInstances' client token for a test of `imageId` in `testRun`: 64 ASCII characters at most. */
export function restoreClientToken(imageId: string, testRun: string): string {
  return `ami-backup-restore-${imageId}-${testRun}`.slice(0, 64);
}

/** Whether an instance is one of the service's test instances (ownership tag and test-instance tag). */
export function isTestInstance(instance: Instance, owner: string): boolean {
  return instance.tags[ImageTag.managedBy] === owner && instance.tags[RestoreTestTag.testInstance] !== undefined;
}

/** The newest good backup of each instance that is the service's own, by instance id. */
export function newestGoodImages(images: readonly Image[], ours: Ours): Map<string, Image> {
  const newest = new Map<string, Image>();
  for (const image of images) {
    if (!isGood(image) || lookAlikeReasons(image, ours).length > 0) continue;
    const instanceId = image.tags[ImageTag.instanceId] ?? '';
    const current = newest.get(instanceId);
    if (
      current === undefined ||
      image.createdAt.getTime() > current.createdAt.getTime() ||
      (image.createdAt.getTime() === current.createdAt.getTime() && image.id > current.id)
    ) {
      newest.set(instanceId, image);
    }
  }
  return newest;
}

/**
 * The images to launch a test instance from in the run starting `now`: for each opted-in instance with a good backup
 * (or the `sample` of them tested least recently before `now`, then by instance id), its newest good backup, unless
 * it was tested in this run already (a result at or after `now`) or a test of the instance is in flight.
 */
export function planLaunches(
  optedIn: readonly Instance[],
  images: readonly Image[],
  testInstances: readonly Instance[],
  ours: Ours,
  now: Date,
  settings: RestoreTestSettings,
): Launch[] {
  const testRun = formatRunId(now);
  const newest = newestGoodImages(images, ours);
  // When each instance was last tested before this run (any of its images): the sample's order, the same for every
  // pass of the run.
  const lastTested = new Map<string, number>();
  const testedInRun = new Set<string>();
  for (const image of images) {
    const result = parseRestoreResult(image.tags[RestoreTestTag.result]);
    const instanceId = image.tags[ImageTag.instanceId];
    if (result === undefined || instanceId === undefined || image.tags[ImageTag.managedBy] !== ours.owner) continue;
    if (result.at.getTime() >= now.getTime()) {
      testedInRun.add(image.id);
      continue;
    }
    lastTested.set(instanceId, Math.max(lastTested.get(instanceId) ?? Number.NEGATIVE_INFINITY, result.at.getTime()));
  }
  const inFlight = new Set<string>();
  for (const test of testInstances) {
    if (!isTestInstance(test, ours.owner)) continue;
    const sameRun = test.tags[RestoreTestTag.testInstance] === testRun;
    if (!GONE.has(test.state) || sameRun) {
      inFlight.add(test.tags[ImageTag.instanceId] ?? '');
      inFlight.add(test.tags[RestoreTestTag.imageId] ?? '');
    }
  }
  const candidates = optedIn
    .filter((instance) => newest.has(instance.id) && !GONE.has(instance.state))
    .sort(
      (a, b) =>
        (lastTested.get(a.id) ?? Number.NEGATIVE_INFINITY) - (lastTested.get(b.id) ?? Number.NEGATIVE_INFINITY) ||
        a.id.localeCompare(b.id),
    );
  const chosen = settings.sample === undefined ? candidates : candidates.slice(0, settings.sample);
  return chosen.flatMap((instance) => {
    const image = newest.get(instance.id) as Image; // candidates have one
    if (testedInRun.has(image.id) || inFlight.has(instance.id) || inFlight.has(image.id)) return [];
    const instanceType = settings.instanceType ?? instance.instanceType;
    return [
      {
        instanceId: instance.id,
        imageId: image.id,
        ...(instanceType === undefined ? {} : { instanceType }),
        testRun,
        clientToken: restoreClientToken(image.id, testRun),
      },
    ];
  });
}

const impaired = (status: CheckStatus | undefined): boolean => status === 'impaired';

/**
 * What each of the service's test instances says at `now`. `images` are the service's images (a test instance's
 * image not among them is gone); `health` holds the status checks of the running ones.
 */
export function judgeTests(
  testInstances: readonly Instance[],
  images: readonly Image[],
  health: ReadonlyMap<string, InstanceHealth>,
  owner: string,
  now: Date,
  settings: RestoreTestSettings,
): TestVerdict[] {
  const byId = new Map(images.map((image) => [image.id, image]));
  return testInstances
    .filter((test) => isTestInstance(test, owner))
    .sort((a, b) => a.id.localeCompare(b.id))
    .map((test): TestVerdict => {
      const imageId = test.tags[RestoreTestTag.imageId];
      const instanceId = test.tags[ImageTag.instanceId];
      const ids = {
        testInstanceId: test.id,
        ...(instanceId === undefined ? {} : { instanceId }),
        ...(imageId === undefined ? {} : { imageId }),
      };
      const gone = GONE.has(test.state);
      const image = imageId === undefined ? undefined : byId.get(imageId);
      if (image === undefined) {
        return { ...ids, action: gone ? 'done' : 'terminate', reason: 'its image is gone', terminate: !gone };
      }
      // Its launch time, else (EC2 always says) its run's start.
      const launchedAt = test.launchedAt?.getTime() ?? now.getTime();
      const recorded = parseRestoreResult(image.tags[RestoreTestTag.result]);
      if (recorded !== undefined && recorded.at.getTime() >= launchedAt) {
        return { ...ids, action: gone ? 'done' : 'terminate', reason: 'result recorded', terminate: !gone };
      }
      const fail = (reason: string): TestVerdict => ({
        ...ids,
        action: 'failed',
        reason,
        result: { at: now, passed: false, reason },
        terminate: !gone,
      });
      if (gone) return fail(`test instance ${test.state} before its status checks passed`);
      if (test.state === 'stopping' || test.state === 'stopped') {
        return fail(`test instance ${test.state}${test.stateReasonCode ? ` (${test.stateReasonCode})` : ''}`);
      }
      const checks = health.get(test.id);
      if (test.state === 'running' && checks !== undefined) {
        if (checks.instanceStatus === 'ok' && checks.systemStatus === 'ok') {
          return { ...ids, action: 'passed', result: { at: now, passed: true }, terminate: true };
        }
        if (impaired(checks.instanceStatus) || impaired(checks.systemStatus)) {
          return fail(`status checks impaired (instance ${checks.instanceStatus}, system ${checks.systemStatus})`);
        }
      }
      if (now.getTime() - launchedAt >= settings.timeoutMinutes * MINUTE_MS) {
        const status =
          checks === undefined
            ? ''
            : `, instance status ${checks.instanceStatus}, system status ${checks.systemStatus}`;
        return fail(
          `not running with both status checks ok within ${settings.timeoutMinutes} minutes (${test.state}${status})`,
        );
      }
      return { ...ids, action: 'wait', terminate: false };
    });
}

/** The tag value recording a verdict's result on its image. */
export function resultTag(verdict: TestVerdict): string | undefined {
  return verdict.result === undefined ? undefined : formatRestoreResult(verdict.result);
}
