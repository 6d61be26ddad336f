/**
 * What a night did, per instance and in time, read from what the runner already records: the endpoint's timeline
 * (its audit: images created, settled and deregistered, with the reboots they made), the invocations' summaries
 * (outcomes, restore tests, schedule firings) and the report. Pure: the same records give the same events.
 */
import { BackupStep, ImageTag, ShareTag } from '../../lib/tags';
import type { AuditEntry } from '../ec2';
import { imageReboots } from '../runner/downtime';
import type { NightReport } from '../runner/night';
import type { InvocationRecord } from '../runner/simulation';

/**
 * Spans of an instance's night: `down` from its image's OS shutdown until its status check is `ok` again; `image`
 * from CreateImage until the image settled; `copy` from a copy's creation until it settled (an image of the
 * instance that no CreateImage in the timeline made); `restore-test` from the test instance's launch until its
 * verdict.
 */
export type SpanKind = 'down' | 'image' | 'copy' | 'restore-test';
/** Moments: an image of the instance deregistered (`expiry`), a backup's failure recorded (`failure`). */
export type MarkerKind = 'expiry' | 'failure';

export interface Span {
  readonly instanceId: string;
  readonly kind: SpanKind;
  /** Epoch ms of the simulated clock, `until` excluded. */
  readonly from: number;
  readonly until: number;
  /** How it ended: as planned, failed, passed (restore tests), or still open when the timeline ends. */
  readonly ending: 'done' | 'failed' | 'passed' | 'open';
  /** Copies: the image's id and the Region it was copied to, where the timeline names it. */
  readonly imageId?: string;
  readonly region?: string;
  /** A copy in the same Region, re-encrypted with the share key for sharing with other accounts (no `region`). */
  readonly reencrypted?: true;
}

export interface Marker {
  readonly instanceId: string;
  readonly kind: MarkerKind;
  readonly at: number;
  /** The image expired (and the Region of a copy), or why the backup failed. */
  readonly detail: string;
}

export interface Firing {
  readonly functionName: string;
  readonly at: number;
}

export interface InstanceFacts {
  readonly instanceId: string;
  readonly name: string;
  readonly group: string | null;
  /** In words, as the summary tells it: `backed up`, `failed`, `not opted in`, or its step. */
  readonly outcome: string;
  readonly error: string | null;
  readonly downtimeSeconds: number;
}

/** The summary's figures an operator looks at first. */
export interface Figures {
  readonly instances: number;
  /** Instances whose last backup is recorded good (verified). */
  readonly backedUp: number;
  /** Instances whose last run failed. */
  readonly failed: number;
  readonly maxDownAtOnce: number;
  readonly maxDownInOneGroup: number;
  readonly ec2Calls: number;
}

export interface NightEvents {
  /** Where the timeline starts and ends (epoch ms, simulated). */
  readonly start: number;
  readonly end: number;
  readonly instances: readonly InstanceFacts[];
  readonly spans: readonly Span[];
  readonly markers: readonly Marker[];
  /** Scheduled invocations, in time order. */
  readonly firings: readonly Firing[];
  readonly figures: Figures;
}

export interface NightRecords {
  readonly start: number;
  /** When the report was made: where downtime still open was cut, as the report cut it. */
  readonly end: number;
  readonly audit: readonly AuditEntry[];
  readonly records: readonly InvocationRecord[];
  readonly report: NightReport;
}

interface OutcomeLike {
  readonly instanceId?: string;
  readonly action?: string;
  readonly reason?: string;
  readonly error?: string;
  readonly testInstanceId?: string;
}

/** The per-instance outcomes of an invocation's summary, and which function made it. */
function summaryOf(record: InvocationRecord): { madeBy: string | undefined; outcomes: readonly OutcomeLike[] } {
  const summary = record.result as { function?: string; instances?: readonly OutcomeLike[] } | undefined;
  return { madeBy: summary?.function, outcomes: summary?.instances ?? [] };
}

function outcomeOf(instance: NightReport['instances'][number]): string {
  if (!instance.optedIn) return 'not opted in';
  if (instance.verified) return 'backed up';
  return instance.state === BackupStep.failed ? 'failed' : instance.state;
}

/** Images' pending spans: CreateImage's, and copies' (images of an instance that no CreateImage made). */
function imageSpans(audit: readonly AuditEntry[], end: number): Span[] {
  const created = new Map<string, { instanceId: string; from: number }>();
  const spans: Span[] = [];
  for (const entry of audit) {
    if (entry.kind === 'image-created' && entry.instanceId !== undefined) {
      created.set(entry.id, { instanceId: entry.instanceId, from: entry.at });
      continue;
    }
    if (entry.kind !== 'image-available' && entry.kind !== 'image-failed') continue;
    const ending = entry.kind === 'image-failed' ? 'failed' : 'done';
    const own = created.get(entry.id);
    if (own !== undefined) {
      created.delete(entry.id);
      spans.push({ instanceId: own.instanceId, kind: 'image', from: own.from, until: entry.at, ending });
      continue;
    }
    const instanceId = entry.tags.get(ImageTag.instanceId);
    if (instanceId !== undefined && entry.creationDate !== undefined) {
      const reencrypted = entry.tags.has(ShareTag.reencryptedFrom);
      spans.push({
        instanceId,
        kind: 'copy',
        from: entry.creationDate,
        until: entry.at,
        ending,
        imageId: entry.id,
        ...(reencrypted ? { reencrypted: true } : entry.region === undefined ? {} : { region: entry.region }),
      });
    }
  }
  for (const [, pending] of created) {
    spans.push({ instanceId: pending.instanceId, kind: 'image', from: pending.from, until: end, ending: 'open' });
  }
  return spans;
}

/** Restore tests: from each test instance's launch until the pass that judged it. */
function restoreTestSpans(records: readonly InvocationRecord[], end: number): Span[] {
  const launched = new Map<string, { instanceId: string; from: number }>();
  const spans: Span[] = [];
  for (const record of records) {
    const { madeBy, outcomes } = summaryOf(record);
    if (madeBy !== 'restoreTests') continue;
    for (const outcome of outcomes) {
      const { instanceId, testInstanceId, action } = outcome;
      if (instanceId === undefined || testInstanceId === undefined) continue;
      if (action === 'launch' && outcome.error === undefined) {
        launched.set(testInstanceId, { instanceId, from: record.time.getTime() });
      } else if (action === 'passed' || action === 'failed') {
        const test = launched.get(testInstanceId);
        if (test === undefined) continue;
        launched.delete(testInstanceId);
        spans.push({ instanceId, kind: 'restore-test', from: test.from, until: record.time.getTime(), ending: action });
      }
    }
  }
  for (const [, test] of launched) {
    spans.push({ instanceId: test.instanceId, kind: 'restore-test', from: test.from, until: end, ending: 'open' });
  }
  return spans;
}

export function nightEvents(night: NightRecords): NightEvents {
  const { audit, records, report, start, end } = night;
  const downSpans = imageReboots(audit, { end }).map(
    (interval): Span => ({
      instanceId: interval.instanceId,
      kind: 'down',
      from: interval.from,
      until: interval.until,
      ending: interval.back ? 'done' : 'open',
    }),
  );
  const images = imageSpans(audit, end);
  const copyRegions = new Map(
    images.flatMap((span) =>
      span.imageId !== undefined && span.region !== undefined ? [[span.imageId, span.region]] : [],
    ),
  );
  const expiries = audit.flatMap((entry): Marker[] => {
    const instanceId = entry.tags.get(ImageTag.instanceId);
    if (entry.kind !== 'image-deregistered' || instanceId === undefined) return [];
    const copyRegion = copyRegions.get(entry.id);
    const detail = entry.tags.has(ShareTag.reencryptedFrom)
      ? `${entry.id} (its copy re-encrypted for sharing)`
      : copyRegion === undefined
        ? entry.id
        : `${entry.id} (its copy in ${copyRegion})`;
    return [{ instanceId, kind: 'expiry', at: entry.at, detail }];
  });
  const failures = records.flatMap((record) => {
    const { madeBy, outcomes } = summaryOf(record);
    if (madeBy === 'rotate' || madeBy === 'restoreTests') return [];
    return outcomes.flatMap((outcome): Marker[] =>
      (outcome.action === 'failed' || outcome.action === 'fail') && outcome.instanceId !== undefined
        ? [
            {
              instanceId: outcome.instanceId,
              kind: 'failure',
              at: record.time.getTime(),
              detail: outcome.error ?? outcome.reason ?? 'failed',
            },
          ]
        : [],
    );
  });
  const instances = report.instances.map(
    (instance): InstanceFacts => ({
      instanceId: instance.instanceId,
      name: instance.name,
      group: instance.group,
      outcome: outcomeOf(instance),
      error: instance.error,
      downtimeSeconds: instance.downtimeSeconds,
    }),
  );
  return {
    start,
    end,
    instances,
    spans: [...downSpans, ...images, ...restoreTestSpans(records, end)],
    markers: [...expiries, ...failures],
    firings: records
      .filter((record) => record.trigger === 'schedule')
      .map((record) => ({ functionName: record.functionName, at: record.time.getTime() }))
      .sort((a, b) => a.at - b.at),
    figures: {
      instances: instances.length,
      backedUp: instances.filter((instance) => instance.outcome === 'backed up').length,
      failed: instances.filter((instance) => instance.outcome === 'failed').length,
      maxDownAtOnce: report.totals.maxDownAtOnce,
      maxDownInOneGroup: report.totals.maxDownInOneGroup,
      ec2Calls: report.totals.ec2Calls,
    },
  };
}
