/**
 * Downtime for images, read from the endpoint's own timeline (its audit log), never from the service's tags: each
 * CreateImage that rebooted a running instance (`NoReboot=false`) took it down from the OS shutdown (the call) until
 * its instance status check was `ok` again. Pure: a function of the audit entries and the instances' groups.
 */
import { parseGroup } from '../../lib/policy';
import type { Tags } from '../../lib/tags';
import type { AuditEntry } from '../ec2';

/** One instance down for its images' reboots, from `from` to `until` (epoch ms, `until` excluded). */
export interface DownInterval {
  readonly instanceId: string;
  readonly from: number;
  readonly until: number;
  /** Whether it came back healthy at `until` (else the interval was cut at the end or when the service gave up). */
  readonly back: boolean;
}

export interface DownOptions {
  /** Where the timeline ends: an instance that never came back is down until then. */
  readonly end: number;
  /**
   * Count an instance that never comes back as down only this long after its reboot began: how long the service
   * waits for it (its ready timeout) before it records the failure and stops counting it against its group.
   */
  readonly giveUpMs?: number;
}

/**
 * The intervals each instance was down for an image's reboot, merged per instance (two reboots of one instance that
 * overlap, such as a second night's while it never came back from the first, count once).
 */
export function imageReboots(audit: readonly AuditEntry[], options: DownOptions): DownInterval[] {
  const raw = new Map<string, DownInterval[]>();
  for (const entry of audit) {
    if (entry.kind !== 'image-created' || entry.downAt === undefined || entry.instanceId === undefined) continue;
    const open = entry.healthyAt === undefined;
    const planned = entry.healthyAt ?? (options.giveUpMs === undefined ? options.end : entry.downAt + options.giveUpMs);
    const until = Math.min(planned, options.end);
    if (until <= entry.downAt) continue;
    const list = raw.get(entry.instanceId) ?? [];
    list.push({ instanceId: entry.instanceId, from: entry.downAt, until, back: !open && until === planned });
    raw.set(entry.instanceId, list);
  }
  const merged: DownInterval[] = [];
  for (const list of raw.values()) {
    list.sort((a, b) => a.from - b.from);
    let current: DownInterval | undefined;
    for (const interval of list) {
      if (current !== undefined && interval.from <= current.until) {
        current = interval.until > current.until ? { ...current, until: interval.until, back: interval.back } : current;
      } else {
        if (current !== undefined) merged.push(current);
        current = interval;
      }
    }
    if (current !== undefined) merged.push(current);
  }
  return merged;
}

/** Seconds each instance was down, over all its intervals. */
export function downtimeByInstance(intervals: readonly DownInterval[]): Map<string, number> {
  const seconds = new Map<string, number>();
  for (const interval of intervals) {
    seconds.set(interval.instanceId, (seconds.get(interval.instanceId) ?? 0) + (interval.until - interval.from) / 1000);
  }
  return seconds;
}

export interface Peak {
  /** Most intervals open at one moment. */
  readonly count: number;
  /** When that was first reached (epoch ms), and who was down then; absent when nothing was ever down. */
  readonly at?: number;
  readonly instanceIds: readonly string[];
}

/** The most intervals open at one moment (an interval ending when another begins does not overlap it). */
export function peak(intervals: readonly DownInterval[]): Peak {
  const edges = intervals.flatMap((interval) => [
    { at: interval.from, delta: 1, interval },
    { at: interval.until, delta: -1, interval },
  ]);
  // Ends before starts at the same moment.
  edges.sort((a, b) => a.at - b.at || a.delta - b.delta);
  const open = new Set<DownInterval>();
  let best: Peak = { count: 0, instanceIds: [] };
  for (const edge of edges) {
    if (edge.delta < 0) {
      open.delete(edge.interval);
      continue;
    }
    open.add(edge.interval);
    if (open.size > best.count) {
      best = { count: open.size, at: edge.at, instanceIds: [...open].map((interval) => interval.instanceId).sort() };
    }
  }
  return best;
}

/** The group an instance's image reboots are staggered in, as the service reads it; undefined for none or invalid. */
export function groupOf(tags: Tags): string | undefined {
  const group = parseGroup(tags);
  return group.ok ? group.value : undefined;
}

/** The peak of each group (instances without a group are left out). */
export function peaksByGroup(
  intervals: readonly DownInterval[],
  groups: ReadonlyMap<string, string | undefined>,
): Map<string, Peak> {
  const byGroup = new Map<string, DownInterval[]>();
  for (const interval of intervals) {
    const group = groups.get(interval.instanceId);
    if (group === undefined) continue;
    const list = byGroup.get(group) ?? [];
    list.push(interval);
    byGroup.set(group, list);
  }
  return new Map([...byGroup].map(([group, list]) => [group, peak(list)]));
}
