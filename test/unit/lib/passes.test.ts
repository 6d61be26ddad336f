import { workRemains } from '../../../lib/passes';

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
