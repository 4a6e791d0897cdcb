/** Running figures of events and webhooks, plain integers read by /metrics at scrape time (plugins/metrics). */
export interface EventStats {
  /** Events written to SSE streams. */
  delivered: number
  openStreams: number
  /** Streams ended, by why. */
  closed: Record<string, number>
  /** The highest event id this instance has read up to (its growth is the rate events are written). */
  position: number
  /** Ids handed out but not yet known to be final: delivery waits for the transactions holding them. */
  pending: number
  webhooks: { delivered: number; retried: number; failed: number; disabled: number }
}

export const createEventStats = (): EventStats => ({
  delivered: 0, openStreams: 0, closed: {}, position: 0, pending: 0, webhooks: { delivered: 0, retried: 0, failed: 0, disabled: 0 },
})
