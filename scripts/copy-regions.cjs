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
  const keys = list(await resolveVariable('param:copyKmsKeys')).map((entry) => entry.split('='));
  const sub = (text) => ({ 'Fn::Sub': text });
  const arns = (resource) =>
    (regions.length > 0 ? regions : ['none']).map((region) =>
      sub(`arn:\${AWS::Partition}:ec2:${region}::${resource}/*`),
    );
  const keyArn = ([region, key]) =>
    key.startsWith('arn:') ? key : sub(`arn:\${AWS::Partition}:kms:${region}:\${AWS::AccountId}:key/${key}`);
  return {
    images: arns('image'),
    imagesAndSnapshots: [...arns('image'), ...arns('snapshot')],
    kmsKeys: keys.length > 0 ? keys.map(keyArn) : [sub(`arn:\${AWS::Partition}:kms:none:\${AWS::AccountId}:key/none`)],
    kmsViaServices: (keys.length > 0 ? keys.map(([region]) => region) : ['none']).map(
      (region) => `ec2.${region}.amazonaws.com`,
    ),
  };
};
