// What the page says about its connection (#connection-status), and the polite announcer
// that screen readers hear (#announcer).
//
// Two sources: the browser's own offline/online events, which come at once; and the
// feeds, which notice a dropped or refused connection (a browser can be "online" with a
// dead network path) and when the stream is back.

const SAYS = {
  offline: "You're offline. The answer continues when the connection is back.",
  lost: 'Connection lost. Reconnecting…',
  reconnected: 'Reconnected',
}
// How long "Reconnected" stays before the notice goes away.
const RECONNECTED_MS = 3000

export class ConnectionNotice {
  #element
  #state = 'ok' // 'ok' | 'offline' | 'lost' | 'reconnected'
  #timer = 0

  // isConnected(): whether a feed is connected now.
  constructor(element, isConnected) {
    this.#element = element
    this.isConnected = isConnected
    window.addEventListener('offline', () => this.#show('offline'))
    window.addEventListener('online', () => (this.isConnected() ? this.connected() : this.lost()))
    if (navigator.onLine === false) this.#show('offline')
  }

  // A feed's connection dropped; it is trying again. (While the browser is offline, the
  // offline notice says more, and stays until the browser is online.)
  lost() {
    if (navigator.onLine) this.#show('lost')
  }

  // A feed is connected: after a drop, say so for a moment. A connection that was under
  // way when the browser went offline may still open: that is not "Reconnected".
  connected() {
    if (!navigator.onLine || this.#state === 'ok' || this.#state === 'reconnected') return
    this.#show('reconnected')
    this.#timer = setTimeout(() => this.#show('ok'), RECONNECTED_MS)
  }

  #show(state) {
    clearTimeout(this.#timer)
    this.#state = state
    this.#element.textContent = SAYS[state] ?? ''
    this.#element.hidden = state === 'ok'
  }
}

export function announce(text) {
  document.getElementById('announcer').textContent = text
}
