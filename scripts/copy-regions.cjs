// The Regions copies may go to (`copyRegions` and `copyAllowedRegions`) and their KMS keys (`copyKmsKeys`), as the
// resources of the copyImages role's statements: CloudFormation cannot map a list parameter onto ARNs. Without any,
// each list names a Region that does not exist ("none"), so the statement grants nothing (IAM needs a resource).
const list = (value) =>
  String(value ?? '')
    .split(',')
    .map((entry) => entry.trim())
    .filter((entry) => entry !== '');

module.exports = async ({ resolveVariable }) => {
  const regions = [
    ...new Set([
      ...list(await resolveVariable('param:copyRegions')),
      ...list(await resolveVariable('param:copyAllowedRegions')),
    ]),
  ];
  const keys = list(await resolveVariable('param:copyKmsKeys')).map((entry) => {
    const [region, ...key] = entry.split('=');
    return { region, key: key.join('=') };
  });
  // A key named by its alias is granted through the alias (kms:ResourceAliases), the others by their ARN.
  const byId = keys.filter(({ key }) => !key.startsWith('alias/'));
  const byAlias = keys.filter(({ key }) => key.startsWith('alias/'));
  const sub = (text) => ({ 'Fn::Sub': text });
  const arns = (resource) =>
    (regions.length > 0 ? regions : ['none']).map((region) =>
      sub(`arn:\${AWS::Partition}:ec2:${region}::${resource}/*`),
    );
  const keyArn = ({ region, key }) =>
    key.startsWith('arn:') ? key : sub(`arn:\${AWS::Partition}:kms:${region}:\${AWS::AccountId}:key/${key}`);
  const anyKeyIn = (region) => sub(`arn:\${AWS::Partition}:kms:${region}:\${AWS::AccountId}:key/*`);
  const viaEc2 = (entries) =>
    (entries.length > 0 ? entries.map(({ region }) => region) : ['none']).map(
      (region) => `ec2.${region}.amazonaws.com`,
    );
  return {
    images: arns('image'),
    imagesAndSnapshots: [...arns('image'), ...arns('snapshot')],
    kmsKeys: byId.length > 0 ? byId.map(keyArn) : [anyKeyIn('none')],
    kmsViaServices: viaEc2(byId),
    kmsAliasKeys:
      byAlias.length > 0 ? [...new Set(byAlias.map(({ region }) => region))].map(anyKeyIn) : [anyKeyIn('none')],
    kmsAliases: byAlias.length > 0 ? byAlias.map(({ key }) => key) : ['alias/none'],
    kmsAliasViaServices: viaEc2(byAlias),
  };
};
