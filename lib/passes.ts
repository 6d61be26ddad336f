/**
 * The createImages passes: EventBridge schedules that run a pass while a run has work in flight. A run's start turns
 * the regular passes on; a pass that finds nothing left turns its own rule off, so an idle fleet costs no pass (a
 * sweep every few hours turns them back on if work was left behind: a lost race, a failed call). While regular passes
 * would see instances back from their image's reboot late (see `passCadence`), a pass hands over to the passes every
 * minute, and those hand back once they no longer would.
 */
import { DisableRuleCommand, EnableRuleCommand, type EventBridgeClient } from '@aws-sdk/client-eventbridge';
import type { Cadence } from './decisions/cadence';
import { withinDeadline } from './errors';

/** An EventBridge rule the service turns on and off, its calls ending within the invocation's remaining time. */
export class SwitchedRule {
  constructor(
    readonly name: string,
    private readonly client: EventBridgeClient,
    private readonly remainingMs?: () => number,
  ) {}

  forInvocation(remainingMs: () => number): SwitchedRule {
    return new SwitchedRule(this.name, this.client, remainingMs);
  }

  /** Idempotent. */
  async enable(): Promise<void> {
    await withinDeadline(this.remainingMs, () => this.client.send(new EnableRuleCommand({ Name: this.name })));
  }

  /** Idempotent. */
  async disable(): Promise<void> {
    await withinDeadline(this.remainingMs, () => this.client.send(new DisableRuleCommand({ Name: this.name })));
  }
}

/** The rule of each cadence (serverless.yml names them). */
export type PassRules = Readonly<Record<Cadence, string>>;

export class Passes {
  constructor(
    private readonly rules: PassRules,
    private readonly client: EventBridgeClient,
    /** The invocation's remaining time: the SDK's retries end within it. */
    private readonly remainingMs?: () => number,
  ) {}

  /** This switch (its client) for one invocation, whose calls end within its remaining time. */
  forInvocation(remainingMs: () => number): Passes {
    return new Passes(this.rules, this.client, remainingMs);
  }

  /** The cadence of a pass fired by `rule`; undefined when it is not one of the passes' rules (a sweep, the console). */
  cadenceOf(rule: string | undefined): Cadence | undefined {
    if (rule === this.rules.regular) return 'regular';
    if (rule === this.rules.minutely) return 'minutely';
    return undefined;
  }

  /** Regular passes from now on (idempotent). */
  async start(): Promise<void> {
    await this.enable('regular');
  }

  /**
   * Passes at `to` instead of `from`: the new rule on first, then the old one off, so that a crash between the two
   * leaves both on (one pass too many a minute, set right by the next hand-over), never neither.
   */
  async switchCadence(from: Cadence, to: Cadence): Promise<void> {
    await this.enable(to);
    await this.disable(from);
  }

  /** No more passes at this cadence until a run starts or the sweep finds work (idempotent). */
  async stop(cadence: Cadence): Promise<void> {
    await this.disable(cadence);
  }

  private async enable(cadence: Cadence): Promise<void> {
    await new SwitchedRule(this.rules[cadence], this.client, this.remainingMs).enable();
  }

  private async disable(cadence: Cadence): Promise<void> {
    await new SwitchedRule(this.rules[cadence], this.client, this.remainingMs).disable();
  }
}

/** What a pass's outcomes leave to a later pass: anything not finished (succeeded, failed or skipped for good). */
export function workRemains(outcomes: readonly { readonly action: string; readonly error?: string }[]): boolean {
  return outcomes.some(
    (outcome) => outcome.error !== undefined || !['succeeded', 'failed', 'skip'].includes(outcome.action),
  );
}
