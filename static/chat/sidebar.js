// The conversation list: refreshed when a conversation starts or an answer ends (the one
// just answered moves to the top), and opened from the top bar on a phone.

export class Sidebar {
  constructor(urls) {
    this.urls = urls
    this.element = document.getElementById('sidebar')
    document.addEventListener('click', (event) => {
      const toggle = event.target.closest('[data-action=toggle-sidebar]')
      if (!toggle) return
      const open = this.element.classList.toggle('is-open')
      toggle.setAttribute('aria-expanded', String(open))
    })
    // Escape closes the list on a phone.
    document.addEventListener('keydown', (event) => {
      if (event.key === 'Escape' && this.element.classList.contains('is-open')) {
        document.querySelector('[data-action=toggle-sidebar]').click()
      }
    })
  }

  async refresh(currentId) {
    // Not while someone is renaming or confirming a delete there.
    if (document.querySelector('#sidebar-list .is-editing, #sidebar-list .is-confirming')) return
    const target = { target: '#sidebar-list', swap: 'outerHTML' }
    await window.htmx?.ajax('GET', this.urls.sidebar(currentId), target)
    const title = document.querySelector('#sidebar-list [aria-current=page]')
    if (title) document.getElementById('chat-title').textContent = title.textContent
  }
}
