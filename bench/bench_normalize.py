"""Time of text preparation on hostile inputs, by input size.

Usage (from the repository root):

    python bench/bench_normalize.py [--sizes 4096,8192,16384,32768] [--repeat 3]
                                    [--cases NAME,...] [--git-ref REF] [--cap 5]

Every case is a post of about the given number of UTF-8 bytes (posts are
capped at 32 KB, ``Limits.max_text_bytes``) and is timed through
``prepare_text``, the one entry point every post goes through; the minimum
CPU time (``time.process_time``, so other load on the machine counts less)
of ``--repeat`` runs is printed.  The last column is t(largest) / t(smallest):
a linear step grows by the size ratio (8 for 4 KB -> 32 KB), a quadratic
one by its square.  The ordinary posts at the top are the baseline.

``--git-ref REF`` also times the text modules as they are at REF (read with
``git show``), for before/after figures from the same session.  Slow cells
are cut off: once a case takes more than ``--cap`` seconds, its larger sizes
are skipped ("-").
"""

from __future__ import annotations

import argparse
import importlib
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from service.core.text.prepare import prepare_text

_EN = "The brothers will gather at the mosque after Friday prayer, see t.me/x/1 #news. "
_UR = "یہ پیغام ہر بھائی تک پہنچاؤ، کل جمعہ کے بعد ملاقات ہوگی۔ "
_PS = "دا پیغام ټولو ورونو ته ورسوئ، سبا د جمعې وروسته به ګډ شو. "


def _repeat(unit: str) -> Callable[[int], str]:
    def make(size: int) -> str:
        return unit * max(1, size // len(unit.encode("utf-8")))

    return make


def _framed(head: str, body: str, tail: str = "") -> Callable[[int], str]:
    def make(size: int) -> str:
        room = size - len((head + tail).encode("utf-8"))
        return head + body * max(1, room // len(body.encode("utf-8"))) + tail

    return make


# name -> (what it attacks, generator)
CASES: dict[str, tuple[str, Callable[[int], str]]] = {
    "ordinary-en": ("baseline: English prose with a link and a tag", _repeat(_EN)),
    "ordinary-ur": ("baseline: Urdu prose", _repeat(_UR)),
    "ordinary-ps": ("baseline: Pashto prose", _repeat(_PS)),
    "ordinary-lines": (
        "baseline: one short English line per line",
        _repeat("Fwd: brothers gather now\n"),
    ),
    "latin-run": ("e-mail local part retried at every start", _repeat("a")),
    "arabic-run": ("e-mail local part (\\w is Unicode)", _repeat("ب")),
    "digit-run": ("e-mail local part", _repeat("1")),
    "dot-run": ("e-mail local part", _repeat(".")),
    "mixed-script-run": ("e-mail local part", _repeat("aب")),
    "www-repeated": ("e-mail local part, www. prefix", _repeat("www.")),
    "dotted-labels": ("bare host retried at every label", _repeat("a.")),
    "hyphen-labels": ("bare host retried at every hyphen", _repeat("a-")),
    "dotted-no-tld": ("bare host: TLD missed at every label", _repeat("a.co")),
    "labels-with-path": ("host with path", _repeat("a.b/")),
    "at-domain": ("domain after a failed e-mail", _framed("a@", "b.")),
    "at-repeated": ("e-mail / mention", _repeat("a@")),
    "scheme-then-dots": (
        "URL end: trailing punctuation lookahead",
        _framed("http://x", ".", "x"),
    ),
    "scheme-then-run": ("URL end", _framed("http://", "a")),
    "spaces": ("wrapper prefix: [ \\t]* then \\s*", _repeat(" ")),
    "tabs": ("wrapper prefix", _repeat("\t")),
    "forwarded-then-spaces": (
        "wrapper line: \\s*:?\\s*$",
        _framed("Forwarded", " ", "x"),
    ),
    "fwd-repeated": ("wrapper prefix peeled once per label", _repeat("Fwd: ")),
    "fw-no-space": ("wrapper prefix peeled once per label", _repeat("FW:")),
    "many-lines": ("wrapper regexes once per line", _repeat("a\n")),
    "hashtag-run": ("hashtags", _repeat("#a")),
    "harakat-run": ("combining marks after one letter", _framed("ب", "\u064e")),
    "alternating-marks": (
        "unicodedata canonical-order insertion sort",
        _framed("ب", "\u0654\u064e"),
    ),
    "emoji-zwj": ("emoji and ZWJ", _repeat("👨\u200d")),
    "ligature": ("NFKC expands each character 18-fold", _repeat("\ufdfa")),
}


def _load_ref(ref: str, into: Path) -> Callable[[str], object]:
    """prepare_text of the text modules at a git ref, imported from a copy."""
    pkg = into / "bench_ref_text"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    for name in ("normalize", "langid", "prepare"):
        src = subprocess.run(
            ["git", "show", f"{ref}:service/core/text/{name}.py"],
            cwd=REPO_ROOT,
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        (pkg / f"{name}.py").write_text(
            src.replace("service.core.text.", "bench_ref_text.")
        )
    sys.path.insert(0, str(into))
    module: ModuleType = importlib.import_module("bench_ref_text.prepare")
    return module.prepare_text  # type: ignore[no-any-return]


def _best(fn: Callable[[str], object], text: str, repeat: int, cap: float) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.process_time()
        fn(text)
        best = min(best, time.process_time() - start)
        if best > cap:
            break
    return best


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument(
        "--sizes", default="4096,8192,16384,32768", help="input sizes in UTF-8 bytes"
    )
    ap.add_argument(
        "--repeat", type=int, default=3, help="runs per cell; the minimum is shown"
    )
    ap.add_argument(
        "--cases", default="", help="comma-separated case names (default: all)"
    )
    ap.add_argument(
        "--git-ref", default="", help="also time the text modules at this git ref"
    )
    ap.add_argument(
        "--cap",
        type=float,
        default=5.0,
        help="skip larger sizes once a cell exceeds this (s)",
    )
    ap.add_argument("--list", action="store_true", help="list the cases and exit")
    args = ap.parse_args()

    if args.list:
        for name, (what, _) in CASES.items():
            print(f"{name:24} {what}")
        return 0
    sizes = [int(s) for s in args.sizes.split(",")]
    names = [n for n in args.cases.split(",") if n] or list(CASES)
    unknown = [n for n in names if n not in CASES]
    if unknown:
        ap.error(f"unknown case(s): {', '.join(unknown)} (see --list)")

    versions: list[tuple[str, Callable[[str], object]]] = [("now", prepare_text)]
    with tempfile.TemporaryDirectory() as tmp:
        if args.git_ref:
            try:
                versions.append((args.git_ref, _load_ref(args.git_ref, Path(tmp))))
            except subprocess.CalledProcessError as exc:
                ap.error(
                    f"cannot read the text modules at {args.git_ref}: {exc.stderr.strip()}"
                )
        head = (
            f"{'case':24} {'code':>8} "
            + " ".join(f"{s // 1024:>7} KB" for s in sizes)
            + "   growth"
        )
        print(head)
        print("-" * len(head))
        for name in names:
            make = CASES[name][1]
            texts = [make(size) for size in sizes]
            for label, fn in versions:
                cells: list[str] = []
                times: list[float] = []
                for text in texts:
                    if times and times[-1] > args.cap:
                        cells.append(f"{'-':>10}")
                        continue
                    t = _best(fn, text, args.repeat, args.cap)
                    times.append(t)
                    cells.append(f"{t * 1e3:8.1f}ms")
                growth = (
                    f"x{times[-1] / times[0]:.1f}"
                    if len(times) == len(sizes) and times[0] > 0
                    else "-"
                )
                print(
                    f"{name:24} {label[:8]:>8} " + " ".join(cells) + f"   {growth}",
                    flush=True,
                )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
