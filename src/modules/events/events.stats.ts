import type { EventFigures } from '../../plugins/metrics/registry.js'

/** The figures the events hub and the webhook worker keep for /metrics: declared once, by the metrics registry. */
export type EventStats = EventFigures

export const createEventStats = (): EventStats => ({
  delivered: 0, openStreams: 0, closed: {}, position: 0, pending: 0, webhooks: { delivered: 0, retried: 0, failed: 0, disabled: 0 },
})
