// One answer's life on this page, whichever delivery path brings it (docs/architecture.md,
// "Browser"). Its fields change only through the named transitions below.
//
// delivery: who brings the answer to the page
//   'own'     this tab's own POST stream: no feed follows the answer (yet)
//   'socket'  the WebSocket feed: engine events, shown as plain text until the end
//   'feed'    the rendered feed: server-rendered HTML; nothing else paints the answer
// phase: 'streaming' → 'stopping' (Stop pressed, not confirmed yet) → 'ended'
//   ('ended': the finished bubble, as a reload shows it, is on the page)
//
// Every path numbers an answer's events: the rendered feed its updates, the socket and
// the own stream the engine's events (one numbering). Whichever path delivers an event
// first wins; a copy that comes later is not news.

export class Answer {
  constructor(id) {
    this.id = id
    this.delivery = 'own'
    this.phase = 'streaming'
    this.seen = { rendered: 0, engine: 0 }
    // The text so far, from engine events (they come from the answer's start).
    this.text = ''
    this.ownStream = null
  }

  get ended() {
    return this.phase === 'ended'
  }

  get stopping() {
    return this.phase === 'stopping'
  }

  get rendered() {
    return this.delivery === 'feed'
  }

  // A feed delivered the answer's start and follows it from now on: this tab's own stream
  // is let go (browsers allow six connections per server over HTTP/1.1; a feed holds one).
  followedBy(feed) {
    if (!this.ended) this.delivery = feed
    this.#releaseOwnStream()
  }

  // The rendered feed is gone: the socket sends the answer again from its start, as text.
  lostRenderedFeed() {
    if (this.delivery === 'feed' && !this.ended) this.delivery = 'socket'
  }

  // This tab's own stream is delivering the answer; it is kept only while no feed is.
  readingOwnStream(stream) {
    if (this.delivery === 'own' && !this.ended) this.ownStream = stream
    else stream.cancel()
  }

  ownStreamClosed() {
    this.ownStream = null
  }

  // Whether the rendered feed's update with this number is news; if so it counts as seen.
  takeUpdate(seq) {
    if (this.ended || seq <= this.seen.rendered) return false
    this.seen.rendered = seq
    return true
  }

  // Whether an engine event is news; if so its text is taken in.
  takeEngineEvent(event) {
    if (event.seq <= this.seen.engine) return false
    this.seen.engine = event.seq
    if (event.type === 'token') this.text += event.token
    else if (event.type === 'message') this.text = event.content
    return true
  }

  // Stop was pressed: true the first time (the page then keeps asking until it lands).
  requestStop() {
    if (this.phase !== 'streaming') return false
    this.phase = 'stopping'
    return true
  }

  // The finished bubble goes on the page: true the first time only.
  end() {
    if (this.ended) return false
    this.phase = 'ended'
    return true
  }

  #releaseOwnStream() {
    this.ownStream?.cancel()
    this.ownStream = null
  }
}

// The answers this page has heard of, by message id.
export class Answers {
  #byId = new Map()

  // The answer, made on first mention.
  get(id) {
    let answer = this.#byId.get(id)
    if (!answer) {
      answer = new Answer(id)
      this.#byId.set(id, answer)
    }
    return answer
  }

  // Whether Stop was pressed for this answer and it has not ended yet.
  isStopping(id) {
    return Boolean(this.#byId.get(id)?.stopping)
  }

  unfinished() {
    return [...this.#byId.values()].filter((answer) => !answer.ended)
  }

  lostRenderedFeed() {
    for (const answer of this.#byId.values()) answer.lostRenderedFeed()
  }
}
