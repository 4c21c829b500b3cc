// hardening demo app front end: lists items, keeps unsent ones in localStorage while
// offline (fallback storage) and echoes a WebSocket greeting.
const API_BASE = "{{api_base}}";
const WS_URL = "{{ws_url}}";
const PENDING = "hardening-demo-pending";

async function loadItems() {
  const response = await fetch(API_BASE + "/items", { credentials: "same-origin" });
  const body = await response.json();
  const list = document.getElementById("items");
  list.replaceChildren(...body.items.map((item) => {
    const li = document.createElement("li");
    li.textContent = JSON.stringify(item);
    return li;
  }));
}

async function addItem(item) {
  try {
    await fetch(API_BASE + "/items", { method: "POST", body: JSON.stringify(item) });
  } catch (error) {
    const pending = JSON.parse(localStorage.getItem(PENDING) || "[]");
    pending.push(item);
    localStorage.setItem(PENDING, JSON.stringify(pending));
  }
}

async function flushPending() {
  const pending = JSON.parse(localStorage.getItem(PENDING) || "[]");
  localStorage.removeItem(PENDING);
  for (const item of pending) {
    await addItem(item);
  }
}

function connect() {
  const socket = new WebSocket(WS_URL);
  const status = document.getElementById("ws-status");
  socket.onopen = () => socket.send("hello");
  socket.onmessage = (event) => { status.textContent = "WebSocket: " + event.data; };
  socket.onclose = () => { status.textContent = "WebSocket: closed"; };
}

window.addEventListener("online", flushPending);
window.addItem = addItem;
loadItems().catch(() => {});
connect();
