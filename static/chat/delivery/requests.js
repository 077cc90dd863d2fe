// Asking for an answer (send, regenerate, edit), and the two paths that only the asking
// tab has, after the feeds (feeds.js):
//
//   3. its own stream: POST with "stream" and "resumable", read until a feed follows the
//      answer, or to its end if none does (a fast answer on a new conversation can end
//      before the feed, opened once the conversation exists, subscribes);
//   4. one plain POST ("stream": false) if that stream cannot even be opened; the message
//      list is then fetched as HTML.

import { postJson } from '../http.js'
import { EventStreamReader } from '../sse.js'

export class AnswerRequests {
  // onFailed(text, unsentText): the request failed; say so, give the text back.
  constructor({ answers, painter, conversation, onFailed }) {
    Object.assign(this, { answers, painter, conversation, onFailed })
  }

  // `url` streams; `plainUrl` answers in one response (the same URL unless said).
  async start({ url, plainUrl = url }, payload) {
    let response
    try {
      response = await postJson(url, { ...payload, stream: true, resumable: true })
    } catch {
      return this.#withoutStreaming(plainUrl, payload)
    }
    const type = response.headers.get('Content-Type') || ''
    if (response.ok && type.startsWith('text/event-stream') && response.body) {
      if (!(await this.#readOwnStream(response.body))) await this.onFailed('The answer stream broke off.')
      return
    }
    if (response.status >= 500 || !type.includes('json')) return this.#withoutStreaming(plainUrl, payload)
    const body = await response.json().catch(() => ({}))
    await this.onFailed(body.error?.message || `The request failed (${response.status}).`, payload.message)
  }

  // True once the answer has started. Ends when the answer does, when a feed follows it
  // (the Answer lets the stream go), or when the connection drops (a feed resumes it).
  async #readOwnStream(body) {
    const stream = new EventStreamReader(body)
    let messageId = null
    try {
      for await (const { id, type, data } of stream.events()) {
        const event = { ...JSON.parse(data), type, seq: Number(id) }
        if (type === 'start') {
          messageId = event.message_id
          if (!this.conversation.id) this.conversation.adopt(event.conversation_id)
          this.answers.get(messageId).readingOwnStream(stream)
        }
        this.painter.enqueue('raw', { ...event, message_id: messageId }, 'own')
      }
    } catch {
      // The connection dropped: a feed resumes the answer.
    } finally {
      if (messageId) this.answers.get(messageId).ownStreamClosed()
    }
    return messageId !== null
  }

  async #withoutStreaming(url, payload) {
    let body = {}
    try {
      const response = await postJson(url, { ...payload, stream: false })
      body = await response.json()
    } catch {
      return this.onFailed('Could not reach the server.', payload.message)
    }
    if (!body.conversation_id) return this.onFailed(body.error?.message || 'The request failed.', payload.message)
    if (!this.conversation.id) this.conversation.adopt(body.conversation_id)
    await this.conversation.reloadMessages()
  }
}
