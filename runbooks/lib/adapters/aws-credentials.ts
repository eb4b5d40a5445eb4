/**
 * AWS credentials for our own calls (Route53, S3 exports), from the environment only: static
 * keys (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY [/ AWS_SESSION_TOKEN]), or a Kubernetes pod's
 * web identity (IRSA: AWS_ROLE_ARN + AWS_WEB_IDENTITY_TOKEN_FILE), exchanged with STS's
 * AssumeRoleWithWebIdentity, which takes no signature. Every secret is registered with the
 * redactor; none is ever put on a command line.
 */
import { readFileSync } from 'node:fs'
import { inputError } from '../../../core/errors.ts'
import { registerSecret } from '../output/redact.ts'

export interface AwsCredentials {
  accessKeyId: string
  secretAccessKey: string
  sessionToken?: string
}

export const AWS_CREDENTIALS_FIX =
  "export the role's credentials (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, e.g. from aws sts assume-role), or run in a pod with a web identity (AWS_ROLE_ARN + AWS_WEB_IDENTITY_TOKEN_FILE)"

/** The credentials of an AssumeRoleWithWebIdentity answer. */
export function parseStsCredentials(xml: string): AwsCredentials | undefined {
  const f = (tag: string) => new RegExp(`<${tag}>([^<]+)</${tag}>`).exec(xml)?.[1]
  const accessKeyId = f('AccessKeyId')
  const secretAccessKey = f('SecretAccessKey')
  return accessKeyId && secretAccessKey ? { accessKeyId, secretAccessKey, sessionToken: f('SessionToken') } : undefined
}

export async function awsCredentials(region: string, env: NodeJS.ProcessEnv = process.env): Promise<AwsCredentials> {
  if (env.AWS_ACCESS_KEY_ID && env.AWS_SECRET_ACCESS_KEY) {
    registerSecret(env.AWS_SECRET_ACCESS_KEY)
    if (env.AWS_SESSION_TOKEN) registerSecret(env.AWS_SESSION_TOKEN)
    return {
      accessKeyId: env.AWS_ACCESS_KEY_ID,
      secretAccessKey: env.AWS_SECRET_ACCESS_KEY,
      sessionToken: env.AWS_SESSION_TOKEN,
    }
  }
  if (env.AWS_ROLE_ARN && env.AWS_WEB_IDENTITY_TOKEN_FILE) {
    let token: string
    try {
      token = readFileSync(env.AWS_WEB_IDENTITY_TOKEN_FILE, 'utf8').trim()
    } catch (e) {
      throw inputError(
        'AWS_WEB_IDENTITY_TOKEN_FILE',
        env.AWS_WEB_IDENTITY_TOKEN_FILE,
        `cannot be read (${(e as NodeJS.ErrnoException).code})`,
        "check the service account's projected token volume",
      )
    }
    registerSecret(token)
    const endpoint = env.LABDOJO_STS_ENDPOINT ?? `https://sts.${region}.amazonaws.com/`
    const body = new URLSearchParams({
      Action: 'AssumeRoleWithWebIdentity',
      Version: '2011-06-15',
      RoleArn: env.AWS_ROLE_ARN,
      RoleSessionName: 'labdojo-dr',
      WebIdentityToken: token,
    })
    const res = await fetch(endpoint, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body,
      signal: AbortSignal.timeout(10_000),
    })
    const text = await res.text()
    const creds = res.ok ? parseStsCredentials(text) : undefined
    if (!creds)
      throw new Error(
        `STS AssumeRoleWithWebIdentity for ${env.AWS_ROLE_ARN} failed (HTTP ${res.status}): ${/<Message>([^<]*)<\/Message>/.exec(text)?.[1] ?? text.slice(0, 200)}`,
      )
    registerSecret(creds.secretAccessKey)
    if (creds.sessionToken) registerSecret(creds.sessionToken)
    return creds
  }
  throw inputError(
    'AWS credentials',
    undefined,
    'AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY are not set, nor a web identity',
    AWS_CREDENTIALS_FIX,
  )
}
