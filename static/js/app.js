// Polling is the fallback while the websocket is down: status partials poll with the
// trigger filter [!window.dailiesSocketOpen].
window.dailiesSocketOpen = false;
document.addEventListener("htmx:wsOpen", () => { window.dailiesSocketOpen = true; });
document.addEventListener("htmx:wsClose", () => { window.dailiesSocketOpen = false; });
document.addEventListener("htmx:wsError", () => { window.dailiesSocketOpen = false; });
