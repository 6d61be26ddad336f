/**
 * Configuration, read from the environment and validated once at cold start into a frozen object.
 * A missing or invalid variable fails loudly and names itself.
 */

export interface Config {
  /** The opt-in tag an operator sets on an instance. */
  readonly optIn: { readonly key: string; readonly value: string };
  /** The value of the ownership tag on everything this service creates: service and stage. */
  readonly owner: string;
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

export function readConfig(env: Env = process.env): Config {
  const rebootGraceSeconds = wholeNumber(env, 'REBOOT_GRACE_SECONDS', 300, 0, 86_400);
  const readyTimeoutSeconds = wholeNumber(env, 'READY_TIMEOUT_SECONDS', 3600, 60, 7 * 86_400);
  // Status checks are trusted only after the grace period: a timeout no longer than it fails every reboot.
  if (readyTimeoutSeconds <= rebootGraceSeconds) {
    throw new ConfigError(
      `environment variable READY_TIMEOUT_SECONDS (${readyTimeoutSeconds}) must be longer than REBOOT_GRACE_SECONDS (${rebootGraceSeconds})`,
    );
  }
  return Object.freeze({
    optIn: Object.freeze({ key: text(env, 'OPT_IN_TAG_KEY', 'Backup'), value: text(env, 'OPT_IN_TAG_VALUE', 'true') }),
    owner: ownerName(text(env, 'OWNER')),
    defaultRetain: wholeNumber(env, 'DEFAULT_RETAIN', 7, 1, 1000),
    rebootGraceSeconds,
    readyTimeoutSeconds,
    imageTimeoutSeconds: wholeNumber(env, 'IMAGE_TIMEOUT_SECONDS', 86_400, 600, 7 * 86_400),
    maxDownPerGroup: wholeNumber(env, 'MAX_DOWN_PER_GROUP', 1, 1, 1000),
    maxConcurrentReboots: wholeNumber(env, 'MAX_CONCURRENT_REBOOTS', 50, 1, 10_000),
    rebootWindowMinutes: wholeNumber(env, 'REBOOT_WINDOW_MINUTES', 180, 1, 1440),
    eventBusName: text(env, 'EVENT_BUS_NAME', 'default'),
  });
}
