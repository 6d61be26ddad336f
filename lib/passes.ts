/**
 * The createImages passes: an EventBridge schedule that runs a pass every minute while a run has work in flight.
 * A run's start turns it on; a pass that finds nothing left turns it off, so an idle fleet costs no pass (an hourly
 * sweep turns it back on if work was left behind: a lost race, a failed call).
 */
import { DisableRuleCommand, EnableRuleCommand, type EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { withinDeadline } from './errors';

export class Passes {
  constructor(
    private readonly ruleName: string,
    private readonly client: EventBridgeClient,
    /** The invocation's remaining time: the SDK's retries end within it. */
    private readonly remainingMs?: () => number,
  ) {}

  /** This switch (its client) for one invocation, whose calls end within its remaining time. */
  forInvocation(remainingMs: () => number): Passes {
    return new Passes(this.ruleName, this.client, remainingMs);
  }

  /** Passes run every minute from now on (idempotent). */
  async start(): Promise<void> {
    await withinDeadline(this.remainingMs, () => this.client.send(new EnableRuleCommand({ Name: this.ruleName })));
  }

  /** No more passes until a run starts or the sweep finds work (idempotent). */
  async stop(): Promise<void> {
    await withinDeadline(this.remainingMs, () => this.client.send(new DisableRuleCommand({ Name: this.ruleName })));
  }
}

/** What a pass's outcomes leave to a later pass: anything not finished (succeeded, failed or skipped for good). */
export function workRemains(outcomes: readonly { readonly action: string; readonly error?: string }[]): boolean {
  return outcomes.some(
    (outcome) => outcome.error !== undefined || !['succeeded', 'failed', 'skip'].includes(outcome.action),
  );
}
