/** What every use case is given: configuration, the EC2 adapter, the event publisher, the logger and a deadline. */
import type { Logger } from '@aws-lambda-powertools/logger';
import type { BackupEvents } from '../backup-events';
import type { Config } from '../config';
import type { Ec2Gateway } from '../ec2-gateway';
import type { KmsGateway } from '../kms-gateway';
import type { Passes, SwitchedRule } from '../passes';

export interface UseCaseContext {
  readonly config: Config;
  readonly ec2: Ec2Gateway;
  /** The EC2 adapter of another Region (copies): a client of its own, endpoints from the SDK's usual settings. */
  readonly ec2In: (region: string) => Ec2Gateway;
  /** KMS in the service's Region (sharing: key managers and the grants of the keys the deployment names). */
  readonly kms: KmsGateway;
  readonly events: BackupEvents;
  /** The createImages passes' schedule, on while a run has work in flight. */
  readonly passes: Passes;
  /** Rotation's follow-up schedule, on while a rotation left work undone. */
  readonly rotationPasses: SwitchedRule;
  /** The copy passes' schedule, on from a run's start while copies are wanted or in flight. */
  readonly copyPasses: SwitchedRule;
  /** The share passes' schedule, on from a run's start while some instance's backups are to be shared. */
  readonly sharePasses: SwitchedRule;
  readonly logger: Logger;
  /** Milliseconds left in this invocation: work stops in time and the next invocation carries on from the tags. */
  readonly remainingMs: () => number;
  /** The AWS account the function runs in (from its ARN): only images this account owns can be the service's. */
  readonly accountId: string;
}

/**
 * The invocation's own clock: its start (`now`, the trigger's time) plus how long it has run, read from Lambda's
 * countdown, so that it needs no wall clock and follows a simulated one.
 */
export function invocationClock(now: Date, remainingMs: () => number): () => Date {
  const startRemaining = remainingMs();
  return () => new Date(now.getTime() + Math.max(0, startRemaining - remainingMs()));
}

/** Time kept in hand at the end of an invocation for the calls already under way. */
export const SAFETY_MARGIN_MS = 20_000;

export interface InstanceOutcome {
  readonly instanceId: string;
  /** What was decided (a decision kind), or `deferred` when the invocation ran out of time first. */
  readonly action: string;
  readonly reason?: string;
  readonly imageId?: string;
  readonly error?: string;
}

export interface Summary {
  readonly function: string;
  readonly now: string;
  readonly dryRun: boolean;
  readonly instances: readonly InstanceOutcome[];
}

/** Runs `work` over `items`, at most `limit` at a time, and stops starting new ones once `more()` says no. */
export async function forEachLimit<T>(
  items: readonly T[],
  limit: number,
  more: () => boolean,
  work: (item: T) => Promise<void>,
): Promise<T[]> {
  const skipped: T[] = [];
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const item = items[next++] as T; // next < length was just checked
      if (!more()) {
        skipped.push(item);
        continue;
      }
      await work(item);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return skipped;
}
