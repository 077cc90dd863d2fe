// Server-sent events read from a fetch() body (EventSource cannot POST): the API's answer
// stream, which this tab reads while nothing else delivers the answer.

// One event block (the lines before a blank line) as { id, type, data }; null for a
// block with no data (a comment, a `retry:`).
export function parseEventBlock(block) {
  let id = ''
  let type = 'message'
  let data = null
  for (const line of block.split('\n')) {
    if (!line || line.startsWith(':')) continue
    const colon = line.indexOf(':')
    const field = colon < 0 ? line : line.slice(0, colon)
    const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '')
    if (field === 'id') id = value
    else if (field === 'event') type = value
    else if (field === 'data') data = data === null ? value : `${data}\n${value}`
  }
  return data === null ? null : { id, type, data }
}

// The events of a body, in order. `cancel()` lets the body go; the loop then ends.
export class EventStreamReader {
  constructor(body) {
    this.reader = body.getReader()
  }

  async *events() {
    const decoder = new TextDecoder()
    let buffer = ''
    for (;;) {
      const { value, done } = await this.reader.read()
      if (done) return
      buffer += decoder.decode(value, { stream: true })
      let end
      while ((end = buffer.indexOf('\n\n')) >= 0) {
        const event = parseEventBlock(buffer.slice(0, end))
        buffer = buffer.slice(end + 2)
        if (event) yield event
      }
    }
  }

  cancel() {
    this.reader.cancel().catch(() => {})
  }
}
