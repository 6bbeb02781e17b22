"""Tests for service.core.langid.

All texts are short posts written for these tests; the corpus-based accuracy
measurement lives in bench/bench_langid.py and is not part of the test suite.
"""

from __future__ import annotations

import math

import pytest

from service.core.text.langid import LANGUAGES, LanguageGuess, detect_language

ENGLISH = [
    "We will never forget our brothers",
    "Join the caravan before it is too late",
    "They attacked the checkpoint at dawn",
    "Victory is near for the believers",
    "Share this message with everyone you know",
    "the kuffar fear our lions",
]
URDU = [
    "ہم اپنے بھائیوں کا بدلہ لیں گے",
    "یہ پیغام سب تک پہنچاؤ",
    "جہاد فرض ہے",
    "کل رات حملہ کیا گیا",
    "مجاہدین نے شہر پر قبضہ کر لیا",
    "اللہ کی راہ میں نکلو",
    "ہمارے شہیدوں کا خون رائیگاں نہیں جائے گا",
]
PASHTO = [
    "دا زموږ د ورونو غچ دی",
    "موږ به خپل دښمن ته ماته ورکړو",
    "شهادت ته تیار یو",
    "مجاهدینو ښار ونیو",
    "دا پیغام ټولو ته ورسوئ",
    "په کلي کې جګړه روانه ده",
    "زما ورور پرون شهید شو",
]

ARABIC = [
    "الدولة الإسلامية باقية وتتمدد",
    "إن النصر قادم بإذن الله تعالى",
    "هذا هو الطريق الذي اخترناه",
    "قال الشيخ في كلمته إن المعركة مستمرة",
]

PERSIAN = [
    "این پیام را برای همه بفرستید",
    "ما به زودی پیروز خواهیم شد",
    "او در شهر است و منتظر ماست",
    "برادران ما در راه خدا می جنگند",
]

OTHER_LATIN = [
    "Nuestros hermanos no serán olvidados nunca",
    "La victoria está cerca para los creyentes",
    "Kami akan menang dengan pertolongan Allah",
    "Saudara kita tidak akan dilupakan",
    "Nous allons gagner cette guerre",
    "Die Brüder werden siegen",
]


def detected(text: str) -> LanguageGuess:
    guess = detect_language(text)
    check(guess)
    return guess


def check(guess: LanguageGuess) -> None:
    """Invariants that hold for every answer."""
    assert guess.lang in {"en", "ur", "ps", "mixed", "other", "und"}
    assert 0.0 <= guess.confidence <= 1.0
    assert set(guess.scores) == set(LANGUAGES)
    assert all(0.0 <= v <= 1.0 for v in guess.scores.values())
    total = sum(guess.scores.values())
    if guess.lang == "und":
        assert total == 0.0
    else:
        assert math.isclose(total, 1.0, abs_tol=1e-9)


@pytest.mark.parametrize("text", ENGLISH)
def test_english(text: str) -> None:
    guess = detected(text)
    assert guess.lang == "en", guess
    assert guess.confidence > 0.8


@pytest.mark.parametrize("text", URDU)
def test_urdu(text: str) -> None:
    guess = detected(text)
    assert guess.lang == "ur", guess
    assert guess.confidence > 0.8


@pytest.mark.parametrize("text", PASHTO)
def test_pashto(text: str) -> None:
    guess = detected(text)
    assert guess.lang == "ps", guess
    assert guess.confidence > 0.8


def test_urdu_typed_with_arabic_letters() -> None:
    # Arabic-keyboard Urdu: ي ك ه instead of ی ک ہ; ے/ں still give it away.
    guess = detect_language("يه پيغام سب تك پهنچاؤ، هم بدله ليں گے")
    assert guess.lang == "ur", guess


def test_pashto_without_special_letters_uses_function_words() -> None:
    # No ښ ږ ځ ... here: only د/په/او/ته/چې decide.
    guess = detect_language("د ملت لپاره په دې لار کې ولاړ یو او چې")
    assert guess.lang == "ps", guess


def test_english_without_function_words_defaults_to_en_with_low_confidence() -> None:
    guess = detect_language("Brothers unite now")
    check(guess)
    assert guess.lang == "en"
    assert guess.confidence < 0.7
    assert guess.confidence < detect_language("Brothers unite now for the cause").confidence


@pytest.mark.parametrize(
    "text",
    [
        "یہ پیغام بہت اہم ہے please share this with everyone",
        "we are ready for the fight ہم تیار ہیں اور انتظار کر رہے ہیں",
        "ہمارا مقصد واضح ہے the caliphate will return",
    ],
)
def test_mixed_urdu_english(text: str) -> None:
    guess = detected(text)
    assert guess.lang == "mixed", guess
    top_two = sorted(guess.scores, key=lambda k: guess.scores[k], reverse=True)[:2]
    assert set(top_two) == {"ur", "en"}
    assert guess.scores["en"] > 0.2 and guess.scores["ur"] > 0.2


def test_mixed_pashto_english() -> None:
    guess = detect_language("دا زموږ د ټولو دنده ده this is our duty to the ummah")
    assert guess.lang == "mixed", guess
    assert guess.scores["ps"] > 0.2 and guess.scores["en"] > 0.2


@pytest.mark.parametrize(
    ("text", "lang"),
    [
        ("COVID-19 کی وبا نے چین کو متاثر کیا", "ur"),
        ("د SARS-CoV-2 ناروغي په چین کې پیل شوه", "ps"),
        ("NATO اور EU کے وزرا نے ملاقات کی", "ur"),
        ("Al-Naba کا نیا شمارہ جاری ہو گیا", "ur"),
        ("د Amaq Agency نوې اعلامیه خپره شوه", "ps"),
    ],
)
def test_acronyms_and_names_do_not_make_text_mixed(text: str, lang: str) -> None:
    guess = detect_language(text)
    assert guess.lang == lang, guess


@pytest.mark.parametrize("text", ARABIC)
def test_arabic_is_other(text: str) -> None:
    guess = detected(text)
    assert guess.lang == "other", guess


@pytest.mark.parametrize("text", PERSIAN)
def test_persian_is_other(text: str) -> None:
    guess = detected(text)
    assert guess.lang == "other", guess


@pytest.mark.parametrize("text", OTHER_LATIN)
def test_other_latin_languages_are_other(text: str) -> None:
    guess = detected(text)
    assert guess.lang == "other", guess


def test_spanish_names_in_english_stay_english() -> None:
    assert detect_language("The attack in Los Angeles and El Paso was planned").lang == "en"


@pytest.mark.parametrize(
    "text",
    ["हम अपने भाइयों का बदला लेंगे", "Мы отомстим за наших братьев", "我们会报仇", "אנחנו נזכור"],
)
def test_other_scripts_are_other(text: str) -> None:
    guess = detected(text)
    assert guess.lang == "other", guess
    assert guess.confidence > 0.9


@pytest.mark.parametrize(
    "text",
    ["", "   ", "🔥🔥💣", "👍🏽🇵🇰", "123 456", "۱۲۳ ٤٥٦", "!!! ؟؟ ۔۔", "#jihad @user https://t.me/x", "🔥 2024 🔥"],
)
def test_no_letters_is_und(text: str) -> None:
    guess = detected(text)
    assert guess.lang == "und"


def test_roman_urdu_is_urdu() -> None:
    guess = detect_language("hum apne bhaiyon ka badla lenge yeh wada hai")
    check(guess)
    assert guess.lang == "ur", guess


@pytest.mark.parametrize("text", [ENGLISH[0], URDU[0], PASHTO[0]])
@pytest.mark.parametrize(
    "noise",
    [
        "https://t.me/channel_name/123",
        "www.example.com/page",
        "#jihad #khilafah #victory",
        "#خلافت #جہاد",
        "@amaq_agency @news",
        "🔥🔥🔥 💣",
    ],
)
def test_urls_hashtags_mentions_emoji_do_not_change_answer(text: str, noise: str) -> None:
    base = detect_language(text)
    for variant in (f"{noise} {text}", f"{text} {noise}", f"{noise}\n{text}\n{noise}"):
        guess = detect_language(variant)
        assert guess == base, (variant, guess)


@pytest.mark.parametrize("text", [ENGLISH[0], URDU[0], PASHTO[0]])
def test_retweet_prefix_does_not_change_answer(text: str) -> None:
    assert detect_language(f"RT @someone: {text}") == detect_language(text)


def test_english_hashtags_on_urdu_text_do_not_make_it_mixed() -> None:
    guess = detect_language("یہ پیغام سب تک پہنچاؤ #share #the_truth_will_win #we_are_coming")
    assert guess.lang == "ur", guess


def test_forwarding_wrapper_does_not_change_answer() -> None:
    assert detect_language(f"Forwarded from Some Channel\n{PASHTO[1]}").lang == "ps"
    assert detect_language(f"Forwarded from Some Channel\n{URDU[1]}").lang == "ur"


def test_result_is_immutable() -> None:
    guess = detect_language(URDU[0])
    with pytest.raises(AttributeError):
        guess.lang = "en"  # type: ignore[misc]
    with pytest.raises(TypeError):
        guess.scores["en"] = 1.0  # type: ignore[index]
