"""English through MBROLA databases that espeak-ng has no English voice for: a voice definition of our own.

espeak-ng ships ``mb-de4-en`` and a few more, which send its English phonemes to another language's
diphone database. For the databases of ``MORE_ACCENTED_MBROLA_VOICES`` it ships only the voice in
their own language (``mb-es1``). ``accent_data_path`` makes an espeak-ng data folder that is the
installed one (symbolic links, nothing copied) plus ``voices/mb/mb-XX-en`` for each of those:
English (``language en``) with the ``gender`` and ``mbrola`` lines of espeak-ng's own ``mb-XX``,
so the database gets the phoneme translation its language voice uses. ``espeak-ng --path`` reads it.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterable
from pathlib import Path

__all__ = ["espeak_data_dir", "accent_data_path"]


def espeak_data_dir() -> Path:
    """The installed espeak-ng data folder, as ``espeak-ng --version`` reports it."""
    try:
        version = subprocess.run(["espeak-ng", "--version"], capture_output=True, text=True, check=True, timeout=30).stdout
    except (OSError, subprocess.SubprocessError) as error:
        raise ValueError(f"cannot run espeak-ng ({error}); install Debian's 'espeak-ng'") from None
    match = re.search(r"Data at:\s*(\S+)", version)
    if not match:
        raise ValueError(f"espeak-ng --version names no data folder: {version.strip()!r}")
    return Path(match.group(1))


def accent_data_path(root: Path, databases: Iterable[str], installed: Path | None = None) -> Path:
    """Write, under the empty folder ``root``, an espeak-ng data folder with an English voice
    ``mb-XX-en`` for each of ``databases``; return ``root`` (the value for ``espeak-ng --path``).

    ``installed`` is espeak-ng's own data folder (default: ``espeak_data_dir()``). ValueError names
    a database that espeak-ng has no voice for.
    """
    installed = installed or espeak_data_dir()
    data = root / "espeak-ng-data"
    (data / "voices" / "mb").mkdir(parents=True)
    for entry in installed.iterdir():
        if entry.name != "voices":
            (data / entry.name).symlink_to(entry)
    for entry in (installed / "voices").iterdir():
        if entry.name != "mb":
            (data / "voices" / entry.name).symlink_to(entry)
    for entry in (installed / "voices" / "mb").iterdir():
        (data / "voices" / "mb" / entry.name).symlink_to(entry)
    for database in databases:
        own, english = installed / "voices" / "mb" / f"mb-{database}", data / "voices" / "mb" / f"mb-{database}-en"
        if english.exists():  # a later espeak-ng that ships one: its own
            continue
        if not own.is_file():
            raise ValueError(f"espeak-ng has no voice for the MBROLA database {database!r} ({own} is missing)")
        kept = [line for line in own.read_text().splitlines() if line.split()[:1] in (["gender"], ["mbrola"])]
        english.write_text(f"name en-accent-{database}\nlanguage en 9\n" + "\n".join(kept) + "\n")
    return root
