import pytest

from portal.text import escape_markdown, sanitize_markdown


@pytest.mark.parametrize(
    "value",
    [
        "<script>alert(1)</script>",
        "<img src=x onerror=alert(1)>",
        "[click](javascript:alert(1))",
        "![track](https://evil.example/pixel.png)",
        "**bold** _it_ `code` # head",
        ":red[alert] :material/home:",
        "$x^2$",
    ],
)
def test_escape_markdown_leaves_no_markup(value):
    escaped = escape_markdown(value)

    for special in "<>[]()*_`#:$!":
        assert f"{special}" not in escaped.replace(f"\\{special}", "")


def test_escape_markdown_folds_newlines():
    assert "\n" not in escape_markdown("line one\n# line two")


def test_sanitize_keeps_plain_formatting():
    assert sanitize_markdown("## Welcome\n\n- **bold** item") == "## Welcome\n\n- **bold** item"


def test_sanitize_keeps_https_links():
    assert sanitize_markdown("[shop](https://shop.example.com/a)") == "[shop](https://shop.example.com/a)"


@pytest.mark.parametrize("url", ["javascript:alert(1)", "data:text/html,x", "JaVaScRiPt:alert(1)", "//evil.example"])
def test_sanitize_drops_unsafe_link_targets(url):
    assert sanitize_markdown(f"[click]({url})") == "click"


def test_sanitize_replaces_images_with_alt_text():
    assert sanitize_markdown("![logo](https://evil.example/x.png) after") == "logo after"


def test_sanitize_drops_reference_image_definitions():
    result = sanitize_markdown("![logo][1]\n\n[1]: https://evil.example/x.png")

    assert "evil.example" not in result


def test_sanitize_escapes_html():
    result = sanitize_markdown("<script>alert(1)</script><img src=x onerror=alert(1)>")

    assert "<" not in result


def test_sanitize_disables_autolinks():
    assert "<javascript:" not in sanitize_markdown("<javascript:alert(1)>")


@pytest.mark.parametrize(
    "source",
    [
        "![alt [nested] x](https://evil.example/a.png)",
        "![alt \\] x](https://evil.example/b.png)",
        "![ref]\n\n> [ref]: https://evil.example/c.png",
        "![ref]\n\n- [ref]: https://evil.example/d.png",
    ],
)
def test_sanitize_leaves_no_image_syntax(source):
    assert "![" not in sanitize_markdown(source).replace("!\\[", "")
