// Runs on the audio thread: resamples the microphone to 16 kHz, turns it into 100 ms PCM16
// frames (little-endian, the server's "pcm16" format) and measures their level.
//
// Resampling here, not with `new AudioContext({sampleRate: 16000})`, gives the same 16 kHz
// signal in every browser; some (Firefox) refuse to connect a microphone to a context that
// runs at another rate than the device.
import { SincResampler } from "./resampler.js";

const TARGET_RATE = 16000;

class PCM16Capture extends AudioWorkletProcessor {
  constructor() {
    super();
    this.resampler = sampleRate === TARGET_RATE ? null : new SincResampler(sampleRate, TARGET_RATE);
    this.frame = new Int16Array(TARGET_RATE / 10);
    this.filled = 0;
    this.sumSquares = 0;
  }

  process(inputs) {
    const channel = inputs[0] && inputs[0][0];
    if (!channel) return true; // no input connected yet
    const samples = this.resampler ? this.resampler.push(channel) : channel;
    for (let i = 0; i < samples.length; i++) {
      const sample = Math.max(-1, Math.min(1, samples[i]));
      this.frame[this.filled++] = sample < 0 ? sample * 0x8000 : sample * 0x7fff;
      this.sumSquares += sample * sample;
      if (this.filled === this.frame.length) this.flush();
    }
    return true;
  }

  flush() {
    const level = Math.sqrt(this.sumSquares / this.frame.length);
    const pcm = this.frame.slice().buffer; // Int16Array is little-endian on every platform browsers run on
    this.port.postMessage({ pcm, level }, [pcm]);
    this.filled = 0;
    this.sumSquares = 0;
  }
}

registerProcessor("pcm16-capture", PCM16Capture);
