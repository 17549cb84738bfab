"""Damaged and hostile checkpoint files, made from a genuine one (the corrupted-file matrix).

Every maker takes the path of a good checkpoint and a target path and writes one kind of bad
file there; the key of :data:`MAKERS` names the case and :data:`MESSAGES` the text its refusal
must contain.
"""

import os
import pickle
import zipfile
from pathlib import Path

import torch

from ase_nnxc.train.checkpoint import write_payload

#: Written by the foreign pickle's payload if it ever runs.
MARKER = "nnxc-pickle-ran.txt"


class Hostile:
    """Unpickling this runs ``exec``: it writes :data:`MARKER` into the working directory."""

    def __reduce__(self):
        return (exec, (f"open({MARKER!r}, 'w').write('ran')",))


def truncated(good: Path, bad: Path) -> None:
    data = good.read_bytes()
    bad.write_bytes(data[: len(data) // 2])


def flipped_bytes(good: Path, bad: Path) -> None:
    """64 bytes (or the whole record, if shorter) of the largest weight record inverted."""
    data = bytearray(good.read_bytes())
    with zipfile.ZipFile(good) as archive:
        info = max((i for i in archive.infolist() if "/data/" in i.filename), key=lambda i: i.file_size)
    with good.open("rb") as fh:  # the record's data follow its local header
        fh.seek(info.header_offset + 26)
        name_length, extra_length = (int.from_bytes(fh.read(2), "little") for _ in range(2))
    start = info.header_offset + 30 + name_length + extra_length
    for k in range(start, start + min(64, info.file_size)):
        data[k] ^= 0xFF
    bad.write_bytes(bytes(data))


def altered_weights(good: Path, bad: Path) -> None:
    """A valid archive whose weights were changed after saving (the recorded hash left as it was)."""
    payload = torch.load(good, weights_only=True)
    name = next(k for k in payload["state_dict"] if k.startswith("model."))
    payload["state_dict"][name] = payload["state_dict"][name] * 1.01
    torch.save(payload, bad)


def wrong_shapes(good: Path, bad: Path) -> None:
    """Options that describe another network than the weights (hash consistent)."""
    payload = torch.load(good, weights_only=True)
    payload["options"] = {**payload["options"], "hidden": [7]}
    write_payload(bad, payload)


def huge_options(good: Path, bad: Path) -> None:
    """Options of a 3.2 GB network (``hidden: [20000, 20000]``) next to small weights (hash consistent)."""
    payload = torch.load(good, weights_only=True)
    payload["options"] = {**payload["options"], "hidden": [20000, 20000]}
    write_payload(bad, payload)


def foreign_pickle(good: Path, bad: Path) -> None:
    """A torch archive whose pickle would call ``exec`` on loading."""
    torch.save({"format": "ase_nnxc-checkpoint", "payload": Hostile()}, bad)


def raw_pickle(good: Path, bad: Path) -> None:
    """A plain pickle file (no archive) that would call ``exec`` on loading."""
    bad.write_bytes(pickle.dumps(Hostile()))


def empty(good: Path, bad: Path) -> None:
    bad.write_bytes(b"")


def nan_weights(good: Path, bad: Path) -> None:
    """Weights of a diverged run: NaN, with a consistent hash."""
    payload = torch.load(good, weights_only=True)
    name = next(k for k in payload["state_dict"] if k.startswith("model."))
    payload["state_dict"][name] = torch.full_like(payload["state_dict"][name], float("nan"))
    write_payload(bad, payload)


def own_base(good: Path, bad: Path) -> None:
    """A checkpoint whose base functional is the checkpoint itself."""
    payload = torch.load(good, weights_only=True)
    payload["base"] = str(bad)
    write_payload(bad, payload)


MAKERS = {
    "truncated": truncated,
    "flipped-bytes": flipped_bytes,
    "altered-weights": altered_weights,
    "wrong-shapes": wrong_shapes,
    "huge-options": huge_options,
    "foreign-pickle": foreign_pickle,
    "raw-pickle": raw_pickle,
    "empty": empty,
    "nan-weights": nan_weights,
    "own-base": own_base,
}

#: What each refusal says (a regular expression), after the file's name.
MESSAGES = {
    "truncated": r"not a readable checkpoint \(truncated or not a torch archive",
    "flipped-bytes": r"damaged checkpoint: member '\d+' does not match its CRC-32",
    "altered-weights": r"content SHA-256 [0-9a-f]{64} does not match the [0-9a-f]{64} recorded when it was saved",
    "wrong-shapes": r"weights do not match model 'nn-lda' .*in the file, .*in the model",
    "huge-options": r"weights do not match model 'nn-lda' with options .*20000, 20000",
    "foreign-pickle": r"refused: it holds objects other than tensors and plain data \((builtins\.)?exec\)",
    "raw-pickle": r"not a readable checkpoint \(truncated or not a torch archive",
    "empty": r"not a readable checkpoint \(an empty file\)",
    "nan-weights": r"weight 'model\.net\.\d\.(weight|bias)' holds \d+ non-finite value\(s\)",
    "own-base": r"its base functional '.*' leads back to .*, a cycle of checkpoints",
}
#: Where resuming says something else: it builds the model of its config and compares the
#: file's model, options and base with the config's, never building the file's own model.
RESUME_MESSAGES = {
    "wrong-shapes": r"trained with model options .*'hidden': \[7\].*but the config asks for .*'hidden': \[4\]",
    "huge-options": r"trained with model options .*'hidden': \[20000, 20000\].*but the config asks for",
    "own-base": r"trained nn-lda on .*, but the config asks for nn-lda on lda,vwn",
}


def peak_rss_increase(action) -> float | None:
    """Megabytes by which ``action()`` raised this process's peak resident memory (Linux), or None.

    The kernel's high-water mark is reset first (``/proc/self/clear_refs``), so earlier peaks
    of the test session do not hide this one.
    """
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return None
    before = _status_kb("VmRSS")
    action()
    return (_status_kb("VmHWM") - before) / 1024


def _status_kb(key: str) -> int:
    for line in Path(f"/proc/{os.getpid()}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    raise KeyError(key)
