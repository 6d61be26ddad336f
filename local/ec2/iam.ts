import {
  allowedContextKeysForRequest,
  type EvaluationResult,
  isConditionKeyArray,
  runSimulation,
  runUnsafeSimulation,
  type Simulation,
  typeForContextKey,
} from '@cloud-copilot/iam-simulate';
import type { AuthorizationCheck, ContextValues } from './iam-context';

/** An IAM identity policy document, as JSON (`{"Version": "2012-10-17", "Statement": [...]}`). */
export interface PolicyDocument {
  readonly Version?: string;
  readonly Id?: string;
  readonly Statement: PolicyStatement | readonly PolicyStatement[];
}

/** One statement (`Effect`, `Action`/`NotAction`, `Resource`/`NotResource`, `Condition`, `Sid`). */
export type PolicyStatement = Readonly<Record<string, unknown>>;

/** The identity behind an access key: its ARN and the identity policies attached to it. */
export interface IamPrincipal {
  readonly arn: string;
  readonly policies: readonly PolicyDocument[];
}

export interface IamOptions {
  /** Principals by access key id. */
  readonly principals: Readonly<Record<string, IamPrincipal>>;
}

/** The access key id and Region of a SigV4 `Authorization` header (its signature is not verified). */
export function sigV4Credential(
  authorization: string | undefined,
): { accessKeyId: string; region: string | undefined } | undefined {
  const match = /Credential=([^/,\s]+)\/[^/]*\/([^/]*)\//.exec(authorization ?? '');
  if (match === null) return undefined;
  return { accessKeyId: match[1] as string, region: match[2] === '' ? undefined : match[2] };
}

/** The account of an IAM ARN (`arn:aws:iam::<account>:...`). */
export const accountOf = (arn: string): string | undefined => arn.split(':')[4] || undefined;

/** Most decisions are repeated (same principal, action, resource and tags): they are kept, up to this many. */
const MAX_CACHED_DECISIONS = 10_000;

/**
 * Decides requests with `@cloud-copilot/iam-simulate` (AWS's policy evaluation logic and service authorization data).
 *
 * `runSimulation` validates the policies and looks up the resource type of every ARN it is given, which costs about
 * 10 ms per call for actions with many resource types (CreateTags). So policies are validated once (by
 * {@link assertValid}), the context keys that apply to an action and resource type are looked up once, and each
 * request is evaluated with `runUnsafeSimulation` on that normalized context; decisions are cached.
 */
export class PolicyEvaluator {
  /** Lower-cased context keys that apply, per action and resource type (the ARN without its id). */
  private readonly applicableKeys = new Map<string, Promise<ReadonlySet<string> | undefined>>();
  private readonly decisions = new Map<string, Promise<EvaluationResult>>();

  constructor(private readonly principals: Readonly<Record<string, IamPrincipal>>) {}

  principal(accessKeyId: string): IamPrincipal | undefined {
    return Object.hasOwn(this.principals, accessKeyId) ? this.principals[accessKeyId] : undefined;
  }

  /** Throws, naming the access key, when a principal's ARN or policies are not valid. */
  async assertValid(): Promise<void> {
    for (const [accessKeyId, principal] of Object.entries(this.principals)) {
      const account = accountOf(principal.arn);
      if (!principal.arn.startsWith('arn:') || account === undefined) {
        throw new Error(`IAM principal of access key ${accessKeyId}: ${principal.arn} is not an IAM ARN`);
      }
      const result = await runSimulation(
        this.simulation(principal, { action: 'ec2:DescribeInstances', resource: '*', context: {} }, account),
        {},
      );
      if (result.resultType === 'error') {
        throw new Error(
          `IAM principal of access key ${accessKeyId}: invalid policies (${result.errors.message}): ${JSON.stringify(result.errors)}`,
        );
      }
    }
  }

  /** The decision on one check for a known principal, with `aws:PrincipalArn` and `aws:PrincipalAccount` added. */
  decide(principal: IamPrincipal, check: AuthorizationCheck, resourceAccount: string): Promise<EvaluationResult> {
    const key = JSON.stringify([principal.arn, principal.policies, check, resourceAccount]);
    const cached = this.decisions.get(key);
    if (cached !== undefined) return cached;
    const decision = this.evaluate(principal, check, resourceAccount);
    if (this.decisions.size >= MAX_CACHED_DECISIONS) {
      const oldest = this.decisions.keys().next().value;
      if (oldest !== undefined) this.decisions.delete(oldest);
    }
    this.decisions.set(key, decision);
    return decision;
  }

  private async evaluate(
    principal: IamPrincipal,
    check: AuthorizationCheck,
    resourceAccount: string,
  ): Promise<EvaluationResult> {
    const context: ContextValues = {
      'aws:PrincipalArn': principal.arn,
      'aws:PrincipalAccount': accountOf(principal.arn) ?? resourceAccount,
      ...check.context,
    };
    const normalized = await this.normalize(check, context);
    return runUnsafeSimulation(this.simulation(principal, { ...check, context: normalized }, resourceAccount), {});
  }

  /**
   * What `runSimulation` does to the context before evaluating: keys that do not apply to the action and resource
   * type are dropped, and each value is a string or a list as the key's type says (`aws:TagKeys` and `events:source`
   * are lists). Key names are matched without regard to case by the simulator.
   */
  private async normalize(
    check: AuthorizationCheck,
    context: ContextValues,
  ): Promise<Record<string, string | string[]>> {
    const applicable = await this.keysFor(check);
    const normalized: Record<string, string | string[]> = {};
    for (const [key, value] of Object.entries(context)) {
      const lowerCase = key.toLowerCase();
      const slash = lowerCase.indexOf('/');
      const variablePrefix = slash === -1 ? undefined : lowerCase.slice(0, slash + 1);
      const applies =
        applicable === undefined ||
        applicable.has(lowerCase) ||
        (variablePrefix !== undefined && [...applicable].some((allowed) => allowed.startsWith(variablePrefix)));
      if (!applies) continue;
      const values = typeof value === 'string' ? [value] : [...value];
      normalized[key] = isConditionKeyArray(await typeForContextKey(lowerCase)) ? values : (values[0] ?? '');
    }
    return normalized;
  }

  /** The applicable keys, or undefined when the simulator cannot name one resource type (`*` on RunInstances). */
  private keysFor(check: AuthorizationCheck): Promise<ReadonlySet<string> | undefined> {
    const resourceType = check.resource.slice(0, check.resource.lastIndexOf('/') + 1) || check.resource;
    const cacheKey = `${check.action} ${resourceType}`;
    let keys = this.applicableKeys.get(cacheKey);
    if (keys === undefined) {
      const [service, action] = check.action.split(':') as [string, string];
      keys = allowedContextKeysForRequest(service, action, check.resource, false, undefined).then(
        (allowed) => new Set(allowed),
        () => undefined,
      );
      this.applicableKeys.set(cacheKey, keys);
    }
    return keys;
  }

  private simulation(principal: IamPrincipal, check: AuthorizationCheck, resourceAccount: string): Simulation {
    return {
      request: {
        principal: principal.arn,
        action: check.action,
        resource: { resource: check.resource, accountId: resourceAccount },
        contextVariables: Object.fromEntries(
          Object.entries(check.context).map(([key, value]) => [key, typeof value === 'string' ? value : [...value]]),
        ),
      },
      identityPolicies: principal.policies.map((policy, index) => ({ name: `policy-${index + 1}`, policy })),
      serviceControlPolicies: [],
      resourceControlPolicies: [],
    };
  }
}
