import { withEnvironment } from '../../../../local/runner/function-environment';

const tick = () => new Promise<void>((resolve) => setImmediate(resolve));

describe('withEnvironment', () => {
  it("shows each scope its own values across awaits, even when scopes interleave, and the process's outside", async () => {
    process.env.FUNCTION_ENV_SHARED = 'shared';
    const seen: string[] = [];
    const work = (name: string) => async () => {
      for (let step = 0; step < 3; step += 1) {
        await tick();
        seen.push(`${name}:${process.env.FUNCTION_ENV_KEY}:${process.env.FUNCTION_ENV_SHARED}`);
      }
    };
    await Promise.all([
      withEnvironment({ FUNCTION_ENV_KEY: 'a' }, work('a')),
      withEnvironment({ FUNCTION_ENV_KEY: 'b' }, work('b')),
    ]);
    expect(seen.filter((entry) => entry.startsWith('a:'))).toEqual(Array(3).fill('a:a:shared'));
    expect(seen.filter((entry) => entry.startsWith('b:'))).toEqual(Array(3).fill('b:b:shared'));
    expect(process.env.FUNCTION_ENV_KEY).toBeUndefined();
    expect('FUNCTION_ENV_KEY' in process.env).toBe(false);
  });

  it('lists and copies the scoped values like the others', () => {
    withEnvironment({ FUNCTION_ENV_LISTED: 'yes' }, () => {
      expect(Object.keys(process.env)).toContain('FUNCTION_ENV_LISTED');
      expect({ ...process.env }.FUNCTION_ENV_LISTED).toBe('yes');
      expect('FUNCTION_ENV_LISTED' in process.env).toBe(true);
    });
  });
});
