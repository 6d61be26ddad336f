import { sigV4Credential } from './iam';

/** EC2's Regional endpoint host names: `ec2.<region>.amazonaws.com` (and `.com.cn` in China), FIPS ones included. */
const REGIONAL_HOST = /^ec2(?:-fips)?\.([a-z]{2}(?:-[a-z]+)+-\d+)\.amazonaws\.com(?:\.cn)?(?::\d+)?$/;

/**
 * The Region a request is made in, as EC2 tells it: the Region of its SigV4 credential scope
 * (`Credential=<key>/<date>/<region>/ec2/aws4_request`), else of the host name it was sent to, else `home` (an unsigned
 * request to a local address).
 */
export function requestRegion(authorization: string | undefined, host: string | undefined, home: string): string {
  const signed = sigV4Credential(authorization)?.region;
  if (signed !== undefined) return signed;
  return REGIONAL_HOST.exec(host ?? '')?.[1] ?? home;
}
