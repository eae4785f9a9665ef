// GnuSpeech driver for asr/data/gnuspeech.py: one long-lived process, JSON lines in and out.
//
// In:  {"text": "...", "out": "/abs/x.wav", "seed": 7, "voice": {vocal_tract_length: 15, ...}, "control": {tempo: 1.1, ...}, "trm": {...}}
// Out: {"ok": true, "phonetic": "/c // /0 # /w dh_uh ..."}  or  {"ok": false, "error": "..."}
//
// The npm package exposes only five preset voices, so this loads its wasm module directly and
// writes a voice file per utterance. Its random intonation reads crypto.getRandomValues; a seeded
// generator replaces it, so the same request always gives the same bytes.
import { readFileSync, writeFileSync } from 'fs'
import { createRequire } from 'module'
import { dirname } from 'path'
import readline from 'readline'

const require = createRequire(import.meta.url)
const packageDir = dirname(require.resolve('@echogarden/gnuspeech-wasm/package.json'))
const DATA = '/data/en'

let state = 1
function nextRandom() { // mulberry32
	state = (state + 0x6D2B79F5) | 0
	let t = Math.imul(state ^ (state >>> 15), state | 1)
	t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
	return (t ^ (t >>> 14)) >>> 0
}
Object.defineProperty(globalThis, 'crypto', {
	configurable: true,
	value: { getRandomValues(view) { const b = new Uint8Array(view.buffer, view.byteOffset, view.byteLength); for (let i = 0; i < b.length; i++) b[i] = nextRandom() & 0xff; return view } },
})

let log = []
const { default: init } = await import('@echogarden/gnuspeech-wasm/wasm/gnuspeech.js')
const start = () => init({ print: (line) => log.push(line), printErr: (line) => log.push(line) })
let wasm = await start()

const settings = (name) => Object.fromEntries(readFileSync(`${packageDir}/data/en/${name}`, 'utf8').split('\n').map((l) => l.match(/^\s*(\w+)\s*=\s*(\S+)/)).filter(Boolean).map((m) => [m[1], m[2]]))
const DEFAULTS = { voice: settings('voice_male.txt'), control: settings('trm_control_model.txt'), trm: settings('trm.txt') }
const write = (name, values) => wasm.FS.writeFile(`${DATA}/${name}`, Object.entries(values).map(([k, v]) => `${k} = ${v}\n`).join(''))

function merged(part, given = {}) {
	const values = { ...DEFAULTS[part] }
	for (const [key, value] of Object.entries(given)) {
		if (!(key in values) || !Number.isFinite(value)) throw new Error(`${part}.${key}: unknown setting or not a number`)
		values[key] = value
	}
	return values
}

function cString(text) {
	const bytes = new TextEncoder().encode(text)
	const pointer = wasm._malloc(bytes.length + 1)
	wasm.HEAPU8.set(bytes, pointer)
	wasm.HEAPU8[pointer + bytes.length] = 0
	return pointer
}

function synthesize(request) {
	const voice = merged('voice', request.voice), control = merged('control', request.control), trm = merged('trm', request.trm)
	if (!(+voice.glottal_pulse_tp + +voice.glottal_pulse_tn_max < 100)) throw new Error('glottal_pulse_tp + glottal_pulse_tn_max must stay below 100')
	write('voice_custom.txt', voice)
	write('trm_control_model.txt', { ...control, voice_name: 'custom' })
	write('trm.txt', trm)
	state = request.seed | 0
	log = []
	const args = [request.text, '/out.wav', DATA, '/params.txt'].map(cString)
	let status
	try { status = wasm._GnuSpeech_synthesizeToFile(...args, 1) } finally { args.forEach((p) => wasm._free(p)) }
	if (status !== 0) throw new Error(`synthesis failed (${status})`)
	const stream = log.findIndex((line) => line.startsWith('STREAM 2')) // stream 1 holds the input text
	const phonetic = (stream < 0 ? '' : log.slice(stream).find((line) => line.startsWith('<begin>')) ?? '').match(/^<begin>(.*)<end>$/)?.[1].replace(/\0/g, '').replace(/\\0$/, '').trim()
	if (!phonetic) throw new Error('GnuSpeech reported no phonetic string')
	writeFileSync(request.out, wasm.FS.readFile('/out.wav'))
	return phonetic
}

for await (const line of readline.createInterface({ input: process.stdin, crlfDelay: Infinity })) {
	if (!line.trim()) continue
	try {
		process.stdout.write(JSON.stringify({ ok: true, phonetic: synthesize(JSON.parse(line)) }) + '\n')
	} catch (error) {
		if (error instanceof WebAssembly.RuntimeError) wasm = await start() // a trapped module's heap cannot be trusted
		process.stdout.write(JSON.stringify({ ok: false, error: String(error?.message ?? error) }) + '\n')
	}
}
