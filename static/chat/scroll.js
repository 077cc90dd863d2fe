// The view follows the newest text unless the reader scrolled up to read something
// earlier; then a "Latest" button brings it back.

const NEAR_BOTTOM_PX = 48

export class FollowLatest {
  sticking = true

  constructor(messages, jumpButton) {
    this.messages = messages
    messages.addEventListener('scroll', () => {
      const distance = messages.scrollHeight - messages.scrollTop - messages.clientHeight
      this.sticking = distance < NEAR_BOTTOM_PX
      jumpButton.hidden = this.sticking
    }, { passive: true })
    jumpButton.addEventListener('click', () => {
      jumpButton.hidden = true
      this.stick()
    })
  }

  // Follow from now on (this tab asked something, or the reader wants the latest).
  stick() {
    this.sticking = true
    this.follow()
  }

  follow() {
    if (this.sticking) this.messages.scrollTop = this.messages.scrollHeight
  }
}
