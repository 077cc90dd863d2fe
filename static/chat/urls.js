// Every URL the page calls, as the server rendered them ({% url %}) onto <main data-url-*>:
// no path is written in the scripts. A URL naming one object (a message, a conversation)
// is rendered for ANY_ID, which stands for the real id (chat/web/pages.py, ANY_ID).

const ANY_ID = '00000000-0000-0000-0000-000000000000'

export function readUrls(dataset) {
  const fixed = (name) => {
    const url = dataset[name]
    if (!url) throw new Error(`The page has no data-${name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}.`)
    return url
  }
  const forId = (name) => {
    const pattern = fixed(name)
    return (id) => pattern.replace(ANY_ID, encodeURIComponent(id))
  }
  const socketPath = forId('urlSocket')
  const sidebar = fixed('urlSidebar')
  return {
    chatStream: fixed('urlChatStream'),
    chat: fixed('urlChat'),
    regenerate: forId('urlRegenerate'),
    edit: forId('urlEdit'),
    stop: forId('urlStop'),
    message: forId('urlMessage'),
    conversation: forId('urlConversation'),
    messages: forId('urlMessages'),
    events: forId('urlEvents'),
    sidebar: (current) => `${sidebar}?current=${encodeURIComponent(current ?? '')}`,
    socket(id) {
      const url = new URL(socketPath(id), location.href)
      url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:'
      return url.href
    },
  }
}
