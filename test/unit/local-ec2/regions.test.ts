import { requestRegion } from '../../../local/ec2/regions';

const signedFor = (region: string): string =>
  `AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20260301/${region}/ec2/aws4_request, SignedHeaders=host, Signature=abc`;

describe('requestRegion', () => {
  it('is the Region of the SigV4 credential scope, whatever the host', () => {
    expect(requestRegion(signedFor('us-west-2'), '127.0.0.1:4599', 'us-east-1')).toBe('us-west-2');
    expect(requestRegion(signedFor('eu-west-1'), 'ec2.us-west-2.amazonaws.com', 'us-east-1')).toBe('eu-west-1');
  });

  it('is the Region of an EC2 host name when the request is not signed', () => {
    expect(requestRegion(undefined, 'ec2.eu-central-1.amazonaws.com', 'us-east-1')).toBe('eu-central-1');
    expect(requestRegion(undefined, 'ec2-fips.us-gov-west-1.amazonaws.com:443', 'us-east-1')).toBe('us-gov-west-1');
    expect(requestRegion(undefined, 'ec2.cn-north-1.amazonaws.com.cn', 'us-east-1')).toBe('cn-north-1');
  });

  it('is the default Region otherwise', () => {
    expect(requestRegion(undefined, '127.0.0.1:4599', 'us-east-1')).toBe('us-east-1');
    expect(requestRegion(undefined, undefined, 'ap-south-1')).toBe('ap-south-1');
    expect(requestRegion(undefined, 'ec2.amazonaws.com', 'us-east-1')).toBe('us-east-1');
    expect(requestRegion('Basic dXNlcjpwYXNz', 'localhost', 'us-east-1')).toBe('us-east-1');
  });
});
