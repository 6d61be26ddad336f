/**
 * The service's own events on EventBridge (source `ami-backup`), for operators to route to alerts.
 * Outcomes are published before they are recorded in tags, so a crash between the two repeats the event rather than
 * losing it: consumers may see one twice and can tell by `detail.imageId` and `detail-type`.
 */
import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { chunk, DeadlineRetryStrategy, withinDeadline } from './errors';

export const EVENT_SOURCE = 'ami-backup';

export const EventType = {
  backupSucceeded: 'Backup Succeeded',
  backupFailed: 'Backup Failed',
  imageExpired: 'Image Expired',
  /** An image carrying the ownership tag that is not the service's own (reported, never touched). */
  foreignImageTagged: 'Foreign Image Tagged',
  /** An opted-in instance with no good backup younger than `staleAfterHours` (reported at each run's start). */
  backupStale: 'Backup Stale',
  /** An instance launched from a backup ran with both status checks ok (recorded on the image). */
  restoreTestPassed: 'Restore Test Passed',
  /** An instance launched from a backup did not come up healthy in time (recorded on the image, with why). */
  restoreTestFailed: 'Restore Test Failed',
  /** A good backup's copy in another Region became available (recorded on the copy and its source). */
  copySucceeded: 'Copy Succeeded',
  /** A copy failed, or was still pending after the image timeout and was cleaned up. */
  copyFailed: 'Copy Failed',
  /** A good backup (or its re-encrypted copy) became launchable from more accounts (`accounts`: those added). */
  imageShared: 'Image Shared',
  /** A backup cannot be shared, with why and what to set (recorded on the instance as `ami-backup:share-error`). */
  shareFailed: 'Share Failed',
  /** Accounts no longer named lost their launch permission on a backup kept (`accounts`: those removed). */
  shareRevoked: 'Share Revoked',
} as const;
export type EventType = (typeof EventType)[keyof typeof EventType];

export interface ServiceEvent {
  readonly type: EventType;
  readonly time: Date;
  readonly detail: Readonly<Record<string, string | number | undefined>>;
}

export function backupFailed(
  time: Date,
  failure: { instanceId: string; runId: string; reason: string; imageId?: string },
): ServiceEvent {
  return { type: EventType.backupFailed, time, detail: { ...failure } };
}

/** PutEvents takes at most 10 entries a call. */
const PUT_EVENTS_BATCH = 10;

export class PublishError extends Error {
  override readonly name = 'PublishError';
}

export class BackupEvents {
  constructor(
    private readonly eventBusName: string,
    private readonly client: EventBridgeClient = new EventBridgeClient({ retryStrategy: new DeadlineRetryStrategy() }),
    /** The invocation's remaining time: the SDK's retries end within it. */
    private readonly remainingMs?: () => number,
  ) {}

  /** This publisher (its client) for one invocation, whose calls end within its remaining time. */
  forInvocation(remainingMs: () => number): BackupEvents {
    return new BackupEvents(this.eventBusName, this.client, remainingMs);
  }

  publish(events: readonly ServiceEvent[]): Promise<void> {
    return withinDeadline(this.remainingMs, () => this.publishNow(events));
  }

  private async publishNow(events: readonly ServiceEvent[]): Promise<void> {
    for (const batch of chunk(events, PUT_EVENTS_BATCH)) {
      const output = await this.client.send(
        new PutEventsCommand({
          Entries: batch.map((event) => ({
            Source: EVENT_SOURCE,
            DetailType: event.type,
            Time: event.time,
            EventBusName: this.eventBusName,
            Detail: JSON.stringify(event.detail),
          })),
        }),
      );
      if ((output.FailedEntryCount ?? 0) > 0) {
        const reasons = (output.Entries ?? []).flatMap((entry) => (entry.ErrorCode ? [entry.ErrorCode] : []));
        throw new PublishError(`EventBridge refused ${output.FailedEntryCount} events: ${reasons.join(', ')}`);
      }
    }
  }
}
