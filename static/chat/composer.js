// The controls: the message box and its buttons (Send, Stop), Regenerate, Edit's form,
// and the keys (Enter sends, Shift+Enter adds a line, Esc in the box stops an answer).

import { placeholderAnswer, placeholderQuestion, removeAfter } from './dom.js'
import { announce } from './status.js'

export class Composer {
  constructor({ messages, urls, answers, requests, stopper, conversation, follow }) {
    Object.assign(this, { messages, urls, answers, requests, stopper, conversation, follow })
    this.form = document.getElementById('composer')
    this.input = document.getElementById('composer-input')
    this.sendButton = document.getElementById('send-button')
    this.stopButton = document.getElementById('stop-button')
    this.stopLabel = this.stopButton.querySelector('.button__label')
    this.modelPicker = document.getElementById('model-picker')
    this.error = document.getElementById('composer-error')
    this.#wire()
  }

  // Send or Stop, as the page now stands.
  refresh() {
    const streaming = this.messages.querySelector('.message.is-streaming')
    const running = [...this.messages.querySelectorAll('.message.is-streaming[data-message-id]')]
    const stopping = running.length > 0 &&
      running.every((element) => this.answers.isStopping(element.dataset.messageId))
    this.sendButton.hidden = Boolean(streaming)
    this.stopButton.hidden = !streaming
    this.stopButton.disabled = !streaming?.dataset.messageId || stopping
    this.stopButton.classList.toggle('is-stopping', stopping)
    this.stopLabel.textContent = stopping ? 'Stopping…' : 'Stop'
    this.sendButton.disabled = Boolean(streaming) || !this.input.value.trim()
    this.follow.follow()
  }

  showError(text) {
    this.error.textContent = text
  }

  // A request for an answer failed: say so, and give back the text that was not sent.
  async failed(text, unsentText) {
    this.showError(text)
    if (unsentText && !this.input.value) this.input.value = unsentText
    if (this.conversation.id) await this.conversation.reloadMessages()
    else this.messages.querySelectorAll('[data-placeholder]').forEach((element) => element.remove())
    this.refresh()
  }

  send() {
    const text = this.input.value
    if (!text.trim() || this.sendButton.disabled) return
    this.input.value = ''
    this.#resize()
    this.messages.querySelector('[data-empty]')?.remove()
    this.messages.append(placeholderQuestion(text), placeholderAnswer())
    this.#asking()
    const payload = { message: text, model: this.#model() }
    if (this.conversation.id) payload.conversation_id = this.conversation.id
    this.requests.start({ url: this.urls.chatStream, plainUrl: this.urls.chat }, payload)
  }

  regenerate(answer) {
    const fresh = placeholderAnswer()
    answer.replaceWith(fresh)
    removeAfter(fresh)
    this.#asking()
    const url = this.urls.regenerate(answer.dataset.messageId)
    this.requests.start({ url }, { model: this.#model() })
  }

  submitEdit(form) {
    const text = form.elements.message.value
    if (!text.trim()) return
    const question = placeholderQuestion(text)
    question.id = form.id
    form.replaceWith(question)
    removeAfter(question)
    question.after(placeholderAnswer())
    this.#asking()
    const url = this.urls.edit(form.dataset.messageId)
    this.requests.start({ url }, { message: text, model: this.#model() })
  }

  // Stops every answer streaming on the page; the box gets the focus back.
  stop() {
    const running = [...this.messages.querySelectorAll('.message.is-streaming[data-message-id]')]
    if (this.stopper.stop(running.map((element) => element.dataset.messageId))) {
      announce('Stopping…')
    }
    this.input.focus()
    this.refresh()
  }

  #asking() {
    this.showError('')
    this.follow.stick()
    this.refresh()
  }

  #model() {
    return this.modelPicker?.value || undefined
  }

  #resize() {
    this.input.style.height = 'auto'
    this.input.style.height = `${this.input.scrollHeight + 2}px`
  }

  #wire() {
    this.input.addEventListener('input', () => {
      this.#resize()
      this.refresh()
    })
    this.form.addEventListener('submit', (event) => {
      event.preventDefault()
      this.send()
    })
    this.stopButton.addEventListener('click', () => this.stop())
    document.addEventListener('keydown', (event) => {
      if (event.isComposing) return // an IME is composing: its keys are not ours
      // Enter sends (the box, an edit form), Shift+Enter is a new line.
      if (event.key === 'Enter' && !event.shiftKey && event.target.matches('textarea[data-enter-sends]')) {
        event.preventDefault()
        event.target.form.requestSubmit()
      }
      if (event.key === 'Escape' && this.form.contains(event.target) && !this.stopButton.hidden) {
        event.preventDefault()
        this.stop()
      }
    })
    document.addEventListener('submit', (event) => {
      if (!event.target.matches('.edit-form')) return
      event.preventDefault()
      this.submitEdit(event.target)
    })
    document.addEventListener('click', (event) => {
      const button = event.target.closest('[data-action=regenerate]')
      if (button) this.regenerate(button.closest('.message'))
    })
  }
}
