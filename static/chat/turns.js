// A turn on the page: a question and the answer under it. This tab shows its own copies
// (placeholders) at once when it asks; the server's messages replace them as they come.

import { bubble, fromHtml, place, placeholderAnswer, removeAfter } from './dom.js'

// An answer has started: its question and bubble, from the server's HTML when the event
// carries it (the rendered feed), else this tab's placeholders, adopted. Messages after
// the question are dropped (a regenerated or edited turn).
export function startTurn(messages, data) {
  messages.querySelector('[data-empty]')?.remove()
  let question = bubble(data.user_message_id) ??
    messages.querySelector('[data-placeholder][data-role=user]')
  if (data.user_html) {
    question = question ? place(question, data.user_html) : appendHtml(messages, data.user_html)
  } else if (question?.matches('[data-placeholder]') && data.user_message_id) {
    adoptQuestion(question, data.user_message_id)
  }
  let answer = bubble(data.message_id)
  if (answer && data.answer_html && answer.matches('.is-streaming:not(.has-text)')) {
    answer = place(answer, data.answer_html) // the server's bubble names the model
  }
  if (!answer) {
    answer = messages.querySelector('[data-placeholder][data-role=assistant]') ??
      (data.answer_html ? fromHtml(data.answer_html) : placeholderAnswer())
    answer.id = `message-${data.message_id}`
    answer.dataset.messageId = data.message_id
    delete answer.dataset.placeholder
  }
  if (question) {
    removeAfter(question, answer)
    if (question.nextElementSibling !== answer) question.after(answer)
  } else if (!answer.isConnected) {
    messages.append(answer)
  }
}

// This tab's copy of the question now stands for the saved message, until the server's
// copy (with its actions: Copy, Edit) replaces it, at the latest with the finished answer.
function adoptQuestion(question, id) {
  question.id = `message-${id}`
  question.dataset.messageId = id
  question.dataset.provisional = ''
  delete question.dataset.placeholder
}

// The id of the question above this answer while the page shows this tab's own copy of
// it, else null.
export function provisionalQuestionOf(answerId) {
  const question = bubble(answerId)?.previousElementSibling
  return question?.matches('[data-provisional][data-message-id]') ? question.dataset.messageId : null
}

// The finished answer as a reload shows it, and its question too if `data.user_html`
// brings it: both in the same frame.
export function finishTurn(element, data) {
  const finished = place(element, data.html)
  const question = bubble(data.user_message_id)
  if (data.user_html && question?.matches('[data-provisional]')) place(question, data.user_html)
  return finished
}

function appendHtml(messages, html) {
  const element = messages.appendChild(fromHtml(html))
  window.htmx?.process(element)
  return element
}
