/**
 * Configuration, read from the environment and validated once at cold start into a frozen object.
 * A missing or invalid variable fails loudly and names itself.
 */
import { EC2_RATES, type Rate } from './pacing';
import { ACCOUNT_ID, type CopySettings, partitionOf, REGION_NAME } from './policy';

export interface Config {
  /** The opt-in tag an operator sets on an instance. */
  readonly optIn: { readonly key: string; readonly value: string };
  /** The value of the ownership tag on everything this service creates: service and stage. */
  readonly owner: string;
  /** The deployment's stage: the dimension of its metrics (default: the owner). */
  readonly stage: string;
  readonly defaultRetain: number;
  /** How long after an image's reboot begins before status checks are trusted again. */
  readonly rebootGraceSeconds: number;
  /** How long an instance may take to come back healthy from its image's reboot before the backup fails verification. */
  readonly readyTimeoutSeconds: number;
  /** At most this many instances of one group in an image's reboot at once. */
  readonly maxDownPerGroup: number;
  /** At most this many instances in an image's reboot at once, fleet-wide. */
  readonly maxConcurrentReboots: number;
  /** Image reboots start no later than this many minutes after the run's start. */
  readonly rebootWindowMinutes: number;
  /** How long an image may stay pending before the run is recorded as failed. */
  readonly imageTimeoutSeconds: number;
  readonly eventBusName: string;
  /**
   * The EventBridge rule that runs createImages passes at `PASSES_SCHEDULE`: enabled while a run has work in flight,
   * disabled once a pass finds none (an idle fleet then costs no pass). serverless.yml names it; default
   * `<owner>-passes`.
   */
  readonly passesRule: string;
  /**
   * The rule that runs passes every minute instead, while a regular pass would see instances back from their image's
   * reboot a minute or more late (see `passCadence`). serverless.yml names it; default `<owner>-minute-passes`.
   */
  readonly minutePassesRule: string;
  /**
   * The rule that runs rotation again every 15 minutes while a rotation left expiries undone (a large fleet: EC2's
   * DeregisterImage bucket), until one finishes. serverless.yml names it; default `<owner>-rotation-passes`.
   */
  readonly rotationPassesRule: string;
  /** An opted-in instance whose last good backup is older than this many hours is reported stale. */
  readonly staleAfterHours: number;
  /** Seconds between two passes (from `PASSES_SCHEDULE`, a rate): a pass starts CreateImage calls for less than that. */
  readonly passIntervalSeconds: number;
  /** The floor no tag can go below: at least this many good images kept per instance (`ami-backup:retain`). */
  readonly minRetain: number;
  /** The floor no tag can go below: good images younger than this many days are always kept (0: no floor). */
  readonly minRetainDays: number;
  /** At most this many images of one instance expired per UTC day (failed images aside), across invocations. */
  readonly maxExpirePerRun: number;
  /**
   * The UTC hours rotation is scheduled in (from `ROTATE_SCHEDULE`), sorted: a night's rotation is a run of
   * consecutive hours, and its first invocation is the one in the first hour of the run.
   */
  readonly rotateHours: readonly number[];
  /** Restore tests: instances launched from the newest good backups, checked, then terminated. */
  readonly restoreTests: RestoreTestConfig;
  /** The most each paced EC2 action is called: EC2's default rates, or the account's raised ones. */
  readonly rateCeilings: Readonly<Record<string, Rate>>;
  /** Copies of good backups to other Regions. */
  readonly copies: CopyConfig;
  /** Sharing of good backups with other accounts. */
  readonly shares: ShareConfig;
}

export interface ShareConfig {
  /** Accounts good backups are shared with unless an instance's `ami-backup:share-with` says otherwise (`shareAccounts`). */
  readonly defaultAccounts: readonly string[];
  /**
   * The customer managed key (its ARN) that backups encrypted with the AWS managed key are re-encrypted with for
   * sharing (`shareKmsKey`); without it they are not shared.
   */
  readonly kmsKey?: string;
  /**
   * Customer managed keys (ARNs) whose backups are shared as they are, the target accounts granted their use
   * (`shareGrantKeys`): IAM lets the service grant these and `kmsKey` only.
   */
  readonly grantableKeys: readonly string[];
  /** The rule of the share passes: on from a run's start while some instance's backups are to be shared. */
  readonly passesRule: string;
}

export interface CopyConfig extends CopySettings {
  /** The KMS key of each destination Region that has one (`copyKmsKeys`): its copies are encrypted with it. */
  readonly kmsKeys: Readonly<Record<string, string>>;
  /** The rule of the copy passes: on from a run's start while copies are wanted or in flight. */
  readonly passesRule: string;
}

export interface RestoreTestConfig {
  /** The subnet test instances are launched into; restore tests are off without one. */
  readonly subnetId?: string;
  /** The security group of test instances. */
  readonly securityGroupId?: string;
  /** The test instances' type; undefined: the source instance's. */
  readonly instanceType?: string;
  /** Instances tested per run, the least recently tested first; undefined: all. */
  readonly sample?: number;
  /** A test instance not running with both status checks ok this long after its launch fails its test. */
  readonly timeoutMinutes: number;
  /** The rule of the passes that only check and clean up tests in flight (they launch nothing). */
  readonly checksRule: string;
}

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

type Env = Readonly<Record<string, string | undefined>>;

function text(env: Env, name: string, fallback?: string): string {
  const value = env[name] ?? fallback;
  if (value === undefined || value.trim() === '') {
    throw new ConfigError(`environment variable ${name} is required`);
  }
  return value;
}

function wholeNumber(env: Env, name: string, fallback: number, min: number, max: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!/^\d+$/.test(raw) || value < min || value > max) {
    throw new ConfigError(`environment variable ${name} must be a whole number from ${min} to ${max}, got '${raw}'`);
  }
  return value;
}

/**
 * The owner goes into EC2 tag filters, where `*` and `?` are wildcards: it is limited to plain name characters so
 * that the filter can never select another owner's resources.
 */
function ownerName(value: string): string {
  if (!/^[A-Za-z0-9._-]{1,128}$/.test(value)) {
    throw new ConfigError(`environment variable OWNER must be 1–128 letters, digits, '.', '_' or '-', got '${value}'`);
  }
  return value;
}

const DEFAULT_ROTATE_SCHEDULE = 'cron(0 6-9 * * ? *)';
const DEFAULT_PASSES_SCHEDULE = 'rate(5 minutes)';

/** The seconds between the firings of a rate expression of minutes or hours (`rate(5 minutes)`). */
export function rateSeconds(expression: string): number {
  const match = /^rate\((\d+) (minute|minutes|hour|hours)\)$/.exec(expression.trim());
  const amount = Number(match?.[1]);
  if (match === null || !Number.isInteger(amount) || amount < 1 || (amount === 1) !== !match[2]?.endsWith('s')) {
    throw new ConfigError(
      `environment variable PASSES_SCHEDULE must be a rate of minutes or hours, like '${DEFAULT_PASSES_SCHEDULE}', got '${expression}'`,
    );
  }
  return amount * (match[2]?.startsWith('hour') ? 3600 : 60);
}

/** One field of a cron hours list: `*`, `N`, `N-M`, each optionally `/step`. */
function hoursOf(field: string): number[] | undefined {
  const hours = new Set<number>();
  for (const part of field.split(',')) {
    const match = /^(\*|(\d{1,2})(?:-(\d{1,2}))?)(?:\/(\d{1,2}))?$/.exec(part);
    if (match === null) return undefined;
    const from = match[1] === '*' ? 0 : Number(match[2]);
    const to = match[1] === '*' ? 23 : match[3] === undefined ? (match[4] === undefined ? from : 23) : Number(match[3]);
    const step = match[4] === undefined ? 1 : Number(match[4]);
    if (from > 23 || to > 23 || from > to || step < 1) return undefined;
    for (let hour = from; hour <= to; hour += step) hours.add(hour);
  }
  return [...hours].sort((a, b) => a - b);
}

/**
 * The UTC hours a rotation schedule fires in. Only a cron expression firing at one minute of each of its hours is
 * understood (`cron(0 6-9 * * ? *)`): the nightly report of look-alikes depends on knowing which invocation of a
 * night is the first, without any state.
 */
export function rotationHours(expression: string): number[] {
  const fields = /^cron\((.*)\)$/.exec(expression.trim())?.[1]?.trim().split(/\s+/);
  const hours =
    fields !== undefined && fields.length === 6 && /^\d{1,2}$/.test(fields[0] ?? '')
      ? hoursOf(fields[1] ?? '')
      : undefined;
  if (hours === undefined || hours.length === 0) {
    throw new ConfigError(
      `environment variable ROTATE_SCHEDULE must be a cron expression firing at one minute of each of its hours, like '${DEFAULT_ROTATE_SCHEDULE}', got '${expression}'`,
    );
  }
  return hours;
}

/**
 * The ceilings of the paced actions: EC2's documented refill rates and bucket sizes, raised where the account's limits
 * are (`EC2_RATE_LIMITS`, e.g. `CreateImage=10:100,DeregisterImage=20:200`: calls a second, then the bucket's size).
 * Pacing never goes above a ceiling, so raised limits are used only once they are given here.
 */
export function rateCeilings(raw: string | undefined): Readonly<Record<string, Rate>> {
  if (raw === undefined || raw.trim() === '') return EC2_RATES;
  const ceilings: Record<string, Rate> = { ...EC2_RATES };
  for (const entry of raw.split(',')) {
    const match = /^\s*([A-Za-z]+)=(\d+(?:\.\d+)?):(\d+)\s*$/.exec(entry);
    const [action, perSecond, burst] = [match?.[1] ?? '', Number(match?.[2]), Number(match?.[3])];
    const documented = EC2_RATES[action];
    if (match === null || documented === undefined || perSecond < documented.perSecond || burst < documented.burst) {
      throw new ConfigError(
        `environment variable EC2_RATE_LIMITS must list <action>=<calls a second>:<bucket size> for ${Object.keys(EC2_RATES).join(', ')}, each at least EC2's default, got '${entry.trim()}'`,
      );
    }
    ceilings[action] = { perSecond, burst };
  }
  return Object.freeze(ceilings);
}

export function readConfig(env: Env = process.env): Config {
  const rebootGraceSeconds = wholeNumber(env, 'REBOOT_GRACE_SECONDS', 300, 0, 86_400);
  const readyTimeoutSeconds = wholeNumber(env, 'READY_TIMEOUT_SECONDS', 3600, 60, 7 * 86_400);
  // Status checks are trusted only after the grace period: a timeout no longer than it fails every reboot.
  if (readyTimeoutSeconds <= rebootGraceSeconds) {
    throw new ConfigError(
      `environment variable READY_TIMEOUT_SECONDS (${readyTimeoutSeconds}) must be longer than REBOOT_GRACE_SECONDS (${rebootGraceSeconds})`,
    );
  }
  const defaultRetain = wholeNumber(env, 'DEFAULT_RETAIN', 7, 1, 1000);
  const minRetain = wholeNumber(env, 'MIN_RETAIN', 1, 1, 1000);
  if (defaultRetain < minRetain) {
    throw new ConfigError(
      `environment variable DEFAULT_RETAIN (${defaultRetain}) must not be below MIN_RETAIN (${minRetain})`,
    );
  }
  const owner = ownerName(text(env, 'OWNER'));
  return Object.freeze({
    optIn: Object.freeze({ key: text(env, 'OPT_IN_TAG_KEY', 'Backup'), value: text(env, 'OPT_IN_TAG_VALUE', 'true') }),
    owner,
    stage: text(env, 'STAGE', owner),
    defaultRetain,
    rebootGraceSeconds,
    readyTimeoutSeconds,
    imageTimeoutSeconds: wholeNumber(env, 'IMAGE_TIMEOUT_SECONDS', 86_400, 600, 7 * 86_400),
    maxDownPerGroup: wholeNumber(env, 'MAX_DOWN_PER_GROUP', 1, 1, 1000),
    maxConcurrentReboots: wholeNumber(env, 'MAX_CONCURRENT_REBOOTS', 50, 1, 10_000),
    rebootWindowMinutes: wholeNumber(env, 'REBOOT_WINDOW_MINUTES', 180, 1, 1440),
    eventBusName: text(env, 'EVENT_BUS_NAME', 'default'),
    passesRule: text(env, 'PASSES_RULE', `${owner}-passes`),
    minutePassesRule: text(env, 'MINUTE_PASSES_RULE', `${owner}-minute-passes`),
    rotationPassesRule: text(env, 'ROTATION_PASSES_RULE', `${owner}-rotation-passes`),
    staleAfterHours: wholeNumber(env, 'STALE_AFTER_HOURS', 36, 1, 8760),
    passIntervalSeconds: rateSeconds(text(env, 'PASSES_SCHEDULE', DEFAULT_PASSES_SCHEDULE)),
    minRetain,
    minRetainDays: wholeNumber(env, 'MIN_RETAIN_DAYS', 0, 0, 3650),
    maxExpirePerRun: wholeNumber(env, 'MAX_EXPIRE_PER_RUN', 5, 1, 1000),
    rotateHours: Object.freeze(rotationHours(text(env, 'ROTATE_SCHEDULE', DEFAULT_ROTATE_SCHEDULE))),
    restoreTests: readRestoreTestConfig(env, owner),
    rateCeilings: rateCeilings(env.EC2_RATE_LIMITS),
    copies: readCopyConfig(env, owner),
    shares: readShareConfig(env, owner),
  });
}

/**
 * `shareAccounts` (12-digit account ids, comma-separated), `shareKmsKey` and `shareGrantKeys` (key ARNs: grants and IAM
 * name keys by them, and they must be in the service's own Region, where backups and re-encrypted copies are).
 */
export function readShareConfig(env: Env, owner: string): ShareConfig {
  const rawAccounts = env.SHARE_ACCOUNTS?.trim() ?? '';
  const defaultAccounts = rawAccounts === '' ? [] : rawAccounts.split(',').map((account) => account.trim());
  for (const account of defaultAccounts) {
    if (!ACCOUNT_ID.test(account) || defaultAccounts.indexOf(account) !== defaultAccounts.lastIndexOf(account)) {
      throw new ConfigError(
        `environment variable SHARE_ACCOUNTS must list distinct 12-digit account ids, got '${account}'`,
      );
    }
  }
  const homeRegion = env.AWS_REGION?.trim() || env.AWS_DEFAULT_REGION?.trim() || '';
  const keyArn = (name: string, value: string): string => {
    const keyRegion = /^arn:aws[a-z-]*:kms:([a-z0-9-]+):\d{12}:key\/(?:mrk-)?[0-9a-f-]{32,36}$/.exec(value)?.[1];
    if (keyRegion === undefined || keyRegion !== homeRegion) {
      throw new ConfigError(
        `environment variable ${name} must name keys by their ARN in the service's Region (${homeRegion || 'unknown'}), got '${value}'`,
      );
    }
    return value;
  };
  const kmsKey = env.SHARE_KMS_KEY?.trim() ?? '';
  const rawGrantable = env.SHARE_GRANT_KEYS?.trim() ?? '';
  const grantableKeys = (rawGrantable === '' ? [] : rawGrantable.split(',')).map((key) =>
    keyArn('SHARE_GRANT_KEYS', key.trim()),
  );
  return Object.freeze({
    defaultAccounts: Object.freeze(defaultAccounts),
    ...(kmsKey === '' ? {} : { kmsKey: keyArn('SHARE_KMS_KEY', kmsKey) }),
    grantableKeys: Object.freeze(grantableKeys),
    passesRule: text(env, 'SHARE_PASSES_RULE', `${owner}-share-passes`),
  });
}

function regionList(env: Env, name: string, home: string): string[] {
  const raw = env[name]?.trim() ?? '';
  const regions = raw === '' ? [] : raw.split(',').map((region) => region.trim());
  for (const region of regions) {
    if (!REGION_NAME.test(region) || region === home || partitionOf(region) !== partitionOf(home)) {
      throw new ConfigError(
        `environment variable ${name} must list Regions of ${home}'s partition other than ${home}, got '${region}'`,
      );
    }
  }
  return regions;
}

/**
 * `copyRegions` (the default), `copyAllowedRegions` (more Regions instances may name) and `copyKmsKeys`
 * (`<region>=<key id, key ARN or alias/name>`, comma-separated, for allowed Regions only). The home Region is Lambda's
 * own (`AWS_REGION`), needed only once copies are configured.
 */
export function readCopyConfig(env: Env, owner: string): CopyConfig {
  const homeRegion = env.AWS_REGION?.trim() || env.AWS_DEFAULT_REGION?.trim() || '';
  const defaultRegions = regionList(env, 'COPY_REGIONS', homeRegion);
  const allowedRegions = [...new Set([...defaultRegions, ...regionList(env, 'COPY_ALLOWED_REGIONS', homeRegion)])];
  if (allowedRegions.length > 0 && !REGION_NAME.test(homeRegion)) {
    throw new ConfigError(`environment variable AWS_REGION must be a Region name when copies are configured`);
  }
  const kmsKeys: Record<string, string> = {};
  const rawKeys = env.COPY_KMS_KEYS?.trim() ?? '';
  for (const entry of rawKeys === '' ? [] : rawKeys.split(',')) {
    const match =
      /^\s*([a-z0-9-]+)=((?:mrk-)?[0-9a-f-]{32,36}|arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:key\/(?:mrk-)?[0-9a-f-]{32,36}|alias\/[A-Za-z0-9/_-]{1,250})\s*$/.exec(
        entry,
      );
    if (match === null || !allowedRegions.includes(match[1] as string)) {
      throw new ConfigError(
        `environment variable COPY_KMS_KEYS must list <region>=<key id, key ARN or alias/name> for Regions copies may go to, got '${entry.trim()}'`,
      );
    }
    kmsKeys[match[1] as string] = match[2] as string;
  }
  return Object.freeze({
    homeRegion,
    defaultRegions: Object.freeze(defaultRegions),
    allowedRegions: Object.freeze(allowedRegions),
    kmsKeys: Object.freeze(kmsKeys),
    passesRule: text(env, 'COPY_PASSES_RULE', `${owner}-copy-passes`),
  });
}

/** `restoreTest*` parameters; an empty subnet turns restore tests off, and then a security group is not needed. */
export function readRestoreTestConfig(env: Env, owner: string): RestoreTestConfig {
  const optional = (name: string): string | undefined => {
    const value = env[name]?.trim();
    return value === undefined || value === '' ? undefined : value;
  };
  const subnetId = optional('RESTORE_TEST_SUBNET_ID');
  const securityGroupId = optional('RESTORE_TEST_SECURITY_GROUP_ID');
  if (subnetId !== undefined && !/^subnet-[0-9a-f]{8,17}$/.test(subnetId)) {
    throw new ConfigError(`environment variable RESTORE_TEST_SUBNET_ID must be a subnet id, got '${subnetId}'`);
  }
  if (subnetId !== undefined && (securityGroupId === undefined || !/^sg-[0-9a-f]{8,17}$/.test(securityGroupId))) {
    throw new ConfigError(
      `environment variable RESTORE_TEST_SECURITY_GROUP_ID must be a security group id when RESTORE_TEST_SUBNET_ID is set, got '${securityGroupId ?? ''}'`,
    );
  }
  const sample = optional('RESTORE_TEST_SAMPLE');
  const instanceType = optional('RESTORE_TEST_INSTANCE_TYPE');
  return Object.freeze({
    ...(subnetId === undefined ? {} : { subnetId }),
    ...(securityGroupId === undefined ? {} : { securityGroupId }),
    ...(instanceType === undefined ? {} : { instanceType }),
    ...(sample === undefined || sample === 'all'
      ? {}
      : { sample: wholeNumber({ RESTORE_TEST_SAMPLE: sample }, 'RESTORE_TEST_SAMPLE', 1, 1, 10_000) }),
    timeoutMinutes: wholeNumber(env, 'RESTORE_TEST_TIMEOUT_MINUTES', 20, 5, 720),
    checksRule: text(env, 'RESTORE_TEST_CHECKS_RULE', `${owner}-restore-test-checks`),
  });
}
