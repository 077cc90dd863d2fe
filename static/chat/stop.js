// Stop always lands. A click is kept until the server has it: if the request cannot get
// through (the network is cut, the server restarting), it is sent again as soon as a feed
// is back or the browser is online again, and meanwhile every few seconds; the page says
// "Stopping…" until the answer ends. The server may find the answer already finished;
// then it ends as it finished.

import { postJson } from './http.js'

const RETRY_MS = [500, 1000, 2000, 4000]

export class Stopper {
  #waiting = new Set() // answers whose stop has not reached the server yet
  #sending = new Set()
  #retries = 0
  #timer = 0

  constructor({ urls, answers, painter, feeds }) {
    Object.assign(this, { urls, answers, painter })
    feeds.addEventListener('connected', () => this.#sendAll())
    window.addEventListener('online', () => this.#sendAll())
  }

  // Stops these answers (message ids). True if any of them was not stopping already.
  stop(ids) {
    const fresh = ids.map((id) => this.answers.get(id)).filter((answer) => answer.requestStop())
    for (const answer of fresh) this.#waiting.add(answer)
    this.#sendAll()
    return fresh.length > 0
  }

  #sendAll() {
    clearTimeout(this.#timer)
    this.#timer = 0
    for (const answer of this.#waiting) {
      if (answer.ended) this.#waiting.delete(answer)
      else if (!this.#sending.has(answer)) this.#send(answer)
    }
  }

  async #send(answer) {
    this.#sending.add(answer)
    let landed = false
    try {
      const response = await postJson(this.urls.stop(answer.id))
      // A refusal other than "too many requests" will not change by asking again
      // (the answer is gone, or was never this visitor's).
      landed = response.ok || (response.status < 500 && response.status !== 429)
    } catch {
      // Not reachable now: sent again below.
    } finally {
      this.#sending.delete(answer)
    }
    if (landed) {
      this.#waiting.delete(answer)
      this.#retries = 0
      // The rendered feed brings the final message by itself; otherwise fetch it.
      if (!answer.rendered) this.painter.finish(answer.id)
    } else if (!answer.ended && !this.#timer) {
      const delay = RETRY_MS[Math.min(this.#retries++, RETRY_MS.length - 1)]
      this.#timer = setTimeout(() => this.#sendAll(), delay)
    }
  }
}
