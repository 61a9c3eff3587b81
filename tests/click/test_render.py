"""needs_render: which pages only show their content once their scripts have run."""

from __future__ import annotations

import pytest

from tap_core.click.render import MAX_RENDER_CHECK_CHARS, needs_render

TEXT = "<p>" + "Cats are small carnivorous mammals kept as pets. " * 5 + "</p>"


@pytest.mark.parametrize(
    ("html", "why"),
    [
        ("<body><script>document.write(atob(p.join('')))</script></body>", "document.write"),
        (f"<body>{TEXT}<script>document . writeln('<form>')</script></body>", "document.write"),
        (f"<body>{TEXT}<script>var s = atob(x); run(s)</script></body>", "script loader: atob("),
        (f"<body>{TEXT}<script>eval(code)</script></body>", "script loader: eval("),
        (f"<body>{TEXT}<script>unescape('%3Cform')</script></body>", "script loader: unescape("),
        (f"<body>{TEXT}<script>new Function(body)()</script></body>", "script loader: Function("),
        (
            f"<body>{TEXT}<script>var b = new Blob([d]); URL.createObjectURL(b)</script></body>",
            "html_smuggling: a Blob saved by script",
        ),
        (f"<body>{TEXT}<a download='i.zip' href='data:application/zip;base64,UEs='>x</a></body>",
         "html_smuggling: a data: download link"),
        ("<body><div id=app></div><script src=/app.js></script></body>",
         "near-empty body (0 visible characters) with scripts"),
    ],
)
def test_script_built_pages_need_rendering(html: str, why: str) -> None:
    assert needs_render(html) == why


@pytest.mark.parametrize(
    "html",
    [
        f"<body>{TEXT}</body>",  # no script at all
        f"<body>{TEXT}<script>var a = 1; function go() {{ return a; }}</script></body>",
        "<body><form><input type=password></form><script src=/x.js></script></body>",  # a form is there
        "<body><script>var a = 1</script></body>".replace("<body>", f"<body>{TEXT}"),
        f"<body>{TEXT}<a href='data:text/plain,x'>not a download</a></body>",
    ],
)
def test_pages_whose_content_is_in_their_html_need_no_rendering(html: str) -> None:
    assert needs_render(html) is None


EMPTY = "near-empty body (0 visible characters) with scripts"


@pytest.mark.parametrize(
    ("hostile", "why"),
    [
        ("<script>" + "document" * 200_000, EMPTY),
        ("<script>" + "<a download " * 100_000 + "data:", EMPTY),  # inside a script: no link
        ("<script>" + "Function " * 200_000, EMPTY),
        ("<script>" + "eval " * 300_000, EMPTY),
        ("<body>" + "<div>" * 100_000 + "<script>", EMPTY),
        ("<a download " * 300_000 + " data:", None),  # no script, no data: link
        ("<body><script></script>" + "x" * (MAX_RENDER_CHECK_CHARS + 10) + "document.write(", None),
    ],
)
def test_hostile_input_gets_an_answer(hostile: str, why: str | None) -> None:
    """Linear patterns and a bounded read (what lies past MAX_RENDER_CHECK_CHARS is not read):
    an answer, never a hang (pytest-timeout is the backstop)."""
    assert needs_render(hostile) == why
