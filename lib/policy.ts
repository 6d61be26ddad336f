/**
 * An instance's backup policy, read from the tags an operator sets. Invalid values are reported, never guessed:
 * an instance whose retention cannot be read never has an image expired.
 */
import { AUTO_SCALING_GROUP_TAG, BackupMode, CopyTag, ImageTag, OperatorTag, ShareTag, type Tags } from './tags';

export interface Retention {
  /** Keep this many newest good images (≥ 1: the last good backup is always kept). */
  readonly retain: number;
  /** Also keep good images younger than this many days. */
  readonly retainDays?: number;
}

export interface BackupPolicy extends Retention {
  readonly mode: BackupMode;
  readonly group?: string;
}

export type Parsed<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly problems: string[] };

/** Upper bounds that keep a typo from meaning "keep forever" silently: EC2 allows 50,000 AMIs per Region. */
export const MAX_RETAIN = 1000;
export const MAX_RETAIN_DAYS = 3650;

export function isOptedIn(tags: Tags, optIn: { key: string; value: string }): boolean {
  return tags[optIn.key] === optIn.value;
}

function parseCount(key: string, raw: string | undefined, max: number): Parsed<number | undefined> {
  if (raw === undefined) return { ok: true, value: undefined };
  if (!/^[0-9]+$/.test(raw) || Number(raw) < 1 || Number(raw) > max) {
    return { ok: false, problems: [`${key}=${JSON.stringify(raw)} must be a whole number from 1 to ${max}`] };
  }
  return { ok: true, value: Number(raw) };
}

/** Reads retention from tags under the given keys (an instance's operator tags, or the tags recorded on an image). */
export function parseRetention(
  tags: Tags,
  keys: { retain: string; retainDays: string },
  defaultRetain: number | undefined,
): Parsed<Retention> {
  const retain = parseCount(keys.retain, tags[keys.retain], MAX_RETAIN);
  const retainDays = parseCount(keys.retainDays, tags[keys.retainDays], MAX_RETAIN_DAYS);
  const problems = [...(retain.ok ? [] : retain.problems), ...(retainDays.ok ? [] : retainDays.problems)];
  if (!retain.ok || !retainDays.ok) return { ok: false, problems };
  const count = retain.value ?? defaultRetain;
  if (count === undefined) return { ok: false, problems: [`${keys.retain} is missing`] };
  return {
    ok: true,
    value: retainDays.value === undefined ? { retain: count } : { retain: count, retainDays: retainDays.value },
  };
}

export function parseMode(tags: Tags): Parsed<BackupMode> {
  const raw = tags[OperatorTag.mode];
  if (raw === undefined || raw === BackupMode.reboot) return { ok: true, value: BackupMode.reboot };
  if (raw === BackupMode.noReboot) return { ok: true, value: BackupMode.noReboot };
  return {
    ok: false,
    problems: [`${OperatorTag.mode}=${JSON.stringify(raw)} must be '${BackupMode.reboot}' or '${BackupMode.noReboot}'`],
  };
}

/** A group name: what EC2 allows in a tag value, less the characters that would make a log line ambiguous. */
const GROUP_NAME = /^[\p{L}\p{N} _.:/=+\-@]{1,128}$/u;

/**
 * The group an instance's image reboots are staggered in: its own `ami-backup:group` tag, else its Auto Scaling
 * group (an operator's group of the same name is the same group), else none (only the fleet-wide cap applies).
 */
export function parseGroup(tags: Tags): Parsed<string | undefined> {
  const own = tags[OperatorTag.group];
  if (own === undefined) return { ok: true, value: tags[AUTO_SCALING_GROUP_TAG] };
  if (!GROUP_NAME.test(own)) {
    return {
      ok: false,
      problems: [
        `${OperatorTag.group}=${JSON.stringify(own)} must be 1–128 letters, digits, spaces or _ . : / = + - @`,
      ],
    };
  }
  return { ok: true, value: own };
}

/** The deployment's floor under every retention: no tag edit can keep fewer images, or for less long. */
export interface RetentionFloor {
  /** At least this many good images are kept (`minRetain`, ≥ 1). */
  readonly retain: number;
  /** Good images younger than this many days are kept (`minRetainDays`; 0 is no floor). */
  readonly retainDays: number;
}

export const NO_FLOOR: RetentionFloor = { retain: 1, retainDays: 0 };

/** A retention raised to the floor (a retention recorded on an image, or one read from an instance's tags). */
export function applyFloor(retention: Retention, floor: RetentionFloor): Retention {
  const retain = Math.max(retention.retain, floor.retain);
  const days = Math.max(retention.retainDays ?? 0, floor.retainDays);
  return days === 0 ? { retain } : { retain, retainDays: days };
}

/**
 * What in an instance's retention tags is below the floor: a policy error (the floor applies, rotation still runs).
 * A `retain-days` tag below the floor is one; no tag at all is not (the floor applies silently).
 */
export function floorProblems(
  tags: Tags,
  keys: { retain: string; retainDays: string },
  floor: RetentionFloor,
): string[] {
  const problems: string[] = [];
  const retain = tags[keys.retain];
  if (retain !== undefined && /^[0-9]+$/.test(retain) && Number(retain) >= 1 && Number(retain) < floor.retain) {
    problems.push(
      `${keys.retain}=${JSON.stringify(retain)} is below the deployment's floor of ${floor.retain} (minRetain): ${floor.retain} kept`,
    );
  }
  const days = tags[keys.retainDays];
  if (days !== undefined && /^[0-9]+$/.test(days) && Number(days) >= 1 && Number(days) < floor.retainDays) {
    problems.push(
      `${keys.retainDays}=${JSON.stringify(days)} is below the deployment's floor of ${floor.retainDays} days (minRetainDays): ${floor.retainDays} kept`,
    );
  }
  return problems;
}

/** The policy an operator set on an instance. */
export function parseInstancePolicy(tags: Tags, defaultRetain: number): Parsed<BackupPolicy> {
  const mode = parseMode(tags);
  const group = parseGroup(tags);
  const retention = parseRetention(tags, OperatorTag, defaultRetain);
  if (mode.ok && group.ok && retention.ok) {
    const value = { ...retention.value, mode: mode.value };
    return { ok: true, value: group.value === undefined ? value : { ...value, group: group.value } };
  }
  const problems = [mode, group, retention].flatMap((parsed) => (parsed.ok ? [] : parsed.problems));
  return { ok: false, problems };
}

/** Where copies may go: the deployment's side of an instance's copy policy. */
export interface CopySettings {
  /** The Region the service runs in (the source of every copy). */
  readonly homeRegion: string;
  /** Regions copied to when an instance names none (`copyRegions`). */
  readonly defaultRegions: readonly string[];
  /** Every Region copies may go to (`copyRegions` and `copyAllowedRegions`): IAM allows CopyImage only there. */
  readonly allowedRegions: readonly string[];
}

export const NO_COPIES: CopySettings = { homeRegion: '', defaultRegions: [], allowedRegions: [] };

export interface CopyPolicy {
  /** The Regions each good backup is copied to (none: no copies). */
  readonly regions: readonly string[];
}

/** A Region name of any partition: `us-east-1`, `us-gov-west-1`, `cn-north-1`, `us-isob-east-1`. */
export const REGION_NAME = /^[a-z]{2}(?:-(?:gov|iso[a-z]?))?-[a-z]+-\d{1,2}$/;

/** The partition a Region belongs to: copies never leave it (CopyImage is not cross-partition). */
export function partitionOf(region: string): string {
  if (region.startsWith('cn-')) return 'aws-cn';
  const special = /^[a-z]{2}-(gov|iso[a-z]?)-/.exec(region)?.[1];
  if (special === undefined) return 'aws';
  return special === 'gov' ? 'aws-us-gov' : `aws-${special === 'iso' ? 'iso' : `iso-${special.slice(3)}`}`;
}

/**
 * The Regions an instance's backups are copied to: its `ami-backup:copy-to` tag (an empty value: none), else the
 * deployment's default. Each must be a Region name of the home Region's partition, allowed by the deployment, not the
 * home Region, and named once; anything else is a policy error and no copy is made.
 */
export function parseCopyPolicy(tags: Tags, settings: CopySettings): Parsed<CopyPolicy> {
  const raw = tags[CopyTag.copyTo];
  if (raw === undefined) return { ok: true, value: { regions: settings.defaultRegions } };
  const names = raw.trim() === '' ? [] : raw.split(',').map((name) => name.trim());
  const problems: string[] = [];
  const seen = new Set<string>();
  for (const name of names) {
    const why = !REGION_NAME.test(name)
      ? 'is not a Region name'
      : partitionOf(name) !== partitionOf(settings.homeRegion)
        ? `is not in the partition of ${settings.homeRegion}`
        : name === settings.homeRegion
          ? 'is the source Region'
          : seen.has(name)
            ? 'is listed twice'
            : !settings.allowedRegions.includes(name)
              ? `is not a Region this deployment copies to (${settings.allowedRegions.join(', ') || 'none'})`
              : undefined;
    if (why !== undefined) problems.push(`${CopyTag.copyTo}: ${JSON.stringify(name)} ${why}`);
    seen.add(name);
  }
  return problems.length > 0 ? { ok: false, problems } : { ok: true, value: { regions: names } };
}

/**
 * The retention of an instance's copies in each Region: `ami-backup:copy-retain` and `ami-backup:copy-retain-days`,
 * each defaulting to the instance's own `retain` and `retain-days` (so a copy keeps what its source keeps unless told).
 */
export function parseCopyRetention(tags: Tags, defaultRetain: number): Parsed<Retention> {
  const keys = {
    retain: tags[CopyTag.copyRetain] === undefined ? OperatorTag.retain : CopyTag.copyRetain,
    retainDays: tags[CopyTag.copyRetainDays] === undefined ? OperatorTag.retainDays : CopyTag.copyRetainDays,
  };
  return parseRetention(tags, keys, defaultRetain);
}

/** What in the copy tags an operator set cannot be used (the instance's own retention is reported on its own). */
export function copyPolicyProblems(tags: Tags, settings: CopySettings, floor: RetentionFloor): string[] {
  const policy = parseCopyPolicy(tags, settings);
  const own = { retain: CopyTag.copyRetain, retainDays: CopyTag.copyRetainDays };
  const retention = parseRetention(tags, own, 1);
  return [
    ...(policy.ok ? [] : policy.problems),
    ...(retention.ok ? floorProblems(tags, own, floor) : retention.problems),
  ];
}

/** An AWS account id: exactly 12 digits. `all` (public) is not one, so no tag can ever make a backup public. */
export const ACCOUNT_ID = /^[0-9]{12}$/;

export interface SharePolicy {
  /** The accounts each good backup is shared with (none: not shared, and any sharing is revoked). */
  readonly accounts: readonly string[];
}

/**
 * The accounts an instance's backups are shared with: its `ami-backup:share-with` tag (an empty value: none), else
 * the deployment's default (`shareAccounts`). Each must be a 12-digit account id, not the service's own account, named
 * once; anything else is a policy error and nothing is shared or revoked for that instance.
 */
export function parseSharePolicy(
  tags: Tags,
  defaultAccounts: readonly string[],
  ownAccount: string,
): Parsed<SharePolicy> {
  const raw = tags[ShareTag.shareWith];
  if (raw === undefined) return { ok: true, value: { accounts: defaultAccounts } };
  const ids = raw.trim() === '' ? [] : raw.split(',').map((id) => id.trim());
  const problems: string[] = [];
  const seen = new Set<string>();
  for (const id of ids) {
    const why = !ACCOUNT_ID.test(id)
      ? 'is not a 12-digit account id'
      : id === ownAccount
        ? 'is the account the backups are in'
        : seen.has(id)
          ? 'is listed twice'
          : undefined;
    if (why !== undefined) problems.push(`${ShareTag.shareWith}: ${JSON.stringify(id)} ${why}`);
    seen.add(id);
  }
  return problems.length > 0 ? { ok: false, problems } : { ok: true, value: { accounts: ids } };
}

/** The retention recorded on an image when it was made (used once its instance is gone or opted out). */
export function parseRecordedRetention(tags: Tags): Parsed<Retention> {
  return parseRetention(tags, ImageTag, undefined);
}

/** The tags that record a retention on an image and its snapshots. */
export function retentionTags(retention: Retention): Record<string, string> {
  return retention.retainDays === undefined
    ? { [ImageTag.retain]: String(retention.retain) }
    : { [ImageTag.retain]: String(retention.retain), [ImageTag.retainDays]: String(retention.retainDays) };
}
