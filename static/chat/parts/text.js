// An answer's text while it streams: the rendered feed's HTML, or plain text from engine
// events, and the blinking cursor at its end. (Other kinds of part, such as reasoning or
// tool calls, get a module of their own beside this one.)
//
// A streaming bubble holds three containers (templates/chat/_answer_skeleton.html):
// .md-blocks (finished blocks, only ever appended to), .md-tail (the open block, replaced
// each time) and .md-plain (the text as typed, when no rendered feed has the answer).

// The rendered feed's update: completed blocks appended, the open block replaced.
export function paintRendered(element, { reset, append, tail }) {
  const blocks = element.querySelector('.md-blocks')
  if (reset) blocks.innerHTML = append
  else if (append) blocks.insertAdjacentHTML('beforeend', append)
  element.querySelector('.md-tail').innerHTML = tail
  element.querySelector('.md-plain').textContent = ''
  markText(element)
}

// The whole text so far, as plain text (never HTML: the server has not rendered it).
export function paintPlain(element, text) {
  element.querySelector('.md-blocks').textContent = ''
  element.querySelector('.md-tail').textContent = ''
  element.querySelector('.md-plain').textContent = text
  markText(element)
}

function markText(element) {
  const hasText = ['.md-blocks', '.md-tail', '.md-plain']
    .some((part) => element.querySelector(part).textContent !== '')
  element.classList.toggle('has-text', hasText)
  placeCursor(element)
}

// The cursor lies over the text, after its last character: it is positioned, never
// inserted into the text, so it cannot reflow or move anything.
function placeCursor(element) {
  const body = element.querySelector('.message__body')
  const end = endOfText(body)
  let cursor = body.querySelector(':scope > .stream-cursor')
  if (!end) {
    cursor?.remove()
    return
  }
  if (!cursor) {
    cursor = document.createElement('span')
    cursor.className = 'stream-cursor'
    cursor.setAttribute('aria-hidden', 'true')
    body.append(cursor)
  }
  const range = document.createRange()
  range.setStart(end.node, end.offset)
  range.collapse(true)
  const rects = range.getClientRects()
  const at = rects.length ? rects[rects.length - 1] : range.getBoundingClientRect()
  const origin = body.getBoundingClientRect()
  cursor.style.left = `${at.right - origin.left}px`
  cursor.style.top = `${at.top - origin.top}px`
  cursor.style.height = `${at.height}px`
}

// The last visible character of the answer: in the plain text if that is what shows,
// else in the open block, else in the finished blocks.
function endOfText(body) {
  for (const part of ['.md-plain', '.md-tail', '.md-blocks']) {
    const container = body.querySelector(part)
    const walker = document.createTreeWalker(container, NodeFilter.SHOW_TEXT)
    let deepest = container
    while (deepest.lastChild) deepest = deepest.lastChild
    walker.currentNode = deepest
    let node = deepest.nodeType === Node.TEXT_NODE ? deepest : walker.previousNode()
    while (node && !node.data.trim()) node = walker.previousNode()
    if (node) return { node, offset: node.data.trimEnd().length }
  }
  return null
}
