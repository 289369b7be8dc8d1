"""The template catalog: what each template needs, and how it renders."""

from __future__ import annotations

import jinja2
import jinja2.meta
import pytest

from sticky.mail.catalog import TemplateCatalog, TemplateSpec, load_catalog
from sticky.mail.errors import MissingTemplateData, UnknownTemplate

catalog = TemplateCatalog.default()

SAMPLES = {
    "verify-email": {"name": "Ann", "token": "123456", "link": "https://sticky.test/v?t=1&u=2"},
    "reset-password": {
        "name": "Ann",
        "token": "654321",
        "link": "https://sticky.test/r?t=1&u=2",
        "expiresInMinutes": 60,
    },
}


def test_the_catalog_lists_the_templates() -> None:
    assert catalog.names == [
        "receipt-failed",
        "receipt-paid",
        "receipt-refunded",
        "reset-password",
        "verify-email",
        "webhook-endpoint-disabled",
    ]
    assert catalog.spec("reset-password").required == ("name", "token", "link", "expiresInMinutes")


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_each_template_uses_only_the_data_it_declares(name: str) -> None:
    env = jinja2.Environment(loader=jinja2.PackageLoader("sticky.mail", "templates"))
    used: set[str] = set(
        jinja2.meta.find_undeclared_variables(env.parse(catalog.spec(name).subject))
    )
    for extension in ("html", "txt"):
        source = env.loader.get_source(env, f"{name}.{extension}")[0]  # type: ignore[union-attr]
        used |= jinja2.meta.find_undeclared_variables(env.parse(source))
    assert used <= set(catalog.spec(name).required)


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_each_template_renders_text_and_html(name: str) -> None:
    data = SAMPLES[name]
    mail = catalog.render(name, data)
    assert "\n" not in mail.subject
    for body in (mail.text, mail.html):
        assert "Hi Ann," in body
        assert data["token"] in body
    assert data["link"] in mail.text
    assert str(data["link"]).replace("&", "&amp;") in mail.html
    assert mail.html.startswith("<!doctype html>")
    assert "<" not in mail.text


def test_reset_password_says_how_long_the_link_lasts() -> None:
    mail = catalog.render("reset-password", SAMPLES["reset-password"])
    assert "within 60 minutes" in mail.text
    assert "within 60 minutes" in mail.html


def test_html_is_escaped_and_text_is_not() -> None:
    data = {**SAMPLES["verify-email"], "name": '<script>alert("x")</script> & co'}
    mail = catalog.render("verify-email", data)
    assert "<script>" not in mail.html
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &amp; co" in mail.html
    assert '<script>alert("x")</script> & co' in mail.text


def test_missing_and_null_data_name_the_keys() -> None:
    with pytest.raises(MissingTemplateData) as caught:
        catalog.render("reset-password", {"name": "Ann", "token": None})
    assert caught.value.keys == ("token", "link", "expiresInMinutes")
    assert caught.value.template == "reset-password"


def test_unknown_template() -> None:
    with pytest.raises(UnknownTemplate) as caught:
        catalog.render("receipt", {})
    assert caught.value.known == tuple(catalog.names)


def test_unused_data_is_ignored() -> None:
    mail = catalog.render("verify-email", {**SAMPLES["verify-email"], "locale": "fr"})
    assert "fr" not in mail.subject


def test_a_template_using_undeclared_data_still_fails_clearly() -> None:
    loader = jinja2.DictLoader({"note.txt": "{{ missing }}", "note.html": "{{ missing }}"})
    specs = {"note": TemplateSpec("note", "Note for {{ who }}", ())}
    with pytest.raises(MissingTemplateData) as caught:
        TemplateCatalog(specs, loader).render("note", {})
    assert caught.value.keys == ("who",)


def test_a_subject_is_one_line() -> None:
    loader = jinja2.DictLoader({"note.txt": "hi", "note.html": "hi"})
    specs = {"note": TemplateSpec("note", "Hello {{ who }}", ("who",))}
    mail = TemplateCatalog(specs, loader).render("note", {"who": "Ann\r\nBcc: eve@example.com"})
    assert mail.subject == "Hello Ann Bcc: eve@example.com"


def test_catalog_entries_are_checked() -> None:
    assert load_catalog('[a]\nsubject = "A"\nrequired = ["x"]')["a"] == TemplateSpec(
        "a", "A", ("x",)
    )
    for broken in ("[b]\nrequired = []", '[b]\nsubject = "B"\nrequired = "name"', 'b = "B"'):
        with pytest.raises(ValueError, match="'b'"):
            load_catalog(broken)


def test_a_template_without_its_files_is_refused_at_startup() -> None:
    loader = jinja2.DictLoader({"note.txt": "hi"})
    with pytest.raises(jinja2.TemplateNotFound, match=r"note\.html"):
        TemplateCatalog({"note": TemplateSpec("note", "Note", ())}, loader)
