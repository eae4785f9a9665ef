// Streaming windowed-sinc resampling, used by the capture worklet to turn the microphone's
// rate (often 48 kHz) into the 16 kHz the recognizer wants. Like torchaudio's resampler: a
// Hann-windowed sinc with 16 zero crossings and a cutoff at 97% of the lower Nyquist rate.
// Output is identical however the input is split into chunks (tests/test_caption_page.py).
const ZERO_CROSSINGS = 16;
const ROLLOFF = 0.97;

export class SincResampler {
  constructor(inputRate, outputRate) {
    this.step = inputRate / outputRate; // input samples per output sample
    this.cutoff = Math.min(1, outputRate / inputRate) * ROLLOFF; // as a fraction of the input's Nyquist rate
    this.half = Math.ceil(ZERO_CROSSINGS / this.cutoff); // kernel half-length, in input samples
    this.history = new Float32Array(this.half); // input samples from absolute index `offset` on:
    this.offset = -this.half; // `half` zeros before the stream, so the first output is centred on sample 0
    this.produced = 0; // output samples so far
  }

  push(input) {
    const joined = new Float32Array(this.history.length + input.length);
    joined.set(this.history);
    joined.set(input, this.history.length);
    const output = [];
    for (;;) {
      const centre = this.produced * this.step; // absolute input position of the next output sample
      const last = Math.floor(centre) + this.half;
      if (last - this.offset >= joined.length) break; // its window is not complete yet
      let sum = 0;
      for (let k = Math.floor(centre) - this.half + 1; k <= last; k++) {
        const distance = centre - k;
        const x = Math.PI * this.cutoff * distance;
        const sinc = x === 0 ? 1 : Math.sin(x) / x;
        const window = 0.5 + 0.5 * Math.cos((Math.PI * distance) / (this.half + 1));
        sum += joined[k - this.offset] * this.cutoff * sinc * window;
      }
      output.push(sum);
      this.produced++;
    }
    const keepFrom = Math.max(0, Math.floor(this.produced * this.step) - this.half + 1 - this.offset);
    this.history = joined.slice(keepFrom);
    this.offset += keepFrom;
    return output;
  }
}
