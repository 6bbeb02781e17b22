"""The console's labels in English and Urdu (its chrome; the content is shown as written, with dir="auto")."""

from __future__ import annotations

LANGUAGES = ("en", "ur")
DIRECTION = {"en": "ltr", "ur": "rtl"}

LABELS: dict[str, dict[str, str]] = {
    "banks": {"en": "Banks", "ur": "بینک"},
    "references": {"en": "References", "ur": "حوالہ جاتی مواد"},
    "try": {"en": "Try a post", "ur": "پوسٹ آزمائیں"},
    "queue": {"en": "Review queue", "ur": "جائزے کی قطار"},
    "audit": {"en": "Audit log", "ur": "آڈٹ لاگ"},
    "quality": {"en": "Quality", "ur": "معیار"},
    "upload": {"en": "Upload a file", "ur": "فائل اپ لوڈ کریں"},
    "sign_in": {"en": "Sign in", "ur": "سائن ان"},
    "sign_out": {"en": "Sign out", "ur": "سائن آؤٹ"},
    "token": {"en": "Token", "ur": "ٹوکن"},
    "create": {"en": "Create", "ur": "بنائیں"},
    "add": {"en": "Add", "ur": "شامل کریں"},
    "search": {"en": "Search", "ur": "تلاش"},
    "match": {"en": "Match", "ur": "ملائیں"},
    "name": {"en": "Name", "ur": "نام"},
    "kind": {"en": "Kind", "ur": "قسم"},
    "items": {"en": "Items", "ur": "اشیاء"},
    "precision": {"en": "Precision", "ur": "درستی"},
    "reviewed": {"en": "Reviewed", "ur": "جائزہ شدہ"},
    "enabled": {"en": "Enabled", "ur": "فعال"},
    "text": {"en": "Text", "ur": "متن"},
    "language": {"en": "Language", "ur": "زبان"},
    "bank": {"en": "Bank", "ur": "بینک"},
    "labels": {"en": "Labels", "ur": "لیبل"},
    "state": {"en": "State", "ur": "حالت"},
    "verdict": {"en": "Verdict", "ur": "فیصلہ"},
    "why": {"en": "Why", "ur": "کیوں"},
    "signal": {"en": "Signal", "ur": "سگنل"},
    "score": {"en": "Score", "ur": "اسکور"},
    "threshold": {"en": "Threshold", "ur": "حد"},
    "cleared": {"en": "Cleared", "ur": "پار"},
    "post": {"en": "Post", "ur": "پوسٹ"},
    "reference": {"en": "Reference", "ur": "حوالہ"},
    "true_positive": {"en": "True positive", "ur": "درست نشاندہی"},
    "false_positive": {"en": "False positive", "ur": "غلط نشاندہی"},
    "to_suppression": {"en": "False positive, and allow it (suppression bank)", "ur": "غلط نشاندہی، اور اجازت دیں"},
    "actor": {"en": "Actor", "ur": "کرنے والا"},
    "action": {"en": "Action", "ur": "عمل"},
    "target": {"en": "Target", "ur": "ہدف"},
    "when": {"en": "When", "ur": "کب"},
    "next_page": {"en": "Next page", "ur": "اگلا صفحہ"},
    "nothing": {"en": "Nothing here yet.", "ur": "ابھی یہاں کچھ نہیں۔"},
    "not_allowed": {"en": "Your token's role may not open this page.", "ur": "آپ کے ٹوکن کا کردار یہ صفحہ نہیں کھول سکتا۔"},
    "diff": {"en": "Post against the reference", "ur": "پوسٹ بمقابلہ حوالہ"},
    "remove": {"en": "Remove", "ur": "ہٹائیں"},
    "disable": {"en": "Disable", "ur": "غیر فعال کریں"},
    "enable": {"en": "Enable", "ur": "فعال کریں"},
    "confirm": {"en": "Are you sure?", "ur": "کیا آپ کو یقین ہے؟"},
}


def label(key: str, lang: str) -> str:
    entry = LABELS[key]
    return entry.get(lang) or entry["en"]
