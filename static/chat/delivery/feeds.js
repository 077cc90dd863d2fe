// Following the conversation: every answer in it, whoever asked (this tab, another tab).
//
//   1. the rendered feed (EventSource on the conversation's events URL): server-rendered
//      HTML; EventSource reconnects by itself with Last-Event-ID, so nothing is lost;
//   2. the WebSocket, if EventSource cannot connect (or is refused for good after it had
//      worked): engine events, shown as plain text, then the server-rendered message.
//
// Dispatches 'connected' (a feed is up, again after a drop) and 'lost' (it dropped and is
// trying again): the connection notice and a Stop waiting to be delivered listen.

import { bubble } from '../dom.js'

const SOCKET_RETRY_MS = 1000

export class Feeds extends EventTarget {
  // 'connecting' | 'rendered' | 'socket' | 'none' (no feed: a sending tab shows its own stream)
  mode = 'none'
  #source = null
  #socket = null
  #up = false
  #leaving = false

  constructor({ urls, answers, painter }) {
    super()
    Object.assign(this, { urls, answers, painter })
    window.addEventListener('pagehide', () => { this.#leaving = true })
  }

  get connected() {
    return this.#up
  }

  // Whether this tab's own stream should paint an answer: not while a rendered feed,
  // connecting or connected, will bring it as HTML.
  get ownStreamShows() {
    return this.mode === 'socket' || this.mode === 'none'
  }

  open(conversationId) {
    this.#source?.close()
    if (!conversationId) return
    this.mode = 'connecting'
    this.#up = false
    const source = new EventSource(this.urls.events(conversationId))
    let opened = false
    source.onopen = () => {
      opened = true
      this.mode = 'rendered'
      this.#say('connected')
    }
    source.onerror = () => {
      if (this.#leaving) return
      if (!opened || source.readyState === EventSource.CLOSED) {
        source.close()
        this.#openSocket(conversationId)
      } else {
        this.#say('lost')
      }
    }
    source.addEventListener('start', (event) => this.painter.enqueue('start', JSON.parse(event.data)))
    source.addEventListener('update', (event) => this.painter.enqueue('update', JSON.parse(event.data)))
    source.addEventListener('end', (event) => {
      const data = JSON.parse(event.data)
      this.painter.finish(data.message_id, data.html)
    })
    this.#source = source
  }

  #openSocket(conversationId) {
    this.mode = 'connecting'
    this.#up = false
    // Answers the rendered feed was showing now come as text: the socket sends them from
    // their start, and their final HTML is fetched when they end.
    this.answers.lostRenderedFeed()
    const socket = new WebSocket(this.urls.socket(conversationId))
    let opened = false
    socket.onopen = () => {
      opened = true
      this.mode = 'socket'
      this.#say('connected')
      // Running answers come from their start anyway; this catches any that ended meanwhile.
      for (const answer of this.answers.unfinished()) {
        if (bubble(answer.id)) {
          socket.send(JSON.stringify({ type: 'resume', message_id: answer.id, after: answer.seen.engine }))
        }
      }
    }
    socket.onmessage = (event) => this.painter.enqueue('raw', JSON.parse(event.data), 'socket')
    socket.onclose = () => {
      if (this.#leaving || this.#socket !== socket) return
      if (!opened) {
        this.mode = 'none'
        return
      }
      this.#say('lost')
      setTimeout(() => this.#openSocket(conversationId), SOCKET_RETRY_MS)
    }
    this.#socket = socket
  }

  #say(what) {
    this.#up = what === 'connected'
    this.dispatchEvent(new Event(what))
  }
}
