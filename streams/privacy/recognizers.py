"""Presidio's recognizers as streams.privacy.detect runs them, and the two of its own (card
verification codes, phone numbers read in windows). Imported by the first Detector only:
Presidio imports spaCy, which costs a process about a second and tens of megabytes, and
most processes (web pages, exports, commands) never detect anything."""

import re

import phonenumbers
from presidio_analyzer import (
    EntityRecognizer,
    LocalRecognizer,
    Pattern,
    RecognizerResult,
    predefined_recognizers,
)
from presidio_analyzer.predefined_recognizers import (
    CreditCardRecognizer,
    EmailRecognizer,
    IbanRecognizer,
)

__all__ = [
    "CARD_NUMBERS",
    "CardCodeRecognizer",
    "CreditCardRecognizer",
    "EmailRecognizer",
    "IbanRecognizer",
    "PhoneWindows",
    "national_id_recognizer",
]


def national_id_recognizer(name: str) -> EntityRecognizer:
    """Presidio's recognizer of that name (streams.privacy.detect.NATIONAL_IDS)."""
    return getattr(predefined_recognizers, name)()


# A phone number stands apart: not inside a word, an id or a tracking number.
PHONE_WINDOW = re.compile(r"(?<![\w-])\+?\(?\d[\d ().\-/]{5,18}\d(?![\w-])")
DIGIT = re.compile(r"\d")

CARD_CODE_PATTERN = re.compile(
    r"(?i)\b(?:cvv2?|cvc2?|cid|csc|security code|card code|"
    r"card verification(?: code| value| number)?)\b\D{0,12}?(\d{3,4})\b"
)

PHONE_MIN_DIGITS, PHONE_MAX_DIGITS = 8, 15
PHONE_MIN_NATIONAL_DIGITS = 9
PHONE_CONTEXT = 30  # characters before a number read for what it is said to be
# Dates, and identifiers grouped unlike any phone number (a US SSN's 3-2-4).
NOT_A_PHONE = re.compile(
    r"\d{4}-\d{1,2}-\d{1,2}|\d{1,2}[/.\-]\d{1,2}[/.\-]\d{2,4}|\d{3}-\d{2}-\d{4}"
)
OTHER_NUMBER_WORDS = re.compile(
    r"(?i)\b(?:order|invoice|ticket|ref(?:erence)?|case|claim|account|acct|policy|booking|"
    r"tracking|transaction|parcel|serial|customer id|id)\b[\s#:.\-]*(?:n(?:o|umber)\.?|#)?[\s#:.]*$"
)
PHONE_WORDS = re.compile(r"(?i)\b(?:phone|tel(?:ephone)?|mobile|cell|call|ring|text|whatsapp)\b")


# Card numbers as printed by every network (Presidio's own pattern leaves out 2-series
# Mastercard, 19-digit Visa, and Amex and Diners grouped 4-6-5 / 4-6-4): the issuer prefixes,
# then 13 to 19 digits with spaces or dashes anywhere between; Presidio checks Luhn.
# Card numbers of any major network, 13 to 19 digits, spaces or hyphens between them (the
# recognizer then checks Luhn). One pattern, wider than Presidio's own (19 digits, Mastercard
# 2-series, Maestro, every JCB and Diners range), so one pass and one Luhn check per number.
CARD_NUMBERS = Pattern(
    "Card numbers by issuer prefix",
    r"(?<![\d-])(?=4|5|2(?:2[2-9]|[3-6]\d|7[01]|720)|3|6|2131|1800)"
    r"(?:\d[ -]?){12,18}\d(?![\d-])",
    0.3,
)


class CardCodeRecognizer(LocalRecognizer):
    """A card verification code: three or four digits after a word that names one."""

    def __init__(self):
        super().__init__(supported_entities=["CARD_CODE"], name="card code")

    def load(self) -> None:
        pass

    def analyze(self, text, entities, nlp_artifacts=None) -> list[RecognizerResult]:
        return [
            RecognizerResult("CARD_CODE", match.start(1), match.end(1), 1.0)
            for match in CARD_CODE_PATTERN.finditer(text)
        ]


class PhoneWindows(EntityRecognizer):
    """Phone numbers, validated by python-phonenumbers for the configured regions (or by
    their own country code), read over short windows around runs of digits. Presidio's own
    phone recognizer scans the whole text once per region with phonenumbers' matcher,
    which costs milliseconds a text; a window costs a parse per region, and most texts have
    none."""

    def __init__(self, regions: tuple[str, ...]):
        self.regions = tuple(regions)
        super().__init__(supported_entities=["PHONE_NUMBER"], name="phone windows")

    def load(self) -> None:
        pass

    def analyze(self, text, entities, nlp_artifacts=None, skip=()) -> list[RecognizerResult]:
        found = []
        for window in PHONE_WINDOW.finditer(text):
            start, end = window.span()
            if any(start < s_end and s_start < end for s_start, s_end in skip):
                continue  # inside a card number or an IBAN found already
            e164 = self._phone(text, window.group(), start)
            if e164:
                found.append(
                    RecognizerResult(
                        "PHONE_NUMBER", start, end, 1.0, recognition_metadata={"e164": e164}
                    )
                )
        return found

    def _phone(self, text: str, candidate: str, start: int) -> str:
        """A valid number for a configured region (or by its own country code) that reads
        as a phone number: not a date, not grouped as another identifier, not named as an
        order, invoice, ticket or account number."""
        digits = len(DIGIT.findall(candidate))
        international = candidate.startswith(("+", "00"))
        if not PHONE_MIN_DIGITS <= digits <= PHONE_MAX_DIGITS or NOT_A_PHONE.fullmatch(candidate):
            return ""
        before = text[max(0, start - PHONE_CONTEXT) : start]
        if not international:
            if digits < PHONE_MIN_NATIONAL_DIGITS or OTHER_NUMBER_WORDS.search(before):
                return ""
            if candidate.isdigit() and not (
                candidate.startswith("0") or PHONE_WORDS.search(before)
            ):
                return ""  # a bare run of digits is a phone number only when said so
        return self._valid(candidate, international)

    def _valid(self, candidate: str, international: bool) -> str:
        """The number in E.164 when it is valid, else ""."""
        for region in (None,) if international else self.regions:
            try:
                number = phonenumbers.parse(candidate, region)
            except phonenumbers.NumberParseException:
                continue
            if phonenumbers.is_valid_number(number):
                return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
        return ""
