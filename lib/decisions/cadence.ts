/**
 * How often createImages passes run while a run has work in flight. A group's next member is imaged by the first pass
 * after its predecessor is seen back healthy, and a member imaged with EC2's reboot is trusted back no sooner than its
 * grace period after the minute of its CreateImage call (`ami-backup:since`). Passes at the regular interval see it
 * on time when its call fell in its pass's first minute (a small fleet: a pass's reboots all start at once). When a
 * pass's calls spread over several minutes (a large fleet behind EC2's CreateImage bucket, a throttled night), or an
 * instance is not back when its grace ends, regular passes see some members up to an interval late, at every turn of
 * their group: passes every minute then see each one within a minute. A minute pass does not know the regular
 * passes' beat (EventBridge keeps it from the rule's creation), so the minute passes go on until no instance is down.
 * Pure: a function of the instances as the pass leaves them, the pass's time and cadence, and the settings.
 */
import type { Instance, TagWrite } from '../model';
import { isDown, runOf } from './progress';

/** `regular`: the passes' schedule (`createImagesSchedule`); `minutely`: every minute. */
export type Cadence = 'regular' | 'minutely';

const MINUTE_MS = 60_000;

export interface CadenceSettings {
  readonly rebootGraceSeconds: number;
  /** Seconds between two regular passes. */
  readonly passIntervalSeconds: number;
}

/** When passes every `intervalMs` from `passAtMs` first look at or after `dueAtMs` (not this pass: it has looked). */
function firstLookAt(dueAtMs: number, passAtMs: number, intervalMs: number): number {
  return passAtMs + Math.max(1, Math.ceil((dueAtMs - passAtMs) / intervalMs)) * intervalMs;
}

/**
 * After a regular pass (at `passAt`, on the regular beat): `minutely` when some instance down for its image's reboot
 * would be seen back by regular passes a minute or more later than by passes every minute, else `regular`. After a
 * minute pass: `minutely` while any instance is down, else `regular`.
 */
export function passCadence(
  instances: readonly Instance[],
  pass: { readonly at: Date; readonly cadence: Cadence },
  settings: CadenceSettings,
): Cadence {
  const intervalMs = settings.passIntervalSeconds * 1000;
  const passAt = pass.at;
  for (const instance of instances) {
    const run = runOf(instance);
    if (run === undefined || !isDown(instance)) continue;
    if (pass.cadence === 'minutely' && intervalMs > MINUTE_MS) return 'minutely';
    const dueAtMs = run.since.getTime() + settings.rebootGraceSeconds * 1000;
    const late = firstLookAt(dueAtMs, passAt.getTime(), intervalMs) - firstLookAt(dueAtMs, passAt.getTime(), MINUTE_MS);
    if (late >= MINUTE_MS) return 'minutely';
  }
  return 'regular';
}

/** The instances with the tags a pass wrote on them: what the next pass will read. */
export function afterWrites(instances: readonly Instance[], writes: readonly TagWrite[]): Instance[] {
  const written = new Map<string, Record<string, string>>();
  for (const write of writes) written.set(write.resourceId, { ...written.get(write.resourceId), ...write.tags });
  return instances.map((instance) => {
    const tags = written.get(instance.id);
    return tags === undefined ? instance : { ...instance, tags: { ...instance.tags, ...tags } };
  });
}
