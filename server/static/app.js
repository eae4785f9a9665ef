// The caption page: microphone -> AudioWorklet (PCM16, 100 ms frames) -> /v1/stream -> captions.
// No build step and no CDN: a plain ES module served by `asr serve` itself.

const $ = (id) => document.getElementById(id);
const ui = {
  start: $("start"), stop: $("stop"), status: $("status"), error: $("error"),
  finals: $("finals"), partial: $("partial"), level: $("level-bar"), meter: document.querySelector(".level"),
};
const RECONNECT_DELAYS_MS = [1000, 2000, 4000, 8000];
const MAX_PENDING_FRAMES = 50; // 5 s of audio kept while (re)connecting; older frames are dropped

let audio = null;       // { context, stream, node } while the microphone is open
let socket = null;      // the open session's websocket
let reconnects = 0;     // consecutive failed reconnects
let stopping = false;   // the user pressed Stop: a closing socket is expected
let pending = [];       // frames captured before the session is ready, sent when it is

function streamUrl() {
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  const token = new URLSearchParams(location.search).get("token");
  return `${scheme}://${location.host}/v1/stream` + (token ? `?token=${encodeURIComponent(token)}` : "");
}

function showStatus(text) { ui.status.textContent = text; }

function showError(text) {
  ui.error.textContent = text;
  ui.error.hidden = !text;
}

function clock(seconds) {
  const minutes = Math.floor(seconds / 60);
  return `${String(minutes).padStart(2, "0")}:${(seconds - minutes * 60).toFixed(1).padStart(4, "0")}`;
}

function addFinal(message) {
  ui.partial.textContent = "";
  if (!message.text) return;
  const item = document.createElement("li");
  item.className = "final";
  const time = document.createElement("time");
  time.textContent = `${clock(message.start)} – ${clock(message.end)}`;
  item.append(time, document.createTextNode(message.text));
  ui.finals.append(item);
  item.scrollIntoView({ block: "end" });
}

function showLevel(level) {
  const percent = Math.min(100, Math.round(Math.sqrt(level) * 160)); // a square root spreads speech levels over the bar
  ui.level.style.width = `${percent}%`;
  ui.meter.setAttribute("aria-valuenow", String(percent));
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
      socket.send(data.pcm);
    } else {
      pending.push(data.pcm); // the first words often come before the connection is up
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

function connect() {
  const ws = new WebSocket(streamUrl());
  ws.binaryType = "arraybuffer";
  ws.ready = false;
  socket = ws;
  ws.onopen = () => {
    ws.send(JSON.stringify({ type: "start", sample_rate: 16000, format: "pcm16" }));
  };
  ws.onmessage = ({ data }) => {
    const message = JSON.parse(data);
    if (message.type === "ready") {
      ws.ready = true;
      pending.forEach((pcm) => ws.send(pcm));
      pending = [];
      reconnects = 0;
      showError("");
      showStatus(`Listening (${message.sample_rate} Hz). Speak, and captions appear below.`);
    } else if (message.type === "partial") {
      ui.partial.textContent = message.text;
    } else if (message.type === "final") {
      addFinal(message);
    } else if (message.type === "error") {
      showError(`The server ended the session: ${message.message} (${message.code}).`);
    }
  };
  ws.onclose = (event) => {
    if (socket !== ws) return;
    socket = null;
    if (stopping || !audio) {
      showStatus("Stopped.");
      return;
    }
    reconnectLater(event);
  };
}

function reconnectLater(event) {
  if (reconnects >= RECONNECT_DELAYS_MS.length) {
    showError("The caption server cannot be reached. Check that `asr serve` is running, then press Start.");
    stop();
    return;
  }
  const delay = RECONNECT_DELAYS_MS[reconnects++];
  const why = event.code === 1001 ? "The server is restarting" : "The connection to the server was lost";
  showError(`${why}. Reconnecting in ${delay / 1000} s… (the last 5 s of speech are kept meanwhile)`);
  setTimeout(() => { if (audio && !socket) connect(); }, delay);
}

async function start() {
  ui.start.disabled = true;
  showError("");
  showStatus("Opening the microphone…");
  stopping = false;
  try {
    audio = await openMicrophone();
  } catch (error) {
    ui.start.disabled = false;
    if (error.name === "NotAllowedError") {
      showError("Microphone access was denied. Allow it in the browser's site settings, then press Start again.");
    } else if (error.name === "NotFoundError") {
      showError("No microphone was found. Connect one, then press Start again.");
    } else {
      showError(`The microphone could not be opened: ${error.message}`);
    }
    showStatus("Not listening.");
    return;
  }
  ui.stop.disabled = false;
  showStatus("Connecting to the server…");
  connect();
}

function stop() {
  stopping = true;
  closeMicrophone();
  if (socket && socket.readyState === WebSocket.OPEN) {
    socket.send(JSON.stringify({ type: "stop" })); // the server sends the last final, then closes
    showStatus("Finishing the last caption…");
  }
  ui.stop.disabled = true;
  ui.start.disabled = false;
}

ui.start.addEventListener("click", start);
ui.stop.addEventListener("click", stop);
if (!window.AudioWorkletNode || !navigator.mediaDevices) {
  ui.start.disabled = true;
  showError("This browser cannot capture audio here. Use a current browser, over https or on localhost.");
}
