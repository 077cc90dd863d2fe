// chatsite's browser side: send, follow answers live, stop, retry, edit, copy.
//
// The server renders every piece of HTML (markdown is sanitised there); this module only
// puts it in place, at most once per animation frame. How answers reach the page, best
// first (docs/architecture.md, "Browser"):
//   1. the conversation's rendered feed (EventSource on /c/<id>/events/): blocks of HTML;
//   2. the WebSocket /ws/conversations/<id>/ if EventSource cannot connect: plain text
//      while streaming, then the server-rendered message;
//   3. the sending tab's own POST /api/v1/chat/stream body if neither feed works;
//   4. POST /api/v1/chat (no streaming) if even that stream cannot be opened.
// Every event carries its answer's id and sequence number, so whichever path delivers an
// event first wins and the others' copies are ignored.

const main = document.querySelector('main.chat')
if (main) startChat(main)

function startChat(main) {
  const messages = document.getElementById('messages')
  const composer = document.getElementById('composer')
  const input = document.getElementById('composer-input')
  const sendButton = document.getElementById('send-button')
  const stopButton = document.getElementById('stop-button')
  const modelPicker = document.getElementById('model-picker')
  const composerError = document.getElementById('composer-error')
  const connectionStatus = document.getElementById('connection-status')
  const jumpButton = document.getElementById('jump-to-latest')
  const announcer = document.getElementById('announcer')

  const chat = {
    conversationId: main.dataset.conversationId || null,
    feedMode: 'none', // 'connecting' | 'sse' | 'ws' | 'none'
    source: null,
    socket: null,
    readers: new Map(), // message id -> this tab's own answer stream, read until a feed has it
    answers: new Map(), // message id -> { followed, rendered, renderSeq, rawSeq, rawText, done }
    queue: [],
    frame: 0,
    stickToBottom: true,
    leaving: false,
  }

  // ---- Small helpers ------------------------------------------------------------------

  const csrfToken = () => document.querySelector('meta[name="csrf-token"]').content

  function postJson(url, body) {
    return fetch(url, {
      method: 'POST',
      credentials: 'same-origin',
      headers: { 'Content-Type': 'application/json', 'X-CSRFToken': csrfToken() },
      body: JSON.stringify(body ?? {}),
    })
  }

  function fromHtml(html) {
    const holder = document.createElement('template')
    holder.innerHTML = html.trim()
    return holder.content.firstElementChild
  }

  function placeholder(templateId) {
    return document.getElementById(templateId).content.firstElementChild.cloneNode(true)
  }

  function placeholderUser(text) {
    const user = placeholder('placeholder-user')
    user.querySelector('.message__text').textContent = text
    return user
  }

  const bubble = (id) => (id ? document.getElementById(`message-${id}`) : null)

  function answerState(id) {
    let state = chat.answers.get(id)
    if (!state) {
      state = { followed: false, rendered: false, renderSeq: 0, rawSeq: 0, rawText: '', done: false }
      chat.answers.set(id, state)
    }
    return state
  }

  function place(element, html) {
    // Server HTML may carry hx-* attributes (Edit, Cancel): let htmx wire them.
    const fresh = fromHtml(html)
    element.replaceWith(fresh)
    window.htmx?.process(fresh)
    return fresh
  }

  function removeAfter(element, keep = null) {
    while (element.nextElementSibling && element.nextElementSibling !== keep) {
      element.nextElementSibling.remove()
    }
  }

  function setStatus(text) {
    connectionStatus.textContent = text
    connectionStatus.hidden = !text
  }

  function showError(text) {
    composerError.textContent = text
  }

  // ---- Applying events, batched per animation frame -----------------------------------

  // `source`: 'sse' (the rendered feed), 'ws' (the socket feed) or 'post' (this tab's stream).
  function enqueue(kind, data, source = 'sse') {
    chat.queue.push({ kind, data, source })
    if (!chat.frame) chat.frame = requestAnimationFrame(flush)
  }

  function flush() {
    chat.frame = 0
    for (const { kind, data, source } of coalesce(chat.queue.splice(0))) handlers[kind](data, source)
    afterChange()
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

  const handlers = {
    // A new answer: its question and bubble. Messages after the question are replaced
    // (a regenerated or edited turn); placeholders this tab made are adopted.
    start(data, source) {
      const state = answerState(data.message_id)
      if (source !== 'post') {
        // A feed follows this answer now: this tab's own stream can be let go.
        state.followed = true
        state.rendered ||= source === 'sse'
        chat.readers.get(data.message_id)?.cancel().catch(() => {})
      }
      if (state.done || bubble(data.message_id)?.matches('.message:not(.is-streaming)')) return
      messages.querySelector('[data-empty]')?.remove()
      let user = bubble(data.user_message_id) ?? messages.querySelector('[data-placeholder][data-role=user]')
      if (data.user_html) {
        user = user ? place(user, data.user_html) : messages.appendChild(fromHtml(data.user_html))
      } else if (user && data.user_message_id) {
        // Adopted, but still this tab's own copy: the server's (with its actions) replaces
        // it when the answer ends, if a feed has not sent it before.
        user.id = `message-${data.user_message_id}`
        user.dataset.messageId = data.user_message_id
        user.dataset.provisional = ''
        delete user.dataset.placeholder
      }
      let answer = bubble(data.message_id)
      if (answer && data.answer_html && answer.matches('.is-streaming:not(.has-text)')) {
        answer = place(answer, data.answer_html) // the server's bubble names the model
      }
      if (!answer) {
        answer = messages.querySelector('[data-placeholder][data-role=assistant]') ??
          fromHtml(data.answer_html ?? placeholder('placeholder-answer').outerHTML)
        answer.id = `message-${data.message_id}`
        answer.dataset.messageId = data.message_id
        delete answer.dataset.placeholder
      }
      if (user) {
        removeAfter(user, answer)
        if (user.nextElementSibling !== answer) user.after(answer)
      } else if (!answer.isConnected) {
        messages.append(answer)
      }
    },

    // Rendered HTML from the feed: completed blocks appended, the open block replaced.
    update(data) {
      const state = answerState(data.message_id)
      const element = bubble(data.message_id)
      if (data.seq <= state.renderSeq || state.done || !element) return
      const blocks = element.querySelector('.md-blocks')
      if (data.reset) blocks.innerHTML = data.append
      else if (data.append) blocks.insertAdjacentHTML('beforeend', data.append)
      element.querySelector('.md-tail').innerHTML = data.tail
      element.querySelector('.md-plain').textContent = ''
      state.renderSeq = data.seq
      markText(element)
    },

    // The finished message as the server renders it on reload.
    end(data) {
      const state = answerState(data.message_id)
      const element = bubble(data.message_id)
      if (state.done || !element) return
      state.done = true
      const finished = place(element, data.html)
      const question = finished.previousElementSibling
      if (question?.matches('[data-provisional][data-message-id]')) refreshMessage(question)
      const status = finished.dataset.status
      announcer.textContent = status === 'complete' ? 'Answer complete.'
        : status === 'stopped' ? 'Answer stopped.' : 'The answer failed.'
      refreshSidebar()
    },

    // Engine events (the socket feed, or this tab's own stream): plain text until the answer
    // ends, then the message as the server renders it; unless the rendered feed has it.
    raw(data, source) {
      if (data.type === 'command_error') return showError(data.error)
      const state = answerState(data.message_id)
      if (data.seq <= state.rawSeq) return
      state.rawSeq = data.seq
      if (data.type === 'start') return handlers.start(data, source)
      // Raw events come from the answer's start, so this is always its whole text so far.
      if (data.type === 'token') state.rawText += data.token
      else if (data.type === 'message') state.rawText = data.content
      if (state.rendered || state.done) return
      if (data.type === 'done' || data.type === 'error') return finishFromServer(data.message_id)
      // A rendered feed that is connecting will bring this answer itself, as HTML.
      if (source === 'post' && chat.feedMode !== 'ws' && chat.feedMode !== 'none') return
      const element = bubble(data.message_id)
      if (!element) return
      element.querySelector('.md-blocks').textContent = ''
      element.querySelector('.md-tail').textContent = ''
      element.querySelector('.md-plain').textContent = state.rawText
      markText(element)
    },
  }

  function markText(element) {
    const hasText = ['.md-blocks', '.md-tail', '.md-plain']
      .some((part) => element.querySelector(part).textContent !== '')
    element.classList.toggle('has-text', hasText)
  }

  async function refreshMessage(element) {
    const response = await fetch(`/m/${element.dataset.messageId}/`, { credentials: 'same-origin' })
    if (response.ok && element.isConnected) place(element, await response.text())
  }

  async function finishFromServer(messageId) {
    const response = await fetch(`/m/${messageId}/`, { credentials: 'same-origin' })
    if (response.ok) enqueue('end', { message_id: messageId, html: await response.text() })
  }

  async function reloadMessages() {
    const response = await fetch(`/c/${chat.conversationId}/messages/`, { credentials: 'same-origin' })
    if (!response.ok) return
    messages.innerHTML = await response.text()
    window.htmx?.process(messages)
    chat.stickToBottom = true
    afterChange()
  }

  function afterChange() {
    const streaming = messages.querySelector('.message.is-streaming')
    sendButton.hidden = Boolean(streaming)
    stopButton.hidden = !streaming
    stopButton.disabled = !streaming?.dataset.messageId
    sendButton.disabled = Boolean(streaming) || !input.value.trim()
    if (chat.stickToBottom) messages.scrollTop = messages.scrollHeight
  }

  // ---- Following the conversation ------------------------------------------------------

  function openFeed() {
    chat.source?.close()
    if (!chat.conversationId) return
    chat.feedMode = 'connecting'
    const source = new EventSource(`/c/${chat.conversationId}/events/`)
    let opened = false
    source.onopen = () => {
      opened = true
      chat.feedMode = 'sse'
      setStatus('')
    }
    source.onerror = () => {
      if (chat.leaving) return
      if (!opened || source.readyState === EventSource.CLOSED) {
        source.close()
        openSocket()
      } else {
        // EventSource reconnects by itself, with Last-Event-ID: nothing is lost.
        setStatus('Connection lost. Reconnecting…')
      }
    }
    for (const type of ['start', 'update', 'end']) {
      source.addEventListener(type, (event) => enqueue(type, JSON.parse(event.data)))
    }
    chat.source = source
  }

  function openSocket() {
    chat.feedMode = 'connecting'
    // Answers the rendered feed was showing now come as text: the socket sends them from
    // their start, and their final HTML is fetched when they end.
    for (const state of chat.answers.values()) state.rendered &&= state.done
    const scheme = location.protocol === 'https:' ? 'wss' : 'ws'
    const socket = new WebSocket(`${scheme}://${location.host}/ws/conversations/${chat.conversationId}/`)
    let opened = false
    socket.onopen = () => {
      opened = true
      chat.feedMode = 'ws'
      setStatus('')
      // Running answers come from their start anyway; this catches any that ended meanwhile.
      for (const [id, state] of chat.answers) {
        if (!state.done && bubble(id)) {
          socket.send(JSON.stringify({ type: 'resume', message_id: id, after: state.rawSeq }))
        }
      }
    }
    socket.onmessage = (event) => enqueue('raw', JSON.parse(event.data), 'ws')
    socket.onclose = () => {
      if (chat.leaving || chat.socket !== socket) return
      if (!opened) {
        chat.feedMode = 'none' // no live feed: a sending tab shows its own stream
        return
      }
      setStatus('Connection lost. Reconnecting…')
      setTimeout(openSocket, 1000)
    }
    chat.socket = socket
  }

  function setConversation(id) {
    chat.conversationId = id
    main.dataset.conversationId = id
    history.replaceState(null, '', `/c/${id}/`)
    openFeed()
    refreshSidebar()
  }

  // The list shows the new conversation, and the one just answered moves to the top.
  async function refreshSidebar() {
    // Not while someone is renaming or confirming a delete there.
    if (document.querySelector('#sidebar-list .is-editing, #sidebar-list .is-confirming')) return
    const id = chat.conversationId
    await window.htmx?.ajax('GET', `/sidebar/?current=${id}`, { target: '#sidebar-list', swap: 'outerHTML' })
    const title = document.querySelector('#sidebar-list [aria-current=page]')
    if (title) document.getElementById('chat-title').textContent = title.textContent
  }

  // ---- Starting answers ----------------------------------------------------------------

  function parseSse(block) {
    let id = ''
    let type = 'message'
    let data = ''
    for (const line of block.split('\n')) {
      if (!line || line.startsWith(':')) continue
      const colon = line.indexOf(':')
      const field = colon < 0 ? line : line.slice(0, colon)
      const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '')
      if (field === 'id') id = value
      else if (field === 'event') type = value
      else if (field === 'data') data += (data ? '\n' : '') + value
    }
    return data ? { ...JSON.parse(data), type, seq: Number(id) } : null
  }

  // Reads this tab's own answer stream until a feed follows the answer (then the stream is
  // let go: browsers allow six connections per server over HTTP/1.1, and the feed holds
  // one), or to its end if no feed picks it up. True once the answer has started.
  async function readAnswerStream(body) {
    const reader = body.getReader()
    const decoder = new TextDecoder()
    let buffer = ''
    let messageId = null
    try {
      for (;;) {
        const { value, done } = await reader.read()
        if (done) break
        buffer += decoder.decode(value, { stream: true })
        let end
        while ((end = buffer.indexOf('\n\n')) >= 0) {
          const event = parseSse(buffer.slice(0, end))
          buffer = buffer.slice(end + 2)
          if (!event) continue
          if (event.type === 'start') {
            messageId = event.message_id
            chat.readers.set(messageId, reader)
            if (!chat.conversationId) setConversation(event.conversation_id)
            if (answerState(messageId).followed) reader.cancel().catch(() => {})
          }
          enqueue('raw', { ...event, message_id: messageId }, 'post')
        }
      }
    } catch {
      // Let go because a feed follows the answer, or the connection dropped (a feed resumes).
    } finally {
      if (messageId) chat.readers.delete(messageId)
    }
    return messageId !== null
  }

  async function startAnswer(url, payload) {
    let response
    try {
      response = await postJson(url, { ...payload, stream: true, resumable: true })
    } catch {
      return answerWithoutStreaming(url, payload)
    }
    const type = response.headers.get('Content-Type') || ''
    if (response.ok && type.startsWith('text/event-stream') && response.body) {
      if (!(await readAnswerStream(response.body))) await failed('The answer stream broke off.')
      return
    }
    if (response.status >= 500 || !type.includes('json')) return answerWithoutStreaming(url, payload)
    const body = await response.json().catch(() => ({}))
    await failed(body.error?.message || `The request failed (${response.status}).`, payload.message)
  }

  async function answerWithoutStreaming(url, payload) {
    // The stream could not be opened: ask for the whole answer in one response instead.
    const plainUrl = url === '/api/v1/chat/stream' ? '/api/v1/chat' : url
    let body = {}
    try {
      const response = await postJson(plainUrl, { ...payload, stream: false })
      body = await response.json()
    } catch {
      return failed('Could not reach the server.', payload.message)
    }
    if (!body.conversation_id) return failed(body.error?.message || 'The request failed.', payload.message)
    if (!chat.conversationId) setConversation(body.conversation_id)
    await reloadMessages()
  }

  async function failed(text, unsentText) {
    showError(text)
    if (unsentText && !input.value) input.value = unsentText
    if (chat.conversationId) await reloadMessages()
    else messages.querySelectorAll('[data-placeholder]').forEach((element) => element.remove())
    afterChange()
  }

  function send() {
    const text = input.value
    if (!text.trim() || sendButton.disabled) return
    showError('')
    input.value = ''
    resizeInput()
    messages.querySelector('[data-empty]')?.remove()
    messages.append(placeholderUser(text), placeholder('placeholder-answer'))
    chat.stickToBottom = true
    afterChange()
    const payload = { message: text, model: modelPicker?.value || undefined }
    if (chat.conversationId) payload.conversation_id = chat.conversationId
    startAnswer('/api/v1/chat/stream', payload)
  }

  function regenerate(answer) {
    showError('')
    const fresh = placeholder('placeholder-answer')
    answer.replaceWith(fresh)
    removeAfter(fresh)
    chat.stickToBottom = true
    afterChange()
    const model = modelPicker?.value || undefined
    startAnswer(`/api/v1/messages/${answer.dataset.messageId}/regenerate`, { model })
  }

  function submitEdit(form) {
    const text = form.elements.message.value
    if (!text.trim()) return
    showError('')
    const user = placeholderUser(text)
    user.id = form.id
    form.replaceWith(user)
    removeAfter(user)
    user.after(placeholder('placeholder-answer'))
    afterChange()
    const model = modelPicker?.value || undefined
    startAnswer(`/api/v1/messages/${form.dataset.messageId}/edit`, { message: text, model })
  }

  async function stop() {
    const running = [...messages.querySelectorAll('.message.is-streaming[data-message-id]')]
    stopButton.disabled = true
    await Promise.all(running.map((element) =>
      postJson(`/api/v1/messages/${element.dataset.messageId}/stop`).catch(() => null)))
    // The rendered feed brings the final message by itself; otherwise fetch it.
    for (const { dataset } of running) {
      if (!answerState(dataset.messageId).rendered) finishFromServer(dataset.messageId)
    }
  }

  // ---- Copying -------------------------------------------------------------------------

  async function copy(text, button) {
    try {
      await navigator.clipboard.writeText(text)
    } catch {
      // Plain-http pages other than localhost have no clipboard API.
      const area = Object.assign(document.createElement('textarea'), { value: text })
      document.body.append(area)
      area.select()
      document.execCommand('copy')
      area.remove()
    }
    const label = button.textContent
    button.textContent = 'Copied'
    setTimeout(() => { button.textContent = label }, 1500)
  }

  function messageText(element) {
    const source = element.querySelector('template.message__source')
    return source ? source.content.textContent : element.querySelector('.message__body').innerText
  }

  // ---- Wiring ----------------------------------------------------------------------------

  function resizeInput() {
    input.style.height = 'auto'
    input.style.height = `${input.scrollHeight + 2}px`
  }

  input.addEventListener('input', () => {
    resizeInput()
    afterChange()
  })
  composer.addEventListener('submit', (event) => {
    event.preventDefault()
    send()
  })
  stopButton.addEventListener('click', stop)

  document.addEventListener('keydown', (event) => {
    // Escape closes the conversation list on a phone.
    if (event.key === 'Escape' && document.getElementById('sidebar').classList.contains('is-open')) {
      document.querySelector('[data-action=toggle-sidebar]').click()
    }
    // Enter sends, Shift+Enter is a new line (and Enter while composing with an IME is not).
    if (event.key === 'Enter' && !event.shiftKey && !event.isComposing &&
        event.target.matches('textarea[data-enter-sends]')) {
      event.preventDefault()
      event.target.form.requestSubmit()
    }
  })

  document.addEventListener('submit', (event) => {
    if (!event.target.matches('.edit-form')) return
    event.preventDefault()
    submitEdit(event.target)
  })

  document.addEventListener('click', (event) => {
    const button = event.target.closest('[data-action], .code-block__copy')
    if (!button) return
    const message = button.closest('.message')
    if (button.matches('.code-block__copy')) {
      copy(button.closest('.code-block').querySelector('pre').textContent, button)
    } else if (button.dataset.action === 'copy-message') {
      copy(messageText(message), button)
    } else if (button.dataset.action === 'regenerate') {
      regenerate(message)
    } else if (button.dataset.action === 'toggle-sidebar') {
      const open = document.getElementById('sidebar').classList.toggle('is-open')
      button.setAttribute('aria-expanded', String(open))
    }
  })

  // Follow the newest text unless the reader scrolled up to read something earlier.
  messages.addEventListener('scroll', () => {
    const distance = messages.scrollHeight - messages.scrollTop - messages.clientHeight
    chat.stickToBottom = distance < 48
    jumpButton.hidden = chat.stickToBottom
  }, { passive: true })
  jumpButton.addEventListener('click', () => {
    chat.stickToBottom = true
    jumpButton.hidden = true
    afterChange()
  })

  window.addEventListener('pagehide', () => { chat.leaving = true })

  openFeed()
  afterChange()
}
