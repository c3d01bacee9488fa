"""Relevance scoring (confidence x the confidence matrix's weight) and snippet extraction."""

import json
import re
from dataclasses import dataclass, field
from enum import StrEnum

SNIPPET_LENGTH = 250
_WHITESPACE = re.compile(r"\s+")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


class Verdict(StrEnum):
    """What a confidence matrix says of one insight."""

    REVIEW = "review"  # stored, pending a person's decision
    AUTO_APPROVE = "auto-approve"  # stored, approved by the rule
    AUTO_FILTER = "auto-filter"  # stored, filtered by the rule (below its minimum)
    DROP = "drop"  # outside the rule's range: counted, not stored


@dataclass(frozen=True)
class Rule:
    insight_type: str
    min_confidence: float
    max_confidence: float
    weight: float
    auto_approve_at: float | None = None
    auto_filter: bool = False

    def range_words(self) -> str:
        return f"{self.insight_type}: {self.min_confidence:.2f} to {self.max_confidence:.2f}"

    def describe(self, verdict: Verdict) -> str:
        if verdict is Verdict.AUTO_APPROVE:
            return f"{self.insight_type}: auto-approve at confidence >= {self.auto_approve_at:g}"
        return f"{self.insight_type}: auto-filter below confidence {self.min_confidence:g}"


@dataclass(frozen=True)
class Matrix:
    """A confidence matrix: one rule per insight type, and a weight for unknown types."""

    default_weight: float
    rules: tuple[Rule, ...] = ()
    name: str = ""
    # What becomes of an insight that carries no confidence (REVIEW, AUTO_FILTER or DROP).
    no_confidence: Verdict = Verdict.REVIEW
    # The recorded version this is (streams.config.versions): its number, named in the
    # rules' decisions, and its id, recorded on every item it judges.
    version: int = 0
    version_id: int | None = None
    _by_type: dict = field(init=False, repr=False, compare=False, hash=False)

    def __post_init__(self):
        object.__setattr__(self, "_by_type", {r.insight_type: r for r in self.rules})

    def rule_for(self, insight_type: str) -> Rule | None:
        return self._by_type.get(insight_type)

    def weight_for(self, insight_type: str) -> float:
        rule = self.rule_for(insight_type)
        return self.default_weight if rule is None else rule.weight

    def verdict(self, insight_type: str, confidence: float | None) -> tuple[Verdict, str]:
        """The verdict for an insight and, for an automatic decision, the rule that made it.

        An insight without a confidence (an article suggestion, say) cannot be placed in a
        rule's range: the matrix's own `no_confidence` rule decides it."""
        prefix = self._prefix()
        if confidence is None:
            if self.no_confidence is Verdict.AUTO_FILTER:
                return Verdict.AUTO_FILTER, f"{prefix}no confidence: auto-filter"
            if self.no_confidence is Verdict.DROP:
                return Verdict.DROP, f"{prefix}no confidence: not stored"
            return self.no_confidence, ""
        rule = self.rule_for(insight_type)
        if rule is None:
            return Verdict.REVIEW, ""
        if confidence < rule.min_confidence:
            if rule.auto_filter:
                return Verdict.AUTO_FILTER, self._describe(rule, Verdict.AUTO_FILTER)
            return Verdict.DROP, f"{prefix}{rule.range_words()}: below it, not stored"
        if confidence > rule.max_confidence:
            return Verdict.DROP, f"{prefix}{rule.range_words()}: above it, not stored"
        if rule.auto_approve_at is not None and confidence >= rule.auto_approve_at:
            return Verdict.AUTO_APPROVE, self._describe(rule, Verdict.AUTO_APPROVE)
        return Verdict.REVIEW, ""

    def _describe(self, rule: Rule, verdict: Verdict) -> str:
        return self._prefix() + rule.describe(verdict)

    def _prefix(self) -> str:
        """'confidence matrix default version 3, ' (the version once one is recorded)."""
        if not self.name:
            return ""
        version = f" version {self.version}" if self.version else ""
        return f"confidence matrix {self.name}{version}, "

    def envelope(self, insight_types: list[str]) -> tuple[float, float]:
        """The confidence range a subscription asks the server for.

        A subscription carries one range, so it is the union of the selected types' rules;
        each type's own rule is applied again on arrival. A stream that takes every type
        (an empty list), or a type without a rule, may receive any confidence: 0..1. A rule
        that auto-filters needs what is below its minimum too, to record it as filtered.
        """
        if not insight_types or any(t not in self._by_type for t in insight_types):
            return 0.0, 1.0
        rules = [self._by_type[t] for t in insight_types]
        low = min(0.0 if r.auto_filter else r.min_confidence for r in rules)
        return low, max(r.max_confidence for r in rules)


def relevance(confidence: float | None, weight: float) -> float | None:
    return None if confidence is None else round(confidence * weight, 6)


def extract_snippet(content, limit: int = SNIPPET_LENGTH) -> str:
    """The text an officer reads: content.text when there is one, else the content itself.

    Whitespace runs become one space and control characters are dropped; longer text is
    cut to `limit` characters, the last one an ellipsis.
    """
    if isinstance(content, dict) and isinstance(content.get("text"), str):
        text = content["text"]
    elif isinstance(content, str):
        text = content
    elif content is None:
        text = ""
    else:
        text = json.dumps(content, ensure_ascii=False, sort_keys=True)
    if not text.isprintable() or "  " in text:  # most text needs neither regex
        text = _WHITESPACE.sub(" ", _CONTROL.sub("", text))
    text = text.strip()
    if len(text) <= limit:
        return text
    return text[: limit - 1].rstrip() + "…"


# Genesys' recommended knowledge confidence thresholds (GENESYS-NOTES.md 1.4, from Genesys'
# help "Configure Genesys Agent Copilot settings"): new matrices start from them, and the
# admin warns when a knowledge rule's minimum is set below them.
KNOWLEDGE_TYPES = ("knowledge.search", "knowledge_recommendation")
GENESYS_THRESHOLD_NO_CONTENT_SEARCH = 0.5
GENESYS_THRESHOLD_ENGLISH = 0.65
GENESYS_THRESHOLD_OTHER_LANGUAGES = 0.7
GENESYS_THRESHOLDS = (
    f"{GENESYS_THRESHOLD_NO_CONTENT_SEARCH} for knowledge bases without content search, "
    f"{GENESYS_THRESHOLD_ENGLISH} for English content search, "
    f"{GENESYS_THRESHOLD_OTHER_LANGUAGES} for other languages"
)


def below_genesys(insight_type: str, minimum: float) -> str:
    """Why a knowledge rule's minimum is below Genesys' own recommendation, or ""."""
    if insight_type not in KNOWLEDGE_TYPES:
        return ""
    if minimum < GENESYS_THRESHOLD_NO_CONTENT_SEARCH:
        return (
            f"The {insight_type} rule's minimum confidence {minimum:g} is below every threshold "
            f"Genesys recommends ({GENESYS_THRESHOLDS}): officers will see answers Genesys "
            f"itself would hold back."
        )
    if minimum < GENESYS_THRESHOLD_ENGLISH:
        return (
            f"The {insight_type} rule's minimum confidence {minimum:g} is below Genesys' "
            f"recommendation for content-search knowledge bases ({GENESYS_THRESHOLDS}); it "
            f"suits knowledge bases without content search only."
        )
    return ""
