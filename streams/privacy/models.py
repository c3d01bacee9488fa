"""What the privacy package keeps: how personal data is detected (one row, under four-eyes),
each conversation's data key (wrapped, destroyed on erasure), the encrypted originals where
the deployment keeps them, the keyed hashes that find a data subject, and how much was found
per kind and day."""

from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone

from streams.privacy import detect


def _known(value, known, what: str) -> None:
    unknown = sorted(set(value or []) - set(known))
    if unknown:
        raise ValidationError(f"{', '.join(unknown)}: not {what} (known: {', '.join(known)})")


def _valid_kinds(value):
    _known(value, detect.KINDS, "a kind of personal data")


def _valid_national_ids(value):
    _known(value, detect.NATIONAL_IDS, "a national id the detector knows")


def _valid_regions(value):
    import phonenumbers

    unknown = sorted(r for r in value or [] if r not in phonenumbers.SUPPORTED_REGIONS)
    if unknown:
        raise ValidationError(
            f"{', '.join(unknown)}: not a region code (two letters, such as GB, US, DE)"
        )


def _valid_styles(value):
    if not isinstance(value, dict):
        raise ValidationError("Give an object: kind -> mask or label.")
    for kind, style in value.items():
        if kind not in detect.KINDS or style not in detect.STYLES:
            raise ValidationError(
                f"{kind}: {style}: each kind reads as 'mask' (card ****1111) or 'label' ([card])"
            )


class PrivacySettings(models.Model):
    """How personal data is found (one row): which kinds, which phone regions, which
    national ids, and what each becomes. Changes wait for a second admin under four-eyes."""

    kinds = models.JSONField(
        default=list,
        blank=True,
        validators=[_valid_kinds],
        help_text="The kinds looked for, of: " + ", ".join(detect.KINDS) + ". Empty: all.",
    )
    phone_regions = models.JSONField(
        default=list,
        blank=True,
        validators=[_valid_regions],
        help_text="Regions whose national phone numbers are recognized (GB, US, DE...). "
        "Numbers in international form (+44 ...) are recognized whatever the region.",
    )
    national_ids = models.JSONField(
        default=list,
        blank=True,
        validators=[_valid_national_ids],
        help_text="National ids looked for, of: " + ", ".join(detect.NATIONAL_IDS) + ".",
    )
    styles = models.JSONField(
        default=dict,
        blank=True,
        validators=[_valid_styles],
        help_text="What each kind becomes: 'mask' (card ****1111, [IBAN DE**…3000]) or "
        "'label' ([card], [IBAN]); unnamed kinds are masked.",
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "personal data detection"
        verbose_name_plural = "personal data detection"
        permissions = [
            ("reveal_original", "Can reveal an item's original text, for a stated reason"),
            ("erase_subject", "Can find a data subject and erase a conversation"),
        ]

    def __str__(self):
        return "Personal data detection"

    @classmethod
    def current(cls) -> "PrivacySettings":
        return cls.objects.get_or_create(pk=1, defaults={"phone_regions": list(DEFAULT_REGIONS)})[0]

    def config(self) -> detect.DetectorConfig:
        return detect.DetectorConfig(
            kinds=frozenset(self.kinds or detect.KINDS) | detect.ALWAYS,
            phone_regions=tuple(self.phone_regions or ()),
            national_ids=tuple(self.national_ids or ()),
            styles=dict(self.styles or {}),
        )

    def audit_snapshot(self) -> dict:
        return {
            "name": "settings",
            "kinds": sorted(set(self.kinds or detect.KINDS) | detect.ALWAYS),
            "phone_regions": list(self.phone_regions or []),
            "national_ids": list(self.national_ids or []),
            "styles": dict(self.styles or {}),
        }


DEFAULT_REGIONS = detect.DetectorConfig().phone_regions


class ConversationKey(models.Model):
    """A conversation's data key, wrapped by the master key (PERSONAL_DATA_MASTER_KEY):
    its originals can be read only while it exists. Erasure destroys it."""

    conversation_id = models.CharField(max_length=128, unique=True)
    wrapped = models.TextField(help_text="The data key, wrapped (AES-GCM) by the master key.")
    master_key_id = models.CharField(max_length=32)
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self):
        return f"Data key of conversation {self.conversation_id}"


class Original(models.Model):
    """A text as it arrived, encrypted under its conversation's key (AES-GCM): kept only
    with PERSONAL_DATA_POLICY=redacted_and_original, read only by a reveal."""

    key = models.ForeignKey(ConversationKey, on_delete=models.CASCADE, related_name="originals")
    item_kind = models.CharField(max_length=12)  # insight, knowledge, quarantine
    item_ref = models.CharField(max_length=200, help_text="stream:external id, or a row id")
    field = models.CharField(max_length=40)
    sealed = models.TextField(help_text="nonce and ciphertext, base64")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["item_kind", "item_ref", "field"], name="original_once")
        ]

    def __str__(self):
        return f"Original {self.field} of {self.item_kind} {self.item_ref}"


class SubjectHash(models.Model):
    """A detected identifier (e-mail, phone, card, IBAN) as a keyed hash, and the
    conversation it was in: a data subject is found without keeping what identifies them."""

    digest = models.CharField(max_length=64)
    kind = models.CharField(max_length=12)
    conversation_id = models.CharField(max_length=128)
    first_seen = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["digest", "conversation_id"], name="subject_once_per_conversation"
            )
        ]
        indexes = [models.Index(fields=["conversation_id"], name="subject_conversation")]

    def __str__(self):
        return f"{self.kind} in conversation {self.conversation_id}"


class DetectionCount(models.Model):
    """How much personal data of each kind was found on a day (the dashboard's figures)."""

    day = models.DateField()
    kind = models.CharField(max_length=12)
    count = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["day", "kind"], name="detections_once")]

    def __str__(self):
        return f"{self.count} {self.kind} on {self.day}"
