from __future__ import annotations

import pytest

from tap_core.attachments.passwords import candidate_passwords, html_to_text


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Hello, the archive password: 4471 - thanks", "4471"),
        ("Das Passwort lautet: 'Rg7q!x'.", "Rg7q!x"),
        ("Kennwort: Rechnung2024", "Rechnung2024"),
        ("Le mot de passe : abc123", "abc123"),
        ("La contraseña es 9981", "9981"),
        ("A senha é: zz99", "zz99"),
        ("Use PIN 2024 to open the file", "2024"),
        ('The password for the document is "Xy12!"', "Xy12!"),
        ("pwd=hello77", "hello77"),
        ("Password\n   Secret55\nRegards", "Secret55"),
        ("password Inv-7731 (case sensitive)", "Inv-7731"),
        ("Senha de acesso: 123", "123"),
        ("Passwort für das Archiv: Kx-81", "Kx-81"),
        ("CODIGO: 9164462833", "9164462833"),
    ],
)
def test_finds_password(text: str, expected: str) -> None:
    assert expected in candidate_passwords(text)


def test_ignores_prose_and_bounds_the_list() -> None:
    assert candidate_passwords("Your password was reset yesterday. Please find the file attached.") == []
    many = " ".join(f"password: p{i}x" for i in range(100))
    assert len(candidate_passwords(many, limit=7)) == 7


def test_html_bodies_are_stripped() -> None:
    text = html_to_text("<style>p{}</style><p>Password: <b>Zq-99</b></p>")
    assert "Zq-99" in candidate_passwords(text)

