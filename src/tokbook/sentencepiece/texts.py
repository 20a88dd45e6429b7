"""Short multilingual texts and edge cases for checking tokenizers.

``SENTENCES`` has one sentence per script (well-known pangrams, a line of Pascal, and our own
translations of "the quick brown fox"); ``EDGE_CASES`` has the inputs where tokenizers tend to
differ: empty text, spaces at the ends and in runs, tabs and newlines, digits, combining marks,
emoji sequences, characters that no vocabulary has (so byte fallback or ``<unk>`` is needed),
and text that looks like a special piece.

>>> len(SENTENCES) >= 12
True
>>> "" in EDGE_CASES
True
"""

__all__ = ["EDGE_CASES", "SENTENCES", "all_texts"]

SENTENCES = {
    "Latin (English)": "The quick brown fox jumps over the lazy dog.",
    "Latin (French)": "Le cœur a ses raisons que la raison ne connaît point.",
    "Latin (German)": "Straßenbahnhaltestelle: Übermorgen fährt der Zug um 7 Uhr.",
    "Latin (Vietnamese)": "Tiếng Việt có nhiều dấu thanh điệu.",
    "Cyrillic": "Съешь же ещё этих мягких французских булок.",
    "Greek": "Η γρήγορη καφέ αλεπού πηδά πάνω από τον σκύλο.",
    "Hebrew": "השועל החום המהיר קופץ מעל הכלב.",
    "Arabic": "الثعلب البني السريع يقفز فوق الكلب الكسول.",
    "Devanagari": "तेज़ भूरी लोमड़ी आलसी कुत्ते के ऊपर कूदती है।",
    "Tamil": "விரைவான பழுப்பு நரி சோம்பேறி நாயின் மேல் குதிக்கிறது.",
    "Thai": "สุนัขจิ้งจอกสีน้ำตาลกระโดดข้ามสุนัขขี้เกียจ",
    "Georgian": "სწრაფი ყავისფერი მელა ზარმაც ძაღლზე ხტება.",
    "Armenian": "Արագ շագանակագույն աղվեսը ցատկում է ծույլ շան վրայով։",
    "Ethiopic": "ፈጣኑ ቡናማ ቀበሮ በሰነፉ ውሻ ላይ ዘለለ።",
    "Chinese": "敏捷的棕色狐狸跳过了懒狗。",
    "Japanese": "素早い茶色の狐がのろまな犬を飛び越える。",
    "Korean": "빠른 갈색 여우가 게으른 개를 뛰어넘는다.",
    "Emoji": "Tokens 🤖 and 👩‍👩‍👧‍👦, 👍🏽, 🇫🇷🇯🇵, ❤️, 1️⃣, 🏳️‍🌈!",
}

EDGE_CASES = [
    "",
    " ",
    "   ",
    " leading space",
    "trailing space ",
    "  two  spaces  inside  ",
    "tab\tand\nnewline\r\n",
    "\n\n\n",
    "digits 0123456789 3.14159 1,000,000 2024-11-25",
    "combining: e\u0301 a\u0308 n\u0303 \u1ec7 \u0915\u093f",
    "rare CJK: \U00020000\U0002a6d6 \u9fff and old scripts: \U00010330\U00010331 \U00013000",
    "controls \x00\x01\x7f and \ufffd and zero\u200bwidth\ufeffbom",
    "looks special: <s> </s> <unk> <0x41> [INST] hi [/INST] [TOOL_CALLS] [REFERENCE_DOC_1] ▁ ▁▁",
    "x" * 40 + " " + "ab" * 30,
    "mixed: Hello, 世界! Привет, мир! مرحبا 👋",
]


def all_texts() -> list[str]:
    """Every sentence, every edge case, and all sentences joined into one paragraph."""
    return list(SENTENCES.values()) + EDGE_CASES + [" ".join(SENTENCES.values())]
