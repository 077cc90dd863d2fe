// Applies what the delivery paths bring, at most once per animation frame, to the page.
//
// Items are queued as they arrive and applied together in one requestAnimationFrame
// callback, consecutive updates of one answer merged into one DOM write. `source` names
// the path: 'feed' (the rendered feed), 'socket' (the WebSocket feed) or 'own' (this tab's
// own answer stream); which of them an answer listens to is its Answer's business.

import { bubble } from './dom.js'
import { getHtml } from './http.js'
import { paintPlain, paintRendered } from './parts/text.js'
import { finishTurn, provisionalQuestionOf, startTurn } from './turns.js'

export class Painter {
  #queue = []
  #frame = 0

  // ownStreamShows(): whether this tab's own stream may paint text (not while a rendered
  // feed, connecting or connected, will bring the answer as HTML).
  constructor({ messages, answers, urls, ownStreamShows, onPainted, onEnded, onCommandError }) {
    Object.assign(this, { messages, answers, urls, ownStreamShows, onPainted, onEnded, onCommandError })
  }

  enqueue(kind, data, source = 'feed') {
    this.#queue.push({ kind, data, source })
    if (!this.#frame) this.#frame = requestAnimationFrame(() => this.#flush())
  }

  // The answer's finished bubble (`html`, or fetched), applied through the queue. If the
  // page still shows this tab's own copy of the question, the server's copy is fetched
  // and goes in the same frame: a finished answer never sits under a question that lacks
  // what a reload would show (Copy, Edit).
  async finish(messageId, html = null) {
    const questionId = provisionalQuestionOf(messageId)
    const end = { message_id: messageId, html, user_message_id: questionId, user_html: null }
    if (html === null || questionId) {
      try {
        ;[end.html, end.user_html] = await Promise.all([
          html ?? getHtml(this.urls.message(messageId)),
          questionId ? getHtml(this.urls.message(questionId)) : null,
        ])
      } catch {
        // Unreachable server: the answer ends when a path delivers its end again.
        if (html === null) return
      }
    }
    if (end.html) this.enqueue('end', end)
  }

  #flush() {
    this.#frame = 0
    for (const { kind, data, source } of coalesce(this.#queue.splice(0))) this[kind](data, source)
    this.onPainted()
  }

  // A new answer: its question and bubble.
  start(data, source) {
    const answer = this.answers.get(data.message_id)
    if (source !== 'own') answer.followedBy(source)
    if (answer.ended || bubble(data.message_id)?.matches('.message:not(.is-streaming)')) return
    startTurn(this.messages, data)
  }

  // The rendered feed's HTML of the text so far.
  update(data) {
    const element = bubble(data.message_id)
    if (element && this.answers.get(data.message_id).takeUpdate(data.seq)) paintRendered(element, data)
  }

  // The finished answer as the server renders it on reload.
  end(data) {
    const element = bubble(data.message_id)
    if (!element || !this.answers.get(data.message_id).end()) return
    const finished = finishTurn(element, data)
    this.onEnded(finished.dataset.status)
  }

  // Engine events (the socket feed, or this tab's own stream): plain text until the answer
  // ends, then the message as the server renders it; unless the rendered feed has it.
  raw(data, source) {
    if (data.type === 'command_error') return this.onCommandError(data.error)
    const answer = this.answers.get(data.message_id)
    if (!answer.takeEngineEvent(data)) return
    if (data.type === 'start') return this.start(data, source)
    if (answer.rendered || answer.ended) return
    if (data.type === 'done' || data.type === 'error') return this.finish(data.message_id)
    if (source === 'own' && !this.ownStreamShows()) return
    const element = bubble(data.message_id)
    if (element) paintPlain(element, answer.text)
  }
}

// Several updates of one answer in a frame become one DOM write.
function coalesce(items) {
  const out = []
  for (const item of items) {
    const last = out[out.length - 1]
    if (item.kind === 'update' && last?.kind === 'update' && !item.data.reset &&
        last.data.message_id === item.data.message_id && item.data.seq > last.data.seq) {
      last.data = { ...item.data, reset: last.data.reset, append: last.data.append + item.data.append }
    } else {
      out.push({ ...item, data: { ...item.data } })
    }
  }
  return out
}
