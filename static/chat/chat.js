// chatsite's browser side: send, follow answers live, stop, retry, edit, copy. No build
// step: the browser loads these ES modules as they are (docs/architecture.md, "Browser").
//
//   delivery/feeds.js     the conversation's feeds: rendered (EventSource), else WebSocket
//   delivery/requests.js  asking for an answer: this tab's own stream, else one request
//   sse.js                event streams read from a fetch() body
//   answer.js             one answer's state on the page, with named transitions
//   painter.js            applies what arrives, once per animation frame
//   turns.js · parts/     a question and its answer; the answer's text and cursor
//   composer.js · stop.js the controls; a Stop that always lands
//   conversation.js · sidebar.js · scroll.js · copy.js · status.js · urls.js · http.js · dom.js

import { Answers } from './answer.js'
import { Composer } from './composer.js'
import { Conversation } from './conversation.js'
import { wireCopyButtons } from './copy.js'
import { Feeds } from './delivery/feeds.js'
import { AnswerRequests } from './delivery/requests.js'
import { Painter } from './painter.js'
import { FollowLatest } from './scroll.js'
import { Sidebar } from './sidebar.js'
import { ConnectionNotice, announce } from './status.js'
import { Stopper } from './stop.js'
import { readUrls } from './urls.js'

const ENDED = { complete: 'Answer complete.', stopped: 'Answer stopped.' }

const main = document.querySelector('main.chat')
if (main) startChat(main)

function startChat(main) {
  const urls = readUrls(main.dataset)
  const messages = document.getElementById('messages')
  const answers = new Answers()
  const sidebar = new Sidebar(urls)
  const follow = new FollowLatest(messages, document.getElementById('jump-to-latest'))
  // The composer is made last and the painter calls it: the pieces below refer to each
  // other only through these callbacks.
  let composer = null
  const painter = new Painter({
    messages,
    answers,
    urls,
    ownStreamShows: () => feeds.ownStreamShows,
    onPainted: () => composer.refresh(),
    onEnded(status) {
      announce(ENDED[status] ?? 'The answer failed.')
      sidebar.refresh(conversation.id)
    },
    onCommandError: (text) => composer.showError(text),
  })
  const feeds = new Feeds({ urls, answers, painter })
  const notice = new ConnectionNotice(document.getElementById('connection-status'), () => feeds.connected)
  feeds.addEventListener('connected', () => notice.connected())
  feeds.addEventListener('lost', () => notice.lost())
  const conversation = new Conversation({
    main,
    messages,
    urls,
    feeds,
    sidebar,
    onReloaded() {
      follow.stick()
      composer.refresh()
    },
  })
  const requests = new AnswerRequests({
    answers,
    painter,
    conversation,
    onFailed: (text, unsentText) => composer.failed(text, unsentText),
  })
  const stopper = new Stopper({ urls, answers, painter, feeds })
  composer = new Composer({ messages, urls, answers, requests, stopper, conversation, follow })
  wireCopyButtons()

  feeds.open(conversation.id)
  composer.refresh()
}
