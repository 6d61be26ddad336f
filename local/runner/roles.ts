/**
 * Each function's IAM role as `serverless deploy` would create it: the framework resolves the configuration itself
 * (`serverless print`, offline), and the CloudFormation functions left in the roles' policies (`Fn::Sub` with the
 * pseudo parameters, `Fn::GetAtt` of the stack's queues) are resolved here for one account and Region. The local
 * endpoint then answers each function's calls as EC2 would for that role.
 */
import { join } from 'node:path';
import { type Json, type JsonObject, printServerlessConfig } from './serverless-print';

export type { Json, JsonObject };

/** An IAM identity policy, as written in the template. */
export interface PolicyDocument {
  readonly Version?: string;
  readonly Statement: readonly JsonObject[];
}

export interface FunctionRole {
  /** The function's name in serverless.yml. */
  readonly functionName: string;
  /** The role's logical id in the template. */
  readonly roleId: string;
  /** The caller EC2 sees: the role's session, named after the deployed function, as Lambda names it. */
  readonly principalArn: string;
  readonly policies: readonly PolicyDocument[];
}

export interface DeployedRolesOptions {
  readonly projectRoot: string;
  readonly stage: string;
  readonly region: string;
  readonly account: string;
  /** Deployment parameters, as `--param="name=value"` gives them. */
  readonly params?: Readonly<Record<string, string>>;
}

export class RoleError extends Error {
  override readonly name = 'RoleError';
}

/** The role of each function, with its policies resolved for the account and Region. */
export async function deployedRoles(options: DeployedRolesOptions): Promise<FunctionRole[]> {
  return rolesOf(printServerlessConfig({ ...options, file: join(options.projectRoot, 'serverless.yml') }), options);
}

function isObject(value: Json | undefined): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function objectAt(value: Json | undefined, where: string): JsonObject {
  if (!isObject(value)) throw new RoleError(`${where}: expected a mapping`);
  return value;
}

/** Reads the roles out of a resolved configuration (as `serverless print` gives it). */
export function rolesOf(config: JsonObject, options: DeployedRolesOptions): FunctionRole[] {
  const service = config.service;
  if (typeof service !== 'string') throw new RoleError('service: expected a name');
  const stack = `${service}-${options.stage}`;
  const resources = objectAt(objectAt(config.resources, 'resources').Resources, 'resources.Resources');
  const functions = objectAt(config.functions, 'functions');
  const resolve = intrinsics({ ...options, stack, resources });
  return Object.entries(functions).map(([functionName, definition]) => {
    const roleId = objectAt(definition, `functions.${functionName}`).role;
    // A function without a role of its own would run with the framework's shared one: not this service's contract.
    if (typeof roleId !== 'string' || roleId.startsWith('arn:')) {
      throw new RoleError(`functions.${functionName}.role: expected the logical id of a role in resources`);
    }
    const role = objectAt(resources[roleId], `resources.Resources.${roleId}`);
    if (role.Type !== 'AWS::IAM::Role') throw new RoleError(`${roleId} is not an AWS::IAM::Role`);
    const policies = objectAt(role.Properties, `${roleId}.Properties`).Policies ?? [];
    if (!Array.isArray(policies)) throw new RoleError(`${roleId}.Properties.Policies: expected a list`);
    return {
      functionName,
      roleId,
      principalArn: `arn:aws:sts::${options.account}:assumed-role/${stack}-${roleId}/${stack}-${functionName}`,
      policies: policies.map((policy: Json, index) => {
        const document = resolve(objectAt(policy, `${roleId}.Policies[${index}]`).PolicyDocument);
        const statements = objectAt(document, `${roleId}.Policies[${index}].PolicyDocument`).Statement;
        if (!Array.isArray(statements)) throw new RoleError(`${roleId}.Policies[${index}]: expected statements`);
        return { ...objectAt(document, roleId), Statement: statements.map((entry: Json) => objectAt(entry, roleId)) };
      }),
    };
  });
}

/** Resolves `Fn::Sub` (pseudo parameters and queue attributes) and `Fn::GetAtt` of queues; anything else is refused. */
function intrinsics(context: {
  readonly stack: string;
  readonly region: string;
  readonly account: string;
  readonly resources: JsonObject;
}): (value: Json | undefined) => Json {
  const attribute = (id: string, name: string): string => {
    const resource = context.resources[id];
    if (isObject(resource) && resource.Type === 'AWS::SQS::Queue' && name === 'Arn') {
      return `arn:aws:sqs:${context.region}:${context.account}:${context.stack}-${id}`;
    }
    throw new RoleError(`cannot resolve ${id}.${name} locally`);
  };
  const pseudo: Readonly<Record<string, string>> = {
    'AWS::Partition': 'aws',
    'AWS::Region': context.region,
    'AWS::AccountId': context.account,
    'AWS::URLSuffix': 'amazonaws.com',
  };
  const resolve = (value: Json | undefined): Json => {
    if (value === undefined) throw new RoleError('missing value');
    if (Array.isArray(value)) return value.map(resolve);
    if (!isObject(value)) return value;
    const [key] = Object.keys(value);
    if (key === 'Fn::Sub' && typeof value[key] === 'string') {
      return (value[key] as string).replace(/\$\{([^}]+)\}/g, (_match, name: string) => {
        const known = pseudo[name];
        if (known !== undefined) return known;
        const [id, attributeName] = name.split('.');
        if (id === undefined || attributeName === undefined) throw new RoleError(`cannot resolve \${${name}} locally`);
        return attribute(id, attributeName);
      });
    }
    if (key === 'Fn::GetAtt') {
      const target = value[key];
      const [id, name] = Array.isArray(target) ? target : typeof target === 'string' ? target.split('.') : [];
      if (typeof id !== 'string' || typeof name !== 'string')
        throw new RoleError('Fn::GetAtt: expected [Id, Attribute]');
      return attribute(id, name);
    }
    if (key?.startsWith('Fn::') || key === 'Ref') throw new RoleError(`cannot resolve ${key} locally`);
    return Object.fromEntries(Object.entries(value).map(([name, entry]) => [name, resolve(entry)]));
  };
  return resolve;
}
