import { createHash } from 'node:crypto'
import { and, eq, gt, inArray, lt, sql } from 'drizzle-orm'
import type { FastifyReply, FastifyRequest } from 'fastify'
import { Type } from 'typebox'
import type { Db } from '../../db/client.js'
import { retryOnFailover } from '../../db/retry.js'
import { ConflictError, ValidationError } from '../../shared/errors.js'
import { idempotencyKeys } from './idempotency.table.js'

/** What a create answered: replayed as is for a repeat of the request. */
export interface Answer {
  status: number
  location?: string | undefined
  etag?: string | undefined
  body: unknown
}

const TTL_HOURS = 24
// The class half of the two-part advisory lock key: Keel's idempotency keys, apart from any other advisory lock.
const LOCK_CLASS = 72_204_521
const sha256 = (text: string) => createHash('sha256').update(text).digest('hex')

/** The header of SPEC §9 a create takes, for its schema (and so the OpenAPI document). */
export const IdempotencyHeaders = Type.Object({
  'idempotency-key': Type.Optional(Type.String({
    minLength: 1, maxLength: 255,
    description: 'Makes a retry safe: the first request is processed and its answer kept 24 h; a repeat with the same '
      + 'body gets that answer again (`Idempotent-Replayed: true`), with another body 422, while the first is still '
      + 'running 409. Per caller.',
    examples: ['8e03978e-40d5-43e8-bc93-6894a57f9324'],
  })),
})

export const replayedHeader = { 'Idempotent-Replayed': { type: 'string', enum: ['true'], description: 'Present on a replayed answer' } }

/**
 * Runs `create` (which must do all its writes on the transaction it is given) under the request's Idempotency-Key,
 * or plainly on `db` without one. With a key, one transaction: a transaction-scoped advisory lock on (caller, key)
 * (taken without waiting: a holder means the same key is in flight, 409; it needs no session, so it works through a
 * transaction pooler and across instances), then the kept answer if any (replayed, or 422 for another request), else
 * `create` and its answer stored, committed together with the row: a crash before the commit keeps neither.
 */
export async function withIdempotency(db: Db, request: FastifyRequest, reply: FastifyReply, create: (tx: Db) => Promise<Answer>): Promise<FastifyReply> {
  const key = request.headers['idempotency-key']
  if (typeof key !== 'string') return send(reply, await create(db))
  const userId = request.user.id
  const keyHash = sha256(key)
  const fingerprint = sha256(JSON.stringify([request.method, request.url.split('?')[0], request.body ?? null]))
  // A failover's failure is retried once (SPEC §10): the key makes the repeat safe, whether or not the first committed.
  const outcome = await retryOnFailover(() => db.transaction(async (tx) => {
    const lock = await tx.execute(sql`select pg_try_advisory_xact_lock(${LOCK_CLASS}, hashtext(${`${userId}:${keyHash}`})) as locked`)
    if (!(lock as unknown as { rows: { locked: boolean }[] }).rows[0]!.locked) {
      throw new ConflictError('A request with this Idempotency-Key is still being processed; retry later')
    }
    const [kept] = await tx.select().from(idempotencyKeys)
      .where(and(eq(idempotencyKeys.user_id, userId), eq(idempotencyKeys.key_hash, keyHash), gt(idempotencyKeys.expires_at, sql`now()`)))
    if (kept) {
      if (kept.fingerprint !== fingerprint) {
        throw new ValidationError([{ field: 'headers.idempotency-key', message: 'was already used with another request' }])
      }
      return { answer: { status: kept.status, location: kept.location ?? undefined, etag: kept.etag ?? undefined, body: JSON.parse(kept.body) }, replayed: true }
    }
    const answer = await create(tx as unknown as Db)
    const row = {
      fingerprint, status: answer.status, location: answer.location ?? null, etag: answer.etag ?? null,
      body: JSON.stringify(answer.body), expires_at: sql`now() + make_interval(hours => ${TTL_HOURS})`,
    }
    // An expired row of the same key (not yet cleaned up) is replaced.
    await tx.insert(idempotencyKeys).values({ user_id: userId, key_hash: keyHash, ...row })
      .onConflictDoUpdate({ target: [idempotencyKeys.user_id, idempotencyKeys.key_hash], set: { ...row, created_at: sql`now()` } })
    return { answer, replayed: false }
  }))
  if (outcome.replayed) reply.header('idempotent-replayed', 'true')
  return send(reply, outcome.answer)
}

function send(reply: FastifyReply, answer: Answer): FastifyReply {
  if (answer.location) reply.header('location', answer.location)
  if (answer.etag) reply.header('etag', answer.etag)
  return reply.code(answer.status).send(answer.body)
}

/** Deletes up to `batch` expired keys; returns how many. Any instance may run it: it only removes what expired. */
export async function deleteExpiredKeys(db: Db, batch = 1000): Promise<number> {
  const expired = db.select({ id: idempotencyKeys.id }).from(idempotencyKeys).where(lt(idempotencyKeys.expires_at, sql`now()`)).limit(batch)
  const deleted = await db.delete(idempotencyKeys).where(inArray(idempotencyKeys.id, expired)).returning({ id: idempotencyKeys.id })
  return deleted.length
}
