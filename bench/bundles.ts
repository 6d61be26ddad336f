/**
 * Benchmark of the deployed bundles: each function's bundle size, and the time a fresh Node process takes to import it
 * (its cold-start code included), measured side by side with a naive single bundle of all the handlers, built from the
 * SDK's CommonJS entry points and unminified, as a simple tool would build it.
 *
 * The esbuild options are read from `custom.esbuild` in serverless.yml the way serverless-esbuild reads them, so the
 * figures are those of what is deployed. Bundles are written to a temporary directory and removed afterwards.
 *
 * Usage: `tsx bench/bundles.ts [--runs N] [--json]`.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs, promisify } from 'node:util';
import Table from 'cli-table3';
import { type BuildOptions, build } from 'esbuild';
import { parseDocument } from 'yaml';
import { type FunctionConfig, loadServerlessConfig } from '../local/runner/serverless-config';

export interface BundleFigure {
  /** The function's key under `functions` in serverless.yml. */
  function: string;
  /** Size of the function's deployed bundle (its JavaScript, without the source map file beside it). */
  bytes: number;
  /** Median time to `require` the deployed bundle in a fresh Node process. */
  importMs: number;
  /** Median time to `require` the naive single bundle, measured alternately with `importMs`. */
  naiveImportMs: number;
}

export interface BundleReport {
  bundles: BundleFigure[];
  /** Size of the naive single bundle of all the handlers. */
  naiveBytes: number;
}

const ROOT = path.resolve(__dirname, '..');
const SERVERLESS_YML = path.join(ROOT, 'serverless.yml');
const DEFAULT_RUNS = 7;
/** A valid owner of its own, so that nothing the import might name could be mistaken for a stage's. */
const BENCH_OWNER = 'ami-backup-bench';

/**
 * serverless-esbuild's own options, which it removes before calling esbuild (its `bundle` step); `exclude` and
 * `outputFileExtension` are applied below, the others do not change the bundle.
 */
const PLUGIN_ONLY_OPTIONS = new Set([
  'concurrency',
  'zipConcurrency',
  'exclude',
  'nativeZip',
  'packager',
  'packagePath',
  'watch',
  'keepOutputDirectory',
  'packagerOptions',
  'installExtraArgs',
  'outputFileExtension',
  'outputBuildFolder',
  'outputWorkFolder',
  'nodeExternals',
  'skipBuild',
  'skipRebuild',
  'skipBuildExcludeFns',
  'stripEntryResolveExtensions',
  'disposeContext',
]);

/** Options that point to JavaScript files of build settings or plugins, which this benchmark does not run. */
const UNSUPPORTED_OPTIONS = ['config', 'plugins'];

export interface DeployedBuild {
  /** What serverless-esbuild passes to esbuild for each function, without entry point and output directory. */
  readonly options: BuildOptions;
  /** Extension of each bundle: `.js` unless `outputFileExtension` says otherwise. */
  readonly outputExtension: string;
}

type JsonObject = Readonly<Record<string, unknown>>;

function isJsonObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function stringList(value: unknown, where: string): string[] {
  if (!Array.isArray(value) || !value.every((item) => typeof item === 'string')) {
    throw new Error(`serverless.yml custom.esbuild.${where}: expected a list of strings`);
  }
  return value;
}

/**
 * The esbuild options of the deployed bundles, from the text of serverless.yml: `custom.esbuild` over
 * serverless-esbuild's defaults (bundle, platform node, `aws-sdk` excluded, target from the provider's runtime).
 * CloudFormation tags elsewhere in the file (`!Sub`, `!GetAtt`) are left unresolved: they are not read.
 */
export function readDeployedBuild(serverlessYml: string): DeployedBuild {
  const document = parseDocument(serverlessYml, { logLevel: 'silent' });
  const [error] = document.errors;
  if (error !== undefined) throw new Error(`serverless.yml: ${error.message}`);
  const root: unknown = document.toJS();
  const custom = isJsonObject(root) ? root.custom : undefined;
  const block = isJsonObject(custom) ? (custom.esbuild ?? {}) : {};
  if (!isJsonObject(block)) throw new Error('serverless.yml custom.esbuild: expected a mapping');
  const unsupported = UNSUPPORTED_OPTIONS.filter((key) => Object.hasOwn(block, key));
  if (unsupported.length > 0) {
    throw new Error(`serverless.yml custom.esbuild: ${unsupported.join(', ')} not supported by this benchmark`);
  }

  const provider = isJsonObject(root) ? root.provider : undefined;
  const runtime = isJsonObject(provider) ? provider.runtime : undefined;
  const runtimeMajor = typeof runtime === 'string' ? /^nodejs(\d+)\.x$/.exec(runtime)?.[1] : undefined;
  const exclude = stringList(block.exclude ?? ['aws-sdk'], 'exclude');
  const external = stringList(block.external ?? [], 'external');
  const outputExtension = block.outputFileExtension ?? '.js';
  if (typeof outputExtension !== 'string')
    throw new Error('serverless.yml custom.esbuild.outputFileExtension: expected text like .js');

  const esbuildOwn = Object.fromEntries(Object.entries(block).filter(([key]) => !PLUGIN_ONLY_OPTIONS.has(key)));
  const options: BuildOptions = {
    bundle: true,
    platform: 'node',
    ...(runtimeMajor === undefined ? {} : { target: `node${runtimeMajor}` }),
    // esbuild checks the names and values of its options itself, and refuses unknown ones.
    ...(esbuildOwn as BuildOptions),
    external: [...external, ...(exclude.includes('*') ? [] : exclude)],
    ...(outputExtension === '.js' ? {} : { outExtension: { '.js': outputExtension } }),
  };
  return { options, outputExtension };
}

/** The middle value; for an even count, the mean of the two middle ones. */
export function median(values: readonly number[]): number {
  if (values.length === 0) throw new RangeError('median of no values');
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  const upper = sorted[middle] as number; // middle < length, which is ≥ 1
  return sorted.length % 2 === 1 ? upper : ((sorted[middle - 1] as number) + upper) / 2;
}

/** As serverless-esbuild does with `package.individually`: one build per function, under the handler's folder. */
async function buildDeployedBundle(deployed: DeployedBuild, fn: FunctionConfig, outRoot: string): Promise<string> {
  const outdir = path.join(outRoot, path.dirname(fn.modulePath));
  await build({ ...deployed.options, entryPoints: [path.join(ROOT, fn.modulePath)], outdir, logLevel: 'error' });
  return path.join(outdir, path.basename(fn.modulePath, path.extname(fn.modulePath)) + deployed.outputExtension);
}

/** One bundle exporting every handler, from the packages' CommonJS entry points (`main`), not minified. */
async function buildNaiveBundle(
  functions: readonly FunctionConfig[],
  target: BuildOptions['target'],
  outfile: string,
): Promise<string> {
  const reexports = functions.map(
    (fn) => `export { ${fn.exportName} as ${JSON.stringify(fn.name)} } from ${JSON.stringify(`./${fn.modulePath}`)};`,
  );
  await build({
    stdin: { contents: reexports.join('\n'), resolveDir: ROOT, sourcefile: 'handlers.ts', loader: 'ts' },
    bundle: true,
    platform: 'node',
    format: 'cjs',
    target,
    mainFields: ['main'],
    outfile,
    logLevel: 'error',
  });
  return outfile;
}

const run = promisify(execFile);

/** Runs in the child: the time `require` takes, cold-start code of the module included. */
const IMPORT_SCRIPT =
  'const start = performance.now(); require(process.argv[1]); process.stdout.write(String(performance.now() - start));';

async function importMs(bundle: string, env: NodeJS.ProcessEnv): Promise<number> {
  const { stdout } = await run(process.execPath, ['-e', IMPORT_SCRIPT, bundle], { env, cwd: path.dirname(bundle) });
  const ms = Number(stdout);
  if (stdout.trim() === '' || !Number.isFinite(ms)) throw new Error(`importing ${bundle} printed ${stdout}`);
  return ms;
}

/** The function's environment as deployed (stage defaults), with the benchmark's owner and Lambda's region. */
function importEnvironment(fn: FunctionConfig, region: string): NodeJS.ProcessEnv {
  return {
    ...fn.environment,
    OWNER: BENCH_OWNER,
    AWS_REGION: region,
    // Lambda runs Node.js 22; on an older Node the SDK's notice about it would only be noise.
    AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
  };
}

/**
 * Builds every function's bundle as deployed and the naive single bundle, then imports each `runs` times in fresh
 * Node processes, one at a time, alternating which of the pair goes first; the figures are medians.
 */
export async function measureBundles(options: { runs?: number } = {}): Promise<BundleReport> {
  const runs = options.runs ?? DEFAULT_RUNS;
  if (!Number.isInteger(runs) || runs < 1) throw new RangeError(`runs must be a whole number ≥ 1, got ${runs}`);
  const service = loadServerlessConfig(SERVERLESS_YML);
  const deployed = readDeployedBuild(await readFile(SERVERLESS_YML, 'utf8'));
  const workDir = await mkdtemp(path.join(tmpdir(), 'ami-backup-bundles-'));
  try {
    const [naiveBundle, deployedBundles] = await Promise.all([
      buildNaiveBundle(service.functions, deployed.options.target, path.join(workDir, 'naive', 'handlers.js')),
      Promise.all(
        service.functions.map(async (fn) => ({
          fn,
          bundle: await buildDeployedBundle(deployed, fn, path.join(workDir, 'deployed')),
        })),
      ),
    ]);
    const figures: BundleFigure[] = [];
    for (const { fn, bundle } of deployedBundles) {
      const env = importEnvironment(fn, service.region);
      const deployedMs: number[] = [];
      const naiveMs: number[] = [];
      for (let round = 0; round < runs; round++) {
        // Alternating the order keeps whatever the first of two imports pays (a colder cache) off one side.
        if (round % 2 === 0) {
          deployedMs.push(await importMs(bundle, env));
          naiveMs.push(await importMs(naiveBundle, env));
        } else {
          naiveMs.push(await importMs(naiveBundle, env));
          deployedMs.push(await importMs(bundle, env));
        }
      }
      figures.push({
        function: fn.name,
        bytes: (await stat(bundle)).size,
        importMs: median(deployedMs),
        naiveImportMs: median(naiveMs),
      });
    }
    return { bundles: figures, naiveBytes: (await stat(naiveBundle)).size };
  } finally {
    await rm(workDir, { recursive: true, force: true });
  }
}

const oneDecimal = (ms: number): string => ms.toFixed(1);
const kibibytes = (bytes: number): string => `${(bytes / 1024).toFixed(0)} KiB`;

function printTable(report: BundleReport, runs: number): void {
  const table = new Table({
    head: ['Function', 'Bundle (bytes)', 'Size', 'Import (ms)', 'Naive import (ms)'],
    colAligns: ['left', 'right', 'right', 'right', 'right'],
  });
  for (const figure of report.bundles) {
    table.push([
      figure.function,
      figure.bytes,
      kibibytes(figure.bytes),
      oneDecimal(figure.importMs),
      oneDecimal(figure.naiveImportMs),
    ]);
  }
  table.push(['naive single bundle', report.naiveBytes, kibibytes(report.naiveBytes), '', '']);
  console.log(table.toString());
  console.log(`Import times: medians of ${runs} fresh Node ${process.version} processes each.`);
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { runs: { type: 'string', default: String(DEFAULT_RUNS) }, json: { type: 'boolean', default: false } },
  });
  const runs = Number(values.runs);
  const report = await measureBundles({ runs });
  if (values.json) console.log(JSON.stringify(report));
  else printTable(report, runs);
}

if (require.main === module) {
  main().catch((err: unknown) => {
    console.error(err);
    process.exit(1);
  });
}
