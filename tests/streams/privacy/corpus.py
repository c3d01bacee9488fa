"""A labelled corpus of personal data in agent-assist sentences, and hard negatives, made
with Faker across several locales (seeded: the same corpus every run)."""

import random
from dataclasses import dataclass

import phonenumbers
from faker import Faker

from streams.privacy.detect import CARD, EMAIL, IBAN, PHONE

SEED = 20261207
SIZE = 400  # per kind

CARD_BRANDS = ("visa16", "visa19", "mastercard", "amex", "discover", "diners", "jcb15", "jcb16")
IBAN_LOCALES = ("de_DE", "fr_FR", "es_ES", "it_IT", "nl_NL", "en_GB", "pt_PT", "fi_FI")
EMAIL_LOCALES = ("en_GB", "en_US", "de_DE", "fr_FR", "es_ES", "it_IT", "nl_NL", "pl_PL")
# Regions the detector is configured for (its default), with a Faker locale each.
PHONE_LOCALES = {
    "GB": "en_GB",
    "US": "en_US",
    "DE": "de_DE",
    "FR": "fr_FR",
    "NL": "nl_NL",
    "IE": "en_IE",
}

SENTENCES = (
    "The customer read out {} to confirm the payment.",
    "Caller asked to update the record to {} before the refund.",
    "Verify {} against the account before discussing the balance.",
    "Customer says: my details are {}, please use them.",
    "Note from the agent: {} given during the call.",
    "{} was mentioned; remind the customer not to share it on calls.",
)


@dataclass(frozen=True)
class Sample:
    text: str
    kind: str | None  # None: a hard negative
    value: str = ""


def _fake(locale: str, seed: int) -> Faker:
    fake = Faker(locale)
    fake.seed_instance(seed)
    return fake


def _sentence(rng: random.Random, value: str) -> str:
    return rng.choice(SENTENCES).format(value)


def cards(rng: random.Random) -> list[Sample]:
    fake = _fake("en_US", SEED)
    out = []
    for n in range(SIZE):
        number = fake.credit_card_number(card_type=CARD_BRANDS[n % len(CARD_BRANDS)])
        separator = ("", " ", "-")[n % 3]
        number = separator.join(_groups(number)) if separator else number
        out.append(Sample(_sentence(rng, f"card {number}"), CARD, number))
    return out


def _groups(number: str) -> list[str]:
    """As the card is printed: Amex 4-6-5, Diners 4-6-4, the others in fours."""
    if len(number) in (14, 15) and number[0] == "3":
        return [number[:4], number[4:10], number[10:]]
    return [number[i : i + 4] for i in range(0, len(number), 4)]


def ibans(rng: random.Random) -> list[Sample]:
    out = []
    for n in range(SIZE):
        fake = _fake(IBAN_LOCALES[n % len(IBAN_LOCALES)], SEED + n)
        iban = fake.iban()
        if n % 2:  # printed in groups of four, as on a statement
            iban = " ".join(iban[i : i + 4] for i in range(0, len(iban), 4))
        out.append(Sample(_sentence(rng, f"IBAN {iban}"), IBAN, iban))
    return out


def emails(rng: random.Random) -> list[Sample]:
    out = []
    for n in range(SIZE):
        fake = _fake(EMAIL_LOCALES[n % len(EMAIL_LOCALES)], SEED + n)
        email = fake.email() if n % 2 else fake.free_email()
        out.append(Sample(_sentence(rng, f"e-mail {email}"), EMAIL, email))
    return out


def phones(rng: random.Random) -> list[Sample]:
    """Valid numbers of the configured regions (Faker's, kept where phonenumbers says they
    are valid), national and international formats."""
    out = []
    regions = list(PHONE_LOCALES)
    n = 0
    while len(out) < SIZE:
        region = regions[n % len(regions)]
        fake = _fake(PHONE_LOCALES[region], SEED + n)
        n += 1
        try:
            number = phonenumbers.parse(fake.phone_number(), region)
        except phonenumbers.NumberParseException:
            continue
        if not phonenumbers.is_valid_number(number):
            continue
        number.extension = None  # an extension alone identifies nobody
        style = (
            phonenumbers.PhoneNumberFormat.NATIONAL
            if len(out) % 2
            else phonenumbers.PhoneNumberFormat.INTERNATIONAL
        )
        printed = phonenumbers.format_number(number, style)
        out.append(Sample(_sentence(rng, f"phone {printed}"), PHONE, printed))
    return out


def negatives(rng: random.Random) -> list[Sample]:
    """What agent-assist texts hold that is not personal data: order and ticket numbers,
    dates, amounts, ids, policy references."""
    fake = _fake("en_GB", SEED)
    makers = (
        lambda: f"order number {rng.randint(10_000_000, 99_999_999)}",
        lambda: f"order {rng.randint(1_000_000_000, 9_999_999_999)}",
        lambda: f"invoice INV-{rng.randint(100_000, 999_999)}",
        lambda: f"ticket #{rng.randint(1_000_000, 9_999_999)}",
        lambda: f"case reference {rng.randint(100_000_000, 999_999_999)}",
        lambda: f"on {fake.date()}",
        lambda: f"on {fake.date(pattern='%d/%m/%Y')}",
        lambda: f"since {fake.date(pattern='%d.%m.%Y')}",
        lambda: f"an amount of £{rng.randint(1, 99_999):,}.{rng.randint(0, 99):02d}",
        lambda: f"EUR {rng.randint(1, 999)}.{rng.randint(100, 999)},{rng.randint(0, 99):02d}",
        lambda: f"customer id {fake.uuid4()}",
        lambda: f"policy KB-{rng.randint(1, 9_999)}",
        lambda: f"tracking {fake.bothify('??#########??').upper()}",
        lambda: f"at {fake.time()} on {fake.date()}",
        lambda: f"version {rng.randint(1, 20)}.{rng.randint(0, 99)}.{rng.randint(0, 999)}",
        lambda: f"parcel {rng.randint(10**15, 10**16 - 1)}",
    )
    return [Sample(_sentence(rng, makers[n % len(makers)]()), None) for n in range(SIZE * 2)]


def corpus() -> dict[str | None, list[Sample]]:
    rng = random.Random(SEED)
    return {
        CARD: cards(rng),
        IBAN: ibans(rng),
        EMAIL: emails(rng),
        PHONE: phones(rng),
        None: negatives(rng),
    }
