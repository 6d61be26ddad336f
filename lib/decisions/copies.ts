/**
 * Copies of good backups to other Regions: which copies to start, which finished or failed, which timed out, and what
 * each Region keeps. Pure: a function of the instances' copy policies, their newest good backups, the service's images
 * in each destination Region, and now.
 *
 * A copy is named as its source (`ami-backup-<instance>-<run>`: names are unique per Region, so a rerun after a crash
 * finds the copy it already started instead of making a second) and carries the ownership, instance, run, source-image
 * and retention tags from its CopyImage request. Its outcome is recorded on the copy (`ami-backup:state`) and on its
 * source image (`ami-backup:copies`); a Region recorded on the source is never copied to again for that image.
 *
 * What it promises: at most one copy per good backup and Region, ever; only the newest good backup of an instance is
 * copied; no copy starts for an instance whose copy tags are invalid; at most `maxInFlightPerRegion` copies pending in
 * a Region; a copy pending longer than the image timeout fails and is deregistered; only images that pass the
 * ownership checks of a copy are ever touched.
 */
import type { Image, TagWrite } from '../model';
import { type CopyPolicy, type Parsed, type Retention, retentionTags } from '../policy';
import {
  CopyOutcome,
  type CopyRecordEntry,
  CopyTag,
  formatCopyRecord,
  ImageTag,
  InstanceTag,
  parseCopyRecord,
  tagValue,
} from '../tags';
import { isGood, type Ours, ownershipReasons } from './rotation';

/**
 * At most this many of the service's copies pending in one destination Region: a third of EC2's limit of 300
 * concurrent AMI copies per destination Region (EC2 User Guide, "How Amazon EC2 AMI copy works"), leaving the rest
 * to other tools of the account.
 */
export const MAX_COPIES_IN_FLIGHT_PER_REGION = 100;

/** An opted-in instance, as copying sees it. */
export interface CopySource {
  readonly instanceId: string;
  readonly policy: Parsed<CopyPolicy>;
  readonly retention: Parsed<Retention>;
  /** Its newest good backup in the home Region, if it has one. */
  readonly image?: Image;
}

export interface CopySettings {
  readonly homeRegion: string;
  readonly imageTimeoutSeconds: number;
  /** The KMS key of each destination Region that has one. */
  readonly kmsKeys: Readonly<Record<string, string>>;
  readonly maxInFlightPerRegion?: number;
}

export interface CopyRequest {
  readonly instanceId: string;
  readonly region: string;
  readonly sourceImageId: string;
  readonly sourceRegion: string;
  /** The copy's name: its source's, so that a rerun finds it. */
  readonly name: string;
  readonly description: string;
  /** Tags of the copy and its snapshots, set by the CopyImage request itself. */
  readonly tags: Readonly<Record<string, string>>;
  /** Encrypted: the source is, or the Region has a key. */
  readonly encrypted: boolean;
  readonly kmsKeyId?: string;
}

/** A copy's outcome found by this pass, to publish and record. */
export interface CopyResult {
  readonly instanceId: string;
  readonly region: string;
  readonly sourceImageId: string;
  readonly copyImageId: string;
  readonly state: CopyOutcome;
  readonly reason?: string;
  /** The copy to deregister (a copy still pending after the image timeout). */
  readonly cleanup?: { readonly snapshotIds: readonly string[] };
}

export interface RegionWork {
  readonly region: string;
  readonly start: readonly CopyRequest[];
  /** Copies still pending after this pass (those started now included). */
  readonly inFlight: number;
  /** Copies due that wait for the in-flight limit. */
  readonly waiting: number;
  /** Outcome tags on copies in this Region (each copy's first record of its outcome). */
  readonly copyTags: readonly TagWrite[];
  /**
   * Timed-out copies recorded failed that are still there to deregister, once their source records the failure (else
   * the next pass would find neither the copy nor the record, and copy again).
   */
  readonly cleanups: readonly Cleanup[];
}

export interface Cleanup {
  readonly imageId: string;
  readonly snapshotIds: readonly string[];
  readonly sourceImageId: string;
}

export interface CopyPlan {
  readonly regions: readonly RegionWork[];
  /** Outcomes found now: each is published before the copy, then its source, records it. */
  readonly results: readonly CopyResult[];
  /** The copies record on source images (home Region), written after the copies' own tags. */
  readonly sourceRecords: readonly TagWrite[];
  /** Instances whose copy tags cannot be used: nothing is copied for them. */
  readonly held: readonly { readonly instanceId: string; readonly reason: string }[];
}

/**
 * Why an image carrying the ownership tag in a destination Region is not one of the service's copies; empty if it
 * is. Everything must agree: the account owning it, the ownership tag, the name (from its instance and run tags), a
 * source-image tag, and the source EC2 reports for it, when it reports one.
 */
export function copyLookAlikeReasons(image: Image, ours: Ours): string[] {
  const reasons = ownershipReasons(image, ours);
  const source = image.tags[CopyTag.sourceImage];
  if (source === undefined) reasons.push(`no ${CopyTag.sourceImage} tag`);
  if (source !== undefined && image.sourceImageId !== undefined && image.sourceImageId !== source) {
    reasons.push(`copied from ${image.sourceImageId}, not ${source}`);
  }
  return reasons;
}

const FINISHED_FAILED = new Set(['failed', 'error', 'invalid']);

/** The outcome of a copy not yet recorded on it, at `now`; undefined while it is pending within the timeout. */
function outcomeOf(
  copy: Image,
  now: Date,
  settings: CopySettings,
): Omit<CopyResult, 'instanceId' | 'region'> | undefined {
  const base = { sourceImageId: copy.tags[CopyTag.sourceImage] ?? '', copyImageId: copy.id };
  if (copy.state === 'available') return { ...base, state: CopyOutcome.succeeded };
  if (FINISHED_FAILED.has(copy.state)) {
    return {
      ...base,
      state: CopyOutcome.failed,
      reason: `copy ${copy.state}: ${copy.stateReason ?? 'no reason given'}`,
    };
  }
  if (copy.state !== 'pending') return undefined;
  const ageSeconds = (now.getTime() - copy.createdAt.getTime()) / 1000;
  if (ageSeconds <= settings.imageTimeoutSeconds) return undefined;
  return {
    ...base,
    state: CopyOutcome.failed,
    reason: `copy still pending after ${settings.imageTimeoutSeconds} s: cleaned up`,
    cleanup: { snapshotIds: copy.snapshotIds },
  };
}

/** The copy request of a good backup to a Region. */
function copyRequest(
  source: CopySource & { readonly image: Image },
  region: string,
  retention: Retention,
  settings: CopySettings,
): CopyRequest {
  const { image } = source;
  const kmsKeyId = settings.kmsKeys[region];
  return {
    instanceId: source.instanceId,
    region,
    sourceImageId: image.id,
    sourceRegion: settings.homeRegion,
    name: image.name,
    description: tagValue(`ami-backup copy of ${image.id} (${settings.homeRegion})`).slice(0, 255),
    tags: {
      [ImageTag.managedBy]: image.tags[ImageTag.managedBy] ?? '',
      [ImageTag.instanceId]: source.instanceId,
      [ImageTag.run]: image.tags[ImageTag.run] ?? '',
      ...(image.tags[ImageTag.imageMode] === undefined ? {} : { [ImageTag.imageMode]: image.tags[ImageTag.imageMode] }),
      [CopyTag.sourceImage]: image.id,
      [CopyTag.sourceRegion]: settings.homeRegion,
      ...retentionTags(retention),
    },
    encrypted: kmsKeyId !== undefined || image.encrypted === true,
    ...(kmsKeyId === undefined ? {} : { kmsKeyId }),
  };
}

/** The outcome tags a copy gets: its state, and why it failed. */
function copyOutcomeTags(result: CopyResult): Record<string, string> {
  return result.reason === undefined
    ? { [InstanceTag.state]: result.state }
    : { [InstanceTag.state]: result.state, [InstanceTag.lastError]: tagValue(result.reason) };
}

/**
 * Plans a copy pass. `sources` are the opted-in instances; `copies` the images carrying this stage's ownership tag in
 * each destination Region (any Region named by a policy, or holding copies); `sourcesById` the home Region's images
 * that copies name, so that an outcome is recorded on its source whether or not it is still the newest.
 */
export function planCopies(
  sources: readonly CopySource[],
  copies: ReadonlyMap<string, readonly Image[]>,
  sourcesById: ReadonlyMap<string, Image>,
  ours: Ours,
  now: Date,
  settings: CopySettings,
): CopyPlan {
  const limit = settings.maxInFlightPerRegion ?? MAX_COPIES_IN_FLIGHT_PER_REGION;
  const results: CopyResult[] = [];
  const held: { instanceId: string; reason: string }[] = [];
  /** The new record of each source image written this pass, by image id (starting from its current one). */
  const records = new Map<string, Map<string, CopyRecordEntry>>();
  const recordOf = (image: Image): Map<string, CopyRecordEntry> => {
    const record = records.get(image.id) ?? parseCopyRecord(image.tags[CopyTag.copies]);
    records.set(image.id, record);
    return record;
  };
  const changed = new Set<string>();
  const record = (image: Image | undefined, region: string, entry: CopyRecordEntry): void => {
    if (image === undefined) return; // its source is gone: the copy alone records its outcome
    const current = recordOf(image);
    const was = current.get(region);
    if (was?.state === entry.state && was.imageId === entry.imageId) return;
    current.set(region, entry);
    changed.add(image.id);
  };
  const wanted = new Map<string, CopySource[]>();
  for (const source of sources) {
    if (!source.policy.ok || !source.retention.ok) {
      const problems = [source.policy, source.retention].flatMap((parsed) => (parsed.ok ? [] : parsed.problems));
      held.push({ instanceId: source.instanceId, reason: problems.join('; ') });
      continue;
    }
    for (const region of source.policy.value.regions) wanted.set(region, [...(wanted.get(region) ?? []), source]);
  }

  const regionNames = [...new Set([...copies.keys(), ...wanted.keys()])].sort();
  const regions: RegionWork[] = regionNames.map((region) => {
    const own = (copies.get(region) ?? []).filter(
      (image) => image.state !== 'deregistered' && copyLookAlikeReasons(image, ours).length === 0,
    );
    const byName = new Map(own.map((image) => [image.name, image]));
    const copyTags: TagWrite[] = [];
    const cleanups: Cleanup[] = [];
    let inFlight = 0;
    // Every copy's outcome, whether or not its source is still the newest.
    for (const copy of own) {
      const source = sourcesById.get(copy.tags[CopyTag.sourceImage] ?? '');
      const recorded = copy.tags[InstanceTag.state];
      if (recorded === CopyOutcome.succeeded || recorded === CopyOutcome.failed) {
        // Recorded on the copy: its source records it too (a crash between the two), and a timed-out copy goes.
        record(source, region, { state: recorded, imageId: copy.id });
        if (recorded === CopyOutcome.failed && copy.state === 'pending') {
          cleanups.push({ imageId: copy.id, snapshotIds: copy.snapshotIds, sourceImageId: source?.id ?? '' });
        }
        continue;
      }
      const outcome = outcomeOf(copy, now, settings);
      if (outcome === undefined) {
        inFlight += 1;
        continue;
      }
      const result: CopyResult = { ...outcome, instanceId: copy.tags[ImageTag.instanceId] ?? '', region };
      results.push(result);
      copyTags.push({ resourceId: copy.id, tags: copyOutcomeTags(result) });
      record(source, region, { state: result.state, imageId: copy.id });
      if (result.cleanup !== undefined) {
        cleanups.push({ imageId: copy.id, snapshotIds: result.cleanup.snapshotIds, sourceImageId: source?.id ?? '' });
      }
    }
    // New copies: the newest good backup of each instance naming the Region, not copied there yet, oldest first.
    const due = (wanted.get(region) ?? [])
      .flatMap((source) => {
        const image = source.image;
        if (image === undefined || !isGood(image) || !source.retention.ok) return [];
        if (recordOf(image).has(region) || byName.has(image.name)) return [];
        return [copyRequest({ ...source, image }, region, source.retention.value, settings)];
      })
      .sort((a, b) => a.name.localeCompare(b.name));
    const start = due.slice(0, Math.max(0, limit - inFlight));
    return {
      region,
      start,
      inFlight: inFlight + start.length,
      waiting: due.length - start.length,
      copyTags,
      cleanups,
    };
  });
  const sourceRecords: TagWrite[] = [...changed].sort().map((imageId) => ({
    resourceId: imageId,
    tags: { [CopyTag.copies]: tagValue(formatCopyRecord(records.get(imageId) ?? new Map())) },
  }));
  return { regions, results, sourceRecords, held };
}
