// Requests to our own server, with the session cookie and Django's CSRF token.

const csrfToken = () => document.querySelector('meta[name="csrf-token"]').content

export function postJson(url, body) {
  return fetch(url, {
    method: 'POST',
    credentials: 'same-origin',
    headers: { 'Content-Type': 'application/json', 'X-CSRFToken': csrfToken() },
    body: JSON.stringify(body ?? {}),
  })
}

// A piece of the page as the server renders it; null if the server said no. Rejects
// when the server cannot be reached.
export async function getHtml(url) {
  const response = await fetch(url, { credentials: 'same-origin' })
  return response.ok ? response.text() : null
}
