import { createHash, randomBytes, randomUUID } from 'node:crypto'
import { createSigner, createVerifier } from 'fast-jwt'
import type { Config } from '../../config.js'
import { UnauthorizedError } from '../../shared/errors.js'

export interface AccessClaims {
  sub: string
  ver: number
  type: 'access'
  jti: string
  iat: number
  exp: number
}

/** Signs and verifies access tokens (JWT, one configured algorithm only: `alg: none` and others are refused). */
export function createAccessTokens(config: Pick<Config, 'secretKey' | 'algorithm' | 'accessTokenTtlSeconds'>) {
  const sign = createSigner({ key: config.secretKey, algorithm: config.algorithm, expiresIn: config.accessTokenTtlSeconds * 1000 })
  const verify = createVerifier({
    key: config.secretKey,
    algorithms: [config.algorithm],
    requiredClaims: ['sub', 'exp', 'iat', 'jti', 'type', 'ver'],
    // Verified signatures are cached (expiry is still checked on every hit): auth costs microseconds per request.
    cache: 10_000,
  })
  return {
    sign: (userId: number, tokenVersion: number): string =>
      sign({ sub: String(userId), ver: tokenVersion, type: 'access', jti: randomUUID() }),

    verify(token: string): { userId: number; tokenVersion: number } {
      let claims: AccessClaims
      try {
        claims = verify(token) as AccessClaims
      } catch {
        throw new UnauthorizedError('Could not validate credentials')
      }
      const userId = Number(claims.sub)
      if (claims.type !== 'access' || !Number.isSafeInteger(userId) || userId < 1 || !Number.isInteger(claims.ver)) {
        throw new UnauthorizedError('Could not validate credentials')
      }
      return { userId, tokenVersion: claims.ver }
    },
  }
}

export type AccessTokens = ReturnType<typeof createAccessTokens>

/** A refresh token is 256 random bits; only its SHA-256 is stored. */
export function newRefreshToken(): { token: string; hash: string } {
  const token = randomBytes(32).toString('base64url')
  return { token, hash: hashRefreshToken(token) }
}

export function hashRefreshToken(token: string): string {
  return createHash('sha256').update(token).digest('hex')
}
