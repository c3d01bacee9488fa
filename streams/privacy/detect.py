"""Customers' personal data, found in text before anything is stored, and taken out.

Microsoft Presidio's pattern recognizers do the finding (card numbers with the Luhn check,
IBANs with mod-97, e-mail addresses against the public-suffix list bundled with tldextract,
phone numbers through `phonenumbers` for the configured regions, national ids an admin
enables) with no language model: nothing is downloaded at run time. Around them:

- card verification codes (after a word such as "CVV") and expiry dates next to a card
  number, which PCI DSS forbids keeping (the codes not even encrypted);
- the names of the conversation's participants, as Genesys gave them;
- cheap gates (one regular expression each) so that a text with nothing that could be
  personal data costs a few microseconds, and the phone matcher reads only short windows
  around digit runs (it is the slowest recognizer by far);
- what each finding becomes (`card ****1111`, `[email]`, `[IBAN DE**…3000]`, `[phone]`),
  applied by Presidio's anonymizer.

Plain Python, no Django: `Detector(DetectorConfig(...))`, then `scan(text)` or
`scan_value(json)`. A finding keeps the original only in memory, for the subject index and
the encrypted originals (streams.privacy.store); it is never written as it is.
"""

import functools
import os
import re
from dataclasses import dataclass, field

# EmailRecognizer validates domains with tldextract, which would fetch the public-suffix
# list on first use: its bundled snapshot serves instead.
os.environ.setdefault("TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS", "")

CARD, CARD_CODE, EXPIRY = "card", "card_code", "card_expiry"
EMAIL, IBAN, PHONE, NATIONAL_ID, NAME = "email", "iban", "phone", "national_id", "name"
KINDS = (CARD, CARD_CODE, EXPIRY, EMAIL, IBAN, PHONE, NATIONAL_ID, NAME)
KIND_WORDS = {
    CARD: "card numbers",
    CARD_CODE: "card verification codes",
    EXPIRY: "card expiry dates",
    EMAIL: "e-mail addresses",
    IBAN: "IBANs",
    PHONE: "phone numbers",
    NATIONAL_ID: "national ids",
    NAME: "participants' names",
}
# Never turned off: PCI DSS keeps no card number readable (req. 3.4) and no card code at all
# (req. 3.3.1), whatever an admin chooses.
ALWAYS = frozenset({CARD, CARD_CODE})
# Identifiers a data subject can be found by (streams.privacy.subjects).
SEARCHABLE = (EMAIL, PHONE, CARD, IBAN)
NATIONAL_IDS = {  # name -> (words, Presidio's recognizer, in streams.privacy.recognizers)
    "us_ssn": ("US social security number", "UsSsnRecognizer"),
    "uk_nino": ("UK national insurance number", "UkNinoRecognizer"),
    "es_nif": ("Spanish NIF", "EsNifRecognizer"),
    "it_fiscal_code": ("Italian fiscal code", "ItFiscalCodeRecognizer"),
    "in_aadhaar": ("Indian Aadhaar number", "InAadhaarRecognizer"),
}
# "mask": keeps what identifies nothing on its own (a card's last four, an IBAN's country);
# "label": the kind alone.
STYLES = ("mask", "label")
LABELS = {
    CARD: "[card]",
    CARD_CODE: "[card code]",
    EXPIRY: "[expiry]",
    EMAIL: "[email]",
    IBAN: "[IBAN]",
    PHONE: "[phone]",
    NATIONAL_ID: "[national id]",
    NAME: "[name]",
}


@dataclass(frozen=True)
class DetectorConfig:
    kinds: frozenset[str] = frozenset(KINDS)
    phone_regions: tuple[str, ...] = ("GB", "US", "DE", "FR", "NL", "IE")
    national_ids: tuple[str, ...] = ()
    styles: dict = field(default_factory=dict)  # kind -> "mask" or "label"

    def __hash__(self):
        return hash((self.kinds, self.phone_regions, self.national_ids, tuple(self.styles)))


@dataclass(frozen=True, slots=True)
class Finding:
    kind: str
    start: int
    end: int
    value: str  # the original: in memory only
    normal: str = ""  # a phone number in E.164, as its validation read it


@dataclass(frozen=True, slots=True)
class Scan:
    text: str
    findings: tuple[Finding, ...] = ()
    original: str = field(default="", repr=False)  # in memory only

    @property
    def found(self) -> bool:
        return bool(self.findings)


# Gates: a text that none of them matches cannot hold what their recognizers find. The first
# is all most texts meet (`might_hold`): an "@", eight digits in a row (a separator or two
# between them allowed: a card number, a phone number, an IBAN's account digits, which every
# country's format has), or a word that names a card code. Plain searches, each in C: most
# texts pass through in two or three microseconds.
DIGIT_RUN = re.compile(r"\d(?:[\s().\-/]{0,2}\d){7,}")
_NOT_DIGITS = bytes(b for b in range(256) if not 48 <= b <= 57)


def _digits(text: str) -> int:
    """How many digits (ASCII text: counted in C; other text: assumed many)."""
    return len(text.encode().translate(None, _NOT_DIGITS)) if text.isascii() else 99


def might_hold(text: str) -> bool:
    if "@" in text:
        return True
    digits = _digits(text)
    if digits < 3:  # no card code, no number of any kind
        return False
    if digits >= 8 and DIGIT_RUN.search(text):
        return True
    return _names_a_code(text)


def _names_a_code(text: str) -> bool:
    """A word that names a card verification code (what CARD_CODE_PATTERN starts with)."""
    upper = text.upper()
    return (
        "CVV" in upper
        or "CVC" in upper
        or "CSC" in upper
        or "CID" in upper
        or "SECURITY CODE" in upper
        or "CARD CODE" in upper
        or "CARD VERIFICATION" in upper
    )


# Payload values that are not text a person wrote: ids and times (they would meet the gates).
NOT_TEXT = re.compile(
    r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}|"
    r"\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?)?|"
    # Hex digests (hashes, HMACs, commitments): a run of digits inside one is no card. One
    # letter at least: a long run of digits alone may well be card numbers written together.
    r"(?:sha256:|hmac-sha256:)?(?=\d*[a-f])[0-9a-f]{32,}"
)
CARD_GATE = re.compile(r"\d(?:[ -]?\d){12,18}")
IBAN_GATE = re.compile(r"[A-Za-z]{2}\d{2}[ -]?[A-Za-z0-9]{4}")
ANY_DIGITS = re.compile(r"\d{2}")
EXPIRY_PATTERN = re.compile(
    r"(?i)(?:\b(?:exp(?:iry|ires|iration)?(?: date)?|valid (?:thru|through|until))\b\D{0,6})?"
    r"\b((?:0[1-9]|1[0-2])\s?[/\-]\s?(?:20)?\d{2})\b"
)
# "card 4111 ..." reads "card card ****1111" once masked: once is enough.
CARD_TWICE = re.compile(r"(?i)\b(card) card \*\*\*\*")
EXPIRY_REACH = 60  # characters around a card number where an expiry date counts as its


ENTITY_KINDS = {
    "CREDIT_CARD": CARD,
    "CARD_CODE": CARD_CODE,
    "EMAIL_ADDRESS": EMAIL,
    "IBAN_CODE": IBAN,
    "PHONE_NUMBER": PHONE,
}


class Detector:
    """Finds and takes out personal data as `config` says; one per configuration (cheap to
    keep, a few recognizers)."""

    def __init__(self, config: DetectorConfig | None = None):
        # Presidio (and the spaCy it imports) loads with the first detector, not with every
        # process that merely names the kinds of personal data: a web page, an export.
        from streams.privacy.recognizers import (
            CARD_NUMBERS,
            CardCodeRecognizer,
            CreditCardRecognizer,
            EmailRecognizer,
            IbanRecognizer,
            PhoneWindows,
            national_id_recognizer,
        )

        self.config = config or DetectorConfig()
        kinds = self.config.kinds
        self._cards = CreditCardRecognizer(patterns=[CARD_NUMBERS]) if CARD in kinds else None
        self._codes = CardCodeRecognizer() if CARD_CODE in kinds else None
        self._emails = EmailRecognizer() if EMAIL in kinds else None
        self._ibans = IbanRecognizer() if IBAN in kinds else None
        self._phones = (
            PhoneWindows(self.config.phone_regions)
            if PHONE in kinds and self.config.phone_regions
            else None
        )
        self._national = (
            [
                national_id_recognizer(NATIONAL_IDS[name][1])
                for name in self.config.national_ids
                if name in NATIONAL_IDS
            ]
            if NATIONAL_ID in kinds
            else []
        )

    # Finding

    def find(self, text: str, names: tuple[str, ...] = ()) -> list[Finding]:
        """Every piece of personal data in `text`, overlaps resolved (the longer wins)."""
        if not text:
            return []
        if not (names or self._national) and not might_hold(text):
            return []  # most texts: nothing that could be personal data
        results: list[tuple[str, int, int]] = []
        digits = ANY_DIGITS.search(text) is not None
        ibans = []
        if self._ibans is not None and IBAN_GATE.search(text):
            ibans = self._run(self._ibans, text, "IBAN_CODE")
            results += ibans
        if digits and self._cards is not None and _outside(CARD_GATE, text, ibans):
            cards = self._run(self._cards, text, "CREDIT_CARD")
            results += cards
            if cards and EXPIRY in self.config.kinds:
                results += _expiries(text, cards)
        if digits and self._codes is not None and _names_a_code(text):
            results += self._run(self._codes, text, "CARD_CODE")
        normals = {}
        if digits and self._phones is not None:
            taken = [(start, end) for _, start, end in results]
            phones = self._phones.analyze(text, [], None, skip=taken)
            results += [(PHONE, r.start, r.end) for r in phones]
            normals = {(r.start, r.end): r.recognition_metadata["e164"] for r in phones}
        if self._emails is not None and "@" in text:
            results += self._run(self._emails, text, "EMAIL_ADDRESS")
        if digits:
            for recognizer in self._national:
                entity = recognizer.supported_entities[0]
                results += [
                    (NATIONAL_ID, r.start, r.end)
                    for r in recognizer.analyze(text, [entity], None)
                    if r.score >= 0.5
                ]
        if NAME in self.config.kinds:
            results += _names(text, names)
        return _resolved(text, results, normals)

    @staticmethod
    def _run(recognizer, text: str, entity: str) -> list[tuple[str, int, int]]:
        return [
            (ENTITY_KINDS[entity], r.start, r.end)
            for r in recognizer.analyze(text, [entity], None)
            if r.score >= 0.5
        ]

    # Taking out

    def scan(self, text: str, names: tuple[str, ...] = ()) -> Scan:
        """`text` with its personal data taken out, and what was found."""
        findings = self.find(text, names)
        return self._taken_out(text, findings) if findings else Scan(text, (), text)

    def _taken_out(self, text: str, findings: list[Finding]) -> Scan:
        """Each finding replaced as its kind's style says. The findings are resolved (in
        order, none overlapping), so this is a splice: Presidio's anonymizer, which would
        resolve them again, costs more than the detection of a short text."""
        parts, last = [], 0
        for finding in findings:
            parts += (text[last : finding.start], self._replacement(finding.kind)(finding.value))
            last = finding.end
        parts.append(text[last:])
        return Scan(CARD_TWICE.sub(r"\1 ****", "".join(parts)), tuple(findings), text)

    def _replacement(self, kind: str):
        if self.config.styles.get(kind, "mask") == "label":
            return lambda value, label=LABELS[kind]: label
        return MASKS.get(kind, lambda value, label=LABELS[kind]: label)

    def scan_value(self, value, names: tuple[str, ...] = (), *, only_names: bool = False):
        """A JSON value (a payload) with personal data taken out of every string in it, and
        everything found. Keys stay, and so do values under keys that name ids and times
        (`conversationId`, `eventTime`), which are not text anyone wrote; with `only_names`,
        only the participants' names are looked for (a second pass, once they are known)."""
        findings: list[Finding] = []
        seen: dict[str, Scan] = {}  # a payload often says the same thing twice

        def scan(text: str) -> Scan:
            if only_names:
                found = _resolved(text, _names(text, names))
                return self._taken_out(text, found) if found else Scan(text)
            return self.scan(text, names)

        # Without names or national ids to look for, the gate alone clears most strings.
        gated = not (names or self._national or only_names)

        def clean(text: str, key: str) -> str:
            if _not_text(key) or (gated and not might_hold(text)) or NOT_TEXT.fullmatch(text):
                return text
            scanned = seen.get(text)
            if scanned is None:
                scanned = seen[text] = scan(text)
            findings.extend(scanned.findings)
            return scanned.text

        def walk(node, key: str = ""):
            """`node` cleaned; the very same object where nothing in it changed. Strings are
            handled in their container's loop: most are ids, times or clean text."""
            if isinstance(node, dict):
                changed = None
                for name, item in node.items():
                    if type(item) is str:
                        if _not_text(name) or (gated and not might_hold(item)):
                            continue  # most strings: ids, times, clean text
                        new = clean(item, name)
                    elif isinstance(item, dict | list):
                        new = walk(item, name)
                    else:
                        continue
                    if new is not item:
                        changed = changed or dict(node)
                        changed[name] = new
                return node if changed is None else changed
            if isinstance(node, list):
                new = [
                    clean(item, key)
                    if type(item) is str
                    else walk(item, key)
                    if isinstance(item, dict | list)
                    else item
                    for item in node
                ]
                return node if all(a is b for a, b in zip(new, node, strict=True)) else new
            if isinstance(node, str):
                return clean(node, key)
            return node

        return walk(value), tuple(findings)


def not_text(key: str) -> bool:
    """A payload key whose value is an id, a time or a type, never text a person wrote."""
    return key in (
        "id",
        "type",
        "topicName",
        "state",
        "status",
        "mediaType",
        "purpose",
        "language",
        "timestamp",
    ) or key.endswith(("Id", "_id", "Ids", "Time", "Date", "_at", "Uri", "Type", "_type"))


_not_text = functools.lru_cache(maxsize=4096)(not_text)


def _card_mask(value: str) -> str:
    digits = re.sub(r"\D", "", value)
    return f"card ****{digits[-4:]}"


def _iban_mask(value: str) -> str:
    compact = re.sub(r"[\s-]", "", value).upper()
    return f"[IBAN {compact[:2]}**…{compact[-4:]}]"


MASKS = {CARD: _card_mask, IBAN: _iban_mask}


def _outside(gate: re.Pattern, text: str, spans: list[tuple[str, int, int]]) -> bool:
    """Does `gate` match anywhere but inside the spans found already (an IBAN's digits are
    no card number)?"""
    return any(
        all(match.end() <= start or match.start() >= end for _, start, end in spans)
        for match in gate.finditer(text)
    )


def _expiries(text: str, cards: list[tuple[str, int, int]]) -> list[tuple[str, int, int]]:
    """Expiry dates within reach of a card number found in the text."""
    found = []
    for match in EXPIRY_PATTERN.finditer(text):
        start, end = match.span(1)
        if any(
            start - EXPIRY_REACH <= c_end and c_start <= end + EXPIRY_REACH
            for _, c_start, c_end in cards
        ):
            found.append((EXPIRY, start, end))
    return found


def _names(text: str, names: tuple[str, ...]) -> list[tuple[str, int, int]]:
    """The participants' names (whole words, any case), longest first."""
    found = []
    for name in sorted({n.strip() for n in names if len(n.strip()) >= 3}, key=len, reverse=True):
        pattern = re.compile(rf"(?<!\w){re.escape(name)}(?!\w)", re.IGNORECASE)
        found += [(NAME, m.start(), m.end()) for m in pattern.finditer(text)]
    return found


def _resolved(text: str, results: list[tuple[str, int, int]], normals=None) -> list[Finding]:
    """Overlapping findings resolved: the longer span wins (a card number over a phone
    number read inside it). `normals`: phone numbers in E.164, by span."""
    chosen: list[tuple[str, int, int]] = []
    for kind, start, end in sorted(results, key=lambda r: (-(r[2] - r[1]), r[1])):
        if all(end <= s or start >= e for _, s, e in chosen):
            chosen.append((kind, start, end))
    return [
        Finding(kind, start, end, text[start:end], (normals or {}).get((start, end), ""))
        for kind, start, end in sorted(chosen, key=lambda r: r[1])
    ]


WARM_UP_TEXTS = (
    "card 4111 1111 1111 1111 cvv 123 exp 12/29",
    "mail jane.doe@example.com",
    "IBAN DE89 3704 0044 0532 0130 00",
    "call +44 20 7946 0958 or 020 7946 0321",
)


def warm_up() -> None:
    """Load what detection loads on first use (the public-suffix trie e-mail validation
    reads, phone metadata, compiled patterns): a stream worker does it as it starts, so its
    first frames do not pay for it."""
    detector = detector_for(DetectorConfig())
    for text in WARM_UP_TEXTS:
        detector.scan(text)


@functools.lru_cache(maxsize=8)
def detector_for(config: DetectorConfig) -> Detector:
    """One detector per configuration, shared (its recognizers hold no state per text)."""
    return Detector(config)
