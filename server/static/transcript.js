// The page's transcript as files: plain text, SRT and WebVTT. Pure functions, no DOM.
//
// A caption is { start, end, text, words: [{ word, start, end }] }, times in seconds from the
// start of the page's listening (across reconnects). Cues group words exactly as
// asr/formats.py does for `asr transcribe` and `asr mic --captions`, so a caption file from the
// page matches one written from the same words in Python (tests/test_caption_page.py checks it).

const MAX_CUE_CHARS = 42; // asr/formats.py: MAX_CUE_CHARS, MAX_CUE_SECONDS, MAX_CUE_GAP_SECONDS
const MAX_CUE_SECONDS = 6.0;
const MAX_CUE_GAP_SECONDS = 1.0;

/** mm:ss.s, for the times shown beside each caption. */
export function clock(seconds) {
  const minutes = Math.floor(seconds / 60);
  return `${String(minutes).padStart(2, "0")}:${(seconds - minutes * 60).toFixed(1).padStart(4, "0")}`;
}

/** HH:MM:SS,mmm (SRT, decimal ",") or HH:MM:SS.mmm (WebVTT). */
function timestamp(seconds, decimal) {
  let millis = Math.max(0, Math.round(seconds * 1000));
  const hours = Math.floor(millis / 3_600_000);
  millis -= hours * 3_600_000;
  const minutes = Math.floor(millis / 60_000);
  millis -= minutes * 60_000;
  const secs = Math.floor(millis / 1000);
  millis -= secs * 1000;
  const two = (n) => String(n).padStart(2, "0");
  return `${two(hours)}:${two(minutes)}:${two(secs)}${decimal}${String(millis).padStart(3, "0")}`;
}

/** Words grouped into [start, end, text] cues of readable length, split at pauses. */
function cues(words) {
  const groups = [];
  for (const word of words) {
    const cue = groups[groups.length - 1];
    if (cue) {
      const length = cue.reduce((sum, w) => sum + w.word.length + 1, 0) + word.word.length;
      if (length <= MAX_CUE_CHARS && word.end - cue[0].start <= MAX_CUE_SECONDS && word.start - cue[cue.length - 1].end <= MAX_CUE_GAP_SECONDS) {
        cue.push(word);
        continue;
      }
    }
    groups.push([word]);
  }
  return groups.map((cue) => [cue[0].start, cue[cue.length - 1].end, cue.map((w) => w.word).join(" ")]);
}

function allCues(captions) {
  return captions.flatMap((caption) => (caption.words.length ? cues(caption.words) : [[caption.start, caption.end, caption.text]]));
}

/** One caption per line. */
export function toText(captions) {
  return captions.map((caption) => `${caption.text}\n`).join("");
}

export function toSrt(captions) {
  return allCues(captions).map(([start, end, text], i) => `${i + 1}\n${timestamp(start, ",")} --> ${timestamp(end, ",")}\n${text}\n`).join("\n");
}

export function toVtt(captions) {
  return "WEBVTT\n\n" + allCues(captions).map(([start, end, text]) => `${timestamp(start, ".")} --> ${timestamp(end, ".")}\n${text}\n`).join("\n");
}
