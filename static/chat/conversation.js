// The conversation this page shows: its id (a new chat gets one when its first answer
// starts), its message list fetched whole, and its entry in the sidebar.

import { getHtml } from './http.js'

export class Conversation {
  constructor({ main, messages, urls, feeds, sidebar, onReloaded }) {
    Object.assign(this, { main, messages, urls, feeds, sidebar, onReloaded })
  }

  get id() {
    return this.main.dataset.conversationId || null
  }

  // The page now shows this conversation (a new chat's first answer has started).
  adopt(id) {
    this.main.dataset.conversationId = id
    history.replaceState(null, '', this.urls.conversation(id))
    this.feeds.open(id)
    this.sidebar.refresh(id)
  }

  async reloadMessages() {
    const html = await getHtml(this.urls.messages(this.id)).catch(() => null)
    if (html === null) return
    this.messages.innerHTML = html
    window.htmx?.process(this.messages)
    this.onReloaded()
  }
}
