// Keeps the app's own files for an offline start. Only these files: never an API answer, never a page
// with a query string (a sign-in's return carries a code), never anything but a GET.
const CACHE = "courier-app-v1";
const SHELL = ["./", "app.js", "auth.js", "pending.js", "app.css", "manifest.webmanifest", "icon.svg"];

self.addEventListener("install", (event) => {
  event.waitUntil(caches.open(CACHE).then((cache) => cache.addAll(SHELL)).then(() => self.skipWaiting()));
});

self.addEventListener("activate", (event) => {
  event.waitUntil(
    caches.keys()
      .then((names) => Promise.all(names.filter((name) => name !== CACHE).map((name) => caches.delete(name))))
      .then(() => self.clients.claim()),
  );
});

const shellUrls = () => new Set(SHELL.map((path) => new URL(path, self.registration.scope).href));

self.addEventListener("fetch", (event) => {
  const url = new URL(event.request.url);
  if (event.request.method !== "GET" || url.search || !shellUrls().has(url.origin + url.pathname)) return;
  // Network first, so a new version shows at once; the kept copy when the network is gone.
  event.respondWith(
    fetch(event.request)
      .then((answer) => {
        if (answer.ok) {
          const copy = answer.clone();
          caches.open(CACHE).then((cache) => cache.put(url.origin + url.pathname, copy));
        }
        return answer;
      })
      .catch(() => caches.match(url.origin + url.pathname)),
  );
});
