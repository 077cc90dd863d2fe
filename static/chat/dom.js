// Putting server-made HTML in place. The server renders every piece of HTML (markdown is
// sanitised there); the scripts only move it around.

export function fromHtml(html) {
  const holder = document.createElement('template')
  holder.innerHTML = html.trim()
  return holder.content.firstElementChild
}

// Replaces `element` with the server's HTML, and lets htmx wire what it carries (hx-*
// attributes: Edit, Cancel).
export function place(element, html) {
  const fresh = fromHtml(html)
  element.replaceWith(fresh)
  window.htmx?.process(fresh)
  return fresh
}

// A copy of one of the page's <template id="placeholder-…">: a message before the server
// has answered.
export function placeholder(templateId) {
  return document.getElementById(templateId).content.firstElementChild.cloneNode(true)
}

export function placeholderQuestion(text) {
  const question = placeholder('placeholder-user')
  question.querySelector('.message__text').textContent = text
  return question
}

export const placeholderAnswer = () => placeholder('placeholder-answer')

export function removeAfter(element, keep = null) {
  while (element.nextElementSibling && element.nextElementSibling !== keep) {
    element.nextElementSibling.remove()
  }
}

export const bubble = (id) => (id ? document.getElementById(`message-${id}`) : null)
