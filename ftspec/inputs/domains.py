"""What a spec's free-text `domain` means in the catalog's terms.

A spec says `domain = "healthcare"` or `"sports/cricket"`; the catalog tags its models `medical`, `clinical`,
`code` and so on. `catalog_domains()` maps the one onto the other: a tuple of catalog domains for a subject that
has specialist models, an empty tuple for a subject that general-purpose models serve, and None for a word it does
not know. Words are matched one part at a time (`sports/cricket` is `sports`, then `cricket`), so a spec may be as
specific as it likes.

>>> catalog_domains("healthcare"), catalog_domains("sports/cricket"), catalog_domains("knitting")
(('medical', 'clinical', 'biomedical'), (), None)
"""

from __future__ import annotations

import re

from ..diagnostics import closest

MEDICAL = ("medical", "clinical", "biomedical")
# Catalog domains a model may carry and still be a general-purpose choice for any subject.
GENERAL_PURPOSE = frozenset({"general", "multilingual"})

# The catalog domains each subject maps to; () for subjects no specialist catalog model serves.
_SUBJECTS: dict[tuple[str, ...], tuple[str, ...]] = {
    ("healthcare", "health", "medical", "medicine", "clinical", "clinic", "biomedical", "biomedicine", "biology",
     "pharma", "pharmacy", "nursing", "patients"): MEDICAL,
    ("finance", "financial", "banking", "fintech", "accounting", "economics", "investing", "insurance"): ("finance",),
    ("legal", "law", "contracts", "compliance", "regulation"): ("legal",),
    ("code", "coding", "programming", "software", "developer", "python", "sql"): ("code",),
    ("multilingual", "translation", "languages"): ("multilingual",),
    ("science", "scientific", "research", "physics", "chemistry", "mathematics", "math"): ("science",),
    ("general", "generic", "assistant", "chat", "sports", "sport", "cricket", "football", "soccer", "tennis",
     "baseball", "basketball", "education", "support", "customer-support", "retail", "ecommerce", "marketing",
     "news", "media", "travel", "gaming", "hr", "sentiment", "reviews"): (),
}  # fmt: skip
_WORDS: dict[str, tuple[str, ...]] = {word: domains for words, domains in _SUBJECTS.items() for word in words}


def _parts(domain: str) -> list[str]:
    """The words of a domain, whole first: `Sports/Cricket` is `sports/cricket`, `sports`, `cricket`."""
    text = domain.strip().lower()
    return [text, *(part for part in re.split(r"[/\s,;:]+", text) if part and part != text)]


def catalog_domains(domain: str) -> tuple[str, ...] | None:
    """The catalog domains a spec's domain maps to; () for a general subject, None when no word of it is known."""
    for part in _parts(domain):
        if part in _WORDS:
            return _WORDS[part]
    return None


def known_words() -> list[str]:
    """Every domain word this module knows, sorted."""
    return sorted(_WORDS)


def closest_word(domain: str) -> str | None:
    """The known word most like one of the domain's words, for a did-you-mean."""
    for part in _parts(domain):
        match = closest(part, _WORDS)
        if match:
            return match
    return None


def general_purpose(domains: tuple[str, ...]) -> bool:
    """Tagged `general`, or only multilingual: a code model that also speaks many languages is still a code model."""
    return "general" in domains or set(domains) <= GENERAL_PURPOSE


def describe(domains: tuple[str, ...]) -> str:
    """`medical, clinical and biomedical`: catalog domains in a sentence."""
    return domains[0] if len(domains) == 1 else ", ".join(domains[:-1]) + " and " + domains[-1]
