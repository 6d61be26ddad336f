/**
 * The stale-backup audit: an opted-in instance whose last good backup (its `last-success` run) is older than
 * `staleAfterHours` — or that has had runs but never a good backup, since its first run that long ago — has silently stopped being
 * backed up. An instance opted in since the last run has no run yet and is not stale. Pure.
 */
import type { Instance } from '../model';
import { isOptedIn } from '../policy';
import { InstanceTag, parseRunId } from '../tags';

export interface StaleBackup {
  readonly instanceId: string;
  /** The run of its last good backup, when it had one. */
  readonly lastSuccess?: string;
  /** Whole hours since that run started (or since its oldest known run, without one). */
  readonly hours: number;
}

export function staleBackups(
  instances: readonly Instance[],
  now: Date,
  settings: { readonly optIn: { readonly key: string; readonly value: string }; readonly staleAfterHours: number },
): StaleBackup[] {
  const stale: StaleBackup[] = [];
  for (const instance of instances) {
    if (!isOptedIn(instance.tags, settings.optIn) || instance.state === 'terminated') continue;
    const lastSuccess = instance.tags[InstanceTag.lastSuccess];
    // Without a success, the instance is judged from its first run: it has gone without a good backup since then.
    const since = parseRunId(lastSuccess ?? instance.tags[InstanceTag.firstRun] ?? instance.tags[InstanceTag.run]);
    if (since === undefined) continue;
    const hours = Math.floor((now.getTime() - since.getTime()) / 3_600_000);
    if (hours < settings.staleAfterHours) continue;
    stale.push({ instanceId: instance.id, ...(lastSuccess === undefined ? {} : { lastSuccess }), hours });
  }
  return stale;
}
