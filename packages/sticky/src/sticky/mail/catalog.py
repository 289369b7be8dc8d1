"""The template catalog: a template name gives a subject, the data it needs, and two bodies.

The catalog is data (``templates/catalog.toml``), so adding a template (receipts, say) is
adding an entry and its ``.html`` and ``.txt`` files. HTML is autoescaped, text is not, and
every template renders with ``StrictUndefined``: a value the data lacks is an error, never an
empty string in someone's inbox.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from typing import Any

import jinja2

from sticky.mail.errors import MissingTemplateData, UnknownTemplate, UnusableTemplateData

_UNDEFINED_NAME = re.compile(r"'([^']+)' is undefined")


@dataclass(frozen=True)
class TemplateSpec:
    name: str
    subject: str
    required: tuple[str, ...]


@dataclass(frozen=True)
class RenderedMail:
    subject: str
    text: str
    html: str


def load_catalog(source: str) -> dict[str, TemplateSpec]:
    """Parse a catalog document (TOML: one table per template)."""
    catalog: dict[str, TemplateSpec] = {}
    for name, entry in tomllib.loads(source).items():
        subject = entry.get("subject") if isinstance(entry, dict) else None
        required = entry.get("required", []) if isinstance(entry, dict) else None
        if (
            not isinstance(subject, str)
            or not isinstance(required, list)
            or not all(isinstance(key, str) for key in required)
        ):
            raise ValueError(f"catalog entry {name!r} needs a subject and a list of data keys")
        catalog[name] = TemplateSpec(name, subject, tuple(required))
    return catalog


class TemplateCatalog:
    """Renders catalog templates; raises :class:`UnknownTemplate`, :class:`MissingTemplateData`."""

    def __init__(self, specs: Mapping[str, TemplateSpec], loader: jinja2.BaseLoader) -> None:
        self.specs = dict(specs)
        self._bodies = jinja2.Environment(
            loader=loader,
            autoescape=jinja2.select_autoescape(enabled_extensions=("html",)),
            undefined=jinja2.StrictUndefined,
            trim_blocks=True,
        )
        # A subject is a plain-text header, not HTML: escaping would show "&amp;" to people.
        subjects = jinja2.Environment(autoescape=False, undefined=jinja2.StrictUndefined)  # noqa: S701
        # Compiled now, so a broken or missing template stops the service at startup.
        self._compiled = {
            name: (
                subjects.from_string(spec.subject),
                self._bodies.get_template(f"{name}.txt"),
                self._bodies.get_template(f"{name}.html"),
            )
            for name, spec in self.specs.items()
        }

    @classmethod
    def default(cls) -> TemplateCatalog:
        """The templates shipped in ``sticky/mail/templates``."""
        source = resources.files("sticky.mail").joinpath("templates", "catalog.toml").read_text()
        return cls(load_catalog(source), jinja2.PackageLoader("sticky.mail", "templates"))

    @property
    def names(self) -> list[str]:
        return sorted(self.specs)

    def spec(self, name: str) -> TemplateSpec:
        spec = self.specs.get(name)
        if spec is None:
            raise UnknownTemplate(name, self.names)
        return spec

    def render(self, name: str, data: Mapping[str, Any]) -> RenderedMail:
        spec = self.spec(name)
        missing = [key for key in spec.required if data.get(key) is None]
        if missing:
            raise MissingTemplateData(name, missing)
        values = dict(data)
        subject_template, text_template, html_template = self._compiled[name]
        try:
            subject = subject_template.render(values)
            text = text_template.render(values)
            html = html_template.render(values)
        except jinja2.UndefinedError as exc:
            # A key the catalog does not list as required but a template uses anyway.
            match = _UNDEFINED_NAME.search(str(exc))
            raise MissingTemplateData(name, [match.group(1) if match else str(exc)]) from exc
        except (TypeError, ValueError) as exc:
            # A value of the wrong shape: a number where the template loops over a list.
            raise UnusableTemplateData(name, str(exc)) from exc
        # A header is one line: a newline in the data must not start another header.
        return RenderedMail(" ".join(subject.split()), text.strip() + "\n", html)
