import formbody from '@fastify/formbody'
import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import secureJson from 'secure-json-parse'
import { BadRequestError } from '../shared/errors.js'
import { findDuplicateKey, hasLoneSurrogate } from './json-checks.js'

const strictUtf8 = new TextDecoder('utf-8', { fatal: true })

/**
 * JSON bodies are decoded as strict UTF-8 (invalid bytes are a 400, not silently replaced) and parsed
 * with prototype-poisoning protection; repeated keys and unpaired surrogates are a 400 too. Fastify enforces the body limit while streaming, chunked or not.
 * Form bodies exist for the OAuth2 password grant on the token route.
 */
export const bodyParsersPlugin = fp(async (app: FastifyInstance) => {
  app.removeContentTypeParser(['application/json', 'text/plain'])
  app.addContentTypeParser('application/json', { parseAs: 'buffer' }, (_request, body, done) => {
    let text: string
    try {
      text = strictUtf8.decode(body as Buffer)
    } catch {
      return done(new BadRequestError('The request body is not valid UTF-8'))
    }
    if (text.trim() === '') return done(new BadRequestError('The request body is empty; send a JSON document'))
    let value: unknown
    try {
      value = secureJson.parse(text, undefined, { protoAction: 'error', constructorAction: 'error' })
    } catch (err) {
      return done(new BadRequestError(`The request body is not valid JSON: ${(err as Error).message}`))
    }
    const duplicate = findDuplicateKey(text)
    if (duplicate !== undefined) return done(new BadRequestError(`The request body repeats the key ${JSON.stringify(duplicate)}`))
    if (hasLoneSurrogate(text, value)) return done(new BadRequestError('The request body has a string with an unpaired UTF-16 surrogate'))
    done(null, value)
  })
  await app.register(formbody)
}, { name: 'body-parsers' })
