/** The endpoint's fault decisions: which request fails, with what, and when a cut starts and ends. */
import { CUT_OFF, FaultInjector, INTERNAL_ERROR, THROTTLED } from '../../../local/ec2/faults';

function fates(injector: FaultInjector, actions: readonly string[]): (string | undefined)[] {
  return actions.map((action) => injector.verdict(action).error?.code);
}

describe('FaultInjector', () => {
  it('fails only the Nth selected call, throttled by default', () => {
    const injector = new FaultInjector();
    injector.failCalls({ calls: ['CreateTags'], nth: 2 });
    expect(
      fates(injector, ['DescribeInstances', 'CreateTags', 'DescribeInstances', 'CreateTags', 'CreateTags']),
    ).toEqual([undefined, undefined, undefined, THROTTLED.code, undefined]);
    expect(injector.injected).toBe(1);
    expect(injector.requests).toBe(5);
  });

  it('selects mutating calls only, and repeats the same fates for the same seed', () => {
    const run = (): (string | undefined)[] => {
      const injector = new FaultInjector();
      injector.failCalls({ calls: 'mutating', probability: 0.5, seed: 42, error: INTERNAL_ERROR });
      return fates(
        injector,
        Array.from({ length: 40 }, (_, index) => (index % 2 ? 'DescribeImages' : 'CreateImage')),
      );
    };
    const first = run();
    expect(first).toEqual(run());
    expect(first.filter((code, index) => index % 2 === 1 && code !== undefined)).toEqual([]);
    expect(first.filter((code) => code === INTERNAL_ERROR.code).length).toBeGreaterThan(3);
  });

  it('serves k calls, then cuts every call until the invocation ends, once', () => {
    const injector = new FaultInjector();
    injector.cutAfter(2);
    expect(fates(injector, ['DescribeInstances', 'CreateTags'])).toEqual([undefined, undefined]);
    expect(injector.cut).toBe(true);
    expect(injector.cutAfterAction).toBe('CreateTags');
    expect(fates(injector, ['RebootInstances', 'PutEvents'])).toEqual([CUT_OFF.code, CUT_OFF.code]);
    injector.invocationEnded();
    expect(injector.cut).toBe(false);
    expect(fates(injector, ['RebootInstances', 'CreateTags'])).toEqual([undefined, undefined]);
  });

  it('keeps a cut not yet reached armed across invocations, and cuts at once after 0 calls', () => {
    const injector = new FaultInjector();
    injector.cutAfter(3);
    expect(fates(injector, ['A', 'B'])).toEqual([undefined, undefined]);
    injector.invocationEnded();
    expect(fates(injector, ['C', 'D'])).toEqual([undefined, CUT_OFF.code]);
    injector.cutAfter(0);
    expect(fates(injector, ['E'])).toEqual([CUT_OFF.code]);
  });

  it('adds the latency of every selected rule, and removes a rule on request', () => {
    const injector = new FaultInjector();
    injector.addLatency({ ms: 5 });
    const remove = injector.addLatency({ ms: 7, calls: ['PutEvents'] });
    expect(injector.verdict('PutEvents').delayMs).toBe(12);
    expect(injector.verdict('CreateImage').delayMs).toBe(5);
    remove();
    expect(injector.verdict('PutEvents').delayMs).toBe(5);
  });
});
