// Copy buttons: on every finished message, and on every code block.

export function wireCopyButtons() {
  document.addEventListener('click', (event) => {
    const button = event.target.closest('.code-block__copy, [data-action=copy-message]')
    if (!button) return
    const text = button.matches('.code-block__copy')
      ? button.closest('.code-block').querySelector('pre').textContent
      : messageText(button.closest('.message'))
    copy(text, button)
  })
}

// The message as written (markdown for an answer), not as shown.
function messageText(element) {
  const source = element.querySelector('template.message__source')
  return source ? source.content.textContent : element.querySelector('.message__body').innerText
}

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
