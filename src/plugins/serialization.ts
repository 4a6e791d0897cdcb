import { SerializerSelector } from '@fastify/fast-json-stringify-compiler'
import type { FastifySerializerCompiler } from 'fastify'
import { compileOnce } from './validation.js'

type RouteSchema = Parameters<FastifySerializerCompiler<unknown>>[0]

/**
 * Fastify `schemaController.compilersFactory.buildSerializer`: Fastify's own fast-json-stringify serializers,
 * each built on its first use instead of at start-up, where building them all took a sixth of the time to
 * ready. The tests serialise every route's answers, so a schema that cannot be built still fails the build.
 */
export function buildSerializer(externalSchemas: unknown, options: unknown): FastifySerializerCompiler<unknown> {
  const compile = SerializerSelector()(externalSchemas, options as never) as (route: RouteSchema) => (data: unknown) => string
  return (route) => {
    const serializer = compileOnce(() => compile(route))
    return (data) => serializer()(data)
  }
}
