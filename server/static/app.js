// The caption page: microphone -> AudioWorklet (PCM16, 100 ms frames) -> /v1/stream -> captions.
// No build step and no CDN: plain ES modules served by `asr serve` itself.
//
// Connection states, each shown the same way in the header's indicator, the status line and the
// error banner (one function sets all three, so they never disagree):
//   idle -> connecting -> live, and on a lost connection reconnecting -> connecting -> live ...,
//   forever, with backoff capped at 30 s; stopped when the user presses Stop.
import { clock, toSrt, toText, toVtt } from "./transcript.js";

const $ = (id) => document.getElementById(id);
const ui = {
  start: $("start"), stop: $("stop"), connection: $("connection"), status: $("status"), error: $("error"), note: $("note"),
  captions: $("captions"), finals: $("finals"), partial: $("partial"), level: $("level-bar"), meter: document.querySelector(".level"),
  copy: $("copy"), clear: $("clear"), smaller: $("smaller"), larger: $("larger"), theme: $("theme"),
};
const FRAME_SECONDS = 0.1; // each worklet frame
const RECONNECT_FIRST_MS = 1000;
const RECONNECT_MAX_MS = 30000;
const MAX_PENDING_FRAMES = 300; // 30 s of audio kept while (re)connecting; older frames are dropped
const FONT_SIZES_REM = [1.25, 1.5, 1.75, 2, 2.5, 3, 3.5, 4];
const DEFAULT_FONT_SIZE = 3; // index: 2 rem
const LEVEL_FLOOR_DB = -60; // the meter's empty end; 0 dBFS is full
const INDICATOR = { idle: "Not connected", connecting: "Connecting", live: "Connected", reconnecting: "Reconnecting", stopped: "Stopped" };

let audio = null;       // { context, stream, node } while the microphone is open
let socket = null;      // the current session's websocket
let attempts = 0;       // reconnects tried since the last session that got ready
let retryTimer = null;
let stopping = false;   // the user pressed Stop: a closing socket is expected
let pending = [];       // frames captured while no session is ready, sent when one is
let sessionSeconds = 0; // audio sent in the current session
let offsetSeconds = 0;  // audio sent in earlier sessions: the current session's times start there
const captions = [];    // { start, end, text, words } finals, in page time (seconds since Start, across sessions)

function show(state, status, error = "") {
  ui.connection.dataset.state = state;
  ui.connection.textContent = INDICATOR[state];
  ui.status.textContent = status;
  ui.error.textContent = error;
  ui.error.hidden = !error;
  keepInView(); // the header may have grown
}

function note(text) { ui.note.textContent = text; }

function streamUrl() {
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  const token = new URLSearchParams(location.search).get("token");
  return `${scheme}://${location.host}/v1/stream` + (token ? `?token=${encodeURIComponent(token)}` : "");
}

// ---------------------------------------------------------------- captions

function keepInView() {
  if (ui.finals.lastElementChild) ui.partial.scrollIntoView({ block: "end" }); // the partial sits below the newest final
}

function addCaption(caption, unfinished = false) {
  captions.push(caption);
  const item = document.createElement("li");
  item.className = unfinished ? "final unfinished" : "final";
  const time = document.createElement("time");
  time.textContent = `${clock(caption.start)} – ${clock(caption.end)}` + (unfinished ? " (cut off)" : "");
  item.append(time, document.createTextNode(caption.text));
  ui.finals.append(item);
  keepInView();
}

/** A final from the server -> a caption spanning its words (times moved to page time). */
function addFinal(message) {
  ui.partial.textContent = "";
  if (!message.text) return;
  const words = (message.words || []).map((w) => ({ word: w.word, start: w.start + offsetSeconds, end: w.end + offsetSeconds }));
  const start = words.length ? words[0].start : message.start + offsetSeconds;
  const end = words.length ? words[words.length - 1].end : message.end + offsetSeconds;
  addCaption({ start, end, text: message.text, words });
}

function markBreak() {
  if (ui.partial.textContent) { // what was being said when the connection went: kept, marked as cut off
    addCaption({ start: offsetSeconds, end: offsetSeconds, text: ui.partial.textContent, words: [] }, true);
    ui.partial.textContent = "";
  }
  if (ui.finals.lastElementChild?.classList.contains("break")) return; // one marker per outage
  const item = document.createElement("li");
  item.className = "break";
  item.setAttribute("role", "separator");
  item.textContent = `Connection lost at ${clock(offsetSeconds)}; captions after this line come from a new session.`;
  ui.finals.append(item);
  keepInView();
}

// ---------------------------------------------------------------- audio

function showLevel(rms) {
  const db = 20 * Math.log10(Math.max(rms, 1e-6));
  const percent = Math.round(Math.min(100, Math.max(0, (100 * (db - LEVEL_FLOOR_DB)) / -LEVEL_FLOOR_DB))); // speech (-40..-10 dBFS) fills a third to most of it
  ui.level.style.width = `${percent}%`;
  ui.meter.setAttribute("aria-valuenow", String(percent));
}

function sendFrame(pcm) {
  socket.send(pcm);
  sessionSeconds += FRAME_SECONDS;
}

async function openMicrophone() {
  const context = new AudioContext(); // at the device's rate; the worklet resamples to 16 kHz
  await context.audioWorklet.addModule("capture-worklet.js"); // first, so no audio is lost once capture starts
  const node = new AudioWorkletNode(context, "pcm16-capture");
  // The browser's voice-call processing (echo cancellation, noise suppression, gain control)
  // clips word onsets and reshapes the spectrum; the recognizer does better on the plain signal.
  const constraints = { channelCount: 1, echoCancellation: false, noiseSuppression: false, autoGainControl: false };
  const stream = await navigator.mediaDevices.getUserMedia({ audio: constraints });
  const silent = new GainNode(context, { gain: 0 }); // keeps the graph pulled without playing anything
  context.createMediaStreamSource(stream).connect(node).connect(silent).connect(context.destination);
  node.port.onmessage = ({ data }) => {
    showLevel(data.level);
    if (socket && socket.readyState === WebSocket.OPEN && socket.ready) {
      sendFrame(data.pcm);
    } else {
      pending.push(data.pcm); // the first words, and speech while the server is away
      if (pending.length > MAX_PENDING_FRAMES) pending.shift();
    }
  };
  return { context, stream, node };
}

function closeMicrophone() {
  pending = [];
  if (!audio) return;
  audio.node.port.onmessage = null;
  audio.stream.getTracks().forEach((track) => track.stop());
  audio.context.close();
  audio = null;
  showLevel(0);
}

// ---------------------------------------------------------------- the session

function connect() {
  retryTimer = null;
  const ws = new WebSocket(streamUrl());
  ws.binaryType = "arraybuffer";
  ws.ready = false;
  socket = ws;
  ws.onopen = () => ws.send(JSON.stringify({ type: "start", sample_rate: 16000, format: "pcm16" }));
  ws.onmessage = ({ data }) => {
    const message = JSON.parse(data);
    if (message.type === "ready") {
      ws.ready = true;
      attempts = 0;
      pending.forEach(sendFrame);
      pending = [];
      show("live", `Listening (${message.sample_rate} Hz). Speak, and captions appear below.`);
    } else if (message.type === "partial") {
      ui.partial.textContent = message.text;
      keepInView();
    } else if (message.type === "final") {
      addFinal(message);
    } else if (message.type === "error") {
      note(`The server ended the session: ${message.message} (${message.code}).`);
    }
  };
  ws.onclose = (event) => {
    if (socket !== ws) return;
    socket = null;
    offsetSeconds += sessionSeconds; // the next session's times go on from here
    sessionSeconds = 0;
    if (stopping || !audio) {
      ui.partial.textContent = "";
      show("stopped", "Stopped. Press Start to caption again.");
      return;
    }
    markBreak();
    reconnectLater(event);
  };
}

function reconnectLater(event) {
  const delay = Math.min(RECONNECT_MAX_MS, RECONNECT_FIRST_MS * 2 ** attempts++);
  const why = event.code === 1001 ? "The caption server is restarting" : "The connection to the caption server was lost";
  show(
    "reconnecting",
    "Not listening to the server right now; the microphone stays on.",
    `${why}. Trying again in ${Math.round(delay / 1000)} s, for as long as it takes; the last 30 s of speech are kept and captioned when it is back.`,
  );
  retryTimer = setTimeout(() => { if (audio && !socket) connect(); }, delay);
}

async function start() {
  ui.start.disabled = true;
  stopping = false;
  show("idle", "Opening the microphone…");
  try {
    audio = await openMicrophone();
  } catch (error) {
    ui.start.disabled = false;
    const why = error.name === "NotAllowedError" ? "Microphone access was denied. Allow it in the browser's site settings, then press Start again."
      : error.name === "NotFoundError" ? "No microphone was found. Connect one, then press Start again."
      : `The microphone could not be opened: ${error.message}`;
    show("idle", "Not listening.", why);
    return;
  }
  ui.stop.disabled = false;
  show("connecting", "Connecting to the server…");
  connect();
}

function stop() {
  stopping = true;
  clearTimeout(retryTimer);
  retryTimer = null;
  closeMicrophone();
  if (socket && socket.readyState === WebSocket.OPEN) {
    socket.send(JSON.stringify({ type: "stop" })); // the server sends the last final, then closes
    show("live", "Finishing the last caption…");
  } else {
    socket = null;
    show("stopped", "Stopped. Press Start to caption again.");
  }
  ui.stop.disabled = true;
  ui.start.disabled = false;
}

// ---------------------------------------------------------------- transcript tools and preferences

function download(kind) {
  const [text, type] = { txt: [toText(captions), "text/plain"], srt: [toSrt(captions), "application/x-subrip"], vtt: [toVtt(captions), "text/vtt"] }[kind];
  const link = document.createElement("a");
  link.href = URL.createObjectURL(new Blob([text], { type: `${type};charset=utf-8` }));
  link.download = `captions-${new Date().toISOString().slice(0, 16).replace(/[-:T]/g, "")}.${kind}`;
  link.click();
  setTimeout(() => URL.revokeObjectURL(link.href), 1000);
  note(`Downloaded ${captions.length} caption(s) as .${kind}.`);
}

async function copy() {
  try {
    await navigator.clipboard.writeText(toText(captions));
    note(`Copied ${captions.length} caption(s).`);
  } catch (error) {
    note(`The browser did not allow copying (${error.message}); download the .txt instead.`);
  }
}

function clear() {
  captions.length = 0;
  ui.finals.replaceChildren();
  note("Cleared. Times go on from where they were.");
}

function setFontSize(index) {
  const size = Math.max(0, Math.min(FONT_SIZES_REM.length - 1, index));
  ui.captions.style.fontSize = `${FONT_SIZES_REM[size]}rem`;
  ui.captions.dataset.size = String(size);
  ui.smaller.disabled = size === 0;
  ui.larger.disabled = size === FONT_SIZES_REM.length - 1;
  localStorage.setItem("captionSize", String(size));
}

function setTheme(theme) {
  document.documentElement.dataset.theme = theme;
  ui.theme.textContent = theme === "dark" ? "Light theme" : "Dark theme";
  ui.theme.setAttribute("aria-pressed", String(theme === "dark"));
  localStorage.setItem("theme", theme);
}

ui.start.addEventListener("click", start);
ui.stop.addEventListener("click", stop);
ui.copy.addEventListener("click", copy);
ui.clear.addEventListener("click", clear);
document.querySelectorAll("[data-download]").forEach((button) => button.addEventListener("click", () => download(button.dataset.download)));
ui.smaller.addEventListener("click", () => setFontSize(Number(ui.captions.dataset.size) - 1));
ui.larger.addEventListener("click", () => setFontSize(Number(ui.captions.dataset.size) + 1));
addEventListener("resize", keepInView);
ui.theme.addEventListener("click", () => setTheme(document.documentElement.dataset.theme === "dark" ? "light" : "dark"));

setFontSize(Number(localStorage.getItem("captionSize") ?? DEFAULT_FONT_SIZE));
setTheme(localStorage.getItem("theme") ?? (matchMedia("(prefers-color-scheme: dark)").matches ? "dark" : "light"));
show("idle", "Press Start and allow the microphone.");
if (!window.AudioWorkletNode || !navigator.mediaDevices) {
  ui.start.disabled = true;
  show("idle", "Not listening.", "This browser cannot capture audio here. Use a current browser, over https or on localhost.");
}
