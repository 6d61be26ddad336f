import { DisableRuleCommand, EnableRuleCommand, EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { mockClient } from 'aws-sdk-client-mock';
import { Passes, workRemains } from '../../../lib/passes';

describe('workRemains', () => {
  it('is false when every instance of the pass is finished or skipped for good', () => {
    expect(workRemains([])).toBe(false);
    expect(workRemains([{ action: 'succeeded' }, { action: 'failed' }, { action: 'skip' }])).toBe(false);
  });

  it.each(['wait', 'create-image', 'healthy', 'deferred'])('is true when one is left at %s', (action) => {
    expect(workRemains([{ action: 'succeeded' }, { action }])).toBe(true);
  });

  it('is true when an outcome could not be recorded (the next pass records it)', () => {
    expect(workRemains([{ action: 'succeeded', error: 'tagging failed: throttled' }])).toBe(true);
  });
});

describe('Passes', () => {
  const rules = { regular: 'ami-backup-prod-passes', minutely: 'ami-backup-prod-minute-passes' };
  const eventBridge = mockClient(EventBridgeClient);
  const passes = new Passes(rules, new EventBridgeClient({ region: 'us-east-1' }));
  /** The rule switches sent, in order. */
  const switches = (): string[] =>
    eventBridge.calls().map(({ args: [command] }) => {
      const { Name } = command.input as { Name: string };
      return `${command instanceof EnableRuleCommand ? 'on' : 'off'} ${Name}`;
    });

  beforeEach(() => {
    eventBridge.reset();
    eventBridge.on(EnableRuleCommand).resolves({}).on(DisableRuleCommand).resolves({});
  });

  it("knows a pass's cadence from the rule that fired it, and nothing from another", () => {
    expect(passes.cadenceOf(rules.regular)).toBe('regular');
    expect(passes.cadenceOf(rules.minutely)).toBe('minutely');
    expect(passes.cadenceOf('ami-backup-prod-sweep')).toBeUndefined();
    expect(passes.cadenceOf(undefined)).toBeUndefined();
  });

  it('starts the regular passes, and stops only the cadence it is told', async () => {
    await passes.start();
    await passes.stop('minutely');
    expect(switches()).toEqual([`on ${rules.regular}`, `off ${rules.minutely}`]);
  });

  it('hands over by turning the new rule on before the old one off (a crash between leaves both on)', async () => {
    await passes.switchCadence('regular', 'minutely');
    await passes.switchCadence('minutely', 'regular');
    expect(switches()).toEqual([
      `on ${rules.minutely}`,
      `off ${rules.regular}`,
      `on ${rules.regular}`,
      `off ${rules.minutely}`,
    ]);
  });

  it('does not turn the old rule off when the new one could not be turned on', async () => {
    eventBridge.on(EnableRuleCommand).rejects(new Error('AccessDenied'));
    await expect(passes.switchCadence('regular', 'minutely')).rejects.toThrow('AccessDenied');
    expect(eventBridge.commandCalls(DisableRuleCommand)).toHaveLength(0);
  });
});
