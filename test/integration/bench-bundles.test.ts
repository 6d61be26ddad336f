/**
 * The bundle benchmark: it builds the functions as serverless.yml deploys them, imports each bundle in a fresh Node
 * process, and finds every deployed bundle smaller than the naive single bundle of all the handlers.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { measureBundles, median, readDeployedBuild } from '../../bench/bundles';

const SERVERLESS_YML = path.resolve(__dirname, '..', '..', 'serverless.yml');
/** Seven esbuild builds and nine Node processes take a few seconds; the margin is for a fully loaded machine. */
const MEASURE_TIMEOUT_MS = 240_000;

describe('measureBundles', () => {
  it(
    'measures the seven deployed bundles, each smaller than the naive single bundle',
    async () => {
      const { bundles, naiveBytes } = await measureBundles({ runs: 1 });

      expect(bundles.map((figure) => figure.function)).toEqual([
        'reboot',
        'createImages',
        'recordImageState',
        'rotate',
        'restoreTests',
        'copyImages',
        'shareImages',
      ]);
      for (const figure of bundles) {
        expect(figure.bytes).toBeGreaterThan(0);
        expect(figure.bytes).toBeLessThan(naiveBytes);
        expect(Number.isFinite(figure.importMs) && figure.importMs > 0).toBe(true);
        expect(Number.isFinite(figure.naiveImportMs) && figure.naiveImportMs > 0).toBe(true);
      }
    },
    MEASURE_TIMEOUT_MS,
  );

  it('refuses a number of runs that is not a whole number ≥ 1', async () => {
    await expect(measureBundles({ runs: 0 })).rejects.toThrow(RangeError);
    await expect(measureBundles({ runs: 2.5 })).rejects.toThrow(RangeError);
  });
});

describe('readDeployedBuild', () => {
  it("takes serverless.yml's custom.esbuild block, nothing excluded", () => {
    const { options, outputExtension } = readDeployedBuild(readFileSync(SERVERLESS_YML, 'utf8'));

    expect(options).toMatchObject({
      bundle: true,
      minify: true,
      sourcemap: true,
      keepNames: true,
      target: 'node22',
      platform: 'node',
      format: 'cjs',
      mainFields: ['module', 'main'],
      external: [],
    });
    expect(options).not.toHaveProperty('exclude');
    expect(outputExtension).toBe('.js');
  });

  it("fills in serverless-esbuild's defaults and drops its own options", () => {
    const { options, outputExtension } = readDeployedBuild(
      [
        'provider: { runtime: nodejs20.x, role: !GetAtt Role.Arn }',
        'custom:',
        '  esbuild: { minify: true, packager: pnpm, external: [sharp], outputFileExtension: .cjs }',
      ].join('\n'),
    );

    expect(options).toEqual({
      bundle: true,
      platform: 'node',
      target: 'node20',
      minify: true,
      external: ['sharp', 'aws-sdk'],
      outExtension: { '.js': '.cjs' },
    });
    expect(outputExtension).toBe('.cjs');
  });

  it('refuses build settings or plugins kept in JavaScript files', () => {
    expect(() => readDeployedBuild('custom: { esbuild: { config: ./esbuild.config.js } }')).toThrow(/config/);
    expect(() => readDeployedBuild('custom: { esbuild: { plugins: ./plugins.js } }')).toThrow(/plugins/);
  });
});

describe('median', () => {
  it('is the middle value, or the mean of the two middle ones', () => {
    expect(median([5])).toBe(5);
    expect(median([9, 1, 5])).toBe(5);
    expect(median([4, 1, 3, 2])).toBe(2.5);
    expect(() => median([])).toThrow(RangeError);
  });
});
