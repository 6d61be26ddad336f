/**
 * How long EC2's asynchronous changes take on the simulated clock, in milliseconds. Every one is configurable
 * (`LocalEc2Options.durations`); the defaults are typical figures, with where each comes from.
 */
export interface Durations {
  /** pending → running. The EC2 User Guide's instance lifecycle: "usually within a minute"; launches take 10–60 s. */
  instancePending: number;
  /** stopping → stopped. Typically under a minute for EBS-backed instances (User Guide, "Stop and start"). */
  instanceStopping: number;
  /** shutting-down → terminated. Typically well under a minute. */
  instanceShuttingDown: number;
  /** How long a terminated instance stays visible: "up to about an hour" (User Guide, "Terminate"). */
  terminatedVisible: number;
  /** Status checks report `initializing` after launch or start: a few minutes (User Guide, "Status checks"). */
  statusInitializing: number;
  /** From RebootInstances to the OS going down: the reboot is queued, the OS shuts down cleanly first. */
  rebootDelay: number;
  /** How long the instance status check is not `ok` during a reboot: shutdown, boot, and the next check (every minute). */
  rebootWindow: number;
  /**
   * CreateImage without NoReboot on a running instance: the clean OS shutdown before the snapshots are taken. The
   * CreateImage reference: "By default, when Amazon EC2 creates the new AMI, it reboots the instance so that it can take
   * snapshots of the attached volumes while data is at rest". The snapshots' start time is the end of this phase; the
   * instance stays `running` throughout (a reboot, not a stop: no state-change event).
   */
  imageShutdown: number;
  /** CreateImage without NoReboot: the boot after the snapshots are taken, until the OS is up again. Typical. */
  imageBoot: number;
  /**
   * How often EC2 runs the status checks ("every minute", User Guide, "Status checks for your instances"), on a grid
   * from the instance's launch time: after a reboot for an image, the instance status check is `ok` again at the first
   * check at or after the end of the boot.
   */
  statusCheckInterval: number;
  /** Image (and snapshot) creation, fixed part: "several minutes" for a small instance (User Guide, "Create an AMI"). */
  imageBase: number;
  /** Image creation grows with the data to snapshot: added per GiB of EBS volume. */
  imagePerGiB: number;
  /**
   * CopyImage from another Region, fixed part: the copy's snapshots are full copies sent across Regions ("complete
   * (non-incremental) copies", User Guide, "How AMI copy works"), taking longer than a copy within the Region.
   * AWS completes such copies on a best-effort basis and documents no figure: typical.
   */
  regionCopyBase: number;
  /** CopyImage from another Region, added per GiB of the source's snapshots. Typical. */
  regionCopyPerGiB: number;
  /** How long a deregistered image still appears in DescribeImages ("for a short interval", DescribeImages reference). */
  deregisteredVisible: number;
}

const SECOND = 1000;
const MINUTE = 60 * SECOND;

export const DEFAULT_DURATIONS: Readonly<Durations> = Object.freeze({
  instancePending: 30 * SECOND,
  instanceStopping: 45 * SECOND,
  instanceShuttingDown: 30 * SECOND,
  terminatedVisible: 60 * MINUTE,
  statusInitializing: 3 * MINUTE,
  rebootDelay: 5 * SECOND,
  rebootWindow: 2 * MINUTE,
  imageShutdown: 30 * SECOND,
  imageBoot: 60 * SECOND,
  statusCheckInterval: 60 * SECOND,
  imageBase: 3 * MINUTE,
  imagePerGiB: 5 * SECOND,
  regionCopyBase: 5 * MINUTE,
  regionCopyPerGiB: 30 * SECOND,
  deregisteredVisible: 5 * MINUTE,
});

export function resolveDurations(overrides: Partial<Durations> = {}): Durations {
  const durations: Durations = { ...DEFAULT_DURATIONS };
  for (const [name, value] of Object.entries(overrides) as [keyof Durations, number | undefined][]) {
    if (value === undefined) continue;
    if (!(name in DEFAULT_DURATIONS)) throw new RangeError(`unknown duration ${name}`);
    if (!(Number.isFinite(value) && value >= 0)) throw new RangeError(`duration ${name} must be ≥ 0 ms, got ${value}`);
    durations[name] = value;
  }
  return durations;
}
