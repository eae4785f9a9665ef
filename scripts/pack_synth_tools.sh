#!/usr/bin/env bash
# Pack the speech synthesizers 'asr synth' uses (espeak-ng, festival with its diphone voices,
# flite) and the sentence sources (fortunes, the word list) into one tarball, for a training
# machine that cannot install Debian packages, such as a GPU container without network.
#
#   bash scripts/pack_synth_tools.sh synth-tools.tar.xz     # here, after scripts/setup.sh
#   tar -xJf synth-tools.tar.xz -C /opt/synth-tools && /opt/synth-tools/install.sh   # there, as root
#
# The programs keep their own shared libraries (found with ldd; glibc and libstdc++ are the
# target's), so they run on any x86-64 glibc Linux at least as new as this one.
set -euo pipefail
out=$(realpath -m "${1:?usage: pack_synth_tools.sh OUTPUT.tar.xz}")
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage/bin" "$stage/lib" "$stage/share/games" "$stage/share/dict"
for program in espeak-ng festival flite; do
    cp "$(command -v "$program")" "$stage/bin/$program.real"
    ldd "$(command -v "$program")" | awk '/=>/ {print $3}'
done | sort -u | grep -v -E '/(libc|libm|ld-linux[^/]*|libstdc\+\+|libgcc_s|libpthread|libdl|librt)\.so' | xargs -I{} cp -L {} "$stage/lib/"
cp -a /usr/share/festival "$stage/share/"
cp -a /usr/lib/x86_64-linux-gnu/espeak-ng-data "$stage/share/"
cp -a /usr/share/games/fortunes "$stage/share/games/"
cp -L /usr/share/dict/american-english "$stage/share/dict/"
cat > "$stage/install.sh" <<'EOF'
#!/bin/sh
# Put the data where the programs and 'asr synth' look for it, and wrappers on the PATH.
set -e
here=$(cd "$(dirname "$0")" && pwd)
mkdir -p /usr/share/games /usr/share/dict /usr/lib/x86_64-linux-gnu /usr/local/bin
cp -a "$here/share/festival" /usr/share/
cp -a "$here/share/espeak-ng-data" /usr/lib/x86_64-linux-gnu/
cp -a "$here/share/games/fortunes" /usr/share/games/
cp "$here/share/dict/american-english" /usr/share/dict/
for program in espeak-ng festival flite; do
    printf '#!/bin/sh\nLD_LIBRARY_PATH=%s/lib exec %s/bin/%s.real "$@"\n' "$here" "$here" "$program" > /usr/local/bin/$program
    chmod +x /usr/local/bin/$program
done
espeak-ng -q -w /dev/null "ready" && flite -t "ready" -o /dev/null && echo "synthesis tools installed"
EOF
chmod +x "$stage/install.sh"
tar -cJf "$out" -C "$stage" .
echo "wrote $out ($(du -h "$out" | cut -f1))"
