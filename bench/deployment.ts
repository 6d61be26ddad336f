/**
 * Deployment parameters for a benchmark, as `serverless deploy --param="name=value"` gives them: the local runner
 * wires the functions from a `serverless.yml` (their environment resolved from its `params`), so the benchmark hands
 * it a copy of the service whose file's default parameters carry the overrides. Everything else is left as written.
 */
import { readFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { parseDocument } from 'yaml';
import { serviceCopy } from '../local/runner/serverless-print';

export interface Deployment {
  /** The copy's serverless.yml, with the parameters set. */
  readonly file: string;
  /** Deletes the copy. */
  remove(): void;
}

/** The text of `serverless.yml` with `params.default` overridden by `params` (each must already be a parameter). */
export function withParams(text: string, params: Readonly<Record<string, string>>): string {
  // CloudFormation's short tags (!Sub, !GetAtt) are kept as they are written: only `params` is read here.
  const document = parseDocument(text);
  if (document.errors.length > 0) throw new Error(`serverless.yml: ${document.errors[0]?.message}`);
  for (const [name, value] of Object.entries(params)) {
    if (!document.hasIn(['params', 'default', name])) throw new Error(`serverless.yml has no parameter ${name}`);
    document.setIn(['params', 'default', name], value);
  }
  return document.toString();
}

/** A copy of the service of `file` (the folder it is in) whose file has the parameters set. */
export function deployWithParams(file: string, params: Readonly<Record<string, string>>): Deployment {
  return serviceCopy(dirname(file), withParams(readFileSync(file, 'utf8'), params));
}
