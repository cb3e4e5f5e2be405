// The courier's app: check the code read out at the door; report a failed attempt.
// A verification is never queued: it is retried with its Idempotency-Key until answered or given up,
// and its code lives only in a variable meanwhile. A failed-attempt report (no code in it) waits in
// localStorage when the network is gone, with its key and the issue number it was made against.
import { accessToken, completeSignIn, signIn, signOut, signedIn } from "./auth.js";
import { pending, forget, keep } from "./pending.js";

const config = JSON.parse(document.getElementById("config").textContent);
const strings = JSON.parse(document.getElementById("strings").textContent);
const $ = (id) => document.getElementById(id);
const say = (key, values = {}) => strings[key].replace(/\{(\w+)\}/g, (_, name) => values[name]);
const issues = new Map(); // delivery id -> issue number its code was at when last looked up
let giveUp = null;

class Offline extends Error {}

function show(key, tone, values) {
  const result = $("result");
  result.className = `result ${tone}`;
  result.textContent = say(key, values);
}

// A request that gets no answer within this long counts as lost: a dropped connection often hangs
// instead of failing, and the courier must see that the app is checking again.
const ANSWER_WITHIN_MS = 10000;

async function call(method, path, { body, key } = {}) {
  let token = await accessToken(config).catch(() => { throw new Offline(); });
  for (let round = 0; round < 2; round += 1) {
    if (!token) return { status: 401, body: {} };
    const headers = { Authorization: `Bearer ${token}` };
    if (body) headers["Content-Type"] = "application/json";
    if (key) headers["Idempotency-Key"] = key;
    let answer;
    const timeout = new AbortController();
    const timer = setTimeout(() => timeout.abort(), ANSWER_WITHIN_MS);
    try {
      answer = await fetch(`${config.base}${path}`, {
        method, headers, body: body && JSON.stringify(body), signal: timeout.signal,
      });
    } catch {
      throw new Offline();
    } finally {
      clearTimeout(timer);
    }
    if (answer.status === 401 && round === 0) {
      token = await accessToken(config, { refresh: true }).catch(() => null);
      continue;
    }
    return { status: answer.status, body: await answer.json().catch(() => ({})) };
  }
  return { status: 401, body: {} };
}

const deliveryPath = (id) => `/deliveries/${encodeURIComponent(id)}`;

// -- verification ------------------------------------------------------------------------------

function showVerdict({ status, body }) {
  const result = body.result;
  if (result === "ACCEPTED") return show("ACCEPTED", "ok");
  if (result === "REJECTED") return show("REJECTED", "bad", { n: body.wrong_attempts_left });
  if (result === "LOCKED" || result === "EXPIRED") return show(result, "bad");
  if (result === "ALREADY_DELIVERED") return show(result, "warn");
  if (status === 404) return show("NOT_FOUND", "bad");
  if (status === 429) return show("TOO_MANY", "bad");
  if (status === 400 || status === 422) return show("BAD_CODE", "bad");
  if (status === 401 || status === 403) return showSignedOut();
  return show("ERROR", "bad");
}

async function verify(event) {
  event.preventDefault();
  const id = $("delivery-id").value.trim();
  let code = $("code").value.replace(/\s+/g, "");
  if (!id) return show("BAD_ID", "bad");
  if (!/^[0-9]{6}$/.test(code)) return show("BAD_CODE", "bad");
  $("code").value = "";
  const key = crypto.randomUUID();
  let wait = 500;
  let stopped = false;
  let answered = false;
  giveUp = () => { stopped = true; };
  $("verify").disabled = true;
  try {
    while (!stopped) {
      try {
        const answer = await call("POST", `${deliveryPath(id)}/verifications`, { body: { code }, key });
        // A gateway's 5xx is no verdict: the same request, with the same key, is asked again.
        if (answer.status >= 500 && !answer.body.result) throw new Offline();
        answered = true;
        showVerdict(answer);
        break;
      } catch (error) {
        if (!(error instanceof Offline)) throw error;
        $("checking").hidden = false;
        show("CHECKING", "warn");
        await pause(wait);
        wait = Math.min(wait * 2, 5000);
      }
    }
    // An answer that came after "give up" was pressed still stands: the parcel may have been delivered.
    if (stopped && !answered) show("GAVE_UP", "bad");
  } finally {
    code = null;
    giveUp = null;
    $("checking").hidden = true;
    $("verify").disabled = false;
  }
}

// Waits for the back-off, cut short when the device comes back online or the courier gives up.
function pause(ms) {
  return new Promise((resolve) => {
    const done = () => { clearTimeout(timer); removeEventListener("online", done); resolve(); };
    const timer = setTimeout(done, ms);
    addEventListener("online", done);
    const previous = giveUp;
    giveUp = () => { previous(); done(); };
  });
}

// -- failed attempts ---------------------------------------------------------------------------

async function lookUp() {
  const id = $("delivery-id").value.trim();
  if (!id || issues.has(id)) return;
  try {
    const { status, body } = await call("GET", `${deliveryPath(id)}/door`);
    if (status === 200) issues.set(id, body.issue_number);
    else if (status === 404) show("NOT_FOUND", "bad");
  } catch {
    // Offline: the issue number stays unknown until the next look-up.
  }
}

async function report(outcome) {
  const id = $("delivery-id").value.trim();
  if (!id) return show("BAD_ID", "bad");
  await lookUp();
  if (!issues.has(id)) return show("NO_ISSUE", "warn");
  const item = { key: crypto.randomUUID(), delivery_id: id, outcome, issue_number: issues.get(id) };
  keep(item);
  renderPending();
  await send(item, true);
}

// Sends one waiting report; true when it is settled (answered, whatever the answer).
async function send(item, speak) {
  let answer;
  try {
    answer = await call("POST", `${deliveryPath(item.delivery_id)}/attempts`, {
      body: { outcome: item.outcome, issue_number: item.issue_number },
      key: item.key,
    });
  } catch {
    if (speak) show("QUEUED", "warn");
    return false;
  }
  if (answer.status === 401 || answer.status >= 500) {
    if (speak) show(answer.status === 401 ? "SIGNED_OUT" : "QUEUED", "warn");
    return false;
  }
  forget(item.key);
  renderPending();
  issues.delete(item.delivery_id);
  if (answer.status === 200) show("REPORTED", "ok", { date: answer.body.next_delivery_date });
  else if (answer.body.error && answer.body.error.code === "STALE_ATTEMPT") show("STALE", "bad");
  else if (answer.status === 404) show("NOT_FOUND", "bad");
  else show("REFUSED", "bad");
  return true;
}

let flushing = false;
async function flush() {
  if (flushing || !signedIn()) return;
  flushing = true;
  try {
    for (const item of pending()) if (!(await send(item, false))) break;
  } finally {
    flushing = false;
  }
}

function renderPending() {
  const items = pending();
  $("pending").hidden = items.length === 0;
  $("pending-list").replaceChildren(
    ...items.map((item) => {
      const li = document.createElement("li");
      li.textContent = say("PENDING_ITEM", { id: item.delivery_id, outcome: strings[item.outcome] });
      return li;
    }),
  );
}

// -- scanning ------------------------------------------------------------------------------------

async function scan() {
  const video = $("scan-video");
  let stream;
  try {
    stream = await navigator.mediaDevices.getUserMedia({ video: { facingMode: "environment" } });
    video.srcObject = stream;
    video.hidden = false;
    await video.play();
    const detector = new BarcodeDetector();
    for (let tries = 0; tries < 100; tries += 1) {
      const [found] = await detector.detect(video);
      if (found) {
        $("delivery-id").value = found.rawValue.trim();
        lookUp();
        $("code").focus();
        return;
      }
      await new Promise((resolve) => requestAnimationFrame(resolve));
    }
    show("SCAN_FAILED", "warn");
  } catch {
    show("SCAN_FAILED", "warn");
  } finally {
    if (stream) stream.getTracks().forEach((track) => track.stop());
    video.hidden = true;
  }
}

// -- screens -------------------------------------------------------------------------------------

function showSignedOut() {
  signOut();
  $("verify-screen").hidden = true;
  $("signin-screen").hidden = false;
  show("SIGNED_OUT", "warn");
}

async function start() {
  $("signin").addEventListener("click", () => signIn(config));
  await completeSignIn(config).catch(() => {});
  if (!signedIn()) {
    $("signin-screen").hidden = false;
    return;
  }
  $("verify-screen").hidden = false;
  $("verify-form").addEventListener("submit", (event) => verify(event).catch(() => show("ERROR", "bad")));
  $("give-up").addEventListener("click", () => giveUp && giveUp());
  $("delivery-id").addEventListener("change", lookUp);
  for (const button of document.querySelectorAll("[data-outcome]")) {
    button.addEventListener("click", () => report(button.dataset.outcome));
  }
  $("signout").addEventListener("click", () => {
    signOut();
    location.reload();
  });
  if ("BarcodeDetector" in window) {
    $("scan").hidden = false;
    $("scan").addEventListener("click", scan);
  }
  renderPending();
  addEventListener("online", flush);
  setInterval(flush, 5000);
  flush();
}

if ("serviceWorker" in navigator) navigator.serviceWorker.register("sw.js", { scope: "./" }).catch(() => {});
start();
