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
} as const;

/** Tags the service sets on an instance: the step it is in and what the next step needs. */
export const InstanceTag = {
  /** The instance's step, one of {@link BackupStep}. */
  state: 'ami-backup:state',
  /** The run the step belongs to (see {@link formatRunId}). */
  run: 'ami-backup:run',
  /** When the step started (ISO-8601): the reboot request, or the queueing of an instance imaged without reboot. */
  since: 'ami-backup:since',
  /**
   * When EC2 accepted the run's reboot (ISO-8601), written after RebootInstances returns: a step `rebooting` without
   * it (or with an older one) was never rebooted, so it is rebooted on the run's retry and never imaged unrebooted.
   */
  rebootedAt: 'ami-backup:rebooted-at',
  /**
   * The run of the last good backup, whose image is therefore `ami-backup-<instance>-<run>`. The same value for every
   * instance of a run, so that one CreateTags call records many successes (an image id would cost one per instance).
   */
  lastSuccess: 'ami-backup:last-success',
  /** Why the last run failed, prefixed with its run id. */
  lastError: 'ami-backup:last-error',
  /** Why the operator's tags cannot be used (for example `ami-backup:retain=abc`); removed once they are valid. */
  policyError: 'ami-backup:policy-error',
} as const;

/** Tags the service sets on every image and snapshot it creates. */
export const ImageTag = {
  /** Ownership: the service and stage that created the resource. Nothing without it is ever deleted. */
  managedBy: 'ami-backup:managed-by',
  /** The instance the image was made from, so that rotation works after the instance is gone. */
  instanceId: 'ami-backup:instance-id',
  /** The run that made it. */
  run: 'ami-backup:run',
  /** The retention that applied when it was made (used when the instance is gone). */
  retain: 'ami-backup:retain',
  retainDays: 'ami-backup:retain-days',
} as const;

/** An instance's step. Absent means the instance has never been backed up. */
export const BackupStep = {
  /** A reboot was requested at `since`; the image is made once the reboot is over. */
  rebooting: 'rebooting',
  /** To be imaged as it is (no-reboot mode, or stopped), queued at `since`. */
  queued: 'queued',
  /** CreateImage was called; the run's image is pending. */
  imaging: 'imaging',
  succeeded: 'succeeded',
  failed: 'failed',
} as const;
export type BackupStep = (typeof BackupStep)[keyof typeof BackupStep];

export const BACKUP_STEPS: readonly BackupStep[] = Object.values(BackupStep);
/** Steps of a run still in progress. */
export const IN_PROGRESS_STEPS: readonly BackupStep[] = [BackupStep.rebooting, BackupStep.queued, BackupStep.imaging];

export const BackupMode = { reboot: 'reboot', noReboot: 'no-reboot' } as const;
export type BackupMode = (typeof BackupMode)[keyof typeof BackupMode];

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
