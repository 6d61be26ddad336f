/**
 * Every tag key this service reads or writes, and the formats of their values: the one place they are defined.
 * All of the service's state lives in these tags (there is no database).
 */

/** Prefix of every key the service owns; IAM limits the service's CreateTags to keys under it. */
export const TAG_PREFIX = 'ami-backup:';

/** Tags an operator sets on an instance (besides the configurable opt-in tag, `Backup=true` by default). */
export const OperatorTag = {
  /** How many good (available) images to keep; a whole number ≥ 1, default from configuration. */
  retain: 'ami-backup:retain',
  /** Also keep good images younger than this many days; a whole number ≥ 1, optional. */
  retainDays: 'ami-backup:retain-days',
  /** `reboot` (default) or `no-reboot`. */
  mode: 'ami-backup:mode',
  /**
   * The instance's group (free text, see {@link parseGroup}): at most `maxDownPerGroup` members of a group are in an
   * image's reboot at once. Without it, an Auto Scaling group's members form a group ({@link AUTO_SCALING_GROUP_TAG}).
   */
  group: 'ami-backup:group',
} as const;

/** The tag EC2 Auto Scaling puts on the instances it launches: its group's name. */
export const AUTO_SCALING_GROUP_TAG = 'aws:autoscaling:groupName';

/** Tags the service sets on an instance: the step it is in and what the next step needs. */
export const InstanceTag = {
  /** The instance's step, one of {@link BackupStep}. */
  state: 'ami-backup:state',
  /** The run the step belongs to (see {@link formatRunId}). */
  run: 'ami-backup:run',
  /**
   * When the step started (ISO-8601): the run's start for `queued`; for `imaging`, the minute of the CreateImage call
   * ({@link IMAGING_SINCE_STEP_SECONDS}), from which the reboot's grace period counts.
   */
  since: 'ami-backup:since',
  /** How the run's image is made, one of {@link ImageMode}; set with the step `imaging`. */
  imageMode: 'ami-backup:image-mode',
  /**
   * When the instance was seen back from its image's reboot (ISO-8601): running, both status checks `ok`, after the
   * grace period. Until then (if it is not older than `since`) the instance counts as down in its group.
   */
  healthyAt: 'ami-backup:healthy-at',
  /**
   * The run of the last good backup, whose image is therefore `ami-backup-<instance>-<run>`. The same value for every
   * instance of a run, so that one CreateTags call records many successes (an image id would cost one per instance).
   */
  lastSuccess: 'ami-backup:last-success',
  /** Why the last run failed, prefixed with its run id. */
  lastError: 'ami-backup:last-error',
  /** Why the operator's tags cannot be used (for example `ami-backup:retain=abc`); removed once they are valid. */
  policyError: 'ami-backup:policy-error',
  /**
   * The first run of an instance that has no good backup yet, set once: how long it has gone without one, for the
   * stale-backup audit (its current run is always recent).
   */
  firstRun: 'ami-backup:first-run',
} as const;

/**
 * The tags that record a run's outcome: written on the instance and on its image (the image also gets its approval,
 * {@link IMAGE_OUTCOME_TAG_KEYS}). Each function's IAM role allows just the keys it writes.
 */
export const OUTCOME_TAG_KEYS = [InstanceTag.state, InstanceTag.lastSuccess, InstanceTag.lastError] as const;
export type OutcomeTags = Readonly<Partial<Record<(typeof OUTCOME_TAG_KEYS)[number], string>>>;

/**
 * Whether an image may be launched from: a tag an IAM condition (`ec2:ResourceTag/ami-backup:approved`) or an AWS
 * Config rule can test. Only images carry it, and only the service writes it:
 * - `verified`: recorded good (state `succeeded`: available, and its instance back healthy after a reboot), written
 *   in the CreateTags call that records the outcome;
 * - `restore-tested`: verified, and its last restore test passed;
 * - `restore-failed`: a restore test failed. Final: a later test that passes does not approve the image again.
 * Without the tag (a failed backup, or an image recorded before the tag existed) an image is not approved; the tag
 * is never added later to an image recorded without it.
 */
export const ApprovalTag = { approved: 'ami-backup:approved' } as const;
export const Approval = {
  verified: 'verified',
  restoreTested: 'restore-tested',
  restoreFailed: 'restore-failed',
} as const;
export type Approval = (typeof Approval)[keyof typeof Approval];
/** The values that approve an image for launching. */
export const APPROVED_VALUES: readonly Approval[] = [Approval.verified, Approval.restoreTested];

/** The keys written on an image when its outcome is recorded: the outcome, and its approval. */
export const IMAGE_OUTCOME_TAG_KEYS = [...OUTCOME_TAG_KEYS, ApprovalTag.approved] as const;
export type ImageOutcomeTags = Readonly<Partial<Record<(typeof IMAGE_OUTCOME_TAG_KEYS)[number], string>>>;

/**
 * An image's approval after a restore test, from its approval before (undefined: no change to write). A failure
 * always revokes it; a pass approves only a verified image (never one recorded without the tag, or one that failed).
 */
export function approvalAfterRestoreTest(current: string | undefined, passed: boolean): Approval | undefined {
  if (!passed) return Approval.restoreFailed;
  return current === Approval.verified || current === Approval.restoreTested ? Approval.restoreTested : undefined;
}

/** Tags the service sets on every image and snapshot it creates. */
export const ImageTag = {
  /** Ownership: the service and stage that created the resource. Nothing without it is ever deleted. */
  managedBy: 'ami-backup:managed-by',
  /** The instance the image was made from, so that rotation works after the instance is gone. */
  instanceId: 'ami-backup:instance-id',
  /** The run that made it. */
  run: 'ami-backup:run',
  /** How it was made, one of {@link ImageMode}: what its consistency is. */
  imageMode: 'ami-backup:image-mode',
  /** The retention that applied when it was made (used when the instance is gone). */
  retain: 'ami-backup:retain',
  retainDays: 'ami-backup:retain-days',
} as const;

/** The tag rotation keeps on an instance's newest good image: the night's count of its images expired. */
export const RotationTag = {
  /**
   * `<UTC date>/<count>`: how many of the instance's images rotation has expired (or is about to: it is written
   * before the deregistrations) that day, failed images aside. The daily cap counts from it, whatever the number
   * of invocations.
   */
  expiredToday: 'ami-backup:expired-today',
} as const;

/** The UTC day a time falls on, as the expiry count names it: `2026-11-30`. */
export function utcDay(time: Date): string {
  return time.toISOString().slice(0, 10);
}

/** `2026-11-30/3`. */
export function formatExpiredToday(day: string, count: number): string {
  return `${day}/${count}`;
}

/**
 * The images expired on `day` by the tag's value: 0 without a value or for another day's count; undefined for a
 * value that cannot be read (rotation then expires no good image of that instance that day).
 */
export function expiredOn(value: string | undefined, day: string): number | undefined {
  if (value === undefined) return 0;
  const match = /^(\d{4}-\d{2}-\d{2})\/(\d{1,4})$/.exec(value);
  if (match === null) return undefined;
  return match[1] === day ? Number(match[2]) : 0;
}

/**
 * Copies to other Regions (disaster recovery): an operator names the Regions on an instance; each good backup is copied
 * there with CopyImage, called in the destination Region.
 */
export const CopyTag = {
  /** On an instance (operator): comma-separated Region names its good backups are copied to. */
  copyTo: 'ami-backup:copy-to',
  /** On an instance (operator): good copies kept per Region; default: the instance's `ami-backup:retain`. */
  copyRetain: 'ami-backup:copy-retain',
  /** On an instance (operator): also keep copies younger than this many days; default: its `ami-backup:retain-days`. */
  copyRetainDays: 'ami-backup:copy-retain-days',
  /** On a copy (at creation): the image it was copied from, in the Region named by {@link CopyTag.sourceRegion}. */
  sourceImage: 'ami-backup:source-image',
  /** On a copy (at creation): the Region of its source image. */
  sourceRegion: 'ami-backup:source-region',
  /**
   * On a source image: the outcome of its copy in each Region, `<region>=<state>:<copy id>` comma-separated, sorted
   * (see {@link formatCopyRecord}). A Region recorded here is never copied to again for that image, whatever became
   * of the copy since (expired by its own retention, or cleaned up after failing).
   */
  copies: 'ami-backup:copies',
} as const;

/** A copy's outcome as recorded on its source image and on the copy itself (`ami-backup:state`). */
export const CopyOutcome = { succeeded: 'succeeded', failed: 'failed' } as const;
export type CopyOutcome = (typeof CopyOutcome)[keyof typeof CopyOutcome];

export interface CopyRecordEntry {
  readonly state: CopyOutcome;
  readonly imageId: string;
}

/** `eu-west-1=failed:ami-0…,us-west-2=succeeded:ami-0…`: Regions sorted, so equal records are equal strings. */
export function formatCopyRecord(record: ReadonlyMap<string, CopyRecordEntry>): string {
  return [...record.entries()]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([region, entry]) => `${region}=${entry.state}:${entry.imageId}`)
    .join(',');
}

/** The copies recorded on a source image, by Region; entries that cannot be read are left out. */
export function parseCopyRecord(value: string | undefined): Map<string, CopyRecordEntry> {
  const record = new Map<string, CopyRecordEntry>();
  for (const entry of (value ?? '').split(',')) {
    const parts = /^([a-z0-9-]+)=(succeeded|failed):(ami-[0-9a-f]+)$/.exec(entry.trim());
    if (parts === null) continue;
    record.set(parts[1] as string, { state: parts[2] as CopyOutcome, imageId: parts[3] as string });
  }
  return record;
}

/**
 * Sharing with other accounts: an operator names the accounts on an instance; each good backup gets launch permission
 * for them (and its snapshots create-volume permission), through a re-encrypted copy when its key cannot be shared.
 */
export const ShareTag = {
  /** On an instance (operator): comma-separated 12-digit account ids its good backups are shared with. */
  shareWith: 'ami-backup:share-with',
  /**
   * On a shared image (service): the accounts it is shared with, sorted (see {@link formatAccounts}); an empty value
   * once unshared. Written after the permissions change: a record to read without DescribeImageAttribute.
   */
  sharedWith: 'ami-backup:shared-with',
  /**
   * On a re-encrypted copy (at creation): the image it was copied from. The copy is shared in its source's place and
   * goes when its source goes.
   */
  reencryptedFrom: 'ami-backup:reencrypted-from',
  /** On an instance (service): why its backups cannot be shared, and what to set; removed once they can. */
  shareError: 'ami-backup:share-error',
} as const;

/** `111122223333,444455556666`: sorted and deduplicated, so equal sets are equal strings. */
export function formatAccounts(accounts: Iterable<string>): string {
  return [...new Set(accounts)].sort().join(',');
}

/**
 * Tags of restore tests: an instance launched from an image, checked, then terminated. The test instance also carries
 * the ownership tag ({@link ImageTag.managedBy}) and the instance its image was made from ({@link ImageTag.instanceId}).
 */
export const RestoreTestTag = {
  /** On an image: its last restore test, `<ISO time> passed` or `<ISO time> failed: <reason>` (see {@link formatRestoreResult}). */
  result: 'ami-backup:restore-test',
  /** On a test instance: marks it as one, with the run id of the pass that launched it (see {@link formatRunId}). */
  testInstance: 'ami-backup:test-instance',
  /** On a test instance: the image it was launched from. */
  imageId: 'ami-backup:image-id',
} as const;

export interface RestoreResult {
  readonly at: Date;
  readonly passed: boolean;
  readonly reason?: string;
}

/** `2026-11-29T12:20:00.000Z passed` or `2026-11-29T12:20:00.000Z failed: <reason>`, cut to EC2's limit. */
export function formatRestoreResult(result: RestoreResult): string {
  const outcome = result.passed ? 'passed' : `failed${result.reason === undefined ? '' : `: ${result.reason}`}`;
  return tagValue(`${result.at.toISOString()} ${outcome}`);
}

/** A restore test's result from its tag value; undefined if it is not one. */
export function parseRestoreResult(value: string | undefined): RestoreResult | undefined {
  const parts = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?Z) (passed|failed)(?:: (.*))?$/s.exec(value ?? '');
  if (parts === null) return undefined;
  const at = new Date(parts[1] as string);
  if (Number.isNaN(at.getTime())) return undefined;
  return { at, passed: parts[2] === 'passed', ...(parts[3] === undefined ? {} : { reason: parts[3] }) };
}

/** An instance's step. Absent means the instance has never been backed up. */
export const BackupStep = {
  /** Waiting for its image: at once when imaged without downtime, in its group's turn when imaged with a reboot. */
  queued: 'queued',
  /**
   * CreateImage was called: the run's image is pending, and in `reboot` image mode the instance is down until it is
   * seen back healthy (`healthy-at`). The outcome is recorded once both are known.
   */
  imaging: 'imaging',
  succeeded: 'succeeded',
  failed: 'failed',
} as const;
export type BackupStep = (typeof BackupStep)[keyof typeof BackupStep];

export const BACKUP_STEPS: readonly BackupStep[] = Object.values(BackupStep);
/** Steps of a run still in progress. */
export const IN_PROGRESS_STEPS: readonly BackupStep[] = [BackupStep.queued, BackupStep.imaging];

export const BackupMode = { reboot: 'reboot', noReboot: 'no-reboot' } as const;
export type BackupMode = (typeof BackupMode)[keyof typeof BackupMode];

/** How an image is made, which says what its snapshots hold. */
export const ImageMode = {
  /** CreateImage with `NoReboot=false`: EC2 shuts the OS down, snapshots the volumes at rest, then boots it. */
  reboot: 'reboot',
  /** CreateImage with `NoReboot=true` on a running instance: crash-consistent snapshots, no downtime. */
  noReboot: 'no-reboot',
  /** A stopped instance: its volumes are at rest already, nothing is rebooted. */
  stopped: 'stopped',
} as const;
export type ImageMode = (typeof ImageMode)[keyof typeof ImageMode];

export function parseImageMode(value: string | undefined): ImageMode | undefined {
  return (Object.values(ImageMode) as readonly string[]).includes(value ?? '') ? (value as ImageMode) : undefined;
}

/**
 * `imaging` since-times are the start of the minute of the CreateImage call. Passes run at the top of each minute and
 * make their calls in its first seconds, so the pass `rebootGraceSeconds` later is the one that checks the instance
 * (counted from the call itself, it would always be the pass after: a minute more per member of a group); and every
 * call of a pass shares the tag, so one CreateTags call records them all.
 */
export const IMAGING_SINCE_STEP_SECONDS = 60;

/**
 * Failure reasons that mean something to the service itself start with one of these words (`last-error` is
 * `<run>: <reason>`): a run that missed its reboot window is taken first the next night.
 */
export const FailureKind = {
  /** The instance's turn for an image reboot did not come within the reboot window. */
  missedWindow: 'missed-window',
  /** The image was made but the instance did not come back healthy from its reboot: the image is not a good backup. */
  failedVerification: 'failed-verification',
} as const;
export type FailureKind = (typeof FailureKind)[keyof typeof FailureKind];

/** EC2's limits on user tags. */
export const MAX_TAG_VALUE_LENGTH = 256;

export type Tags = Readonly<Record<string, string>>;

export function isBackupStep(value: string | undefined): value is BackupStep {
  return value !== undefined && (BACKUP_STEPS as readonly string[]).includes(value);
}

/**
 * A run id names one night's backup of one instance: the UTC minute the run started, `YYYYMMDDTHHMMZ`.
 * It has no `:` because it goes into AMI names, where EC2 rejects `:`.
 */
export function formatRunId(start: Date): string {
  const iso = start.toISOString(); // 2026-11-26T03:00:12.345Z
  return `${iso.slice(0, 4)}${iso.slice(5, 7)}${iso.slice(8, 10)}T${iso.slice(11, 13)}${iso.slice(14, 16)}Z`;
}

/** The start of a run, from its id; undefined if it is not one. */
export function parseRunId(runId: string | undefined): Date | undefined {
  const parts = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})Z$/.exec(runId ?? '');
  if (parts === null) return undefined;
  const [, year, month, day, hour, minute] = parts.map(Number) as [number, number, number, number, number, number];
  const start = new Date(Date.UTC(year, month - 1, day, hour, minute));
  return formatRunId(start) === runId ? start : undefined;
}

/** The AMI name of an instance's image in a run: deterministic, so a rerun finds the image instead of making another. */
export function imageName(instanceId: string, runId: string): string {
  return `ami-backup-${instanceId}-${runId}`;
}

/**
 * Tag values are cut to EC2's limit, so that a long message can never make the tagging call fail. AWS documents the
 * limit as 256 Unicode characters without saying how a character outside the BMP counts, so the value is measured in
 * UTF-16 units, which is never less than the count in code points: within the limit under either reading. A
 * character is never cut in half, which could not be encoded into the request at all.
 */
export function tagValue(text: string): string {
  if (text.length <= MAX_TAG_VALUE_LENGTH) return text;
  const ellipsis = '…';
  let kept = '';
  for (const character of text) {
    if (kept.length + character.length > MAX_TAG_VALUE_LENGTH - ellipsis.length) break;
    kept += character;
  }
  return `${kept}${ellipsis}`;
}
