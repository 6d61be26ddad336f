/**
 * The service's configuration as the Serverless Framework resolves it (`serverless print`: variables, parameters and
 * `${file(…)}` done; CloudFormation's functions left as they are, like `{ "Fn::GetAtt": [Queue, Arn] }`), read by
 * the runner's wiring (serverless-config.ts) and its IAM (roles.ts) alike. The framework runs offline, without
 * credentials, and takes seconds: what it printed is kept under node_modules/.cache, by the hash of what it read.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';

export type Json = string | number | boolean | null | readonly Json[] | { readonly [key: string]: Json };
export type JsonObject = { readonly [key: string]: Json };

export interface PrintOptions {
  /** The configuration: the service's `serverless.yml`, or a variant of it kept elsewhere. */
  readonly file: string;
  /** The service's folder (its plugins, the files `${file(…)}` reads): default the file's folder. */
  readonly projectRoot?: string;
  /** Like `--stage`; otherwise the framework takes the file's own. */
  readonly stage?: string;
  /** Like `--region`; otherwise the framework takes the file's own. */
  readonly region?: string;
  /** Deployment parameters, as `--param="name=value"` gives them. */
  readonly params?: Readonly<Record<string, string>>;
}

/** The framework refused the configuration; the message is its own, naming the problem. */
export class ServerlessPrintError extends Error {
  override readonly name = 'ServerlessPrintError';
}

const CACHE_DIR = join('node_modules', '.cache', 'ami-backup');
/** The names the framework looks for a service's configuration under. */
const CONFIG_FILE = /^serverless\.(ya?ml|json|js|mjs|cjs|ts)$/;

/** The configuration as the framework resolves it for these options, from the cache when it was printed before. */
export function printServerlessConfig(options: PrintOptions): JsonObject {
  const file = resolve(options.file);
  const root = resolve(options.projectRoot ?? dirname(file));
  const text = readFileSync(file, 'utf8');
  const args = [
    'print',
    '--format',
    'json',
    ...(options.stage === undefined ? [] : ['--stage', options.stage]),
    ...(options.region === undefined ? [] : ['--region', options.region]),
    ...Object.entries(options.params ?? {}).map(([name, value]) => `--param=${name}=${value}`),
  ];
  const key = cacheKey(root, text, args);
  const cached = key === undefined ? undefined : join(root, CACHE_DIR, `serverless-print-${key}.json`);
  if (cached !== undefined) {
    try {
      return JSON.parse(readFileSync(cached, 'utf8')) as JsonObject;
    } catch {
      // Not printed yet (or unreadable): print it.
    }
  }
  const binary = join(root, 'node_modules', '.bin', 'serverless');
  if (!existsSync(binary)) {
    throw new ServerlessPrintError(
      `${root} has no node_modules/.bin/serverless: not the service's folder, or not installed`,
    );
  }
  // The framework reads a configuration in the service's folder only: a variant elsewhere is printed in a copy.
  const stdout =
    dirname(file) === root
      ? print(binary, root, [...args, '--config', basename(file)], file)
      : withServiceCopy(root, text, (copy) => print(binary, dirname(copy), args, file));
  let printed: unknown;
  try {
    printed = JSON.parse(stdout);
  } catch {
    throw new ServerlessPrintError(`serverless print of ${file} gave no configuration: ${stdout.slice(0, 500)}`);
  }
  if (typeof printed !== 'object' || printed === null || Array.isArray(printed)) {
    throw new ServerlessPrintError(`serverless print of ${file} gave no mapping`);
  }
  if (cached !== undefined) {
    mkdirSync(dirname(cached), { recursive: true });
    // Written whole then renamed: a concurrent reader never sees half a file.
    const partial = `${cached}.${process.pid}.tmp`;
    writeFileSync(partial, stdout);
    renameSync(partial, cached);
  }
  return printed as JsonObject;
}

/**
 * What the print depends on: the options, the text, the files `${file(…)}` reads, the environment variables
 * `${env:…}` reads, and the framework and plugins installed. Undefined when a `${file(…)}` path is itself a variable.
 */
function cacheKey(root: string, text: string, args: readonly string[]): string | undefined {
  const hash = createHash('sha256').update(JSON.stringify(args)).update(text);
  for (const [, reference = ''] of text.matchAll(/\$\{file\(([^)]*)\)/g)) {
    if (reference.includes('${')) return undefined;
    const path = reference.trim().replace(/^(['"])(.*)\1$/, '$2');
    hash.update(path).update(contentOf(join(root, path)));
  }
  for (const [, name = ''] of text.matchAll(/\$\{env:(\w+)/g)) hash.update(name).update(process.env[name] ?? '');
  return hash
    .update(contentOf(join(root, 'node_modules', '.package-lock.json')))
    .digest('hex')
    .slice(0, 32);
}

function contentOf(file: string): Buffer | string {
  try {
    return readFileSync(file);
  } catch {
    return '';
  }
}

function print(binary: string, cwd: string, args: readonly string[], file: string): string {
  // Without the process's AWS settings: resolving the file needs no account, and must not depend on one.
  const env = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith('AWS_')));
  try {
    return execFileSync(binary, args, {
      cwd,
      env,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
      maxBuffer: 64 * 1024 * 1024,
    });
  } catch (error: unknown) {
    // The framework writes its error to stdout, and where to get help to stderr.
    const { stdout, stderr } = error as { stdout?: unknown; stderr?: unknown };
    const message = [stdout, stderr]
      .flatMap((output) => (typeof output === 'string' ? output.split('\n') : []))
      .filter((line) => !/^(Error:|Environment:|Docs:)/.test(line.trim()))
      .join('\n')
      .trim();
    throw new ServerlessPrintError(`serverless print of ${file} failed: ${message || String(error)}`);
  }
}

/**
 * Runs `use` on a copy of the service whose configuration is `text`: a folder of its own holding the text as
 * `serverless.yml` beside links to everything else of the service (its plugins, the files `${file(…)}` reads).
 */
function withServiceCopy<T>(projectRoot: string, text: string, use: (file: string) => T): T {
  const copy = serviceCopy(projectRoot, text);
  try {
    return use(copy.file);
  } finally {
    copy.remove();
  }
}

/** A copy of the service whose configuration is `text` (see {@link withServiceCopy}), until it is removed. */
export function serviceCopy(projectRoot: string, text: string): { readonly file: string; remove(): void } {
  const folder = mkdtempSync(join(tmpdir(), 'ami-backup-service-'));
  for (const entry of readdirSync(projectRoot)) {
    if (!CONFIG_FILE.test(entry)) symlinkSync(join(resolve(projectRoot), entry), join(folder, entry));
  }
  const file = join(folder, 'serverless.yml');
  writeFileSync(file, text);
  return { file, remove: () => rmSync(folder, { recursive: true, force: true }) };
}
