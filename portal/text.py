"""Making text from the database safe for Streamlit's Markdown rendering."""

from __future__ import annotations

import re

# Every ASCII punctuation character CommonMark lets a backslash escape; ':' and '$' too,
# because Streamlit turns :name: into icons and colours and $...$ into LaTeX.
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~$:&=\"'^])")
_IMAGE = re.compile(r"!\[([^\]]*)\]\(([^)]*)\)")
_REFERENCE_IMAGE = re.compile(r"!\[([^\]]*)\]\[[^\]]*\]")
# A link target may contain one level of balanced brackets, as CommonMark allows.
_LINK = re.compile(r"\[([^\]]+)\]\(\s*((?:[^()\s]|\([^()\s]*\))*)[^)]*\)")
_REFERENCE_DEFINITION = re.compile(r"^\s{0,3}\[[^\]]+\]:\s*\S+.*$", re.MULTILINE)
_SAFE_URL = re.compile(r"^(https?://|mailto:)[^\s<>\"']+$", re.IGNORECASE)
MAX_PLAIN_LENGTH = 10_000


def escape_markdown(value: str) -> str:
    """Escape text so Markdown shows it literally: no links, images, HTML or formatting."""
    flat = " ".join(value[:MAX_PLAIN_LENGTH].split())
    return _MARKDOWN_SPECIAL.sub(r"\\\1", flat)


def sanitize_markdown(source: str) -> str:
    """Return the supplier's Markdown with only what is safe to render left in it.

    Images become their alt text, because an image from another host would tell that
    host who reads the page. Links keep their text and stay links only for http(s)
    and mailto targets. '<' is written as an entity, so neither HTML nor autolinks such
    as <javascript:...> survive.
    """
    text = source.replace("<", "&lt;")
    text = _IMAGE.sub(lambda match: escape_markdown(match.group(1)), text)
    text = _REFERENCE_IMAGE.sub(lambda match: escape_markdown(match.group(1)), text)
    text = _REFERENCE_DEFINITION.sub("", text)

    def keep_safe_link(match: re.Match[str]) -> str:
        label, url = match.group(1), match.group(2)
        if _SAFE_URL.match(url):
            return f"[{label}]({url})"
        return label

    text = _LINK.sub(keep_safe_link, text)
    # Whatever "![" is left (nested brackets in alt text, a shortcut reference whose
    # definition hides in a blockquote) could still form an image: escape them all.
    return text.replace("![", "!\\[")
