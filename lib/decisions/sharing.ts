/**
 * Sharing good backups with other accounts: which launch and create-volume permissions to add and remove, which key
 * grants to create and revoke, which re-encrypted copies to make and expire, what to record, and what to publish.
 * Pure: a function of the service's images with their permissions, the keys of their snapshots, the service's grants,
 * and the instances' share policies.
 *
 * An image whose snapshots are unencrypted, or encrypted with customer managed keys the deployment names, is shared
 * itself: launch permission on the image, create-volume permission on each snapshot, and for each key a grant to each
 * account of the operations launching needs ({@link GRANT_OPERATIONS}). An image encrypted with the AWS managed key
 * cannot be shared (that key's policy cannot be changed), nor one under a key the service may not grant: with a share
 * key configured, a copy re-encrypted with it is made and shared in its place; without one, the share fails with what
 * to set. The plan says what to call; the order of the calls is the caller's (see {@link SharePlan}).
 *
 * What it promises: only 12-digit account ids are ever added (never `all`: a backup is never public); only accounts a
 * valid policy names are added; nothing is added to or revoked from an instance whose share tag is invalid; an image
 * encrypted with a key the service may not grant is never shared itself; no grant is revoked while an image still shared (or about to be)
 * with its account needs its key, and a grant exists for every such need; a re-encrypted copy goes with its source.
 */
import type { Image, TagWrite } from '../model';
import { ACCOUNT_ID, type Parsed, type SharePolicy } from '../policy';
import { formatAccounts, ImageTag, imageName, ShareTag, tagValue } from '../tags';
import type { CopyRequest } from './copies';
import { isGood, lookAlikeReasons, type Ours } from './rotation';

/**
 * The KMS operations a target account is granted on a customer managed key, for each key of a shared image: those the
 * EBS User Guide lists for using a shared encrypted snapshot ("Share the KMS key used to encrypt a shared Amazon EBS
 * snapshot": DescribeKey, CreateGrant, GenerateDataKey, GenerateDataKeyWithoutPlaintext, ReEncrypt, Decrypt), with
 * ReEncrypt named as the grant operations that carry it (ReEncryptFrom, ReEncryptTo).
 */
export const GRANT_OPERATIONS = [
  'CreateGrant',
  'Decrypt',
  'DescribeKey',
  'GenerateDataKey',
  'GenerateDataKeyWithoutPlaintext',
  'ReEncryptFrom',
  'ReEncryptTo',
] as const;
export type GrantOperation = (typeof GRANT_OPERATIONS)[number];

/** Who manages a KMS key (DescribeKey `KeyManager`): an AWS managed key (`aws/ebs`) cannot be shared. */
export type KeyManager = 'AWS' | 'CUSTOMER';

export interface SharedSnapshot {
  readonly id: string;
  /** The key it is encrypted with (its ARN); absent for an unencrypted snapshot. */
  readonly kmsKeyId?: string;
  /** The accounts with create-volume permission (DescribeSnapshotAttribute). */
  readonly createVolumeAccounts: readonly string[];
}

/** One of the service's images in the home Region, with what it is shared with now. */
export interface ShareableImage {
  readonly image: Image;
  /** The accounts with launch permission (DescribeImageAttribute). */
  readonly launchAccounts: readonly string[];
  readonly snapshots: readonly SharedSnapshot[];
}

/** An opted-in instance, as sharing sees it. */
export interface ShareSource {
  readonly instanceId: string;
  readonly policy: Parsed<SharePolicy>;
  /** Its current `ami-backup:share-error`, so that a failure is published once, and cleared once it is gone. */
  readonly shareError?: string;
}

/** A grant the service made: its name says the account (see {@link grantName}). */
export interface ServiceGrant {
  readonly keyId: string;
  readonly grantId: string;
  readonly account: string;
}

export interface ShareSettings {
  /** The Region the service runs in: re-encrypted copies are made there, from there. */
  readonly homeRegion: string;
  /** The ownership tag's value: grant names start with it, so the service finds its own grants. */
  readonly owner: string;
  /** The customer managed key re-encrypted copies are made with (`shareKmsKey`); absent: no copies. */
  readonly shareKmsKey?: string;
  /**
   * Other customer managed keys the deployment names, whose images are shared as they are: IAM lets the service grant
   * the use of the keys it names only. An image under any other key is shared as a re-encrypted copy, like one under
   * the AWS managed key.
   */
  readonly grantableKeys: readonly string[];
}

/** Permissions to add to or remove from an image and its snapshots, for some accounts. */
export interface PermissionChange {
  readonly imageId: string;
  readonly snapshotIds: readonly string[];
  readonly accounts: readonly string[];
}

export interface GrantRequest {
  readonly keyId: string;
  readonly account: string;
  /** The grant's name: CreateGrant with the same name and parameters returns the same grant (a rerun makes no second). */
  readonly name: string;
  readonly operations: readonly GrantOperation[];
}

export type ShareEvent =
  | {
      readonly type: 'Image Shared';
      readonly instanceId: string;
      readonly imageId: string;
      readonly accounts: readonly string[];
    }
  | {
      readonly type: 'Share Revoked';
      readonly instanceId: string;
      readonly imageId: string;
      readonly accounts: readonly string[];
    }
  | { readonly type: 'Share Failed'; readonly instanceId: string; readonly imageId: string; readonly reason: string };

export interface SharePlan {
  /** Granted first: an account sees an image only once it can use the image's key. */
  readonly createGrants: readonly GrantRequest[];
  /** Create-volume on the snapshots, then launch permission on the image. */
  readonly add: readonly PermissionChange[];
  /** Launch permission first, then create-volume on the snapshots. */
  readonly remove: readonly PermissionChange[];
  /**
   * Revoked after the removals (RevokeGrant, which IAM authorizes on the key; RetireGrant is for the grant's retiring
   * or grantee principal, or the account's root): no image still shared with the account needs the key.
   */
  readonly revokeGrants: readonly ServiceGrant[];
  /**
   * Same-Region copies re-encrypted with the share key (CopyImage, as copies to other Regions are made). The name is
   * the source's with a suffix: names are unique per Region, so a rerun finds the copy it already started.
   */
  readonly copies: readonly CopyRequest[];
  /** Re-encrypted copies whose source is gone, or no longer needs them: unshared (in `remove`), then deregistered. */
  readonly expireCopies: readonly { readonly imageId: string; readonly snapshotIds: readonly string[] }[];
  /** `ami-backup:shared-with` on each image whose sharing changes, written after the permissions. */
  readonly records: readonly TagWrite[];
  /** `ami-backup:share-error` of each instance whose error changes (undefined: remove the tag). */
  readonly instanceErrors: readonly { readonly instanceId: string; readonly reason: string | undefined }[];
  readonly events: readonly ShareEvent[];
  /** Instances whose share tag cannot be used: their images keep what they are shared with. */
  readonly held: readonly { readonly instanceId: string; readonly reason: string }[];
}

export const REENCRYPTED_SUFFIX = '-reencrypted';

/** `<owner>-<account>`: the service's grants for an account, one per key. */
export function grantName(owner: string, account: string): string {
  return `${owner}-${account}`;
}

/** The account a grant of the service's is for, from its name; undefined for any other grant. */
export function accountOfGrant(owner: string, name: string | undefined): string | undefined {
  const account = name?.startsWith(`${owner}-`) === true ? name.slice(owner.length + 1) : undefined;
  return account !== undefined && ACCOUNT_ID.test(account) ? account : undefined;
}

/**
 * Why an image carrying the ownership tag and `ami-backup:reencrypted-from` is not one of the service's re-encrypted
 * copies; empty if it is. Everything must agree: the account owning it, the ownership tag, the name (its instance and
 * run tags' name with the suffix), and the source EC2 reports for it, when it reports one.
 */
export function reencryptedCopyLookAlikeReasons(image: Image, ours: Ours): string[] {
  const reasons: string[] = [];
  if (image.ownerId === undefined || image.ownerId !== ours.accountId) {
    reasons.push(`owned by account ${image.ownerId ?? '(not given)'}, not ${ours.accountId || '(unknown)'}`);
  }
  if (image.tags[ImageTag.managedBy] !== ours.owner) reasons.push(`not tagged ${ImageTag.managedBy}=${ours.owner}`);
  const instanceId = image.tags[ImageTag.instanceId];
  const run = image.tags[ImageTag.run];
  if (instanceId === undefined || run === undefined) reasons.push(`no ${ImageTag.instanceId} or ${ImageTag.run} tag`);
  const name = `${imageName(instanceId ?? '', run ?? '')}${REENCRYPTED_SUFFIX}`;
  if (instanceId !== undefined && run !== undefined && image.name !== name) {
    reasons.push(`named ${JSON.stringify(image.name)}, not ${JSON.stringify(name)}`);
  }
  const source = image.tags[ShareTag.reencryptedFrom];
  if (source !== undefined && image.sourceImageId !== undefined && image.sourceImageId !== source) {
    reasons.push(`copied from ${image.sourceImageId}, not ${source}`);
  }
  return reasons;
}

/**
 * Why an image carrying the ownership tag is not the service's own, by the checks of what it claims to be: a backup,
 * or a copy re-encrypted for sharing. Empty if it is.
 */
export function homeImageLookAlikeReasons(image: Image, ours: Ours): string[] {
  return isReencryptedCopy(image) ? reencryptedCopyLookAlikeReasons(image, ours) : lookAlikeReasons(image, ours);
}

/** The accounts an image's `shared-with` record names that are account ids (a forged value names nothing else). */
export function recordedShareAccounts(image: Image): string[] {
  return (image.tags[ShareTag.sharedWith] ?? '').split(',').filter((account) => ACCOUNT_ID.test(account));
}

/** Whether an image is a copy re-encrypted for sharing: rotated with its source, not by a retention of its own. */
export function isReencryptedCopy(image: Image): boolean {
  return image.tags[ShareTag.reencryptedFrom] !== undefined;
}

/**
 * The permissions to remove before an image is deregistered: the accounts its record names (the record is written
 * once its permissions are in place, and rotation reads no attribute per image). Undefined for an image not shared.
 */
export function unshareBeforeExpiry(image: Image): PermissionChange | undefined {
  const accounts = recordedShareAccounts(image);
  if (accounts.length === 0) return undefined;
  return { imageId: image.id, snapshotIds: image.snapshotIds, accounts: accounts.sort() };
}

/** Whether the service may grant accounts the use of a key: a customer managed key the deployment names. */
function isGrantable(keyId: string, keys: ReadonlyMap<string, KeyManager>, settings: ShareSettings): boolean {
  return keys.get(keyId) === 'CUSTOMER' && (keyId === settings.shareKmsKey || settings.grantableKeys.includes(keyId));
}

/** Why an image's snapshots' keys cannot be shared, or undefined if they can. */
function unshareableKeyReason(
  shared: ShareableImage,
  keys: ReadonlyMap<string, KeyManager>,
  settings: ShareSettings,
): string | undefined {
  for (const snapshot of shared.snapshots) {
    if (snapshot.kmsKeyId === undefined || isGrantable(snapshot.kmsKeyId, keys, settings)) continue;
    const manager = keys.get(snapshot.kmsKeyId);
    return manager === 'AWS'
      ? `snapshot ${snapshot.id} is encrypted with the AWS managed key, which cannot be shared`
      : manager === 'CUSTOMER'
        ? `snapshot ${snapshot.id} is encrypted with ${snapshot.kmsKeyId}, a key this deployment may not grant`
        : `the key of snapshot ${snapshot.id} (${snapshot.kmsKeyId}) could not be described`;
  }
  return undefined;
}

function minus(a: readonly string[], b: readonly string[]): string[] {
  const exclude = new Set(b);
  return [...new Set(a)].filter((item) => !exclude.has(item)).sort();
}

/**
 * Plans a sharing pass. `sources` are the opted-in instances; `candidates` the images carrying this stage's ownership
 * tag in the home Region (backups and re-encrypted copies) with their permissions; `keys` the manager of each key their snapshots use;
 * `grants` the service's grants on those keys.
 */
export function planSharing(
  sources: readonly ShareSource[],
  candidates: readonly ShareableImage[],
  keys: ReadonlyMap<string, KeyManager>,
  grants: readonly ServiceGrant[],
  ours: Ours,
  settings: ShareSettings,
): SharePlan {
  // Only images that pass the ownership checks are ever touched; look-alikes are rotation's to report.
  const images = candidates.filter((shared) => homeImageLookAlikeReasons(shared.image, ours).length === 0);
  const bySource = new Map(sources.map((source) => [source.instanceId, source]));
  const held = sources.flatMap((source) =>
    source.policy.ok ? [] : [{ instanceId: source.instanceId, reason: source.policy.problems.join('; ') }],
  );
  const copiesBySource = new Map<string, ShareableImage>();
  for (const shared of images) {
    const from = shared.image.tags[ShareTag.reencryptedFrom];
    if (from !== undefined && shared.image.state !== 'deregistered') copiesBySource.set(from, shared);
  }
  const backups = images.filter((shared) => shared.image.tags[ShareTag.reencryptedFrom] === undefined);

  /** The accounts each image is to be shared with after this pass; an image of a held instance keeps its own. */
  const desired = new Map<string, readonly string[]>();
  /** Images of instances whose share tag is invalid: left as they are, the key use they have kept. */
  const heldImages = new Set<string>();
  const copies: CopyRequest[] = [];
  const failures = new Map<string, { imageId: string; reason: string }>();
  const neededCopies = new Set<string>();
  for (const shared of backups) {
    const { image } = shared;
    const instanceId = image.tags[ImageTag.instanceId] ?? '';
    const source = bySource.get(instanceId);
    if (source !== undefined && !source.policy.ok) {
      heldImages.add(image.id);
      const copy = copiesBySource.get(image.id);
      if (copy !== undefined) {
        heldImages.add(copy.image.id);
        neededCopies.add(copy.image.id);
      }
      continue;
    }
    const accounts = source?.policy.ok === true && isGood(image) ? source.policy.value.accounts : [];
    const why = unshareableKeyReason(shared, keys, settings);
    if (why === undefined) {
      desired.set(image.id, accounts);
      continue;
    }
    desired.set(image.id, []);
    if (accounts.length === 0) continue;
    const { shareKmsKey } = settings;
    if (shareKmsKey === undefined) {
      failures.set(instanceId, {
        imageId: image.id,
        reason: `${why}: set the deployment's shareKmsKey (a customer managed key) to share a re-encrypted copy`,
      });
      continue;
    }
    const copy = copiesBySource.get(image.id);
    if (copy === undefined) {
      copies.push(reencryptRequest(instanceId, image, { ...settings, shareKmsKey }));
      continue;
    }
    neededCopies.add(copy.image.id);
    if (copy.image.state === 'available') desired.set(copy.image.id, accounts);
    else if (copy.image.state !== 'pending') {
      failures.set(instanceId, {
        imageId: image.id,
        reason: `re-encrypted copy ${copy.image.id} ${copy.image.state}: ${copy.image.stateReason ?? 'no reason given'}`,
      });
    }
  }
  // A copy whose source is gone (expired) or no longer shared through it goes: unshared first (it is wanted for none).
  const expireCopies: { imageId: string; snapshotIds: string[] }[] = [];
  for (const copy of copiesBySource.values()) {
    if (neededCopies.has(copy.image.id)) continue;
    expireCopies.push({ imageId: copy.image.id, snapshotIds: copy.snapshots.map((snapshot) => snapshot.id) });
  }

  const add: PermissionChange[] = [];
  const remove: PermissionChange[] = [];
  const records: TagWrite[] = [];
  const events: ShareEvent[] = [];
  const needed = new Map<string, { keyId: string; account: string }>();
  const needKeys = (shared: ShareableImage, accounts: readonly string[]): void => {
    for (const snapshot of shared.snapshots) {
      if (snapshot.kmsKeyId === undefined || !isGrantable(snapshot.kmsKeyId, keys, settings)) continue;
      for (const account of accounts) {
        needed.set(`${snapshot.kmsKeyId} ${account}`, { keyId: snapshot.kmsKeyId, account });
      }
    }
  };
  /** A held image's grants are neither created nor revoked: any account it is shared with now keeps its key use. */
  const kept = new Set<string>();
  const keepKeys = (shared: ShareableImage): void => {
    const accounts = [...shared.launchAccounts, ...shared.snapshots.flatMap((s) => s.createVolumeAccounts)];
    for (const snapshot of shared.snapshots) {
      if (snapshot.kmsKeyId === undefined) continue;
      for (const account of accounts) kept.add(`${snapshot.kmsKeyId} ${account}`);
    }
  };
  for (const shared of images) {
    const { image } = shared;
    if (heldImages.has(image.id)) {
      keepKeys(shared);
      continue;
    }
    const accounts = (desired.get(image.id) ?? []).filter((account) => ACCOUNT_ID.test(account));
    const instanceId = image.tags[ImageTag.instanceId] ?? '';
    const snapshotIds = shared.snapshots.map((snapshot) => snapshot.id);
    const added = minus(accounts, shared.launchAccounts);
    const missing = [
      ...new Set([...added, ...shared.snapshots.flatMap((s) => minus(accounts, s.createVolumeAccounts))]),
    ];
    if (missing.length > 0) add.push({ imageId: image.id, snapshotIds, accounts: missing.sort() });
    const removed = minus(
      [...shared.launchAccounts, ...shared.snapshots.flatMap((s) => s.createVolumeAccounts)],
      accounts,
    );
    if (removed.length > 0) remove.push({ imageId: image.id, snapshotIds, accounts: removed });
    if (added.length > 0) events.push({ type: 'Image Shared', instanceId, imageId: image.id, accounts: added });
    const revoked = minus(shared.launchAccounts, accounts);
    if (revoked.length > 0) events.push({ type: 'Share Revoked', instanceId, imageId: image.id, accounts: revoked });
    // An image never shared gets no record; one shared once keeps an empty record after it is unshared.
    const record = formatAccounts(accounts);
    const recorded = image.tags[ShareTag.sharedWith];
    if (recorded !== record && !(recorded === undefined && record === '')) {
      records.push({ resourceId: image.id, tags: { [ShareTag.sharedWith]: record } });
    }
    needKeys(shared, accounts);
  }
  const existing = new Set(grants.map((grant) => `${grant.keyId} ${grant.account}`));
  const createGrants: GrantRequest[] = [...needed.entries()]
    .filter(([key]) => !existing.has(key))
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([, { keyId, account }]) => ({
      keyId,
      account,
      name: grantName(settings.owner, account),
      operations: GRANT_OPERATIONS,
    }));
  const revokeGrants = grants.filter((grant) => {
    const key = `${grant.keyId} ${grant.account}`;
    return !needed.has(key) && !kept.has(key);
  });

  const instanceErrors: { instanceId: string; reason: string | undefined }[] = [];
  for (const source of sources) {
    if (!source.policy.ok) continue;
    const failure = failures.get(source.instanceId);
    const reason = failure === undefined ? undefined : tagValue(failure.reason);
    if (reason === source.shareError) continue;
    instanceErrors.push({ instanceId: source.instanceId, reason });
    if (failure !== undefined && reason !== undefined) {
      events.push({ type: 'Share Failed', instanceId: source.instanceId, imageId: failure.imageId, reason });
    }
  }
  return { createGrants, add, remove, revokeGrants, copies, expireCopies, records, instanceErrors, events, held };
}

/** The same-Region copy of an image re-encrypted with the share key, tagged at creation as the service's own. */
function reencryptRequest(
  instanceId: string,
  image: Image,
  settings: ShareSettings & { shareKmsKey: string },
): CopyRequest {
  return {
    instanceId,
    region: settings.homeRegion,
    sourceImageId: image.id,
    sourceRegion: settings.homeRegion,
    name: `${image.name}${REENCRYPTED_SUFFIX}`,
    description: `ami-backup copy of ${image.id} re-encrypted for sharing`,
    tags: {
      [ImageTag.managedBy]: image.tags[ImageTag.managedBy] ?? '',
      [ImageTag.instanceId]: instanceId,
      [ImageTag.run]: image.tags[ImageTag.run] ?? '',
      [ShareTag.reencryptedFrom]: image.id,
    },
    encrypted: true,
    kmsKeyId: settings.shareKmsKey,
  };
}
