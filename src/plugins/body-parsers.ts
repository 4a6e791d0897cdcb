import formbody from '@fastify/formbody'
import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import secureJson from 'secure-json-parse'
import { BadRequestError } from '../shared/errors.js'

const strictUtf8 = new TextDecoder('utf-8', { fatal: true })

/**
 * JSON bodies are decoded as strict UTF-8 (invalid bytes are a 400, not silently replaced) and parsed
 * with prototype-poisoning protection. Fastify enforces the body limit while streaming, chunked or not.
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
    try {
      done(null, secureJson.parse(text, undefined, { protoAction: 'error', constructorAction: 'error' }))
    } catch (err) {
      done(new BadRequestError(`The request body is not valid JSON: ${(err as Error).message}`))
    }
  })
  await app.register(formbody)
}, { name: 'body-parsers' })
